// Sync from Node, where there are no Web Locks (the database leads at once) and `fetch`
// and the timers are the global ones: against a port where no server listens, writes
// stay pending and are shown, the status says offline, and stop() ends it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createServer } from "node:net";

const require = createRequire(import.meta.url);
const { Chronik, ChronikError } = require("../../web/pkg-node/chronik.js");

/** A loopback port nothing listens on. */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(predicate, what) {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > 15_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("offline, writes are kept, shown and pending; stop() ends the sync", async () => {
  const db = Chronik.inMemory();
  const url = `http://127.0.0.1:${await closedPort()}`;
  const sync = await db.sync({ url, store: "notes", pollMs: 100, timeoutMs: 2000 });
  const seen = [];
  const off = sync.on("change", (s) => seen.push(s));
  const removed = [];
  const kept = [];
  const offRemoved = sync.on("change", (s) => removed.push(s.status));
  offRemoved();
  sync.on("change", (s) => kept.push(s.status));
  offRemoved(); // an old off function removes nothing added since
  assert.equal(sync.leader, true);

  const account = await db.bank().execute("acc-1", { type: "OpenAccount", owner: "Ann", initialDeposit: "5" });
  assert.equal(account.balance, "5.00");
  const raw = await db.append("note-1", [{ type: "NoteAdded", data: { text: "hi" } }], { expectedVersion: "noStream" });
  assert.deepEqual([raw.firstVersion, raw.lastVersion, raw.lastPosition], [1, 1, 3]);

  await until(() => sync.status === "offline", "the offline status");
  assert.equal(typeof sync.lastError, "string");
  assert.ok(seen.some((s) => s.status === "offline" && s.leader === true));
  assert.deepEqual(removed, []);
  assert.ok(kept.includes("offline"));

  const pending = await sync.pending();
  assert.deepEqual(
    pending.map((p) => [p.streamId, p.command?.name ?? null, p.pushed, p.events.length]),
    [
      ["account-acc-1", "bank.open", false, 2],
      ["note-1", null, false, 1],
    ],
  );
  assert.deepEqual(pending[0].command.input, { accountId: "acc-1", owner: "Ann", initialDeposit: "5" });
  // Reads show the pending events on top of the (empty) confirmed log.
  assert.deepEqual((await db.readAll()).map((e) => e.type), ["AccountOpened", "MoneyDeposited", "NoteAdded"]);
  assert.equal((await db.bank().state("acc-1")).balance, "5.00");
  // A rule is still checked locally, and nothing is kept of a refused command.
  await assert.rejects(db.bank().execute("acc-1", { type: "Withdraw", amount: "6" }), (e) => {
    assert.ok(e instanceof ChronikError);
    assert.equal(e.code, "InsufficientFunds");
    return true;
  });
  assert.equal((await sync.pending()).length, 2);
  assert.deepEqual(await sync.conflicts(), []);
  await assert.rejects(sync.discard("no-such-batch"), (e) => e.code === "UnknownBatch");
  await assert.rejects(sync.retry(""), (e) => e.code === "InvalidInput");
  assert.throws(() => sync.on("changed", () => {}), (e) => e.code === "InvalidInput");

  off();
  sync.stop();
  sync.stop();
  assert.equal(sync.status, "offline");
  // Stopped, writes stay pending for the next sync, which may start again.
  await db.append("note-1", [{ type: "NoteAdded", data: { text: "later" } }]);
  const again = await db.sync({ url, store: "notes", pollMs: 100 });
  assert.deepEqual(
    (await again.pending()).map((p) => p.streamId),
    ["account-acc-1", "note-1", "note-1"],
  );
  again.stop();
  db.close();
});

test("a database used before it ever synced uploads what it holds", async () => {
  const db = Chronik.inMemory();
  await db.append("note-1", [{ type: "NoteAdded", data: { text: "offline first" } }]);
  const before = await db.readAll();
  const sync = await db.sync({ url: `http://127.0.0.1:${await closedPort()}`, store: "notes", pollMs: 100 });
  const pending = await sync.pending();
  assert.deepEqual(
    pending.map((p) => [p.streamId, p.command ?? null, p.events.map((e) => e.id)]),
    [["note-1", null, [before[0].id]]],
  );
  // The same events, versions and positions as before, now pending.
  assert.deepEqual(
    (await db.readAll()).map((e) => [e.id, e.version, e.position, e.data.text]),
    before.map((e) => [e.id, e.version, e.position, e.data.text]),
  );
  await assert.rejects(db.sync({ url: "http://127.0.0.1:1", store: "notes" }), (e) => {
    assert.equal(e.code, "InvalidInput");
    assert.match(e.message, /already syncs/);
    return true;
  });
  sync.stop();
  db.close();
});

test("sync refuses bad options with InvalidInput", async () => {
  const db = Chronik.inMemory();
  for (const options of [
    undefined,
    null,
    "http://127.0.0.1:1",
    { url: "ftp://127.0.0.1", store: "notes" },
    { url: "http://127.0.0.1:1" },
    { url: "http://127.0.0.1:1", store: "" },
    { url: "http://127.0.0.1:1", store: "notes", token: "has space" },
    { url: "http://127.0.0.1:1", store: "notes", pollMs: -1 },
    { url: "http://127.0.0.1:1", store: "notes", extra: true },
  ]) {
    await assert.rejects(db.sync(options), (e) => {
      assert.ok(e instanceof ChronikError, `${JSON.stringify(options)}: ${e}`);
      assert.equal(e.code, "InvalidInput");
      return true;
    });
  }
  db.close();
});
