// The Sync page, as two devices use it: two browser contexts (two separate IndexedDBs)
// sync with one store of a real chronik-server on a real PostgreSQL (started by
// `cargo xtask test`, its URL in CHRONIK_SERVER_URL). A deposit on one shows on the
// other; a withdrawal made offline that no longer fits once the other device withdrew
// becomes a conflict with its reason, and both end with the same balance.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, BASE_URL, ARTIFACTS } from "./browser.mjs";

const SERVER_URL = process.env.CHRONIK_SERVER_URL;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A new device: its own context (own IndexedDB, own localStorage) on the Bank page. */
async function device() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(BASE_URL);
  await page.getByTestId("no-accounts").waitFor();
  return { context, page, errors };
}

/** Goes to a page by the main navigation (no reload: the sync keeps running). */
async function nav(page, name) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
}

async function badge(page, status, timeout = 30_000) {
  await page.getByTestId("sync-badge-status").getByText(status, { exact: true }).waitFor({ timeout });
}

async function connect(page, store) {
  await nav(page, "Sync");
  await page.getByLabel("Server URL").fill(SERVER_URL);
  await page.getByLabel("Server store").fill(store);
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  await page.getByTestId("sync-message").getByText(`connected to ${store}`).waitFor();
  await badge(page, "live");
}

/** The server's whole log of `store`. */
async function serverLog(store) {
  const response = await fetch(`${SERVER_URL}/v1/stores/${store}/events?after=0&limit=1000`);
  assert.equal(response.status, 200);
  return (await response.json()).events;
}

/** Fills the Bank form fields given (by their labels) and presses `button`. */
async function command(page, button, fields) {
  for (const [label, value] of Object.entries(fields)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  await page.getByRole("button", { name: button, exact: true }).click();
}

async function feedback(page, text) {
  await page.getByTestId("bank-error").getByText(text).waitFor();
}

async function balance(page, account, expected, timeout = 30_000) {
  await page
    .getByTestId(`balance-${account}`)
    .getByText(expected, { exact: true })
    .waitFor({ timeout });
}

test("two devices sync one store: a deposit travels, an offline withdrawal that no longer fits becomes a conflict", async () => {
  assert.ok(SERVER_URL, "CHRONIK_SERVER_URL names the chronik-server (cargo xtask test starts one)");
  const store = `e2e-sync-${Date.now()}`;
  const a = await device();
  const b = await device();

  // A used the app before it ever synced: its log is adopted (uploaded) at connect.
  await command(a.page, "Open account", { Account: "acc-s", Owner: "Sam" });
  await feedback(a.page, "Opened acc-s");
  await connect(a.page, store);
  await a.page.getByTestId("sync-pending").getByText("0", { exact: true }).waitFor();
  await a.page.getByTestId("sync-confirmed").getByText("1", { exact: true }).waitFor();

  await nav(a.page, "Bank");
  await command(a.page, "Deposit", { Account: "acc-s", Amount: "100" });
  await feedback(a.page, "Deposited 100.00 to acc-s; balance 100.00.");

  await connect(b.page, store);
  await nav(b.page, "Bank");
  await balance(b.page, "acc-s", "100.00");

  // A goes offline and withdraws 80: kept locally, shown at once, not yet pushed.
  await a.context.setOffline(true);
  await command(a.page, "Withdraw", { Account: "acc-s", Amount: "80" });
  await feedback(a.page, "Withdrew 80.00 from acc-s; balance 20.00.");
  await balance(a.page, "acc-s", "20.00");
  await badge(a.page, "offline");
  await a.page.getByTestId("sync-badge").screenshot({ path: `${ARTIFACTS}sync-badge-offline.png` });
  await nav(a.page, "Sync");
  await a.page.getByTestId("sync-pending").getByText("1", { exact: true }).waitFor();

  // Meanwhile B withdraws 50, which the server takes: A's 80 no longer fits.
  await command(b.page, "Withdraw", { Account: "acc-s", Amount: "50" });
  await feedback(b.page, "Withdrew 50.00 from acc-s; balance 50.00.");
  await nav(b.page, "Sync");
  await b.page.getByTestId("sync-pending").getByText("0", { exact: true }).waitFor({ timeout: 30_000 });

  // A back online: its withdrawal, decided again on the server's state, is refused.
  await a.context.setOffline(false);
  const conflict = a.page.getByTestId("conflict");
  await conflict.waitFor({ timeout: 60_000 });
  assert.equal(await conflict.count(), 1);
  assert.match(await conflict.getByTestId("conflict-reason").textContent(), /^command rejected: insufficient funds: balance 50\.00, amount 80\.00$/);
  assert.match(await conflict.getByTestId("conflict-what").textContent(), /^bank\.withdraw /);
  assert.equal(await conflict.getByTestId("conflict-stream").textContent(), "account-acc-s");
  await a.page.getByTestId("sync-pending").getByText("0", { exact: true }).waitFor();
  await badge(a.page, "live");
  await a.page.screenshot({ path: `${ARTIFACTS}sync-panel-conflict.png`, fullPage: true });
  await a.page.getByTestId("sync-badge").screenshot({ path: `${ARTIFACTS}sync-badge-live.png` });

  // Both devices show the server's balance.
  await nav(a.page, "Bank");
  await balance(a.page, "acc-s", "50.00");
  await nav(b.page, "Bank");
  await balance(b.page, "acc-s", "50.00");
  assert.equal(
    await a.page.getByTestId("sync-confirmed").count(),
    0,
    "the Sync page's facts are not on the Bank page",
  );

  // The server holds each write once; A's refused withdrawal never reached it.
  const log = await serverLog(store);
  assert.deepEqual(
    log.map((e) => [e.streamId, e.type, e.data.amount ?? null]),
    [
      ["account-acc-s", "AccountOpened", null],
      ["account-acc-s", "MoneyDeposited", 10000],
      ["account-acc-s", "MoneyWithdrawn", 5000],
    ],
  );

  // Discarding the conflict forgets it; the balance stays.
  await nav(a.page, "Sync");
  await a.page.getByRole("button", { name: "Discard the conflict on account-acc-s" }).click();
  await a.page.getByTestId("no-conflicts").waitFor();
  // Opened, deposited (A), withdrew 50 (B): A's refused withdrawal never happened.
  await a.page.getByTestId("sync-confirmed").getByText("3", { exact: true }).waitFor();

  // A reload keeps the settings and connects again.
  await a.page.reload();
  await badge(a.page, "live");
  assert.equal(await a.page.getByLabel("Server store").inputValue(), store);
  await a.page.getByRole("button", { name: "Disconnect" }).click();
  await badge(a.page, "off");

  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});

test("a transfer made offline whose debit no longer fits: the credit is never sent, and the app fails the transfer when it opens again", async () => {
  assert.ok(SERVER_URL, "CHRONIK_SERVER_URL names the chronik-server (cargo xtask test starts one)");
  const store = `e2e-transfer-${Date.now()}`;
  const a = await device();
  const b = await device();
  await connect(a.page, store);
  await nav(a.page, "Bank");
  await command(a.page, "Open account", { Account: "acc-x", Owner: "Xan" });
  await feedback(a.page, "Opened acc-x");
  await command(a.page, "Open account", { Account: "acc-y", Owner: "Yu" });
  await feedback(a.page, "Opened acc-y");
  await command(a.page, "Deposit", { Account: "acc-x", Amount: "100" });
  await feedback(a.page, "Deposited 100.00 to acc-x; balance 100.00.");
  await connect(b.page, store);
  await nav(b.page, "Bank");
  await balance(b.page, "acc-x", "100.00");

  // A, offline, transfers 80; B withdraws 50 meanwhile, and the server takes it.
  await a.context.setOffline(true);
  await badge(a.page, "offline");
  await command(a.page, "Transfer", { Account: "acc-x", Amount: "80", "To account": "acc-y" });
  await feedback(a.page, "Transferred 80.00 from acc-x to acc-y.");
  await balance(a.page, "acc-y", "80.00");
  await command(b.page, "Withdraw", { Account: "acc-x", Amount: "50" });
  await feedback(b.page, "Withdrew 50.00 from acc-x; balance 50.00.");
  await nav(b.page, "Sync");
  await b.page.getByTestId("sync-pending").getByText("0", { exact: true }).waitFor({ timeout: 30_000 });

  // Back online: the debit is refused on the server's state, and the steps after it
  // (the credit among them) are abandoned: listed, never sent, no Retry of their own.
  await a.context.setOffline(false);
  await nav(a.page, "Sync");
  const conflicts = a.page.getByTestId("conflict");
  await conflicts.nth(3).waitFor({ timeout: 60_000 });
  assert.equal(await conflicts.count(), 4);
  assert.equal(
    await conflicts.nth(0).getByTestId("conflict-reason").textContent(),
    "command rejected: insufficient funds: balance 50.00, amount 80.00",
  );
  assert.match(await conflicts.nth(0).getByTestId("conflict-what").textContent(), /^bank\.withdraw /);
  assert.equal(await conflicts.nth(0).getByTestId("conflict-retry").count(), 1);
  const steps = [];
  for (let i = 1; i < 4; i++) {
    assert.match(await conflicts.nth(i).getByTestId("conflict-reason").textContent(), /^not sent: an earlier step of transfer-.* is a conflict$/);
    assert.equal(await conflicts.nth(i).getByTestId("conflict-retry").count(), 0, "an abandoned step has no Retry");
    steps.push((await conflicts.nth(i).getByTestId("conflict-what").textContent()).split(" ")[0]);
  }
  assert.deepEqual(steps, ["transfer.markDebited", "bank.deposit", "transfer.markCompleted"]);
  await a.page.screenshot({ path: `${ARTIFACTS}sync-transfer-abandoned.png`, fullPage: true });
  await nav(a.page, "Bank");
  await balance(a.page, "acc-x", "50.00");
  await balance(a.page, "acc-y", "0.00");

  // Opened again, the app finishes the transfer from what the server has: it fails.
  await a.page.reload();
  await feedback(a.page, "Finished 1 interrupted transfer.");
  await badge(a.page, "live");
  await nav(a.page, "Sync");
  await a.page.getByTestId("sync-pending").getByText("0", { exact: true }).waitFor({ timeout: 30_000 });
  const log = await serverLog(store);
  const transfer = log.filter((e) => e.streamId.startsWith("transfer-")).map((e) => e.type);
  assert.deepEqual(transfer, ["TransferRequested", "TransferFailed"]);
  assert.equal(log.filter((e) => e.data?.transferId).length, 0, "no leg of it reached the server");
  await nav(b.page, "Bank");
  await balance(b.page, "acc-x", "50.00");
  await balance(b.page, "acc-y", "0.00");
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await a.context.close();
  await b.context.close();
});
