// Devices (browser contexts) syncing with a real chronik-server (on PostgreSQL), which
// `cargo xtask test` starts and names in CHRONIK_SERVER_URL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harnessPage } from "./harness.mjs";
import { SERVER, sharedBrowser, device as deviceOf, waitFor, settled, balanceIs, balance, serverLog, storeName } from "./devices.mjs";

const shared = sharedBrowser();

test("two devices: an offline device's withdrawal that no longer fits becomes a conflict, everything else converges once", async () => {
  const store = storeName("sync");
  const a = await deviceOf(shared.browser, store);
  const b = await deviceOf(shared.browser, store);

  await a.page.evaluate(() =>
    window.db.bank().execute("acc-1", { type: "OpenAccount", owner: "Alice", initialDeposit: "100" }),
  );
  await settled(a.page);
  await balanceIs(b.page, "acc-1", "100.00");

  // A goes offline and writes: shown at once, pending.
  await a.context.setOffline(true);
  const offline = await a.page.evaluate(async () => {
    const bank = window.db.bank();
    await bank.execute("acc-1", { type: "Deposit", amount: "10" });
    const after = await bank.execute("acc-1", { type: "Withdraw", amount: "80" });
    return { balance: after.balance, pending: (await window.sync.pending()).map((p) => p.command?.name) };
  });
  assert.equal(offline.balance, "30.00");
  assert.deepEqual(offline.pending, ["bank.deposit", "bank.withdraw"]);
  await a.page.waitForFunction(() => window.sync.status === "offline", null, { timeout: 30_000, polling: 100 });
  assert.ok(await a.page.evaluate(() => window.sync.lastError !== null));

  // B withdraws meanwhile, and the server takes it.
  await b.page.evaluate(() => window.db.bank().execute("acc-1", { type: "Withdraw", amount: "50" }));
  await settled(b.page);

  // A comes back: its deposit is decided again on B's withdrawal, its withdrawal no longer fits.
  await a.context.setOffline(false);
  await settled(a.page);
  await balanceIs(b.page, "acc-1", "60.00");
  assert.equal(await balance(a.page, "acc-1"), "60.00");
  assert.equal(await balance(b.page, "acc-1"), "60.00");

  const conflicts = await a.page.evaluate(() => window.sync.conflicts());
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0].reason, "rejected");
  assert.equal(conflicts[0].command.name, "bank.withdraw");
  assert.equal(conflicts[0].command.input.amount, "80");
  assert.equal(conflicts[0].message, "command rejected: insufficient funds: balance 60.00, amount 80.00");
  assert.deepEqual(await b.page.evaluate(() => window.sync.conflicts()), []);

  // The server holds every accepted event once: the opening and its deposit, B's
  // withdrawal, A's deposit; not A's refused withdrawal.
  const log = await serverLog(store);
  assert.deepEqual(
    log.map((e) => [e.type, e.data.amount ?? null]),
    [
      ["AccountOpened", null],
      ["MoneyDeposited", 10000],
      ["MoneyWithdrawn", 5000],
      ["MoneyDeposited", 1000],
    ],
  );
  assert.equal(new Set(log.map((e) => e.id)).size, log.length);
  // Both devices' logs are the server's, position for position.
  for (const d of [a, b]) {
    const local = await d.page.evaluate(() => window.db.readAll());
    assert.deepEqual(
      local.map((e) => [e.id, e.position]),
      log.map((e) => [e.id, e.position]),
    );
  }

  // Retried on the current state it is refused again and stays a conflict.
  const retried = await a.page.evaluate(async () => {
    try {
      await window.sync.retry((await window.sync.conflicts())[0].id);
      return "resolved";
    } catch (e) {
      return `${e.code}: ${e.message}`;
    }
  });
  assert.equal(retried, "CommandRejected: command rejected: insufficient funds: balance 60.00, amount 80.00");
  assert.equal((await a.page.evaluate(() => window.sync.conflicts())).length, 1);

  // Discarding the conflict forgets it; nothing of it was applied.
  await a.page.evaluate(async () => window.sync.discard((await window.sync.conflicts())[0].id));
  assert.deepEqual(await a.page.evaluate(() => window.sync.conflicts()), []);
  assert.ok((await a.page.evaluate(() => window.changes)).includes("offline"));
  assert.deepEqual(a.page.errors, []);
  assert.deepEqual(b.page.errors, []);
  await a.page.evaluate(() => window.sync.stop());
  await b.page.evaluate(() => window.sync.stop());
  await a.context.close();
  await b.context.close();
});

test("sync refuses bad options and a second sync with a ChronikError", async () => {
  const context = await shared.browser.newContext();
  const page = await harnessPage(context);
  const result = await page.evaluate(async (url) => {
    const { Chronik } = window.chronik;
    const db = Chronik.inMemory();
    const codes = [];
    for (const options of [undefined, { url: "ftp://x", store: "s" }, { url, store: "" }, { url, store: "s", extra: 1 }]) {
      try {
        await db.sync(options);
        codes.push("resolved");
      } catch (e) {
        codes.push(`${e.name}:${e.code}`);
      }
    }
    const sync = await db.sync({ url, store: `second-${Date.now()}` });
    let again;
    try {
      await db.sync({ url, store: "other" });
    } catch (e) {
      again = `${e.name}:${e.code}:${e.message}`;
    }
    sync.stop();
    return { codes, again };
  }, SERVER);
  assert.deepEqual(result.codes, Array(4).fill("ChronikError:InvalidInput"));
  assert.match(result.again, /^ChronikError:InvalidInput:.*already syncs/);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("the README's sync example runs as written", async () => {
  const { readFileSync } = await import("node:fs");
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("### Sync with a server"));
  const example = section.match(/```js\n([\s\S]*?)```/)[1];
  const store = `readme-${Date.now()}`;
  const body = example
    .replace('"http://127.0.0.1:8080"', JSON.stringify(SERVER))
    .replace('"my-app"', JSON.stringify(store));
  assert.notEqual(body, example, "the example names the server and store it syncs with");
  const context = await shared.browser.newContext();
  const page = await harnessPage(context);
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  await page.evaluate(`(async () => { const { Chronik } = window.chronik; ${body}; window.readmeSync = sync; window.readmeDb = db; })()`);
  await settled(page, "readmeSync");
  const log = await serverLog(store);
  assert.deepEqual(log.map((e) => e.type), ["AccountOpened", "MoneyDeposited"]);
  assert.ok(logs.includes("live"), `the status changes are logged: ${logs.join(" | ")}`);
  assert.deepEqual(await page.evaluate(() => window.readmeSync.conflicts()), []);
  assert.deepEqual(page.errors, []);
  await page.evaluate(() => window.readmeSync.stop());
  await context.close();
});

test("IndexedDB: one tab of a database syncs, the other follows it and takes over when it closes", async () => {
  const store = `tabs-${Date.now()}`;
  const name = `sync-tabs-${Date.now()}`;
  const context = await shared.browser.newContext();
  const open = async () => {
    const page = await harnessPage(context);
    await page.evaluate(
      async ({ url, store, name }) => {
        window.db = await window.chronik.Chronik.open(name);
        window.sync = await window.db.sync({ url, store, pollMs: 500 });
      },
      { url: SERVER, store, name },
    );
    return page;
  };
  const first = await open();
  await waitFor(first, () => window.sync.leader, null, "the first tab to lead");
  const second = await open();
  await waitFor(second, () => window.sync.status === "live", null, "the follower to show the leader's status");
  assert.equal(await second.evaluate(() => window.sync.leader), false);

  // A write in the follower tab is pushed by the leader.
  await second.evaluate(() =>
    window.db.bank().execute("acc-1", { type: "OpenAccount", owner: "Tab", initialDeposit: "5" }),
  );
  await waitFor(first, async () => (await window.sync.pending()).length === 0 && (await window.db.readAll()).length === 2, null, "the leader to push it");
  assert.deepEqual((await serverLog(store)).map((e) => e.type), ["AccountOpened", "MoneyDeposited"]);
  await balanceIs(second, "acc-1", "5.00");

  // The leader closes: the follower takes over and syncs its next write itself.
  await first.close();
  await waitFor(second, () => window.sync.leader, null, "the second tab to take over");
  await second.evaluate(() => window.db.bank().execute("acc-1", { type: "Deposit", amount: "1" }));
  await settled(second);
  assert.deepEqual((await serverLog(store)).map((e) => e.type), ["AccountOpened", "MoneyDeposited", "MoneyDeposited"]);
  assert.equal((await second.evaluate(() => window.db.readAll())).length, 3);
  assert.deepEqual(second.errors, []);
  await second.evaluate(async (name) => {
    window.sync.stop();
    window.db.close();
    await window.chronik.Chronik.deleteDatabase(name);
  }, name);
  await context.close();
});

test("IndexedDB: a synced database opened again without sync() keeps its writes pending, and the next sync pushes them", async () => {
  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const store = `reopen-${stamp}`;
  const name = `sync-reopen-${stamp}`;
  const context = await shared.browser.newContext();
  const page = await harnessPage(context);
  await page.evaluate(
    async ({ url, store, name }) => {
      window.db = await window.chronik.Chronik.open(name);
      window.sync = await window.db.sync({ url, store, pollMs: 500 });
      await window.db.bank().execute("acc-r", { type: "OpenAccount", owner: "Re", initialDeposit: "10" });
    },
    { url: SERVER, store, name },
  );
  await settled(page);
  // Closed and opened again, with no sync: a write is shown at once but stays pending.
  const local = await page.evaluate(async (name) => {
    window.sync.stop();
    window.db.close();
    window.db = await window.chronik.Chronik.open(name);
    await window.db.bank().execute("acc-r", { type: "Deposit", amount: "2" });
    return (await window.db.readAll()).map((e) => e.type);
  }, name);
  assert.deepEqual(local, ["AccountOpened", "MoneyDeposited", "MoneyDeposited"]);
  assert.equal((await balance(page, "acc-r")), "12.00");
  assert.deepEqual((await serverLog(store)).map((e) => e.type), ["AccountOpened", "MoneyDeposited"], "nothing pushed without a sync");
  // The next sync pushes it; the local log is the server's.
  await page.evaluate(
    async ({ url, store }) => {
      window.sync = await window.db.sync({ url, store, pollMs: 500 });
    },
    { url: SERVER, store },
  );
  await settled(page);
  const log = await serverLog(store);
  assert.deepEqual(log.map((e) => e.type), ["AccountOpened", "MoneyDeposited", "MoneyDeposited"]);
  const after = await page.evaluate(() => window.db.readAll());
  assert.deepEqual(after.map((e) => [e.id, e.position, e.version]), log.map((e) => [e.id, e.position, e.version]));
  assert.deepEqual(page.errors, []);
  await page.evaluate(async (name) => {
    window.sync.stop();
    window.db.close();
    await window.chronik.Chronik.deleteDatabase(name);
  }, name);
  await context.close();
});

test("IndexedDB: an offline-first database of 10,000 events uploads them all, once, to an empty server store", async () => {
  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const store = `upload-${stamp}`;
  const name = `sync-upload-${stamp}`;
  const STREAMS = 10;
  const ROUNDS = 2;
  const BATCH = 500; // 10 streams × 2 rounds × 500 = 10,000 events, streams interleaved
  const context = await shared.browser.newContext();
  const page = await harnessPage(context);
  const local = await page.evaluate(
    async ({ name, STREAMS, ROUNDS, BATCH }) => {
      window.db = await window.chronik.Chronik.open(name);
      for (let round = 0; round < ROUNDS; round++) {
        for (let s = 0; s < STREAMS; s++) {
          const events = [];
          for (let i = round * BATCH; i < (round + 1) * BATCH; i++) {
            events.push({ id: `ev-${s}-${i}`, type: i % 2 ? "Tock" : "Tick", data: { s, i, note: `stream ${s} #${i}` } });
          }
          await window.db.append(`up-${s}`, events);
        }
      }
      return (await window.db.readAll()).map((e) => [e.id, e.streamId, e.type, e.data]);
    },
    { name, STREAMS, ROUNDS, BATCH },
  );
  assert.equal(local.length, STREAMS * ROUNDS * BATCH);
  assert.deepEqual(await serverLog(store), [], "the server store starts empty");

  await page.evaluate(
    async ({ url, store }) => {
      window.sync = await window.db.sync({ url, store, pollMs: 500 });
    },
    { url: SERVER, store },
  );
  await waitFor(
    page,
    async () => window.sync.status === "live" && (await window.sync.pending()).length === 0,
    null,
    "the upload to finish",
    120_000,
  );

  const log = await serverLog(store);
  assert.equal(log.length, local.length, "the server holds every event");
  assert.equal(new Set(log.map((e) => e.id)).size, log.length, "each event once");
  // Same events, same order in each stream, versions 1..n.
  const byStream = (rows) => {
    const streams = new Map();
    for (const r of rows) streams.set(r[1], [...(streams.get(r[1]) ?? []), r]);
    return streams;
  };
  const serverStreams = byStream(log.map((e) => [e.id, e.streamId, e.type, e.data]));
  const localStreams = byStream(local);
  assert.equal(serverStreams.size, STREAMS);
  for (const [stream, rows] of localStreams) {
    assert.deepEqual(serverStreams.get(stream), rows, `stream ${stream} as written`);
  }
  for (const [stream, rows] of byStream(log.map((e) => [e.id, e.streamId, e.version]))) {
    assert.deepEqual(rows.map((r) => r[2]), rows.map((_, i) => i + 1), `stream ${stream}'s versions`);
  }

  // Nothing left to send, no conflicts, and the local view is the server's log.
  const after = await page.evaluate(async () => ({
    pending: await window.sync.pending(),
    conflicts: await window.sync.conflicts(),
    log: (await window.db.readAll()).map((e) => [e.id, e.streamId, e.type, e.data, e.version, e.position]),
  }));
  assert.deepEqual(after.pending, []);
  assert.deepEqual(after.conflicts, []);
  assert.deepEqual(
    after.log,
    log.map((e) => [e.id, e.streamId, e.type, e.data, e.version, e.position]),
  );
  assert.deepEqual(page.errors, []);
  await page.evaluate(async (name) => {
    window.sync.stop();
    window.db.close();
    await window.chronik.Chronik.deleteDatabase(name);
  }, name);
  await context.close();
});
