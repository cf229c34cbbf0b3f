// The example domains through the package's `nodejs` build: bank, orders, saga, demo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Chronik, ChronikError, Bank } = require("../../web/pkg-node/chronik.js");

test("bank: open, deposit, withdraw; a rejected command says why and writes nothing", async () => {
  const db = Chronik.inMemory();
  const bank = db.bank();
  await bank.execute("acc-1", { type: "OpenAccount", owner: "Ada" });
  await bank.execute("acc-1", { type: "Deposit", amount: "100.00" });
  const after = await bank.execute("acc-1", { type: "Withdraw", amount: "30.50" });
  assert.deepEqual(after, {
    id: "acc-1",
    owner: "Ada",
    balance: "69.50",
    balanceCents: 6950,
    status: "open",
    version: 3,
  });

  await assert.rejects(bank.execute("acc-1", { type: "Withdraw", amount: "1000" }), (e) => {
    assert.ok(e instanceof ChronikError);
    assert.equal(e.code, "InsufficientFunds");
    assert.equal(e.balance, "69.50");
    assert.equal(e.amount, "1000.00");
    return true;
  });
  for (const amount of ["0", "-5", "abc", "1.234", "99999999999999999999"]) {
    await assert.rejects(bank.execute("acc-1", { type: "Deposit", amount }), { code: "InvalidAmount" });
  }
  await assert.rejects(bank.execute("acc-1", { type: "Deposit" }), { code: "InvalidCommand" });
  assert.equal((await db.readStream("account-acc-1")).length, 3, "nothing was written");

  // Time travel: the state after version 2, and as of a time before the account existed.
  assert.equal((await bank.state("acc-1", { atVersion: 2 })).balance, "100.00");
  assert.equal(await bank.state("acc-1", { atTime: 0 }), undefined);
  assert.equal(await bank.state("nobody"), undefined);
  assert.equal(Bank.formatCents(6950), "69.50");
});

test("bank: transfers move money once, and refund when the target is closed", async () => {
  const db = Chronik.inMemory();
  const bank = db.bank();
  await bank.execute("a", { type: "OpenAccount", owner: "A", initialDeposit: "100" });
  await bank.execute("b", { type: "OpenAccount", owner: "B" });
  const t = await bank.transfer({ id: "t-1", from: "a", to: "b", amount: "60" });
  assert.equal(t.status, "completed");
  const again = await bank.transfer({ id: "t-1", from: "a", to: "b", amount: "60" });
  assert.equal(again.status, "completed");
  assert.equal((await bank.state("a")).balance, "40.00");
  assert.equal((await bank.state("b")).balance, "60.00");

  await bank.execute("c", { type: "OpenAccount", owner: "C" });
  await bank.execute("c", { type: "CloseAccount" });
  const refunded = await bank.transfer({ id: "t-2", from: "a", to: "c", amount: "10" });
  assert.equal(refunded.status, "refunded");
  assert.match(refunded.reason, /closed/);
  assert.equal((await bank.state("a")).balance, "40.00");

  const balances = await db.projection("AccountBalances").state();
  assert.equal(balances.accounts.a.balance, 4000);
  assert.equal(balances.accounts.b.balance, 6000);
  assert.ok(db.projectionNames().includes("DailySummary"));
  // Both transfers finished (one completed, one refunded): nothing is pending.
  assert.deepEqual(await db.projection("PendingTransfers").state(), { transfers: {} });
});

test("orders: the state machine refuses illegal moves with clear errors", async () => {
  const db = Chronik.inMemory();
  const orders = db.orders();
  await orders.execute("o-1", { type: "CreateOrder", customerId: "c-1" });
  await assert.rejects(orders.execute("o-1", { type: "SubmitOrder" }), /empty/);
  await orders.execute("o-1", { type: "AddItem", productId: "tea", quantity: 2, unitPrice: "3.50" });
  const merged = await orders.execute("o-1", { type: "AddItem", productId: "tea", quantity: 1, unitPrice: "3.50" });
  assert.deepEqual(merged.items, [{ productId: "tea", quantity: 3, unitPrice: "3.50", lineTotal: "10.50" }]);
  await assert.rejects(
    orders.execute("o-1", { type: "AddItem", productId: "tea", quantity: 0, unitPrice: "3.50" }),
    { code: "InvalidCommand" },
  );
  const submitted = await orders.execute("o-1", { type: "SubmitOrder" });
  assert.equal(submitted.status, "submitted");
  await assert.rejects(orders.execute("o-1", { type: "RemoveItem", productId: "tea" }), {
    code: "InvalidTransition",
  });
  const cancelled = await orders.execute("o-1", { type: "CancelOrder", reason: "changed my mind" });
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.cancelReason, "changed my mind");
});

async function submittedOrder(db, id) {
  const orders = db.orders();
  await orders.execute(id, { type: "CreateOrder", customerId: "c-9" });
  await orders.execute(id, { type: "AddItem", productId: "kettle", quantity: 2, unitPrice: "25.00" });
  await orders.execute(id, { type: "SubmitOrder" });
}

test("saga: fulfils an order, and compensates when payment fails", async () => {
  const db = Chronik.inMemory();
  const ok = db.fulfilment();
  await ok.receiveStock("kettle", 10, "delivery-1");
  await submittedOrder(db, "o-ok");
  const done = await ok.run("o-ok");
  assert.equal(done.status, "completed");
  assert.deepEqual(done.steps.map((s) => [s.step, s.status]), [
    ["ReserveInventory", "completed"],
    ["TakePayment", "completed"],
    ["Ship", "completed"],
    ["CompleteOrder", "completed"],
  ]);
  assert.equal((await db.orders().state("o-ok")).status, "completed");
  assert.equal(await ok.available("kettle"), 8);

  const failing = db.fulfilment({ failStep: "TakePayment" });
  await submittedOrder(db, "o-bad");
  const aborted = await failing.run("o-bad");
  assert.equal(aborted.status, "aborted");
  assert.match(aborted.failure, /payment/i);
  assert.deepEqual(aborted.compensations.map((c) => [c.step, c.completed]), [
    ["TakePayment", true],
    ["ReserveInventory", true],
  ]);
  const order = await db.orders().state("o-bad");
  assert.equal(order.status, "cancelled");
  assert.equal(await failing.available("kettle"), 8, "the reservation was released");
});

test("demo data: the same seed writes the same events and timeline, ending now, with progress", async () => {
  const write = async () => {
    const db = Chronik.inMemory();
    const progress = [];
    const written = await db.generateDemo({ seed: 7, events: 500 }, (done, total) => progress.push([done, total]));
    return { db, written, progress };
  };
  const a = await write();
  const b = await write();
  assert.ok(a.written >= 500);
  assert.equal(a.progress.at(-1)[0], a.written);
  // The timeline is anchored to "now", so compare times relative to the first event.
  const strip = (events) =>
    events.map((e) => [e.id, e.streamId, e.type, JSON.stringify(e.data), e.recordedAt - events[0].recordedAt]);
  const [eventsA, eventsB] = [await a.db.readAll(), await b.db.readAll()];
  assert.deepEqual(strip(eventsA), strip(eventsB));
  const lastAt = eventsA.at(-1).recordedAt;
  assert.ok(Math.abs(Date.now() - lastAt) < 2 * 86_400_000, "the demo timeline ends around now");
  const stats = await a.db.stats();
  assert.ok(stats.eventsByType.AccountOpened > 0);
  assert.ok(stats.eventsByType.OrderCreated > 0);
});
