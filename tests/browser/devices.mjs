// Devices (browser contexts) syncing with a real chronik-server: the helpers the sync
// tests share. `cargo xtask test` starts the server and names it in CHRONIK_SERVER_URL;
// CHRONIK_SERVER_BIN, CHRONIK_SERVER_DATABASE_URL and CHRONIK_SERVER_ORIGIN let a test run
// servers of its own on the same database.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { harnessPage, launch } from "./harness.mjs";

export const SERVER = process.env.CHRONIK_SERVER_URL;

/** One headless Chromium for a test file, launched before its tests and closed after:
 * `shared.browser`. Fails the file when no chronik-server is named. */
export function sharedBrowser() {
  const shared = { browser: undefined };
  before(async () => {
    assert.ok(SERVER, "CHRONIK_SERVER_URL names the chronik-server to sync with (cargo xtask test starts one)");
    shared.browser = await launch();
  });
  after(async () => {
    await shared.browser?.close();
  });
  return shared;
}

/** A fresh store name. */
export function storeName(prefix) {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A device: its own browser context and page with a database syncing `store` at `url`:
 * in memory, or IndexedDB when `idb` names the database.
 */
export async function device(browser, store, { url = SERVER, idb } = {}) {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  await page.evaluate(
    async ({ url, store, idb }) => {
      const { Chronik } = window.chronik;
      window.db = idb ? await Chronik.open(idb) : Chronik.inMemory();
      window.sync = await window.db.sync({ url, store, pollMs: 500 });
      window.changes = [];
      window.sync.on("change", (s) => window.changes.push(s.status));
    },
    { url, store, idb },
  );
  return { context, page, idb };
}

/** Stops a device's sync, closes (and deletes) its database and its context. */
export async function closeDevice({ context, page, idb }) {
  await page.evaluate(async (idb) => {
    window.sync.stop();
    window.db.close();
    if (idb) await window.chronik.Chronik.deleteDatabase(idb);
  }, idb);
  await context.close();
}

/** Polls `fn` (which may be async: `waitForFunction` would take its promise for a true
 * value) in the page until it returns a true value. */
export async function waitFor(page, fn, arg, what, timeout = 30_000) {
  const started = Date.now();
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() - started > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the device has sent everything and is caught up. */
export async function settled(page, sync = "sync", timeout = 30_000) {
  try {
    await waitFor(
      page,
      async (name) => window[name].status === "live" && (await window[name].pending()).length === 0,
      sync,
      "a live sync with nothing pending",
      timeout,
    );
  } catch (e) {
    const state = await page.evaluate(async (name) => {
      const s = window[name];
      const pending = await s.pending();
      return `status ${s.status}, last error ${s.lastError}, leader ${s.leader}, ${pending.length} pending (first: ${JSON.stringify(pending[0] ?? null)?.slice(0, 300)})`;
    }, sync);
    throw new Error(`${e.message}: ${state}`);
  }
}

/** Waits until account `account` shows `balance` on the device. */
export async function balanceIs(page, account, balance) {
  await waitFor(
    page,
    async ({ account, balance }) => (await window.db.bank().state(account))?.balance === balance,
    { account, balance },
    `balance ${balance}`,
  );
}

export async function balance(page, account) {
  return page.evaluate(async (account) => (await window.db.bank().state(account))?.balance, account);
}

/** Every event of the server's log of `store`, page by page. */
export async function serverLog(store, url = SERVER) {
  const events = [];
  for (let after = 0; ; ) {
    const response = await fetch(`${url}/v1/stores/${store}/events?after=${after}&limit=1000`);
    assert.equal(response.status, 200);
    const page = await response.json();
    if (page.events.length === 0) return events;
    events.push(...page.events);
    after = page.next;
  }
}

/** A free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts a chronik-server of this test's own on the harness's database, on `port`, and
 * resolves once `/ready` answers. `kill()` sends SIGKILL and resolves when it is gone.
 */
export async function ownServer(port) {
  const bin = process.env.CHRONIK_SERVER_BIN;
  const databaseUrl = process.env.CHRONIK_SERVER_DATABASE_URL;
  const origin = process.env.CHRONIK_SERVER_ORIGIN;
  assert.ok(bin && databaseUrl && origin, "cargo xtask test names the server binary, its database and origin");
  const child = spawn(bin, ["--port", String(port), "--cors-origin", origin], {
    env: { ...process.env, DATABASE_URL: databaseUrl, RUST_LOG: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(`${url}/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`chronik-server exited (${child.exitCode})`);
    if (Date.now() - started > 60_000) throw new Error("chronik-server was not ready within 60 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
