// Two tabs of the app on one database: what one writes, the other shows live, no reload.
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

test("two pages see each other's events live", async () => {
  // One context = one origin's storage shared by its pages, like two tabs.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const [writer, log] = [await context.newPage(), await context.newPage()];
  const errors = [];
  for (const page of [writer, log]) page.on("pageerror", (e) => errors.push(e.message));
  await log.goto(`${BASE_URL}log`);
  await log.getByTestId("log-empty").waitFor();
  await writer.goto(BASE_URL);

  await writer.getByLabel("Account", { exact: true }).fill("acc-live");
  await writer.getByLabel("Owner").fill("Grace");
  await writer.getByRole("button", { name: "Open account" }).click();
  await writer.getByTestId("balance-acc-live").waitFor();
  await writer.getByLabel("Amount").fill("42.00");
  await writer.getByRole("button", { name: "Deposit" }).click();
  await writer.getByTestId("balance-acc-live").getByText("42.00").waitFor();

  // The other tab's event log grows by itself.
  await log.waitForFunction(() => document.querySelectorAll('[data-testid="log-row"]').length === 2);
  assert.deepEqual(await log.getByTestId("log-row-type").allTextContents(), ["AccountOpened", "MoneyDeposited"]);

  // And the other way round: the second tab deposits, the first tab's balance follows.
  await log.goto(BASE_URL);
  await log.getByTestId("balance-acc-live").getByText("42.00").waitFor();
  await log.getByLabel("Account", { exact: true }).fill("acc-live");
  await log.getByLabel("Amount").fill("8.00");
  await log.getByRole("button", { name: "Deposit" }).click();
  await writer.getByTestId("balance-acc-live").getByText("50.00").waitFor();
  await writer.screenshot({ path: `${ARTIFACTS}/two-tabs.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});
