// The event log and the stats page, as a person uses them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, BASE_URL, ARTIFACTS } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function appendEvents(page, stream, events) {
  await page.goto(`${BASE_URL}append`);
  await page.getByLabel("Stream").fill(stream);
  for (const [i, [type, data]] of events.entries()) {
    await page.getByLabel("Event type").fill(type);
    await page.getByLabel("Payload (JSON)").fill(JSON.stringify(data));
    await page.getByRole("button", { name: "Append event" }).click();
    await page.getByTestId("status").getByText(`version ${i + 1} `).waitFor();
  }
}

test("the event log lists events in order, filters them, and shows one in detail", async () => {
  // A fresh browser context has its own, empty IndexedDB.
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await appendEvents(page, "account-7", [
    ["AccountOpened", { owner: "Grace" }],
    ["MoneyDeposited", { amount: 10000 }],
    ["MoneyWithdrawn", { amount: 3050 }],
  ]);
  await appendEvents(page, "order-1", [["OrderCreated", { customer: "grace" }]]);

  await page.getByRole("link", { name: "Event log" }).click();
  await page.getByTestId("log-row").nth(3).waitFor();
  assert.deepEqual(await page.getByTestId("log-row-type").allTextContents(), [
    "AccountOpened",
    "MoneyDeposited",
    "MoneyWithdrawn",
    "OrderCreated",
  ]);
  assert.equal(await page.getByTestId("log-head").textContent(), "4 events in the store");

  await page.getByTestId("log-row").nth(2).click();
  const detail = page.getByTestId("event-detail");
  await detail.getByText("MoneyWithdrawn").waitFor();
  assert.deepEqual(JSON.parse(await page.getByTestId("detail-data").textContent()), { amount: 3050 });
  assert.equal(await page.getByTestId("detail-schema").textContent(), "1");
  await page.screenshot({ path: `${ARTIFACTS}/event-log.png`, fullPage: true });

  await page.getByLabel("Stream", { exact: true }).fill("order-");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 1);
  assert.deepEqual(await page.getByTestId("log-row-type").allTextContents(), ["OrderCreated"]);
  await page.getByLabel("Stream", { exact: true }).fill("");
  await page.getByTestId("log-row").nth(3).waitFor();
  await page.getByLabel("Type").selectOption("MoneyDeposited");
  // Wait for the filtered page itself: one row, of the chosen type.
  await page.waitForFunction(() => {
    const types = [...document.querySelectorAll('[data-testid="log-row-type"]')].map((e) => e.textContent);
    return types.length === 1 && types[0] === "MoneyDeposited";
  });
  assert.deepEqual(await page.getByTestId("log-row-stream").allTextContents(), ["account-7"]);

  await page.getByRole("link", { name: "Stats" }).click();
  await page.getByTestId("stat-events").getByText("4").waitFor();
  assert.equal(await page.getByTestId("stat-streams").textContent(), "2");
  assert.equal(await page.getByTestId("chart-types").locator("rect").count(), 4);
  assert.equal(await page.getByTestId("chart-days").locator("rect").count(), 1);
  await page.screenshot({ path: `${ARTIFACTS}/stats.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the log pages through more events than fit on one page", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE_URL}append`);
  // 60 events through the app's own store, straight from the page.
  await page.getByLabel("Stream").fill("bulk-1");
  for (let i = 0; i < 60; i++) {
    await page.getByLabel("Payload (JSON)").fill(JSON.stringify({ i }));
    await page.getByRole("button", { name: "Append event" }).click();
    await page.getByTestId("status").getByText(`version ${i + 1} `).waitFor();
  }
  await page.getByRole("link", { name: "Event log" }).click();
  await page.getByTestId("log-row").nth(49).waitFor();
  assert.equal(await page.getByTestId("log-row").count(), 50);
  await page.getByRole("button", { name: "Next" }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 10);
  assert.equal(await page.getByTestId("log-row").first().locator("td").first().textContent(), "51");
  await page.getByRole("button", { name: "Previous" }).click();
  await page.getByTestId("log-row").nth(49).waitFor();
  assert.equal(await page.getByTestId("log-row").first().locator("td").first().textContent(), "1");
  await context.close();
});

test("the log's time filter shows only the events of the chosen span, with the other filters", async () => {
  const context = await browser.newContext({ timezoneId: "UTC" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // The app's clock is the browser's: set it to three days in turn.
  await page.clock.setFixedTime(new Date("2026-03-01T10:00:00Z"));
  await appendEvents(page, "account-1", [
    ["AccountOpened", { owner: "Ada" }],
    ["MoneyDeposited", { amount: 100 }],
  ]);
  await page.clock.setFixedTime(new Date("2026-03-02T10:00:00Z"));
  await appendEvents(page, "account-2", [
    ["AccountOpened", { owner: "Bo" }],
    ["MoneyDeposited", { amount: 200 }],
    ["MoneyDeposited", { amount: 300 }],
  ]);
  await page.clock.setFixedTime(new Date("2026-03-03T10:00:00Z"));
  await appendEvents(page, "order-1", [["OrderCreated", { customer: "ada" }]]);

  await page.getByRole("link", { name: "Event log" }).click();
  await page.getByTestId("log-row").nth(5).waitFor();
  const rows = (n) =>
    page.waitForFunction((n) => document.querySelectorAll('[data-testid="log-row"]').length === n, n);
  await page.getByTestId("log-from").fill("2026-03-02T00:00:00");
  await page.getByTestId("log-to").fill("2026-03-03T00:00:00");
  await rows(3);
  assert.deepEqual(await page.getByTestId("log-row-stream").allTextContents(), ["account-2", "account-2", "account-2"]);

  await page.getByLabel("Type").selectOption("MoneyDeposited");
  await rows(2);
  assert.deepEqual(await page.getByTestId("log-row-type").allTextContents(), ["MoneyDeposited", "MoneyDeposited"]);
  await page.screenshot({ path: `${ARTIFACTS}/event-log-time-filter.png`, fullPage: true });

  // An open end: from the first day on, only deposits of account-1's stream prefix.
  await page.getByTestId("log-to").fill("");
  await page.getByTestId("log-from").fill("2026-03-01T00:00:00");
  await page.getByLabel("Stream", { exact: true }).fill("account-1");
  await rows(1);
  assert.deepEqual(await page.getByTestId("log-row-stream").allTextContents(), ["account-1"]);

  // A span with nothing in it says so.
  await page.getByLabel("Stream", { exact: true }).fill("");
  await page.getByTestId("log-from").fill("2026-03-04T00:00:00");
  await page.getByTestId("log-empty").waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});
