// Hostile and careless input through the npm package in Node: nothing kills the wasm
// module, hangs a call, or writes anything unless the whole call succeeds. Every refusal
// is a ChronikError with a code, and afterwards this database and new ones keep working.
// One file per defect class of the hardening issue, in order.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Chronik, ChronikError, Bank } = require("../../web/pkg-node/chronik.js");

const unhandled = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));
after(() => {
  assert.deepEqual(unhandled, [], "no rejection was left unhandled");
});

/** Fails (instead of hanging the suite) when `promise` does not settle in 10 s. */
function settles(promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("the call never settled")), 10_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The call is refused with a ChronikError of `code` whose message matches `pattern`. */
async function refused(call, code, pattern) {
  let error;
  try {
    await settles(Promise.resolve().then(call));
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a refusal with ${code}`);
  assert.ok(error instanceof ChronikError, `a ChronikError, got ${error?.stack ?? error}`);
  assert.ok(error instanceof Error);
  assert.equal(error.code, code, error.message);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

/** `db` and a brand-new database both still append and read. */
async function stillWorks(db) {
  for (const store of [db, Chronik.inMemory()]) {
    const r = await settles(store.append(`alive-${Math.random()}`, [{ type: "Ping", data: { ok: true } }]));
    assert.equal(r.firstVersion, 1);
  }
  assert.ok((await db.readAll()).length >= 1);
}

/** `db`'s whole log as text, to show that a refused call wrote nothing. */
async function logOf(db) {
  return (await db.readAll()).map((e) => `${e.streamId}/${e.version}/${e.type}`).join("\n");
}

function deepArray(levels) {
  let v = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

// 1. Values that used to kill the module.
test("cyclic, very deep, throwing and Proxy values are refused, and the module lives on", async () => {
  const db = Chronik.inMemory();
  await db.append("base", [{ type: "Seed", data: {} }]);
  const before = await logOf(db);

  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  await refused(() => db.append("s", [{ type: "T", data: cyclic }]), "InvalidInput", /events\[0\]\.data\.self .*cycle/);
  await refused(() => db.append("s", [{ type: "T", data: deepArray(5_000) }]), "InvalidInput", /nests deeper than/);
  await refused(() => db.append("s", [{ type: "T", data: deepArray(1_000_000) }]), "InvalidInput", /nests deeper than/);

  const getter = { get boom() { throw new Error("getter says no"); } };
  await refused(() => db.append("s", [{ type: "T", data: getter }]), "InvalidInput", /data\.boom could not be read: getter says no/);
  const trap = new Proxy({}, { ownKeys() { throw new Error("trap says no"); } });
  await refused(() => db.append("s", [{ type: "T", data: trap }]), "InvalidInput", /trap says no/);
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  await refused(() => db.append("s", [{ type: "T", data: proxy }]), "InvalidInput", /could not be read/);
  await refused(() => db.append("s", proxy), "InvalidInput", /events could not be read/);
  const sneaky = new Proxy([], { getPrototypeOf() { throw new Error("proto trap"); } });
  await refused(() => db.append("s", [sneaky]), "InvalidInput", /events\[0\]/);
  const event = { type: "T", get data() { throw new Error("event getter"); } };
  await refused(() => db.append("s", [event]), "InvalidInput", /event getter/);

  assert.equal(await logOf(db), before, "nothing was written");
  await stillWorks(db);
});

test("cyclic or deep commands, states and callback results are refused without a trap", async () => {
  const db = Chronik.inMemory();
  const cyclic = {};
  cyclic.me = cyclic;
  await refused(() => db.bank().execute("acc-1", cyclic), "InvalidCommand", /cycle/);
  await refused(
    () => db.defineAggregate({ name: "cyc", initialState: cyclic, decide: () => [], evolve: (s) => s }),
    "InvalidInput",
    /initialState.*cycle/,
  );
  await refused(
    () => db.defineProjection({ name: "deep", initialState: deepArray(10_000), apply: (s) => s }),
    "InvalidInput",
    /nests deeper/,
  );

  const counter = db.defineAggregate({
    name: "counter",
    initialState: { n: 0 },
    decide: (state, cmd) => (cmd.cyclic ? [{ type: "X", data: cyclic }] : [{ type: "Added", data: { by: 1 } }]),
    evolve: (state, event) => (event.data.by === 99 ? cyclic : { n: state.n + event.data.by }),
  });
  await refused(() => counter.execute("c-1", { cyclic: true }), "InvalidInput", /decide returned.*cycle/);
  await refused(() => counter.execute("c-1", deepArray(100)), "InvalidInput", /nests deeper than 64 levels/);
  assert.deepEqual((await counter.execute("c-1", {})).state, { n: 1 });

  // A projection whose apply returns a cyclic state: the read is refused, no trap.
  const bad = db.defineProjection({ name: "cyclicState", initialState: {}, apply: () => cyclic });
  const failure = await settles(bad.state().then(() => null, (e) => e));
  assert.ok(failure instanceof ChronikError, String(failure));
  assert.match(failure.message, /cycle/);
  await stillWorks(db);
});

// 2. Wrong argument types.
test("wrong argument types are refused with InvalidInput naming the argument", async () => {
  const db = Chronik.inMemory();
  for (const id of [5, true, {}, Symbol("s"), null, undefined, "", "   ", "x".repeat(1025)]) {
    await refused(() => db.append(id, [{ type: "T", data: {} }]), "InvalidInput", /streamId/);
    await refused(() => db.readStream(id), "InvalidInput", /streamId/);
  }
  for (const events of [null, undefined, 5, "x", {}, [null], [5], [{ data: {} }], [{ type: 5, data: {} }]]) {
    await refused(() => db.append("s", events), "InvalidInput", /events/);
  }
  await refused(() => db.append("s", [{ type: "T", data: {}, extra: 1 }]), "InvalidInput", /unknown field/);
  await refused(() => db.append("s", [{ type: "T", data: {} }], "noStream"), "InvalidInput", /options/);
  await refused(() => db.append("s", [{ type: "T", data: {} }], { expectedVersion: -1 }), "InvalidInput", /expectedVersion/);
  await refused(() => db.append("s", [{ type: "T", data: {} }], { expectedVersion: 1.5 }), "InvalidInput", /expectedVersion/);
  await refused(() => db.append("s", [{ type: "T", data: {} }], { expectedVersion: "nope" }), "InvalidInput", /expectedVersion/);
  await refused(() => db.readAll(5), "InvalidInput", /options/);
  await refused(() => db.readAll({ fromPosition: "1" }), "InvalidInput", /fromPosition/);
  await refused(() => db.readAll({ fromPostion: 1 }), "InvalidInput", /unknown field/);

  assert.throws(() => db.defineAggregate(5), (e) => e instanceof ChronikError && e.code === "InvalidInput");
  assert.throws(() => db.defineAggregate({ name: "a", initialState: {}, decide: 1, evolve: () => 0 }), /decide must be a function/);
  assert.throws(() => db.defineAggregate({ name: "a", initialState: {}, decide: () => [], evolve: () => 0, snapshotEvery: -1 }), /snapshotEvery/);
  assert.throws(() => db.defineProjection(null), (e) => e.code === "InvalidInput");
  assert.throws(() => db.defineProjection({ name: "p", initialState: 0, apply: () => 0, types: "T" }), /types/);
  assert.throws(() => db.projection(5), (e) => e.code === "InvalidInput");
  const p = db.defineProjection({ name: "count", initialState: 0, apply: (n) => n + 1 });
  await refused(() => p.rebuild(5), "InvalidInput", /options/);
  await refused(() => p.rebuild({ onProgress: "no" }), "InvalidInput", /onProgress/);
  await refused(() => db.importNdjson("", "x"), "InvalidInput", /options/);
  await refused(() => db.importNdjson(42), "InvalidInput", /text/);
  await refused(() => db.exportNdjsonChunks(null), "InvalidInput", /onChunk/);
  await refused(() => db.generateDemo({ events: 1e12 }), "InvalidInput", /events/);
  await refused(() => db.bank().execute("acc-1", { type: "Deposit", amount: 10 }), "InvalidCommand", /expected a string/);
  await refused(() => db.bank().execute("acc-1", { type: "Nope" }), "InvalidCommand", /unknown variant/);
  await refused(() => db.bank().transfer({ id: "", from: "a", to: "b", amount: "1" }), "InvalidCommand", /transfer\.id/);
  assert.throws(() => db.fulfilment({ failureRate: 2 }), /failureRate/);
  await stillWorks(db);
});

test("subscribe needs a callback, and its stop function may be called twice", async () => {
  const db = Chronik.inMemory();
  assert.throws(() => db.subscribe({}), (e) => e instanceof ChronikError && /callback must be a function/.test(e.message));
  assert.throws(() => db.subscribe({}, "not a function"), (e) => e.code === "InvalidInput");
  assert.throws(() => db.subscribe({ fromPosition: -1 }, () => {}), (e) => e.code === "InvalidInput");
  const seen = [];
  const stop = db.subscribe({}, (e) => seen.push(e.type));
  await db.append("s", [{ type: "One", data: {} }]);
  for (let i = 0; i < 20 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, ["One"]);
  stop();
  stop();
  await db.append("s", [{ type: "Two", data: {} }]);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(seen, ["One"]);
  await stillWorks(db);
});

// 3. Use after close, and close while busy.
test("every call after close() is DatabaseClosed, close() twice is fine", async () => {
  const db = Chronik.inMemory();
  const bank = db.bank();
  const p = db.defineProjection({ name: "n", initialState: 0, apply: (n) => n + 1 });
  await db.append("s", [{ type: "T", data: {} }]);
  db.close();
  db.close();
  await refused(() => db.append("s", [{ type: "T", data: {} }]), "DatabaseClosed");
  await refused(() => db.readAll(), "DatabaseClosed");
  await refused(() => db.stats(), "DatabaseClosed");
  await refused(() => bank.execute("acc-1", { type: "OpenAccount", owner: "Ada" }), "DatabaseClosed");
  await refused(() => p.state(), "DatabaseClosed");
  assert.throws(() => db.bank(), (e) => e.code === "DatabaseClosed");
  assert.throws(() => db.subscribe({}, () => {}), (e) => e.code === "DatabaseClosed");
  await stillWorks(Chronik.inMemory());
});

test("close() while calls are in flight lets them finish, then refuses new ones", async () => {
  const db = Chronik.inMemory();
  const pending = [];
  for (let i = 0; i < 20; i++) pending.push(db.append("busy", [{ type: "T", data: { i } }]));
  const command = db.bank().execute("acc-1", { type: "OpenAccount", owner: "Ada", initialDeposit: "5" });
  db.close();
  const results = await settles(Promise.all(pending));
  assert.deepEqual(results.map((r) => r.lastVersion), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal((await settles(command)).balance, "5.00");
  await refused(() => db.readStream("busy"), "DatabaseClosed");
});

// 4. Numbers that used to be silently changed.
test("numbers are exact or refused: positions past 2^32, stock quantities, cents", async () => {
  const db = Chronik.inMemory();
  await db.append("s", [{ type: "A", data: {} }, { type: "B", data: {} }]);
  assert.deepEqual(await db.readAll({ fromPosition: 2 ** 32 + 1 }), [], "no 64→32-bit truncation");
  assert.equal((await db.readAll({ limit: 2 ** 40 })).length, 2, "a huge limit means no limit");
  await refused(() => db.readAll({ fromPosition: 1.5 }), "InvalidInput", /fromPosition/);

  const f = db.fulfilment();
  for (const q of [-1, 0, 1.5, NaN, Infinity, "3", 2 ** 53]) {
    await refused(() => f.receiveStock("tea", q, `d-${q}`), "InvalidInput", /quantity/);
  }
  assert.equal(await f.available("tea"), 0, "no refused delivery added stock");
  await f.receiveStock("tea", 7, "d-1");
  assert.equal(await f.available("tea"), 7);
  await f.receiveStock("gold", 2 ** 53 - 1, "d-2");
  await refused(() => f.receiveStock("gold", 1, "d-3"), "InvalidCommand", /gold/);
  assert.equal(await f.available("gold"), 2 ** 53 - 1);

  assert.equal(Bank.formatCents(6950), "69.50");
  for (const bad of [NaN, 1.5, 2 ** 60, "5"]) {
    assert.throws(() => Bank.formatCents(bad), (e) => e.code === "InvalidInput");
  }
  await refused(() => db.append("s", [{ type: "T", data: { x: NaN } }]), "InvalidInput", /data\.x is NaN/);
  await refused(() => db.append("s", [{ type: "T", data: { x: Infinity } }]), "InvalidInput", /Infinity/);
  await refused(() => db.append("s", [{ type: "T", data: { x: 10n } }]), "InvalidInput", /BigInt/);
  await refused(() => db.append("s", [{ type: "T", data: [1, undefined] }]), "InvalidInput", /data\[1\] is undefined/);
  await refused(() => db.append("s", [{ type: "T", data: new Date() }]), "InvalidInput", /plain object/);
  await refused(() => db.append("s", [{ type: "T", data: new Map() }]), "InvalidInput", /plain object/);
  // Integers stay integers, fractions stay fractions, undefined properties are left out.
  await db.append("n", [{ type: "T", data: { i: 3, f: 0.1, big: 2 ** 53 - 1, skip: undefined } }]);
  const [stored] = await db.readStream("n");
  assert.deepEqual(stored.data, { i: 3, f: 0.1, big: 2 ** 53 - 1 });
  assert.equal(JSON.stringify(stored.data), '{"big":9007199254740991,"f":0.1,"i":3}');
  await stillWorks(db);
});

test("money above the maximum is refused before anything is written, so no account is bricked", async () => {
  const db = Chronik.inMemory();
  const bank = db.bank();
  await bank.execute("rich", { type: "OpenAccount", owner: "Ada" });
  const max = "90071992547409.91"; // 2^53 - 1 cents
  await bank.execute("rich", { type: "Deposit", amount: max });
  const before = await logOf(db);
  await refused(() => bank.execute("rich", { type: "Deposit", amount: "0.01" }), "InvalidAmount");
  await refused(() => bank.execute("other", { type: "OpenAccount", owner: "Bo", initialDeposit: "90071992547409.92" }), "InvalidAmount");
  assert.equal(await logOf(db), before, "nothing was written");
  const account = await bank.state("rich");
  assert.equal(account.balance, max);
  assert.equal(account.balanceCents, 2 ** 53 - 1);
  await bank.execute("rich", { type: "Withdraw", amount: "1" });

  const orders = db.orders();
  await orders.execute("o-1", { type: "CreateOrder", customerId: "ada" });
  await orders.execute("o-1", { type: "AddItem", productId: "gold", quantity: 1, unitPrice: "90071992547409.91" });
  const orderLog = await logOf(db);
  await refused(
    () => orders.execute("o-1", { type: "AddItem", productId: "more", quantity: 2, unitPrice: "1" }),
    "InvalidAmount",
  );
  await refused(
    () => orders.execute("o-1", { type: "AddItem", productId: "x", quantity: 4294967296, unitPrice: "1" }),
    "InvalidCommand",
  );
  assert.equal(await logOf(db), orderLog, "no order event was written");
  await stillWorks(db);
});

// 5. Errors after the write.
test("an evolve that throws on the event decide just produced writes nothing", async () => {
  const db = Chronik.inMemory();
  const agg = db.defineAggregate({
    name: "fragile",
    initialState: { n: 0 },
    decide: (state, cmd) => [{ type: cmd.poison ? "Poison" : "Fine", data: {} }],
    evolve: (state, event) => {
      if (event.type === "Poison") throw new Error("cannot apply poison");
      return { n: state.n + 1 };
    },
  });
  await agg.execute("f-1", {});
  const thrown = await settles(agg.execute("f-1", { poison: true }).then(() => null, (e) => e));
  assert.equal(thrown?.message, "cannot apply poison", "evolve's own error comes back unchanged");
  const events = await db.readStream(agg.streamId("f-1"));
  assert.deepEqual(events.map((e) => e.type), ["Fine"], "the poison event was not stored");
  assert.deepEqual((await agg.execute("f-1", {})).state, { n: 2 });
});

// 6. Import that breaks its promises.
test("an import is all or nothing, and an id stored with other content is an error naming the line", async () => {
  const source = Chronik.inMemory();
  await source.append("a", [{ type: "A1", data: { v: 1 }, id: "e-1" }, { type: "A2", data: { v: 2 }, id: "e-2" }]);
  await source.append("b", [{ type: "B1", data: { v: 3 }, id: "e-3" }]);
  const text = await (await source.exportNdjson()).text();
  const lines = text.trim().split("\n");

  // A file that does not continue the store: version gap on its last line.
  const target = Chronik.inMemory();
  const gap = JSON.parse(lines[2]);
  gap.version = 5;
  const broken = [lines[0], lines[1], JSON.stringify(gap)].join("\n");
  const err = await refused(() => target.importNdjson(broken), "InvalidImport", /line 3/);
  assert.equal(err.errorCount, 1);
  assert.deepEqual(await target.readAll(), [], "nothing of the file was written");

  // A stored id with other content.
  await target.importNdjson(text);
  const changed = JSON.parse(lines[1]);
  changed.data = { v: 999 };
  const conflict = [lines[0], JSON.stringify(changed), lines[2]].join("\n");
  await refused(() => target.importNdjson(conflict), "InvalidImport", /line 2/);
  // The same file again: everything skipped, nothing duplicated.
  const again = await target.importNdjson(text);
  assert.equal(again.imported, 0);
  assert.equal(again.skipped, 3);
  assert.equal((await target.readAll()).length, 3);
});

test("anything chronik exports, it imports back: deep data and custom metadata keys", async () => {
  const source = Chronik.inMemory();
  const deep = deepArray(63); // 63 arrays around a number: within the 64-level limit
  await source.append("deep", [
    { type: "Deep", data: { deep }, metadata: { correlationId: "c-1", userId: "u-7", nested: { a: [1] } } },
  ]);
  const text = await (await source.exportNdjson()).text();
  const copy = Chronik.inMemory();
  const report = await copy.importNdjson(text);
  assert.equal(report.imported, 1);
  const [a] = await source.readAll();
  const [b] = await copy.readAll();
  assert.deepEqual(b, a);
  assert.deepEqual(b.data.deep, deep);
  assert.deepEqual(b.metadata, { correlationId: "c-1", userId: "u-7", nested: { a: [1] } });
  assert.equal(await (await copy.exportNdjson()).text(), text);
});

// 7. Text that used to be silently changed.
test("lone surrogates are refused, metadata keeps every key and must be an object", async () => {
  const db = Chronik.inMemory();
  await refused(() => db.append("s-\uD800", [{ type: "T", data: {} }]), "InvalidInput", /streamId.*lone surrogate/);
  await refused(() => db.append("s", [{ type: "T\uDC00", data: {} }]), "InvalidInput", /lone surrogate/);
  await refused(() => db.append("s", [{ type: "T", data: { ["k\uD800"]: 1 } }]), "InvalidInput", /key.*lone surrogate/);
  await refused(() => db.append("s", [{ type: "T", data: {}, metadata: ["x"] }]), "InvalidInput", /metadata/);
  await refused(() => db.append("s", [{ type: "T", data: {}, metadata: { correlationId: 5 } }]), "InvalidInput", /correlationId/);
  // A real U+FFFD and an astral character are text like any other.
  await db.append("s-\uFFFD-😀", [{ type: "T", data: { s: "\uFFFD😀" }, metadata: { userId: "u-1", correlationId: "c" } }]);
  const [event] = await db.readStream("s-\uFFFD-😀");
  assert.equal(event.data.s, "\uFFFD😀");
  assert.deepEqual(event.metadata, { correlationId: "c", userId: "u-1" });
  await refused(() => db.readStream("s-\uD800"), "InvalidInput", /lone surrogate/);
  assert.deepEqual(await db.readStream("s-\uFFFD"), [], "no lone-surrogate id was turned into U+FFFD");
});

// 8. User errors that escape.
test("async decide, evolve and apply are refused without an unhandled rejection", async () => {
  const db = Chronik.inMemory();
  const agg = db.defineAggregate({
    name: "async",
    initialState: {},
    decide: async () => {
      throw new Error("async refusal");
    },
    evolve: (s) => s,
  });
  await refused(() => agg.execute("a-1", {}), "InvalidInput", /Promise/);
  const p = db.defineProjection({ name: "asyncApply", initialState: 0, apply: async () => { throw new Error("no"); } });
  await db.append("s", [{ type: "T", data: {} }]);
  await settles(p.state().then(() => null, () => null));
  const info = await p.info();
  assert.equal(info.status, "failed");
  assert.match(info.error, /Promise/);
  // A subscription callback that rejects is reported on the console, not left unhandled.
  const original = console.error;
  const logged = [];
  console.error = (...args) => logged.push(args.join(" "));
  try {
    db.subscribe({ fromPosition: 1 }, async () => {
      throw new Error("callback rejection");
    });
    for (let i = 0; i < 50 && logged.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  } finally {
    console.error = original;
  }
  assert.ok(logged.some((l) => /rejected/.test(l)), logged.join("\n"));
  await new Promise((r) => setTimeout(r, 20));
  await stillWorks(db);
});

// Limits stated in the README.
test("the stated limits: 64 levels of nesting, 1,024-byte names", async () => {
  const db = Chronik.inMemory();
  await db.append("s", [{ type: "T", data: deepArray(64) }]);
  await refused(() => db.append("s", [{ type: "T", data: deepArray(65) }]), "InvalidInput", /64 levels/);
  await db.append("x".repeat(1024), [{ type: "T", data: {} }]);
  await refused(() => db.append("x".repeat(1025), [{ type: "T", data: {} }]), "InvalidInput", /1024/);
  await refused(() => db.append("s", [{ type: "t".repeat(1025), data: {} }]), "InvalidInput", /1024/);
});
