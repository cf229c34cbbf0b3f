// Hostile input against the package's browser build on real IndexedDB: refusals are
// ChronikErrors, nothing is written, the module survives, and what is accepted survives
// a reload exactly (custom metadata keys, astral text, integers).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, harnessPage } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("in IndexedDB: cyclic, deep, throwing and mistyped input is refused and writes nothing", async () => {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  const db = `hostile-${Date.now()}`;
  const outcome = await page.evaluate(async (db) => {
    const { Chronik, ChronikError } = window.chronik;
    const store = await Chronik.open(db);
    await store.append("base", [{ type: "Seed", data: {} }]);
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    let deep = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const attempts = {
      cyclic: () => store.append("s", [{ type: "T", data: cyclic }]),
      deep: () => store.append("s", [{ type: "T", data: deep }]),
      getter: () => store.append("s", [{ type: "T", data: { get x() { throw new Error("no"); } } }]),
      proxy: () => store.append("s", [{ type: "T", data: new Proxy({}, { ownKeys() { throw new Error("trap"); } }) }]),
      numberId: () => store.append(5, [{ type: "T", data: {} }]),
      nullEvents: () => store.append("s", null),
      loneSurrogate: () => store.append("s-\uD800", [{ type: "T", data: {} }]),
      nan: () => store.append("s", [{ type: "T", data: { x: NaN } }]),
      command: () => store.bank().execute("acc-1", cyclic),
    };
    const codes = {};
    for (const [name, attempt] of Object.entries(attempts)) {
      try {
        await attempt();
        codes[name] = "accepted";
      } catch (e) {
        codes[name] = e instanceof ChronikError ? e.code : `not a ChronikError: ${e}`;
      }
    }
    const events = await store.readAll();
    const fresh = await Chronik.open(`${db}-fresh`);
    await fresh.append("ok", [{ type: "T", data: {} }]);
    fresh.close();
    await Chronik.deleteDatabase(`${db}-fresh`);
    store.close();
    return { codes, count: events.length };
  }, db);
  assert.deepEqual(outcome.codes, {
    cyclic: "InvalidInput",
    deep: "InvalidInput",
    getter: "InvalidInput",
    proxy: "InvalidInput",
    numberId: "InvalidInput",
    nullEvents: "InvalidInput",
    loneSurrogate: "InvalidInput",
    nan: "InvalidInput",
    command: "InvalidCommand",
  });
  assert.equal(outcome.count, 1, "only the seed event is stored");
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("in IndexedDB: metadata keeps every key and text stays exact across a reload", async () => {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  const db = `hostile-meta-${Date.now()}`;
  await page.evaluate(async (db) => {
    const store = await window.chronik.Chronik.open(db);
    await store.append("s-\uFFFD-😀", [
      {
        type: "T",
        data: { s: "\uFFFD😀", n: 3, f: 0.5 },
        metadata: { correlationId: "c-1", userId: "u-7", nested: { a: [1] } },
      },
    ]);
    store.close();
  }, db);
  await page.reload();
  await page.waitForFunction(() => window.chronik !== undefined);
  const read = await page.evaluate(async (db) => {
    const store = await window.chronik.Chronik.open(db);
    const stream = await store.readStream("s-\uFFFD-😀");
    const all = await store.readAll();
    const filtered = await store.readAll({ types: ["T"] });
    store.close();
    await window.chronik.Chronik.deleteDatabase(db);
    return { stream, all, filtered };
  }, db);
  const expected = { correlationId: "c-1", userId: "u-7", nested: { a: [1] } };
  // The stream read and the unfiltered log read copy stored rows in JS; the filtered
  // read decodes them in Rust. All three give the same event.
  for (const events of [read.stream, read.all, read.filtered]) {
    assert.equal(events.length, 1);
    assert.deepEqual(events[0].metadata, expected);
    assert.deepEqual(events[0].data, { s: "\uFFFD😀", n: 3, f: 0.5 });
    assert.equal(events[0].streamId, "s-\uFFFD-😀");
  }
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("in IndexedDB: close() while appends are in flight lets them commit, then refuses", async () => {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  const db = `hostile-close-${Date.now()}`;
  const result = await page.evaluate(async (db) => {
    const { Chronik } = window.chronik;
    const store = await Chronik.open(db);
    const pending = [];
    for (let i = 0; i < 10; i++) pending.push(store.append("busy", [{ type: "T", data: { i } }]));
    store.close();
    const versions = (await Promise.all(pending)).map((r) => r.lastVersion);
    let after;
    try {
      await store.readAll();
      after = "accepted";
    } catch (e) {
      after = e.code;
    }
    // The connection is closed, so deleting the database is not blocked by it.
    const again = await Chronik.open(db);
    const stored = (await again.readStream("busy")).length;
    again.close();
    await Chronik.deleteDatabase(db);
    return { versions, after, stored };
  }, db);
  assert.deepEqual(result.versions, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(result.after, "DatabaseClosed");
  assert.equal(result.stored, 10);
  assert.deepEqual(page.errors, []);
  await context.close();
});
