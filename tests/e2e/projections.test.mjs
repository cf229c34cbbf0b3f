// The projections page: every read model's status, checkpoint and lag; a rebuild with
// its progress bar; a projection that fails on an event it cannot read.
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

const PROJECTIONS = [
  "AccountBalances",
  "TransactionHistory",
  "DailySummary",
  "PendingTransfers",
  "CurrentOrders",
  "OrderHistory",
  "CustomerStats",
  "InventoryDemand",
];

/** Waits until every projection card shows `status`. */
async function waitForAll(page, status) {
  await page.waitForFunction(
    ([n, status]) => {
      const all = [...document.querySelectorAll('[data-testid="projection-status"]')];
      return all.length === n && all.every((s) => s.textContent === status);
    },
    [PROJECTIONS.length, status],
  );
}

test("every projection catches up to the head, and one rebuilds to completion", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${BASE_URL}data`);
  await page.getByLabel("Events to generate").selectOption("1000");
  await page.getByRole("button", { name: "Generate" }).click();
  await page.getByTestId("generate-outcome").getByText("Wrote 1,000 demo events.").waitFor();

  await page.getByRole("link", { name: "Projections" }).click();
  await waitForAll(page, "Caught up");
  assert.equal(await page.getByTestId("projections-head").textContent(), "1,000");
  for (const name of PROJECTIONS) {
    const card = page.getByTestId(`projection-${name}`);
    assert.equal(await card.getByTestId("projection-position").textContent(), "1,000", name);
    assert.equal(await card.getByTestId("projection-lag").textContent(), "0", name);
    const applied = Number((await card.getByTestId("projection-processed").textContent()).replace(/,/g, ""));
    assert.ok(applied > 0 && applied < 1000, `${name} applied ${applied} of the 1,000 events`);
  }
  const balances = page.getByTestId("projection-AccountBalances");
  const before = await balances.getByTestId("projection-summary").textContent();
  assert.match(before, /^\d+ accounts?, total \d+\.\d\d$/);

  await page.getByRole("button", { name: "Rebuild AccountBalances" }).click();
  await balances.getByTestId("rebuild-outcome").getByText("Rebuilt from position 0").waitFor();
  const progress = balances.getByRole("progressbar", { name: "Rebuild progress of AccountBalances" });
  assert.equal(await progress.getAttribute("max"), "1000");
  assert.equal(await progress.getAttribute("value"), "1000");
  assert.equal(await balances.getByTestId("rebuild-count").textContent(), "1,000 / 1,000");
  await balances.getByTestId("projection-status").getByText("Caught up").waitFor();
  assert.equal(await balances.getByTestId("projection-position").textContent(), "1,000");
  assert.equal(await balances.getByTestId("projection-lag").textContent(), "0");
  assert.equal(await balances.getByTestId("projection-summary").textContent(), before);
  await page.screenshot({ path: `${ARTIFACTS}/projections.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a projection that cannot read an event stops there and shows the position and error", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // A schema-1 MoneyDeposited must carry its amount as a decimal string: the bank's
  // upcaster cannot lift an object, so every bank read model fails on it.
  await page.goto(`${BASE_URL}append`);
  await page.getByLabel("Stream").fill("account-eve");
  const events = [
    ["AccountOpened", { owner: "Eve" }],
    ["MoneyDeposited", { amount: { bad: true } }],
  ];
  for (const [i, [type, data]] of events.entries()) {
    await page.getByLabel("Event type").fill(type);
    await page.getByLabel("Payload (JSON)").fill(JSON.stringify(data));
    await page.getByRole("button", { name: "Append event" }).click();
    await page.getByTestId("status").getByText(`version ${i + 1} `).waitFor();
  }

  await page.getByRole("link", { name: "Projections" }).click();
  const balances = page.getByTestId("projection-AccountBalances");
  await balances.getByTestId("projection-status").getByText("Failed").waitFor();
  const failure = balances.getByTestId("projection-failure");
  assert.equal(await failure.getAttribute("role"), "alert");
  assert.equal(await failure.getByTestId("projection-failed-position").textContent(), "2");
  assert.match(await failure.getByTestId("projection-error").textContent(), /decimal string 'amount'/);
  // Its checkpoint stays just before the failing event.
  assert.equal(await balances.getByTestId("projection-position").textContent(), "1");
  assert.equal(await balances.getByTestId("projection-lag").textContent(), "1");
  assert.equal(await balances.getByTestId("projection-summary").textContent(), "1 account, total 0.00");
  for (const name of ["TransactionHistory", "DailySummary"]) {
    const card = page.getByTestId(`projection-${name}`);
    await card.getByTestId("projection-status").getByText("Failed").waitFor();
    assert.equal(await card.getByTestId("projection-failed-position").textContent(), "2", name);
  }
  // The other read models are not affected.
  for (const name of ["CurrentOrders", "OrderHistory", "CustomerStats", "InventoryDemand"]) {
    const card = page.getByTestId(`projection-${name}`);
    await card.getByTestId("projection-status").getByText("Caught up").waitFor();
    assert.equal(await card.getByTestId("projection-failure").count(), 0, name);
  }
  // A rebuild replays from zero and stops at the same event.
  await page.getByRole("button", { name: "Rebuild AccountBalances" }).click();
  await balances
    .getByTestId("rebuild-outcome")
    .getByText("Rebuilt from position 0: applied 1 event, then stopped again at position 2")
    .waitFor();
  await balances.getByTestId("projection-status").getByText("Failed").waitFor();
  assert.equal(await balances.getByTestId("projection-failed-position").textContent(), "2");
  assert.equal(await balances.getByTestId("rebuild-count").textContent(), "1 / 2");
  await page.screenshot({ path: `${ARTIFACTS}/projections-failed.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});
