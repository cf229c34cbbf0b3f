// The bank page, as a person uses it: open accounts, move money, see refusals.
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

/** Fills the form fields given (by their labels) and presses `button`. */
async function command(page, button, fields) {
  for (const [label, value] of Object.entries(fields)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  await page.getByRole("button", { name: button, exact: true }).click();
}

/** Waits until the feedback line reads `text` (a substring) and returns it. */
async function feedback(page, text) {
  const line = page.getByTestId("bank-error");
  await line.getByText(text).waitFor();
  return line.textContent();
}

async function balance(page, account, expected) {
  await page.getByTestId(`balance-${account}`).getByText(expected, { exact: true }).waitFor();
}

/** How many events the store holds, from the Stats page (a fresh read of the store). */
async function storedEvents(page) {
  await page.goto(`${BASE_URL}stats`);
  await page.getByTestId("stat-events").waitFor();
  return Number(await page.getByTestId("stat-events").textContent());
}

/** A new browser context on the Bank page with an empty store. */
async function freshBank(height = 900) {
  const context = await browser.newContext({ viewport: { width: 1280, height } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(BASE_URL);
  await page.getByTestId("no-accounts").waitFor();
  return { context, page, errors };
}

/** Opens acc-a (Ann) with `deposit`, and acc-b (Bob) empty. */
async function openAnnAndBob(page, deposit) {
  await command(page, "Open account", { Account: "acc-a", Owner: "Ann" });
  await feedback(page, "Opened acc-a");
  await command(page, "Deposit", { Amount: deposit });
  await feedback(page, `Deposited ${Number(deposit).toFixed(2)} to acc-a`);
  await command(page, "Open account", { Account: "acc-b", Owner: "Bob" });
  await feedback(page, "Opened acc-b");
}

test("open, deposit, withdraw; an overdraft is refused and appends nothing; the balance survives a reload", async () => {
  const { context, page, errors } = await freshBank();

  await command(page, "Open account", { Account: "acc-1", Owner: "Ada Lovelace" });
  await feedback(page, "Opened acc-1 for Ada Lovelace.");
  await balance(page, "acc-1", "0.00");
  await command(page, "Deposit", { Amount: "100.00" });
  await feedback(page, "Deposited 100.00 to acc-1; balance 100.00.");
  await balance(page, "acc-1", "100.00");
  await command(page, "Withdraw", { Amount: "30.50" });
  await feedback(page, "Withdrew 30.50 from acc-1; balance 69.50.");
  await balance(page, "acc-1", "69.50");
  assert.equal(await storedEvents(page), 3);

  await page.goto(BASE_URL);
  await balance(page, "acc-1", "69.50");
  await command(page, "Withdraw", { Account: "acc-1", Amount: "1000" });
  const refusal = await feedback(page, "Insufficient funds");
  assert.equal(refusal, "Insufficient funds: balance 69.50, amount 1000.00");
  assert.equal(await page.getByTestId("bank-error").locator(".error").count(), 1);
  await page.screenshot({ path: `${ARTIFACTS}/bank-refused.png` });
  assert.equal(await storedEvents(page), 3, "the refused withdrawal appended nothing");

  await page.goto(BASE_URL);
  await balance(page, "acc-1", "69.50");
  await page.reload();
  await balance(page, "acc-1", "69.50");
  assert.equal(await page.getByTestId("bank-total").textContent(), "69.50");

  // The account view: newest first, with the running balance.
  await page.getByRole("link", { name: "acc-1", exact: true }).click();
  await page.waitForURL(/\/bank\/acc-1$/);
  await page.getByTestId("history-row").nth(1).waitFor();
  assert.deepEqual(await page.getByTestId("history-amount").allTextContents(), ["-30.50", "+100.00"]);
  assert.deepEqual(await page.getByTestId("history-balance").allTextContents(), ["69.50", "100.00"]);
  assert.equal(await page.getByTestId("account-balance").textContent(), "69.50");
  assert.equal(await page.getByTestId("account-version").textContent(), "3 events");
  const day = page.getByTestId("account-days").getByTestId("day-row");
  assert.equal(await day.count(), 1);
  assert.match(await day.textContent(), /100\.00 × 1.*30\.50 × 1.*\+69\.50/);
  // Selecting the account made it the one the form acts on.
  assert.equal(await page.getByLabel("Account", { exact: true }).inputValue(), "acc-1");
  await page.screenshot({ path: `${ARTIFACTS}/bank.png`, fullPage: true });

  // A deep link opens the same view.
  await page.goto(`${BASE_URL}bank/acc-1`);
  await page.getByTestId("history-row").nth(1).waitFor();
  assert.equal(await page.getByTestId("account-balance").textContent(), "69.50");
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});

test("transfers move money, a transfer to a closed account is refunded, bad amounts and closing with money are refused", async () => {
  const { context, page, errors } = await freshBank(1000);
  await openAnnAndBob(page, "50");
  await command(page, "Open account", { Account: "acc-c", Owner: "Cy" });
  await feedback(page, "Opened acc-c");
  await command(page, "Close account", { Account: "acc-c" });
  await feedback(page, "Closed acc-c.");

  // A transfer between two open accounts.
  await command(page, "Transfer", { Account: "acc-a", Amount: "20", "To account": "acc-b" });
  await feedback(page, "Transferred 20.00 from acc-a to acc-b.");
  await balance(page, "acc-a", "30.00");
  await balance(page, "acc-b", "20.00");
  // The amount is cleared, so pressing Transfer again cannot send it twice.
  assert.equal(await page.getByLabel("Amount", { exact: true }).inputValue(), "");
  await command(page, "Transfer", {});
  await feedback(page, "Invalid amount: amount is empty");
  await balance(page, "acc-a", "30.00");

  // To a closed account: debited, refused by the target, refunded.
  await command(page, "Transfer", { Account: "acc-a", Amount: "5", "To account": "acc-c" });
  const refund = await feedback(page, "Transfer refunded");
  assert.match(refund, /target acc-c: account is closed/);
  assert.match(refund, /5\.00 went back to acc-a/);
  await balance(page, "acc-a", "30.00");
  await balance(page, "acc-c", "0.00");
  await balance(page, "acc-b", "20.00");
  assert.equal(await page.getByTestId("bank-total").textContent(), "50.00");
  const before = await storedEvents(page);

  // Refusals append nothing.
  await page.goto(BASE_URL);
  await balance(page, "acc-a", "30.00");
  await command(page, "Deposit", { Account: "acc-a", Amount: "abc" });
  assert.equal(
    await feedback(page, "Invalid amount"),
    "Invalid amount: amount 'abc' is not a decimal number such as \"10.50\"",
  );
  await command(page, "Withdraw", { Amount: "1.234" });
  assert.equal(
    await feedback(page, "more than two decimal places"),
    "Invalid amount: amount '1.234' has more than two decimal places",
  );
  await command(page, "Transfer", { Amount: "abc", "To account": "acc-b" });
  await feedback(page, "Invalid amount: amount 'abc'");
  await command(page, "Transfer", { Amount: "31" });
  await feedback(page, "Insufficient funds: balance 30.00, amount 31.00");
  await command(page, "Close account", {});
  assert.equal(
    await feedback(page, "Cannot close"),
    "Cannot close an account with balance 30.00; withdraw it first",
  );
  await command(page, "Open account", { Owner: "Someone else" });
  await feedback(page, "Account already exists");
  await command(page, "Deposit", { Account: "acc-c", Amount: "1" });
  await feedback(page, "Account is closed");
  assert.equal(await storedEvents(page), before, "no refused command appended an event");

  await page.goto(BASE_URL);
  await balance(page, "acc-a", "30.00");
  await balance(page, "acc-b", "20.00");
  await balance(page, "acc-c", "0.00");
  assert.equal(await page.getByTestId("account-row").filter({ hasText: "acc-a" }).getByText("Open").count(), 1);

  // acc-a's history: the deposit, the transfer out, and the refunded transfer out and back.
  await page.getByRole("link", { name: "acc-a", exact: true }).click();
  await page.getByTestId("history-row").nth(3).waitFor();
  assert.deepEqual(await page.getByTestId("history-amount").allTextContents(), [
    "+5.00",
    "-5.00",
    "-20.00",
    "+50.00",
  ]);
  assert.deepEqual(await page.getByTestId("history-what").allTextContents(), [
    "Transfer refunded",
    "Transfer out",
    "Transfer out",
    "Deposit",
  ]);
  assert.deepEqual(await page.getByTestId("history-balance").allTextContents(), [
    "30.00",
    "25.00",
    "30.00",
    "50.00",
  ]);
  assert.equal(await page.getByTestId("account-balance").textContent(), "30.00");
  await page.screenshot({ path: `${ARTIFACTS}/bank-account.png`, fullPage: true });
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});

/** Appends `[stream, type, data, version]` events on the Append page, one at a time. */
async function appendRaw(page, events) {
  await page.goto(`${BASE_URL}append`);
  for (const [stream, type, data, version] of events) {
    await page.getByLabel("Stream").fill(stream);
    await page.getByLabel("Event type").fill(type);
    await page.getByLabel("Payload (JSON)").fill(JSON.stringify(data));
    await page.getByRole("button", { name: "Append event" }).click();
    await page.getByTestId("status").getByText(`appended ${type} as version ${version} `).waitFor();
  }
}

test("a transfer a closed page left after its debit is finished when the app opens again, once", async () => {
  const { context, page, errors } = await freshBank();
  await openAnnAndBob(page, "100");

  // What a tab closed mid-transfer leaves behind: the transfer asked for, the source
  // debited (with the transfer's id) and the debit recorded; no credit yet.
  await appendRaw(page, [
    ["transfer-t-int", "TransferRequested", { from: "acc-a", to: "acc-b", amount: 2500 }, 1],
    ["account-acc-a", "MoneyWithdrawn", { amount: 2500, transferId: "t-int" }, 3],
    ["transfer-t-int", "TransferDebited", {}, 2],
  ]);

  await page.goto(BASE_URL);
  await feedback(page, "Finished 1 interrupted transfer.");
  await balance(page, "acc-a", "75.00");
  await balance(page, "acc-b", "25.00");
  await page.screenshot({ path: `${ARTIFACTS}/bank-resumed.png`, fullPage: true });

  // Reopened: nothing left to finish, and the money moved once.
  await page.reload();
  await balance(page, "acc-b", "25.00");
  assert.equal(await page.getByTestId("bank-error").textContent(), "");
  assert.equal(await storedEvents(page), 8, "3 + 1 + 2 events, then one credit and TransferCompleted");
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});
