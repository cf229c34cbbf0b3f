// Time travel, as a person uses it: choose a stream, move the slider, step, play,
// come back to now; snapshot points on the timeline; the whole store's balances.
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

// The bank's events as the bank domain stores them, written through the Append page
// (which stores schema version 1: a v1 MoneyDeposited carries a decimal string, which
// the bank's upcaster lifts to cents on read).
const opened = (owner) => ["AccountOpened", { owner }];
const deposit = (amount) => ["MoneyDeposited", { amount }];
const withdraw = (cents) => ["MoneyWithdrawn", { amount: cents }];

async function appendEvents(page, stream, events) {
  await page.goto(`${BASE_URL}append`);
  await page.getByLabel("Stream").fill(stream);
  await page.getByTestId("empty").or(page.getByTestId("event-table")).waitFor();
  const start = await page.getByTestId("event-row").count();
  for (const [i, [type, data]] of events.entries()) {
    await page.getByLabel("Event type").fill(type);
    await page.getByLabel("Payload (JSON)").fill(JSON.stringify(data));
    await page.getByRole("button", { name: "Append event" }).click();
    await page.getByTestId("status").getByText(`version ${start + i + 1} `).waitFor();
  }
}

/** Issues a command on the Bank page and waits for its confirmation. */
async function bank(page, button, fields, confirmation) {
  for (const [label, value] of Object.entries(fields)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  await page.getByRole("button", { name: button, exact: true }).click();
  await page.getByTestId("bank-error").getByText(confirmation).waitFor();
}

async function openTravel(page, stream) {
  await page.getByRole("link", { name: "Time travel" }).click();
  await page.getByLabel("Stream").selectOption(stream);
}

// Waits until the state shown is the one of `stream` ("" for the whole store) at `at`.
async function shown(page, stream, at) {
  await page.locator(`[data-testid="travel-state"][data-stream="${stream}"][data-at="${at}"]`).waitFor();
}

// Waits until the element with `testid` reads exactly `text`.
async function reads(page, testid, text) {
  await page.waitForFunction(
    ([id, t]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === t,
    [testid, text],
  );
}

const slider = (page) => page.getByRole("slider", { name: "Time travel", exact: true });

test("travelling through an account's history: slider, steps, play, back to now", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(BASE_URL);
  await bank(page, "Open account", { Account: "acc-1", Owner: "Alice" }, "Opened acc-1 for Alice.");
  await bank(page, "Deposit", { Amount: "100.00" }, "Deposited 100.00 to acc-1; balance 100.00.");
  await bank(page, "Withdraw", { Amount: "30.50" }, "Withdrew 30.50 from acc-1; balance 69.50.");

  await openTravel(page, "account-acc-1");
  // It opens at the present.
  await shown(page, "account-acc-1", 3);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "69.50");
  assert.equal(await page.getByTestId("travel-at").textContent(), "Version 3 of 3");
  assert.equal(await page.getByTestId("travel-mode").textContent(), "now");
  assert.equal(await slider(page).getAttribute("max"), "3");

  await slider(page).fill("2");
  await shown(page, "account-acc-1", 2);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "100.00");
  assert.equal(await page.getByTestId("travel-mode").textContent(), "in the past");
  assert.equal(await page.getByTestId("travel-owner").textContent(), "Alice");
  // The step's change is highlighted, with the event that caused it beside it.
  const balance = page.locator('.field[data-field="Balance"]');
  assert.match(await balance.getAttribute("class"), /\bchanged\b/);
  assert.equal(await balance.locator(".was").textContent(), "was 0.00");
  assert.doesNotMatch(await page.locator('.field[data-field="Owner"]').getAttribute("class"), /\bchanged\b/);
  assert.equal(await page.getByTestId("travel-cause-type").textContent(), "MoneyDeposited");
  assert.equal(
    await page.getByTestId("travel-rebuild").textContent(),
    "no snapshot at or below v2: 2 events replayed from the start",
  );
  await page.screenshot({ path: `${ARTIFACTS}/time-travel.png`, fullPage: true });

  await slider(page).fill("3");
  await shown(page, "account-acc-1", 3);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "69.50");
  assert.equal(await page.getByTestId("travel-cause-type").textContent(), "MoneyWithdrawn");

  await page.getByRole("button", { name: "Step back" }).click();
  await shown(page, "account-acc-1", 2);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "100.00");
  await page.getByRole("button", { name: "Step back" }).click();
  await shown(page, "account-acc-1", 1);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "0.00");
  assert.equal(await page.getByTestId("travel-status").textContent(), "Open");
  assert.ok(await page.getByRole("button", { name: "Step back" }).isDisabled());
  await page.getByRole("button", { name: "Step forward" }).click();
  await shown(page, "account-acc-1", 2);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "100.00");
  assert.equal(await slider(page).inputValue(), "2");

  // Play moves forward on its own and stops at the present.
  await page.getByLabel("Speed").selectOption("8");
  await page.getByRole("button", { name: "Play" }).click();
  await shown(page, "account-acc-1", 3);
  await page.getByRole("button", { name: "Play" }).waitFor();
  assert.equal(await page.getByTestId("travel-balance").textContent(), "69.50");
  assert.equal(await page.getByTestId("travel-mode").textContent(), "now");

  // Playing from now starts at the beginning; pause holds the point.
  await page.getByLabel("Speed").selectOption("0.5");
  await page.getByRole("button", { name: "Play" }).click();
  await shown(page, "account-acc-1", 1);
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByRole("button", { name: "Play" }).waitFor();
  const paused = await slider(page).inputValue();
  assert.ok(["1", "2"].includes(paused), `paused at ${paused}`);

  // Back to now leaves time travel.
  await page.getByRole("button", { name: "Back to now" }).click();
  await shown(page, "account-acc-1", 3);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "69.50");
  assert.equal(await page.getByTestId("travel-mode").textContent(), "now");
  assert.equal(await slider(page).inputValue(), "3");
  assert.ok(await page.getByRole("button", { name: "Back to now" }).isDisabled());

  // Three events: below the bank's snapshot interval, so no snapshot and no mark.
  assert.equal(await page.getByTestId("travel-mark").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the bank's own snapshots are marked on the timeline and jumps start from the nearest one", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(BASE_URL);
  await bank(page, "Open account", { Account: "acc-9", Owner: "Nine" }, "Opened acc-9 for Nine.");
  for (let i = 1; i <= 25; i++) {
    await bank(page, "Deposit", { Amount: "1.00" }, `Deposited 1.00 to acc-9; balance ${i}.00.`);
  }
  // The bank handler snapshots every 10 events: at v10 and v20.
  await openTravel(page, "account-acc-9");
  await shown(page, "account-acc-9", 26);
  assert.deepEqual(
    await page.getByTestId("travel-mark").evaluateAll((ms) => ms.map((m) => m.dataset.at)),
    ["10", "20"],
  );
  assert.equal(await page.getByTestId("travel-balance").textContent(), "25.00");
  assert.equal(await page.getByTestId("travel-rebuild").textContent(), "from snapshot at v20 + 6 events replayed");
  await slider(page).fill("15");
  await shown(page, "account-acc-9", 15);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "14.00");
  assert.equal(await page.getByTestId("travel-rebuild").textContent(), "from snapshot at v10 + 5 events replayed");
  assert.match(await page.locator('[data-testid="travel-mark"][data-at="10"]').getAttribute("class"), /\bused\b/);
  await page.getByRole("button", { name: /^Jump to snapshot at v20/ }).click();
  await shown(page, "account-acc-9", 20);
  assert.equal(await page.getByTestId("travel-rebuild").textContent(), "from snapshot at v20 + 0 events replayed");
  await page.screenshot({ path: `${ARTIFACTS}/time-travel-bank-snapshots.png`, fullPage: true });

  // The whole store marks the Bank page's saved AccountBalances checkpoint.
  await page.getByLabel("Stream").selectOption("");
  await shown(page, "", 26);
  assert.equal(await page.getByTestId("travel-total").textContent(), "25.00");
  await page.getByRole("button", { name: /^Jump to AccountBalances checkpoint at position \d+$/ }).waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test("snapshots taken from the timeline are marked and jumps start from the nearest one", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const deposits = Array.from({ length: 11 }, (_, i) => deposit(`${i + 1}.00`));
  await appendEvents(page, "account-acc-2", [opened("Bob"), ...deposits]);

  await openTravel(page, "account-acc-2");
  await shown(page, "account-acc-2", 12);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "66.00");
  assert.equal(await page.getByTestId("travel-mark").count(), 0);
  assert.equal(
    await page.getByTestId("travel-rebuild").textContent(),
    "no snapshot at or below v12: 12 events replayed from the start",
  );
  await page.getByRole("button", { name: "Snapshot now" }).click();
  await page.getByTestId("travel-message").getByText("saved a snapshot of account-acc-2 at v12").waitFor();
  await reads(page, "travel-rebuild", "from snapshot at v12 + 0 events replayed");
  await page.getByTestId("travel-mark").waitFor();
  assert.equal(await page.getByTestId("travel-mark").getAttribute("data-at"), "12");

  // More events after the snapshot.
  await appendEvents(page, "account-acc-2", [deposit("100.00"), withdraw(1600), deposit("0.50")]);
  await openTravel(page, "account-acc-2");
  await shown(page, "account-acc-2", 15);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "150.50");
  assert.equal(await page.getByTestId("travel-rebuild").textContent(), "from snapshot at v12 + 3 events replayed");
  assert.match(await page.getByTestId("travel-mark").getAttribute("class"), /\bused\b/);

  await slider(page).fill("14");
  await shown(page, "account-acc-2", 14);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "150.00");
  assert.equal(await page.getByTestId("travel-rebuild").textContent(), "from snapshot at v12 + 2 events replayed");
  // Below the snapshot a jump replays from the start.
  await slider(page).fill("5");
  await shown(page, "account-acc-2", 5);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "10.00");
  assert.equal(
    await page.getByTestId("travel-rebuild").textContent(),
    "no snapshot at or below v5: 5 events replayed from the start",
  );
  assert.doesNotMatch(await page.getByTestId("travel-mark").getAttribute("class"), /\bused\b/);
  // A mark jumps to its snapshot.
  await page.getByRole("button", { name: /^Jump to snapshot at v12/ }).click();
  await shown(page, "account-acc-2", 12);
  assert.equal(await page.getByTestId("travel-balance").textContent(), "66.00");
  await page.screenshot({ path: `${ARTIFACTS}/time-travel-snapshots.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the whole store shows AccountBalances at each global position", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await appendEvents(page, "account-a", [opened("Ann"), deposit("20.00")]);
  await appendEvents(page, "notes-1", [["NoteAdded", { text: "hello" }]]);
  await appendEvents(page, "account-b", [opened("Ben"), deposit("5.25")]);
  await appendEvents(page, "account-a", [withdraw(500)]);

  await page.getByRole("link", { name: "Time travel" }).click();
  await shown(page, "", 6);
  assert.equal(await page.getByLabel("Stream").inputValue(), "");
  assert.equal(await page.getByTestId("travel-at").textContent(), "Position 6 of 6");
  assert.equal(await page.getByTestId("travel-total").textContent(), "20.25");
  const rows = async () =>
    page.getByTestId("travel-row").evaluateAll((rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(await rows(), [
    ["a", "Ann", "Open", "15.00"],
    ["b", "Ben", "Open", "5.25"],
  ]);
  // The withdrawal changed account a's balance only.
  assert.equal(await page.locator('[data-testid="travel-row"][data-key="a"] td.changed').textContent(), "15.00");
  assert.equal(await page.locator('[data-testid="travel-row"][data-key="b"] td.changed').count(), 0);
  await page.screenshot({ path: `${ARTIFACTS}/time-travel-store.png`, fullPage: true });

  await slider(page).fill("2");
  await shown(page, "", 2);
  assert.deepEqual(await rows(), [["a", "Ann", "Open", "20.00"]]);
  assert.equal(await page.getByTestId("travel-total").textContent(), "20.00");
  // A step that is not a bank event changes nothing in the read model.
  await page.getByRole("button", { name: "Step forward" }).click();
  await shown(page, "", 3);
  assert.equal(await page.getByTestId("travel-cause-type").textContent(), "NoteAdded");
  assert.equal(await page.getByTestId("travel-changes").textContent(), "nothing visible changed");
  await page.getByRole("button", { name: "Step forward" }).click();
  await shown(page, "", 4);
  assert.deepEqual(await rows(), [
    ["a", "Ann", "Open", "20.00"],
    ["b", "Ben", "Open", "0.00"],
  ]);
  assert.equal(await page.locator('[data-testid="travel-row"][data-key="b"]').getAttribute("class"), "added");
  assert.match(await page.getByTestId("travel-rebuild").textContent(), /^AccountBalances from /);

  // A stream without an aggregate type shows the generic fold.
  await page.getByLabel("Stream").selectOption("notes-1");
  await shown(page, "notes-1", 1);
  assert.equal(await page.getByTestId("travel-event-count").textContent(), "1");
  assert.equal(await page.locator('.field[data-field="latest text"] .value').textContent(), "hello");

  await page.getByLabel("Stream").selectOption("");
  await shown(page, "", 6);
  assert.equal(await page.getByTestId("travel-total").textContent(), "20.25");
  assert.deepEqual(errors, []);
  await context.close();
});

test("an order's items and total at each version, with removed items struck through", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await appendEvents(page, "order-o1", [
    ["OrderCreated", { customerId: "cust-1" }],
    ["ItemAdded", { productId: "sku-1", quantity: 2, unitPrice: 999 }],
    ["ItemAdded", { productId: "sku-2", quantity: 1, unitPrice: 500 }],
    ["ItemRemoved", { productId: "sku-2" }],
  ]);
  await openTravel(page, "order-o1");
  await shown(page, "order-o1", 4);
  assert.equal(await page.getByTestId("travel-total").textContent(), "19.98");
  assert.equal(await page.getByTestId("travel-status").textContent(), "Draft");
  assert.equal(await page.getByTestId("travel-row").count(), 1);
  assert.equal(await page.getByTestId("travel-row-removed").getAttribute("data-key"), "sku-2");
  assert.equal(await page.getByTestId("travel-changes").textContent(), "changed: Total, Items › sku-2 (removed)");

  await page.getByRole("button", { name: "Step back" }).click();
  await shown(page, "order-o1", 3);
  assert.equal(await page.getByTestId("travel-total").textContent(), "24.98");
  assert.equal(await page.getByTestId("travel-row").count(), 2);
  assert.equal(await page.locator('[data-testid="travel-row"][data-key="sku-2"]').getAttribute("class"), "added");
  assert.equal(await page.getByTestId("travel-row-removed").count(), 0);
  await page.screenshot({ path: `${ARTIFACTS}/time-travel-order.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});
