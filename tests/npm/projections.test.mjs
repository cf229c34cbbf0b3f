// Projections, subscriptions and stats through the package's `nodejs` build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Chronik, ChronikError } = require("../../web/pkg-node/chronik.js");

const deposit = (cents) => ({ type: "Deposited", data: { cents } });
const withdraw = (cents) => ({ type: "Withdrawn", data: { cents } });

test("a JS projection folds the log, keeps up with appends and reports its checkpoint", async () => {
  const db = Chronik.inMemory();
  await db.append("account-1", [deposit(500), withdraw(200)]);
  await db.append("account-2", [deposit(1000)]);
  await db.append("audit-1", [{ type: "LoggedIn", data: { user: "ada" } }]);

  const balances = db.defineProjection({
    name: "balances",
    types: ["Deposited", "Withdrawn"],
    initialState: {},
    apply(state, event) {
      const sign = event.type === "Deposited" ? 1 : -1;
      return { ...state, [event.streamId]: (state[event.streamId] ?? 0) + sign * event.data.cents };
    },
  });
  assert.equal(balances.name, "balances");
  assert.deepEqual(await balances.state(), { "account-1": 300, "account-2": 1000 });

  await db.append("account-2", [withdraw(1)]);
  assert.deepEqual(await balances.state(), { "account-1": 300, "account-2": 999 });
  const info = await balances.info();
  assert.equal(info.status, "caughtUp");
  assert.equal(info.position, 5);
  assert.equal(info.lag, 0);
  assert.equal(db.projection("balances").name, "balances");
});

test("rebuild starts from zero and reports progress until the head", async () => {
  const db = Chronik.inMemory();
  // More than two pages (a runner reads 4,000 events a page).
  const batch = Array.from({ length: 9000 }, (_, i) => deposit(i));
  await db.append("account-9", batch);
  let applied = 0;
  const count = db.defineProjection({
    name: "count",
    initialState: 0,
    apply(state) {
      applied += 1;
      return state + 1;
    },
  });
  assert.equal(await count.state(), 9000);
  const progress = [];
  const processed = await count.rebuild({ onProgress: (p) => progress.push(p) });
  assert.equal(processed, 9000);
  assert.equal(applied, 18000, "the rebuild applied every event again");
  assert.equal(await count.state(), 9000);
  assert.deepEqual(
    progress.map((p) => p.position),
    [4000, 8000, 9000],
    "progress is reported per page",
  );
  assert.deepEqual(progress.at(-1), { position: 9000, head: 9000 });
  assert.ok(progress.every((p, i) => i === 0 || p.position >= progress[i - 1].position));
});

test("a projection whose apply throws is marked failed at that event and loses nothing", async () => {
  const db = Chronik.inMemory();
  await db.append("s-1", [deposit(1), { type: "Poison", data: {} }, deposit(2)]);
  const sum = db.defineProjection({
    name: "sum",
    initialState: 0,
    apply(state, event) {
      if (event.type === "Poison") throw new Error("cannot handle poison");
      return state + event.data.cents;
    },
  });
  await sum.catchUp();
  const info = await sum.info();
  assert.equal(info.status, "failed");
  assert.equal(info.failedAt, 2);
  assert.match(info.error, /cannot handle poison/);
  assert.equal(info.position, 1, "the checkpoint stays before the failing event");
  assert.equal(await db.projection("sum").state(), 1);
});

test("defining a projection without apply, or twice, is a clear error", async () => {
  const db = Chronik.inMemory();
  assert.throws(() => db.defineProjection({ name: "p", initialState: 0 }), { code: "InvalidInput" });
  db.defineProjection({ name: "p", initialState: 0, apply: (s) => s });
  assert.throws(
    () => db.defineProjection({ name: "p", initialState: 0, apply: (s) => s }),
    /already defined/,
  );
  assert.throws(() => db.projection("nope"), { code: "UnknownProjection" });
});

test("subscribe delivers each new event once, in order, filtered by type, until stopped", async () => {
  const db = Chronik.inMemory();
  await db.append("s-1", [deposit(1)]);
  const seen = [];
  const stop = db.subscribe({ types: ["Deposited"] }, (e) => seen.push([e.position, e.type]));
  await db.append("s-1", [deposit(2), withdraw(1)]);
  await db.append("s-2", [deposit(3)]);
  await waitFor(() => seen.length === 2);
  assert.deepEqual(seen, [
    [2, "Deposited"],
    [4, "Deposited"],
  ]);
  stop();
  await db.append("s-2", [deposit(4)]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.length, 2, "nothing is delivered after stop()");

  const replay = [];
  db.subscribe({ fromPosition: 1 }, (e) => replay.push(e.position));
  await waitFor(() => replay.length === 5);
  assert.deepEqual(replay, [1, 2, 3, 4, 5]);
});

test("stats count events, streams, types and days", async () => {
  const db = Chronik.inMemory();
  await db.append("account-1", [deposit(1), deposit(2)]);
  await db.append("order-1", [{ type: "OrderCreated", data: {} }]);
  const stats = await db.stats();
  assert.equal(stats.eventCount, 3);
  assert.equal(stats.streamCount, 2);
  assert.deepEqual(stats.eventsByType, { Deposited: 2, OrderCreated: 1 });
  assert.deepEqual(stats.streamsByType, { account: 1, order: 1 });
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(stats.eventsByDay[today], 3);
});

async function waitFor(condition, ms = 2000) {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("stateAt gives a read model as it was at any position, and fails where apply fails", async () => {
  const db = Chronik.inMemory();
  const bank = db.bank();
  await bank.execute("a", { type: "OpenAccount", owner: "Ada" }); // position 1
  await bank.execute("a", { type: "Deposit", amount: "10" }); // 2
  await bank.execute("a", { type: "Deposit", amount: "5" }); // 3
  const balances = db.projection("AccountBalances");
  const now = await balances.state();
  assert.equal(now.accounts.a.balance, 1500);
  assert.deepEqual(await balances.stateAt(3), now);
  assert.equal((await balances.stateAt(2)).accounts.a.balance, 1000);
  assert.deepEqual((await balances.stateAt(0)).accounts, {});

  const picky = db.defineProjection({
    name: "picky",
    initialState: { n: 0 },
    apply: (state, event) => {
      if (event.position === 3) throw new Error("cannot take the third event");
      return { n: state.n + 1 };
    },
  });
  assert.deepEqual(await picky.stateAt(2), { n: 2 });
  await assert.rejects(picky.stateAt(3), (e) => {
    assert.ok(e instanceof ChronikError);
    assert.equal(e.code, "ProjectionFailed");
    assert.equal(e.position, 3);
    assert.equal(e.error, "cannot take the third event");
    return true;
  });
  // The live projection stops at the same event.
  await picky.state().catch(() => {});
  const info = await picky.info();
  assert.equal(info.status, "failed");
  assert.equal(info.failedAt, 3);
  await assert.rejects(picky.stateAt(-1), (e) => e.code === "InvalidInput");
});
