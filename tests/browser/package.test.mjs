// The npm package's browser build against real IndexedDB in headless Chromium.
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

test("events appended through the package survive a page reload", async () => {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  const db = `pkg-reload-${Date.now()}`;
  const appended = await page.evaluate(async (db) => {
    const store = await window.chronik.Chronik.open(db);
    const r = await store.append("cart-1", [
      { type: "CartCreated", data: { customer: "ada" } },
      { type: "ItemAdded", data: { sku: "tea", qty: 2 } },
      { type: "CheckedOut", data: {} },
    ], { expectedVersion: "noStream" });
    store.close();
    return r;
  }, db);
  assert.deepEqual(appended, { firstVersion: 1, lastVersion: 3, firstPosition: 1, lastPosition: 3 });

  await page.reload();
  await page.waitForFunction(() => window.chronik !== undefined);
  const events = await page.evaluate(async (db) => {
    const store = await window.chronik.Chronik.open(db);
    const events = await store.readStream("cart-1");
    store.close();
    return events;
  }, db);
  assert.deepEqual(events.map((e) => [e.version, e.type]), [
    [1, "CartCreated"],
    [2, "ItemAdded"],
    [3, "CheckedOut"],
  ]);
  assert.deepEqual(events[1].data, { sku: "tea", qty: 2 });
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("two pages appending to one stream with expectedVersion never both win a version", async (t) => {
  const context = await browser.newContext();
  const pages = [await harnessPage(context), await harnessPage(context)];
  const db = `pkg-race-${Date.now()}`;
  const rounds = 25;
  // Each page: read the stream's version, append with that as the expectation, and on a
  // conflict re-read and try again, until it has written `rounds` events.
  const writer = async ({ db, who, rounds }) => {
    const store = await window.chronik.Chronik.open(db);
    let conflicts = 0;
    for (let round = 0; round < rounds; ) {
      const current = (await store.readStream("counter-1", { direction: "backward", limit: 1 }))[0];
      try {
        await store.append("counter-1", [{ type: "Ticked", data: { who, round } }], {
          expectedVersion: current ? current.version : 0,
        });
        round += 1;
      } catch (e) {
        if (e.code !== "WrongExpectedVersion") throw e;
        conflicts += 1;
      }
    }
    store.close();
    return conflicts;
  };
  const conflicts = await Promise.all(
    pages.map((page, who) => page.evaluate(writer, { db, who, rounds })),
  );

  const events = await pages[0].evaluate(async (db) => {
    const store = await window.chronik.Chronik.open(db);
    const events = await store.readStream("counter-1");
    store.close();
    return events;
  }, db);
  assert.equal(events.length, 2 * rounds, "every successful append is stored exactly once");
  assert.deepEqual(events.map((e) => e.version), [...Array(2 * rounds).keys()].map((i) => i + 1));
  const seen = new Set(events.map((e) => `${e.data.who}/${e.data.round}`));
  assert.equal(seen.size, 2 * rounds, "no (page, round) written twice or lost");
  t.diagnostic(`conflicts retried: ${conflicts.join(" + ")}`);
  for (const page of pages) assert.deepEqual(page.errors, []);
  await context.close();
});

test("a subscription in one page receives what another page appends", async () => {
  const context = await browser.newContext();
  const [reader, writer] = [await harnessPage(context), await harnessPage(context)];
  const db = `pkg-live-${Date.now()}`;
  await reader.evaluate(async (db) => {
    window.store = await window.chronik.Chronik.open(db);
    window.received = [];
    window.store.subscribe({ types: ["Ticked"] }, (e) => window.received.push([e.position, e.data.n]));
  }, db);
  await writer.evaluate(async (db) => {
    const store = await window.chronik.Chronik.open(db);
    for (let n = 1; n <= 5; n++) {
      await store.append("clock-1", [{ type: "Ticked", data: { n } }, { type: "Tocked", data: { n } }]);
    }
    store.close();
  }, db);
  await reader.waitForFunction(() => window.received.length === 5);
  const received = await reader.evaluate(() => window.received);
  assert.deepEqual(received, [
    [1, 1],
    [3, 2],
    [5, 3],
    [7, 4],
    [9, 5],
  ]);
  const stats = await reader.evaluate(() => window.store.stats());
  assert.equal(stats.eventCount, 10);
  assert.ok(stats.storageQuota > 0, "stats report the storage quota");
  assert.ok(stats.storageUsage >= 0);
  for (const page of [reader, writer]) assert.deepEqual(page.errors, []);
  await context.close();
});

test("export then import into a fresh IndexedDB database gives the same events", async () => {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  const [source, target] = [`pkg-export-${Date.now()}`, `pkg-import-${Date.now()}`];
  const result = await page.evaluate(async ({ source, target }) => {
    const { Chronik } = window.chronik;
    const a = await Chronik.open(source);
    await a.generateDemo({ seed: 11, events: 400 });
    await a.bank().execute("acc-x", { type: "OpenAccount", owner: "Ada", initialDeposit: "12.34" });
    const original = await a.readAll();
    const text = await (await a.exportNdjson()).text();
    a.close();
    const b = await Chronik.open(target);
    const report = await b.importNdjson(text);
    const copied = await b.readAll();
    const again = await b.importNdjson(text);
    const balance = (await b.bank().state("acc-x")).balance;
    b.close();
    await Chronik.deleteDatabase(source);
    await Chronik.deleteDatabase(target);
    return { original, copied, report, again, balance };
  }, { source, target });
  assert.equal(result.report.imported, result.original.length);
  assert.deepEqual(result.copied, result.original);
  assert.equal(result.again.imported, 0);
  assert.equal(result.again.skipped, result.original.length);
  assert.equal(result.balance, "12.34");
  assert.deepEqual(page.errors, []);
  await context.close();
});
