// Many devices, randomly offline, and a server killed under a push: IndexedDB databases
// in separate browser contexts syncing with a real chronik-server on PostgreSQL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SERVER, sharedBrowser, device, closeDevice, settled, serverLog, storeName, freePort, ownServer, waitFor } from "./devices.mjs";

const shared = sharedBrowser();

/** mulberry32: a small seeded PRNG, so that a failing run can be replayed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One command on the device's bank: "ok", a transfer's outcome, or "refused:<code>". */
async function run(page, command) {
  return page.evaluate(async (c) => {
    const bank = window.db.bank();
    try {
      if (c.kind === "transfer") {
        return `transfer:${(await bank.transfer({ id: c.id, from: c.account, to: c.to, amount: c.amount })).status}`;
      }
      await bank.execute(c.account, { type: c.kind === "deposit" ? "Deposit" : "Withdraw", amount: c.amount });
      return "ok";
    } catch (e) {
      return `refused:${e.code}`;
    }
  }, command);
}

async function exportOf(page) {
  return page.evaluate(async () => (await window.db.exportNdjson()).text());
}

/** Balances, transfer legs and transfer outcomes replayed from a log. */
function replay(log) {
  const balances = new Map();
  const legs = new Map(); // transferId -> { debits, credits, withdrawn, deposited }
  const transfers = new Map(); // transferId -> last event type
  let external = 0;
  let negative = null;
  for (const e of log) {
    const account = e.streamId;
    const before = balances.get(account) ?? 0;
    const tid = e.data?.transferId;
    const leg = tid && (legs.get(tid) ?? legs.set(tid, { debits: 0, credits: 0, withdrawn: 0, deposited: 0 }).get(tid));
    if (e.type === "AccountOpened") {
      balances.set(account, e.data.initialBalance ?? 0);
      external += e.data.initialBalance ?? 0;
    } else if (e.type === "MoneyDeposited") {
      balances.set(account, before + e.data.amount);
      if (leg) {
        leg.credits += 1;
        leg.deposited += e.data.amount;
      } else external += e.data.amount;
    } else if (e.type === "MoneyWithdrawn") {
      balances.set(account, before - e.data.amount);
      if (leg) {
        leg.debits += 1;
        leg.withdrawn += e.data.amount;
      } else external -= e.data.amount;
      if (before - e.data.amount < 0 && negative === null) negative = `${account} at position ${e.position}`;
    } else if (e.streamId.startsWith("transfer-")) {
      transfers.set(e.streamId.slice("transfer-".length), e.type);
    }
  }
  return { balances, legs, transfers, external, negative };
}

test("three devices, 200 commands each, random offline periods and transfers: all converge on the server's log byte for byte, money is conserved, no balance goes negative", async (t) => {
  const started = Date.now();
  const phase = (what) => t.diagnostic(`${what} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const seed = Number(process.env.CHRONIK_SYNC_SEED ?? 20261203);
  const random = rng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const cents = (max) => (1 + Math.floor(random() * max)).toFixed(0);
  const store = storeName("devices");
  const names = ["a", "b", "c"];
  const devices = [];
  for (const name of names) devices.push(await device(shared.browser, store, { idb: `${store}-${name}` }));
  const ACCOUNTS = ["acc-1", "acc-2", "acc-3", "acc-4"];
  for (const id of ACCOUNTS) {
    const opened = await devices[0].page.evaluate(
      (id) => window.db.bank().execute(id, { type: "OpenAccount", owner: id, initialDeposit: "300" }),
      id,
    );
    assert.equal(opened.balance, "300.00");
  }
  await settled(devices[0].page);
  for (const d of devices) {
    await waitFor(d.page, async () => (await window.db.readAll()).length === 8, null, "the accounts on every device");
  }

  // The script: each device's 200 commands and its offline periods, from the seed.
  const scripts = names.map((name) =>
    Array.from({ length: 200 }, (_, i) => {
      const account = pick(ACCOUNTS);
      const roll = random();
      const toggle = random() < 0.08;
      if (roll < 0.35) return { toggle, kind: "deposit", account, amount: cents(40) };
      if (roll < 0.7) return { toggle, kind: "withdraw", account, amount: cents(90) };
      const to = pick(ACCOUNTS.filter((a) => a !== account));
      return { toggle, kind: "transfer", id: `${name}-${i}`, account, to, amount: cents(120) };
    }),
  );
  const outcomes = new Map();
  await Promise.all(
    devices.map(async (d, n) => {
      let offline = false;
      for (const command of scripts[n]) {
        if (command.toggle) {
          offline = !offline;
          await d.context.setOffline(offline);
        }
        const outcome = await run(d.page, command);
        assert.ok(
          /^(ok|refused:(InsufficientFunds|CommandRejected)|transfer:(completed|failed))$/.test(outcome),
          `seed ${seed}: ${names[n]} ${JSON.stringify(command)}: ${outcome}`,
        );
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      await d.context.setOffline(false);
    }),
  );
  phase(`600 commands (${[...outcomes].map(([k, n]) => `${k} ${n}`).join(", ")})`);
  for (const kind of ["ok", "refused:InsufficientFunds", "transfer:completed"]) {
    assert.ok(outcomes.get(kind) > 0, `seed ${seed}: the script exercised ${kind}: ${[...outcomes]}`);
  }

  // Everyone sends what it has; then each device in turn finishes the transfers whose
  // debit the server refused (their credit was abandoned), until nothing is left.
  for (const d of devices) await settled(d.page, "sync", 300_000);
  phase("every device sent everything");
  for (let round = 0; ; round++) {
    assert.ok(round < 5, `seed ${seed}: transfers still unfinished after ${round} rounds`);
    let resumed = 0;
    for (const d of devices) {
      const head = (await serverLog(store)).length;
      await waitFor(d.page, async (head) => (await window.db.readAll()).length >= head, head, "the device to catch up");
      resumed += await d.page.evaluate(async () => (await window.db.bank().resumeTransfers()).length);
      await settled(d.page, "sync", 60_000);
    }
    phase(`resume round ${round}: ${resumed} transfers finished`);
    if (resumed === 0) break;
  }

  const log = await serverLog(store);
  for (const d of devices) {
    await waitFor(d.page, async (n) => (await window.db.readAll()).length === n, log.length, "every device to hold the server's log");
  }
  assert.equal(new Set(log.map((e) => e.id)).size, log.length, "every event once on the server");

  // Byte for byte the same exports: the server's and the three devices'.
  const response = await fetch(`${SERVER}/v1/stores/${store}/export`);
  assert.equal(response.status, 200);
  const serverExport = await response.text();
  assert.equal(serverExport.split("\n").length - 1, log.length);
  for (const [n, d] of devices.entries()) {
    assert.ok((await exportOf(d.page)) === serverExport, `seed ${seed}: ${names[n]}'s export is the server's`);
  }

  // Money: no account ever went below zero; every transfer finished, each leg once, and
  // what left one account arrived in the other; balances are the sum of what came in
  // from outside; every device shows the server's balances.
  const { balances, legs, transfers, external, negative } = replay(log);
  assert.equal(negative, null, `seed ${seed}: a balance went negative`);
  for (const [id, last] of transfers) {
    assert.ok(["TransferCompleted", "TransferFailed"].includes(last), `seed ${seed}: transfer ${id} ends with ${last}`);
    const leg = legs.get(id) ?? { debits: 0, credits: 0, withdrawn: 0, deposited: 0 };
    assert.ok(leg.debits <= 1 && leg.credits <= 1, `seed ${seed}: transfer ${id} legs ${JSON.stringify(leg)}`);
    assert.equal(leg.withdrawn, leg.deposited, `seed ${seed}: transfer ${id} moved what it took`);
    assert.equal(leg.debits, last === "TransferCompleted" ? 1 : 0, `seed ${seed}: transfer ${id}`);
  }
  assert.equal([...balances.values()].reduce((a, b) => a + b, 0), external, `seed ${seed}: money is conserved`);
  for (const d of devices) {
    const shown = await d.page.evaluate(
      async (ids) => Promise.all(ids.map(async (id) => (await window.db.bank().state(id)).balance)),
      ACCOUNTS,
    );
    assert.deepEqual(
      shown,
      ACCOUNTS.map((id) => (balances.get(`account-${id}`) / 100).toFixed(2)),
    );
  }

  // What a device could not send is a conflict it shows, with a reason: a command the
  // server's state refused, or a step abandoned after one; nothing of either is on the
  // server.
  const onServer = new Set(log.map((e) => e.id));
  for (const d of devices) {
    for (const c of await d.page.evaluate(() => window.sync.conflicts())) {
      assert.ok(["rejected", "abandoned"].includes(c.reason), `seed ${seed}: ${c.reason}: ${c.message}`);
      for (const e of c.events) assert.ok(!onServer.has(e.id), `seed ${seed}: conflict event ${e.id} is on the server`);
    }
    assert.deepEqual(d.page.errors, []);
  }
  for (const d of devices) await closeDevice(d);
});

test("the server is killed during a push and restarted: the device sends everything, nothing twice", async () => {
  const port = await freePort();
  let server = await ownServer(port);
  const store = storeName("killed");
  const d = await device(shared.browser, store, { url: server.url, idb: `${store}-db` });
  const N = 150;
  // Written offline, then pushed one batch after another once the device is online.
  await d.context.setOffline(true);
  await d.page.evaluate(async (N) => {
    const bank = window.db.bank();
    await bank.execute("acc-k", { type: "OpenAccount", owner: "K", initialDeposit: "1" });
    for (let i = 0; i < N; i++) await bank.execute("acc-k", { type: "Deposit", amount: "1" });
  }, N);
  await d.context.setOffline(false);
  // Killed while the device is pushing: some batches are on the server, most are not.
  for (;;) {
    if ((await serverLog(store, server.url)).length >= 10) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await server.kill();
  const seen = (await d.page.evaluate(async () => (await window.sync.pending()).length));
  assert.ok(seen > 0, "killed mid-push: batches are still pending");
  await waitFor(d.page, () => window.sync.status === "offline", null, "the device to see the server gone");

  server = await ownServer(port);
  await settled(d.page, "sync", 120_000);
  const log = await serverLog(store, server.url);
  assert.equal(log.length, N + 2, "every event on the server");
  assert.equal(new Set(log.map((e) => e.id)).size, log.length, "none twice");
  assert.deepEqual(
    log.map((e) => e.version),
    log.map((_, i) => i + 1),
  );
  assert.equal(
    (await d.page.evaluate(() => window.db.bank().state("acc-k"))).balance,
    (N + 1).toFixed(2),
  );
  const local = await d.page.evaluate(() => window.db.readAll());
  assert.deepEqual(
    local.map((e) => [e.id, e.position]),
    log.map((e) => [e.id, e.position]),
  );
  assert.deepEqual(await d.page.evaluate(() => window.sync.conflicts()), []);
  assert.deepEqual(d.page.errors, []);
  await closeDevice(d);
  await server.kill();
});
