// The sync workloads of `cargo xtask bench` (or `cargo xtask bench --sync-only`): headless
// Chromium against bench/index.html and a chronik-server on PostgreSQL; writes
// bench/sync.json, which bench/report.mjs turns into the "Sync" section of results.md.
//
//   BENCH_URL              the site serving bench/, web/ and tests/ (required)
//   BENCH_SERVER_URL       the chronik-server, allowing BENCH_URL's origin by CORS (required)
//   BENCH_RUNS             repetitions of the catch-up (default 3)
//   BENCH_SYNC_EVENTS      events a new device catches up (default 100000)
//   BENCH_SYNC_APPENDS     appends of the latency workload (default 200)
//   BENCH_SYNC_OUT         output file (default bench/sync.json)
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../tests/e2e/browser.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SITE = process.env.BENCH_URL;
const SERVER = process.env.BENCH_SERVER_URL?.replace(/\/$/, "");
if (!SITE || !SERVER) throw new Error("set BENCH_URL and BENCH_SERVER_URL (cargo xtask bench does)");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const EVENTS = Number(process.env.BENCH_SYNC_EVENTS ?? 100_000);
const APPENDS = Number(process.env.BENCH_SYNC_APPENDS ?? 200);
const OUT = process.env.BENCH_SYNC_OUT ?? join(ROOT, "bench/sync.json");
const STREAMS = 100;
const log = (...a) => console.error("bench sync:", ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

const results = {
  command: process.env.BENCH_COMMAND ?? "node bench/sync.mjs",
  started: new Date().toISOString(),
  settings: { runs: RUNS, events: EVENTS, streams: STREAMS, appends: APPENDS },
  server: process.env.BENCH_SERVER_BUILD ?? "unknown build",
  machine: {
    nproc: availableParallelism(),
    cpu: (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? "unknown",
    loadBefore: loadavg(),
    node: process.version,
  },
  catchUp: {},
  latency: {},
};

// The catch-up store: EVENTS events over STREAMS streams, appended round-robin in batches
// of 100 so that pages of the log interleave streams (written from Node, outside any clock).
const stamp = Date.now();
const store = `bench-catchup-${stamp}`;
log(`seeding ${EVENTS} events into ${store}…`);
const perStream = Math.ceil(EVENTS / STREAMS);
let written = 0;
for (let from = 0; from < perStream && written < EVENTS; from += 100) {
  for (let s = 0; s < STREAMS && written < EVENTS; s++) {
    const n = Math.min(100, perStream - from, EVENTS - written);
    const events = Array.from({ length: n }, (_, k) => ({
      id: `e-${s}-${from + k}`,
      type: "MoneyDeposited",
      data: { amount: 100 + ((from + k) % 900), note: "bench" },
    }));
    const r = await fetch(`${SERVER}/v1/stores/${store}/streams/account-${s}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ expectedVersion: from, events }),
    });
    if (!r.ok) throw new Error(`seeding: ${r.status} ${await r.text()}`);
    written += n;
  }
}

const browser = await launch();
results.machine.chromium = browser.version();
async function benchPage(context) {
  const page = await context.newPage();
  page.on("pageerror", (e) => log("page error:", e.message));
  await page.goto(new URL("bench/index.html", SITE).href);
  await page.waitForFunction(() => window.bench !== undefined || window.benchError !== undefined);
  const error = await page.evaluate(() => window.benchError);
  if (error) throw new Error(`the bench page did not load: ${error}`);
  return page;
}
const call = (page, fn, ...args) => page.evaluate(([fn, args]) => window.bench[fn](...args), [fn, args]);

try {
  // 1. A new device catches up, next to raw IndexedDB writing the same events; the two
  // alternate in order run by run.
  const context = await browser.newContext();
  const page = await benchPage(context);
  const samples = { chronik: [], raw: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const system of run % 2 ? ["raw", "chronik"] : ["chronik", "raw"]) {
      const fn = system === "chronik" ? "syncCatchUp" : "rawCatchUp";
      samples[system].push(await call(page, fn, SERVER, store, EVENTS, run));
      log(`catch-up ${system} run ${run}: ${samples[system].at(-1).toFixed(0)} ms`);
    }
  }
  const med = { chronik: median(samples.chronik), raw: median(samples.raw) };
  results.catchUp = {
    samples,
    median: med,
    eventsPerSecond: { chronik: (EVENTS / med.chronik) * 1000, raw: (EVENTS / med.raw) * 1000 },
  };
  await context.close();

  // 2. Latency: device A appends one event at a time; the clock stops when device B (its
  // own browser context, so its own IndexedDB) has it in its log. Wall-clock times from
  // both pages, A's when it calls append, B's when its subscription delivers the event.
  const latencyStore = `bench-latency-${stamp}`;
  const a = await benchPage(await browser.newContext());
  const b = await benchPage(await browser.newContext());
  await call(a, "syncDevice", SERVER, latencyStore, "bench-sync-a");
  await call(b, "syncDevice", SERVER, latencyStore, "bench-sync-b");
  const latencies = [];
  for (let i = 0; i < APPENDS; i++) {
    const id = `lat-${i}`;
    const sent = await call(a, "syncAppend", id, i);
    const seen = await call(b, "syncSeen", id);
    latencies.push(seen - sent);
  }
  await call(a, "syncClose");
  await call(b, "syncClose");
  results.latency = {
    samples: latencies,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
  };
  log("latency:", JSON.stringify({ p50: results.latency.p50, p99: results.latency.p99 }));
} finally {
  await browser.close();
}
results.machine.loadAfter = loadavg();
results.finished = new Date().toISOString();
writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");
log(`wrote ${OUT}`);
