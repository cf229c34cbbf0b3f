// Drives bench/index.html in headless Chromium (Debian's, through playwright-core) and
// writes every sample and median to bench/results.json. `cargo xtask bench` serves the
// site and runs this; run by hand with BENCH_URL set to a server of the same site:
// the app's dist/ at the root, and bench/, web/ and tests/ of the repository beside it.
//
//   BENCH_URL            the site (required)
//   BENCH_APP_DIST       the app's dist folder, for the bundle sizes (required)
//   BENCH_RUNS           repetitions per measurement (default 3)
//   BENCH_APPEND_EVENTS  events per append workload (default 10000)
//   BENCH_DEMO_EVENTS    events of demo data for projections and the cold open (default 100000)
//   BENCH_TEMPORAL_EVENTS events per account for the state-at-version workload (default 1000000)
//   BENCH_JS_PROJECTION  0 skips the JS-defined projection
//   BENCH_OUT            output file (default bench/results.json)
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { launch } from "../tests/e2e/browser.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SITE = process.env.BENCH_URL;
const APP_DIST = process.env.BENCH_APP_DIST;
if (!SITE || !APP_DIST) throw new Error("set BENCH_URL and BENCH_APP_DIST (cargo xtask bench does)");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const APPEND_EVENTS = Number(process.env.BENCH_APPEND_EVENTS ?? 10_000);
const DEMO_EVENTS = Number(process.env.BENCH_DEMO_EVENTS ?? 100_000);
const TEMPORAL_EVENTS = Number(process.env.BENCH_TEMPORAL_EVENTS ?? 1_000_000);
const JS_PROJECTION = process.env.BENCH_JS_PROJECTION !== "0";
const OUT = process.env.BENCH_OUT ?? join(ROOT, "bench/results.json");
const APP_DB = "chronik-app";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const log = (...a) => console.error("bench:", ...a);
/** The systems in a different order on each run, so drift does not favour one. */
const rotate = (xs, run) => xs.map((_, i) => xs[(i + run) % xs.length]);

const results = {
  command: `${JS_PROJECTION ? "" : "BENCH_JS_PROJECTION=0 "}${process.env.BENCH_COMMAND ?? "node bench/run.mjs"}`,
  started: new Date().toISOString(),
  settings: { runs: RUNS, appendEvents: APPEND_EVENTS, demoEvents: DEMO_EVENTS, temporalEvents: TEMPORAL_EVENTS },
  machine: {
    nproc: availableParallelism(),
    cpu: (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? "unknown",
    loadBefore: loadavg(),
    node: process.version,
  },
  append: [],
  read: [],
  projection: {},
  temporal: {},
  coldOpen: {},
  bundle: {},
};

const browser = await launch();
results.machine.chromium = browser.version();
const context = await browser.newContext();

async function benchPage() {
  const page = await context.newPage();
  page.on("pageerror", (e) => log("page error:", e.message));
  await page.goto(new URL("bench/index.html", SITE).href);
  await page.waitForFunction(() => window.bench !== undefined || window.benchError !== undefined);
  const error = await page.evaluate(() => window.benchError);
  if (error) throw new Error(`the bench page did not load: ${error}`);
  return page;
}

const call = (page, fn, ...args) =>
  page.evaluate(([fn, args]) => window.bench[fn](...args), [fn, args]);

try {
  const page = await benchPage();
  results.machine.emmett = await call(page, "info");

  // 1. Appends with concurrency checks.
  const systems = ["chronik", "raw", "dexie"];
  for (const batch of [1000, 100, 10, 1]) {
    const samples = { chronik: [], raw: [], dexie: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const system of rotate(systems, run)) {
        samples[system].push(await call(page, "append", system, batch, APPEND_EVENTS, run));
      }
    }
    const row = { batch, events: APPEND_EVENTS, samples, median: {} };
    for (const s of systems) row.median[s] = median(samples[s]);
    log(`append batch ${batch}:`, JSON.stringify(row.median));
    results.append.push(row);
  }

  // 2. Reads.
  for (const s of systems) await call(page, "prepareReads", s);
  for (const what of ["stream100", "stream10k", "allFrom"]) {
    const samples = { chronik: [], raw: [], dexie: [] };
    for (let run = 0; run < Math.max(RUNS, 5); run++) {
      for (const system of rotate(systems, run)) samples[system].push(await call(page, "read", system, what));
    }
    const row = { what, samples, median: {} };
    for (const s of systems) row.median[s] = median(samples[s]);
    log(`read ${what}:`, JSON.stringify(row.median));
    results.read.push(row);
  }

  // 3. State at a version, with and without a snapshot (first, and its two million events
  // deleted after, so the browser never holds them next to the demo data).
  log(`writing 2 × ${TEMPORAL_EVENTS} events for the temporal workload…`);
  results.temporal.prepare = await call(page, "prepareTemporal", TEMPORAL_EVENTS);
  results.temporal.samples = { snap: [], plain: [] };
  for (let run = 0; run < Math.max(RUNS, 5); run++) {
    results.temporal.samples.snap.push((await call(page, "stateAt", "snap")).ms);
  }
  for (let run = 0; run < RUNS; run++) {
    results.temporal.samples.plain.push((await call(page, "stateAt", "plain")).ms);
  }
  results.temporal.median = {
    snap: median(results.temporal.samples.snap),
    plain: median(results.temporal.samples.plain),
  };
  log("temporal:", JSON.stringify(results.temporal.median));
  await call(page, "closeTemporal");
  await call(page, "deleteDatabase", "bench-temporal");
  for (const s of systems) await call(page, "deleteDatabase", `bench-read-${s}`);

  // 4. Projection rebuilds over demo data, written into the app's own database so that
  // the cold open below finds it.
  log(`writing ${DEMO_EVENTS} demo events…`);
  results.projection.demo = await call(page, "prepareDemo", APP_DB, DEMO_EVENTS);
  log("demo:", JSON.stringify(results.projection.demo));
  results.projection.emmettLoad = await call(page, "loadEmmett");
  results.projection.memory = await call(page, "prepareMemory");
  log("memory:", JSON.stringify(results.projection.memory));
  const kinds = [
    "rebuildRust",
    "rebuildPlain",
    "rebuildJs",
    "rebuildEmmett",
    "rebuildMemoryRust",
    "rebuildMemoryPlain",
  ];
  const samples = Object.fromEntries(kinds.map((k) => [k, []]));
  const outcomes = {};
  for (let run = 0; run < RUNS; run++) {
    for (const kind of rotate(kinds, run)) {
      if (kind === "rebuildJs" && !JS_PROJECTION) continue;
      const r = await call(page, kind);
      if (r.error) {
        outcomes[kind] = r;
        continue;
      }
      samples[kind].push(r.ms);
      outcomes[kind] = { applied: r.applied, accounts: r.accounts, total: r.total };
      log(kind, JSON.stringify(r));
    }
  }
  results.projection.samples = samples;
  results.projection.median = Object.fromEntries(
    kinds.filter((k) => samples[k].length).map((k) => [k, median(samples[k])]),
  );
  results.projection.outcomes = outcomes;
  await call(page, "closeDemo");
  await call(page, "clearCheckpoints", APP_DB);

  // 5. Cold open: a new page navigates to the app with DEMO_EVENTS stored events; the
  // clock is the page's own (navigation start = 0) when the first account balance on the
  // Bank page ("/") is visible, and, separately, when the Stats page shows the count.
  const coldOpen = async (path, check, arg, clear) => {
    const samples = [];
    for (let run = 0; run < RUNS; run++) {
      if (clear) await call(page, "clearCheckpoints", APP_DB);
      const app = await context.newPage();
      app.on("pageerror", (e) => log("app error:", e.message));
      await app.goto(new URL(path, SITE).href, { waitUntil: "commit" });
      const handle = await app.waitForFunction(check, arg, { polling: "raf", timeout: 120_000 });
      samples.push(await handle.jsonValue());
      await app.close();
    }
    return { page: path, samples, median: median(samples) };
  };
  const firstBalance = () => {
    const el = document.querySelector('[data-testid^="balance-"]');
    return el && el.offsetParent !== null ? performance.now() : false;
  };
  results.coldOpen = {
    bankCold: {
      ...(await coldOpen("/", firstBalance, null, true)),
      until: 'the first [data-testid^="balance-"] is visible; projection checkpoints cleared before each visit',
    },
    bankWarm: {
      ...(await coldOpen("/", firstBalance, null, false)),
      until: "the same, reopened: the read models' checkpoints saved by the previous visit",
    },
    stats: {
      ...(await coldOpen(
        "stats",
        (n) => {
          const el = document.querySelector('[data-testid="stat-events"]');
          return el && el.textContent.trim() === String(n) ? performance.now() : false;
        },
        DEMO_EVENTS,
        false,
      )),
      until: `[data-testid="stat-events"] shows ${DEMO_EVENTS}`,
    },
  };
  log("cold open:", JSON.stringify(results.coldOpen));
  await page.close();
} finally {
  await browser.close();
}

// 6. Bundle sizes: what a browser downloads, raw and gzipped (level 9).
function sizes(dir, pick) {
  const files = readdirSync(dir).filter(pick);
  const out = { files: {}, raw: 0, gzip: 0 };
  for (const f of files) {
    const bytes = readFileSync(join(dir, f));
    const gz = gzipSync(bytes, { level: 9 }).length;
    out.files[f] = { raw: bytes.length, gzip: gz };
    out.raw += bytes.length;
    out.gzip += gz;
  }
  return out;
}
results.bundle.package = sizes(join(ROOT, "web/pkg"), (f) => f === "chronik.js" || f === "chronik_bg.wasm");
// The same package built without the example domains (`cargo xtask package --engine-only`).
if (existsSync(join(ROOT, "web/pkg-engine"))) {
  results.bundle.engineOnly = sizes(join(ROOT, "web/pkg-engine"), (f) => f === "chronik.js" || f === "chronik_bg.wasm");
}
results.bundle.app = sizes(APP_DIST, (f) => /\.(wasm|js|css|html)$/.test(f));

results.machine.loadAfter = loadavg();
results.finished = new Date().toISOString();
writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");
log(`wrote ${OUT}`);
