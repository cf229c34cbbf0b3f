// JS-defined aggregates, and NDJSON export/import, through the `nodejs` build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Chronik } = require("../../web/pkg-node/chronik.js");

function defineCart(db, snapshotEvery) {
  return db.defineAggregate({
    name: "cart",
    initialState: { items: {}, checkedOut: false },
    snapshotEvery,
    decide(state, command) {
      if (state.checkedOut) throw new Error("cart is checked out");
      switch (command.type) {
        case "Add":
          if (!(command.qty > 0)) throw new RangeError("qty must be positive");
          return [{ type: "ItemAdded", data: { sku: command.sku, qty: command.qty } }];
        case "CheckOut":
          return [{ type: "CheckedOut", data: {} }];
        default:
          throw new TypeError(`unknown command ${command.type}`);
      }
    },
    evolve(state, event) {
      if (event.type === "ItemAdded") {
        const items = { ...state.items, [event.data.sku]: (state.items[event.data.sku] ?? 0) + event.data.qty };
        return { ...state, items };
      }
      return { ...state, checkedOut: true };
    },
  });
}

test("a JS aggregate decides, evolves, snapshots, and travels in time", async () => {
  const db = Chronik.inMemory();
  const cart = defineCart(db, 3);
  for (let i = 0; i < 7; i++) await cart.execute("c-1", { type: "Add", sku: "tea", qty: 1 });
  const out = await cart.execute("c-1", { type: "Add", sku: "jam", qty: 2 }, { commandId: "cmd-9", correlationId: "req-1" });
  assert.equal(out.version, 8);
  assert.deepEqual(out.state, { items: { tea: 7, jam: 2 }, checkedOut: false });
  assert.equal(out.events[0].id, "cmd-9-1");
  assert.equal(out.events[0].metadata.causationId, "cmd-9");
  assert.equal(out.events[0].metadata.correlationId, "req-1");
  assert.equal(cart.streamId("c-1"), "cart-c-1");
  assert.equal((await db.stats()).snapshotCount, 2, "snapshots at versions 3 and 6");
  assert.deepEqual((await cart.state("c-1", { atVersion: 4 })).state, { items: { tea: 4 }, checkedOut: false });
  assert.deepEqual(await cart.state("c-1"), { state: out.state, version: 8 });
});

test("what decide throws reaches the caller unchanged, and nothing is written", async () => {
  const db = Chronik.inMemory();
  const cart = defineCart(db);
  await cart.execute("c-2", { type: "Add", sku: "tea", qty: 1 });
  await assert.rejects(cart.execute("c-2", { type: "Add", sku: "tea", qty: 0 }), (e) => {
    assert.ok(e instanceof RangeError);
    assert.equal(e.message, "qty must be positive");
    return true;
  });
  await assert.rejects(cart.execute("c-2", { type: "Nope" }), TypeError);
  assert.equal((await db.readStream("cart-c-2")).length, 1);
  assert.throws(() => db.defineAggregate({ name: "bad-name", initialState: 0, decide() {}, evolve() {} }), {
    code: "InvalidInput",
  });
  assert.throws(() => db.defineAggregate({ name: "x", initialState: 0, evolve() {} }), /decide/);
});

test("export to NDJSON and import into a fresh store gives the same events; re-import adds nothing", async () => {
  const source = Chronik.inMemory();
  await source.generateDemo({ seed: 3, events: 300 });
  const original = await source.readAll();
  const blob = await source.exportNdjson();
  const text = await blob.text();
  assert.equal(text.split("\n").filter(Boolean).length, original.length);
  const chunks = [];
  const exported = await source.exportNdjsonChunks((c) => chunks.push(c));
  assert.equal(exported, original.length);
  assert.equal(chunks.join(""), text);

  const target = Chronik.inMemory();
  const progress = [];
  const report = await target.importNdjson(text, { onProgress: (done, total) => progress.push([done, total]) });
  assert.equal(report.imported, original.length);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(await target.readAll(), original);
  assert.deepEqual(progress.at(-1), [original.length, original.length]);

  const again = await target.importNdjson(text);
  assert.equal(again.imported, 0);
  assert.equal(again.skipped, original.length);
  assert.equal((await target.readAll()).length, original.length);
});

test("an import with bad lines is refused with their numbers, and writes nothing", async () => {
  const source = Chronik.inMemory();
  await source.append("s-1", [{ type: "A", data: { n: 1 } }, { type: "B", data: { n: 2 } }]);
  const lines = (await (await source.exportNdjson()).text()).split("\n").filter(Boolean);
  const broken = [lines[0], "{not json", lines[1], JSON.stringify({ hello: "world" })].join("\n");
  const target = Chronik.inMemory();
  await assert.rejects(target.importNdjson(broken), (e) => {
    assert.equal(e.code, "InvalidImport");
    assert.deepEqual(e.errors.map((l) => l.line), [2, 4]);
    assert.equal(e.errorCount, 2);
    assert.match(e.message, /line 2/);
    return true;
  });
  assert.equal((await target.readAll()).length, 0, "nothing was written");
});
