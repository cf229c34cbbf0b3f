// Writes bench/results.md and the README's "Benchmarks" section from bench/results.json
// (the browser run) and criterion's estimates (CRITERION_DIR, the native run), followed by
// the hand-written analysis in bench/notes.md. Run by `cargo xtask bench`.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CRITERION_DIR = process.env.CRITERION_DIR ?? join(ROOT, "target/criterion");
const COMMAND = "cargo xtask bench";
const browser = JSON.parse(readFileSync(join(ROOT, "bench/results.json"), "utf8"));

// ------------------------------------------------------------------ formatting

const sig = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
function time(ns) {
  if (ns < 1e3) return `${sig(ns)} ns`;
  if (ns < 1e6) return `${sig(ns / 1e3)} µs`;
  if (ns < 1e9) return `${sig(ns / 1e6)} ms`;
  return `${sig(ns / 1e9)} s`;
}
const ms = (x) => time(x * 1e6);
function rate(perSecond) {
  if (perSecond >= 1e6) return `${sig(perSecond / 1e6)} M/s`;
  if (perSecond >= 1e3) return `${sig(perSecond / 1e3)} K/s`;
  return `${sig(perSecond)}/s`;
}
const ratio = (x) => `${x >= 10 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2)}×`;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
const table = (head, rows) =>
  [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join(
    "\n",
  );
const int = (n) => n.toLocaleString("en-US");
const yes = (ok) => (ok ? "**met**" : "**not met**");

// ------------------------------------------------------------------ sync (bench/sync.json)

let syncSection = "";
const syncPath = join(ROOT, "bench/sync.json");
if (existsSync(syncPath)) {
  const sync = JSON.parse(readFileSync(syncPath, "utf8"));
  const m = sync.machine;
  const c = sync.catchUp;
  const L = sync.latency;
  syncSection = `## Sync (chronik-server on PostgreSQL, headless Chromium)

Run by \`${sync.command}\` (bench/sync.mjs) on ${m.nproc} × ${m.cpu}, Chromium ${m.chromium}, Node ${m.node},
load ${m.loadBefore.map((x) => x.toFixed(2)).join(" ")} before; the server is a ${sync.server} build on a
throwaway PostgreSQL on the same machine. Medians of ${sync.settings.runs} runs.

### A new device catches up ${int(sync.settings.events)} events

The server holds ${int(sync.settings.events)} events over ${int(sync.settings.streams)} streams (interleaved). chronik is a fresh
IndexedDB database calling \`db.sync()\`, timed until the sync is \`live\` (first catch-up done, every
event stored); raw IndexedDB writes the same events (fetched before its clock starts, so it does no
network work) in pages of 1,000, one readwrite transaction each, into chronik's layout. Same run, alternating order.

${table(
  ["system", "median", "events/s", "samples"],
  [
    ["chronik \`db.sync()\` (HTTP pulls + IndexedDB)", ms(c.median.chronik), rate(c.eventsPerSecond.chronik), c.samples.chronik.map(ms).join(", ")],
    ["raw IndexedDB, same events, no network", ms(c.median.raw), rate(c.eventsPerSecond.raw), c.samples.raw.map(ms).join(", ")],
  ],
)}

### Append on one device → shown on another

Two browser contexts (two devices, each its own IndexedDB database) sync one store; device A appends one
event at a time and waits until device B's subscription delivers it (wall clock of both pages), ${int(L.samples.length)} appends:
p50 **${ms(L.p50)}**, p99 **${ms(L.p99)}**, max ${ms(L.max)}.

`;
}

// `cargo xtask bench --sync-only` measured nothing else: only the Sync section of
// results.md is replaced, the rest (and the README) stay as the last full run wrote them.
if (process.env.BENCH_REPORT_SYNC_ONLY === "1") {
  const path = join(ROOT, "bench/results.md");
  const md = readFileSync(path, "utf8");
  const start = md.indexOf("## Sync (");
  const end = md.indexOf("## Native (");
  if (end < 0) throw new Error("bench/results.md has no Native section to put the Sync section before");
  let out = md.slice(0, start < 0 ? end : start) + syncSection + md.slice(end);
  // The notes close results.md: they are refreshed too.
  const notesPath = join(ROOT, "bench/notes.md");
  const notes = existsSync(notesPath) ? readFileSync(notesPath, "utf8").trim() : "";
  const at = notes ? out.indexOf(notes.split("\n")[0]) : -1;
  if (at >= 0) out = out.slice(0, at) + notes + "\n";
  writeFileSync(path, out);
  console.error("bench/report.mjs: replaced the Sync section of bench/results.md");
  process.exit(0);
}

// ------------------------------------------------------------------ native (criterion)

function criterion(dir = CRITERION_DIR) {
  const found = new Map();
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!statSync(path).isDirectory()) continue;
      const bench = join(path, "new/benchmark.json");
      if (name !== "new" && name !== "base" && existsSync(bench)) {
        const b = JSON.parse(readFileSync(bench, "utf8"));
        const e = JSON.parse(readFileSync(join(path, "new/estimates.json"), "utf8"));
        found.set(b.full_id, {
          id: b.full_id,
          median: e.median.point_estimate,
          elements: b.throughput?.Elements ?? null,
          modified: statSync(bench).mtime,
        });
      } else if (name !== "new" && name !== "base" && name !== "report") {
        walk(path);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return found;
}
const native = criterion();
// Seed 003's own benches, when `cargo xtask bench --seed003` ran them in this run.
const SEED003_DIR = process.env.SEED003_CRITERION_DIR;
const seedRun = SEED003_DIR ? criterion(SEED003_DIR) : new Map();

// The seed 003 order system's published numbers (its README, "Performance"), the
// chronik benchmark that runs the same workload, and seed 003's own benchmark id.
const SEED = [
  ["Append single event", "~1.8 µs", "store/append one event", "event_store/append_single_event"],
  ["Append batch (10 events)", "~10.5 µs", "store/append batch of 10", "event_store/append_batch_10"],
  ["Append with version check", "~1.8 µs", "store/append with version check", "event_store/append_with_version_check"],
  ["Retrieve 100 events", "~25.6 µs", "store/read 100 events", "event_store/get_events_100"],
  ["Stream 1,000 events", "~354 µs", "store/stream 1,000 events", "event_store/stream_1000_events"],
  ["Create order", "~3.2 µs", "orders/create order", "domain/create_order"],
  ["Full cycle (create + add item + submit)", "~8.0 µs", "orders/full cycle (create, add item, submit)", "domain/full_create_add_submit"],
  ["Reconstruct from 50 events", "~42.9 µs", "orders/rebuild from 51 events (created, 50 items)", "domain/reconstruct_50_events"],
  ["Reconstruct from 100 events", "~87.2 µs", "orders/rebuild from 100 events (created, 99 items)", "domain/reconstruct_100_events"],
  ["Process single event", "~3.4 µs", "order read models/process one new OrderCreated (build, encode, apply)", "projections/process_single_event"],
  ["Catch-up 300 events", "~305 µs", "order read models/catch-up over 300 events", "projections/catch_up_300_events"],
  ["Catch-up 3,000 events", "~3.1 ms", "order read models/catch-up over 3000 events", "projections/catch_up_3000_events"],
  ["Query all orders (100)", "~8.6 µs", "order read models/query all orders (100), cloned", "projections/query_all_100_orders"],
  ["Query by customer", "~632 ns", "order read models/query by customer (scan 100 orders, 5 match, cloned)", "projections/query_by_customer"],
  ["Rebuild 300 events", "~302 µs", "order read models/rebuild over 300 events", "projections/rebuild_300_events"],
];

function nativeRow(id) {
  const b = native.get(id);
  if (!b) return ["–", "–"];
  return [time(b.median), b.elements ? rate((b.elements * 1e9) / b.median) : "–"];
}

const TEMPORAL_WITH = "temporal/state at version 500005 of 1,000,000, with snapshots";
const TEMPORAL_WITHOUT = "temporal/state at version 500005 of 1,000,000, without snapshots";

// ------------------------------------------------------------------ browser tables

const SYS = ["chronik", "raw", "dexie"];
const appendRows = browser.append.map((r) => {
  const perS = (s) => (r.events * 1000) / r.median[s];
  return [
    int(r.batch),
    ...SYS.map((s) => `${ms(r.median[s])} (${rate(perS(s))})`),
    ratio(r.median.raw / r.median.chronik),
    ratio(r.median.dexie / r.median.chronik),
  ];
});
const READ_LABEL = {
  stream100: "a stream of 100 events",
  stream10k: "a stream of 10,000 events",
  allFrom: "the global log from position 5,001 (5,100 events)",
};
const readRows = browser.read.map((r) => [
  READ_LABEL[r.what],
  ...SYS.map((s) => ms(r.median[s])),
  ratio(r.median.raw / r.median.chronik),
  ratio(r.median.dexie / r.median.chronik),
]);

const P = browser.projection;
const pm = P.median;
const applied = P.outcomes.rebuildRust?.applied;
const scanned = browser.settings.demoEvents;
const speed = (m) => (m ? ratio(pm.rebuildRust / m) : "–");
const perEvent = (m) => (m ? `${ms(m)} (${rate((applied * 1000) / m)} bank events)` : "–");
const projectionRows = [
  ["chronik, Rust `AccountBalances` (wasm), IndexedDB", perEvent(pm.rebuildRust), "1.00×"],
  [
    "chronik, the same read model in JS (`defineProjection`), IndexedDB",
    pm.rebuildJs ? perEvent(pm.rebuildJs) : "not run (`BENCH_JS_PROJECTION=0`); see the notes",
    speed(pm.rebuildJs),
  ],
  ["plain JS reducer over `getAll` pages of 1,000 from chronik's database", perEvent(pm.rebuildPlain), speed(pm.rebuildPlain)],
  ["Emmett in-memory store, `readStream` per account + the JS reducer", perEvent(pm.rebuildEmmett), speed(pm.rebuildEmmett)],
  ["chronik, Rust `AccountBalances`, `Chronik.inMemory()` (no IndexedDB)", perEvent(pm.rebuildMemoryRust), speed(pm.rebuildMemoryRust)],
  ["plain JS reducer over the same events in a JS array", perEvent(pm.rebuildMemoryPlain), speed(pm.rebuildMemoryPlain)],
];
const outcomesAgree = new Set(Object.values(P.outcomes).filter((o) => !o.error).map((o) => `${o.applied}/${o.accounts}/${o.total}`)).size === 1;

const T = browser.temporal;
const B = browser.bundle;

// ------------------------------------------------------------------ targets

const wasmVsPlain = pm.rebuildPlain / pm.rebuildRust;
const wasmVsPlainMemory = pm.rebuildMemoryPlain / pm.rebuildMemoryRust;
const nWith = native.get(TEMPORAL_WITH);
const nWithout = native.get(TEMPORAL_WITHOUT);
const nativeTemporal = nWith && nWithout ? nWithout.median / nWith.median : null;
const browserTemporal = T.median.plain / T.median.snap;
const appGzip = B.app.gzip;
const serverPath = join(ROOT, "bench/server.json");
const server = existsSync(serverPath) ? JSON.parse(readFileSync(serverPath, "utf8")) : null;

// One row per target of issue 16, each a ratio measured in this run (above 1×: met).
const worst = (rows, f) => rows.reduce((a, r) => (f(r) < f(a) ? r : a));
function seedTarget() {
  const rows = SEED.map(([label, , id, seedId]) => {
    const theirs = seedRun.get(seedId);
    const ours = native.get(id);
    return { label, speedUp: theirs && ours ? theirs.median / ours.median : null };
  }).filter((r) => r.speedUp !== null);
  if (rows.length < SEED.length) {
    return ["**not measured**: seed 003's benches did not run (`cargo xtask bench --no-seed003`, or its clone failed)", "–", false];
  }
  const short = rows.filter((r) => r.speedUp < 2);
  const low = worst(rows, (r) => r.speedUp);
  const measured = `${rows.length - short.length} of ${rows.length} rows at 2× or more; lowest ${ratio(low.speedUp)} (${low.label})${
    short.length ? `; short: ${short.map((r) => `${r.label} ${ratio(r.speedUp)}`).join(", ")}` : ""
  }`;
  return [measured, ratio(low.speedUp / 2), short.length === 0];
}
function target(what, measured, score) {
  return [what, measured, score === null ? "–" : ratio(score), score === null ? "**not measured**" : yes(score >= 1)];
}
const readWorst = worst(browser.read, (r) => r.median.raw / r.median.chronik);
const appendWorst = worst(browser.append, (r) => r.median.dexie / r.median.chronik);
const cold = browser.coldOpen.bankCold.median;
const demoRate = (P.demo.events * 1000) / P.demo.ms;
const engineGzip = B.engineOnly?.gzip ?? null;
const pg = (path) => server?.appends.find((a) => a.path === path && a.clients === 64);
const pgRatio = server && pg("HTTP") && pg("raw SQL") ? pg("HTTP").eventsPerSecond / pg("raw SQL").eventsPerSecond : null;
const [seedMeasured, seedScore, seedMet] = seedTarget();
// A rebuild that applied other events than chronik's measures other work: no ratio.
const rebuildMeasured = (measured, score) =>
  outcomesAgree
    ? [measured, score]
    : ["the systems' results differ (events applied, accounts, total: see results.json), so the times compare different work", null];
const targets = table(
  ["target (issue 16)", "measured in this run", "score (≥ 1× is met)", ""],
  [
    [
      "native: at least 2× seed 003 on every row of its table, the same work (seed 003's own benches in this run)",
      seedMeasured,
      seedScore === "–" ? "–" : `${seedScore} (lowest speed-up / 2)`,
      seedScore === "–" ? "**not measured**" : yes(seedMet),
    ],
    target(
      "IndexedDB: projection rebuild (Rust, wasm) at least 1.5× the plain JS reducer over `getAll` pages",
      ...rebuildMeasured(
        `${ratio(wasmVsPlain)} the plain JS reducer (${ms(pm.rebuildRust)} against ${ms(pm.rebuildPlain)})`,
        wasmVsPlain / 1.5,
      ),
    ),
    target(
      "IndexedDB: `readStream`/`readAll` at least 1.0× raw IndexedDB",
      `${browser.read.map((r) => `${READ_LABEL[r.what]} ${ratio(r.median.raw / r.median.chronik)}`).join("; ")}`,
      readWorst.median.raw / readWorst.median.chronik,
    ),
    target(
      "IndexedDB: appends (expected-version check, never overwriting) at least 1.0× Dexie `bulkAdd` at every batch size",
      browser.append.map((r) => `${int(r.batch)} a batch ${ratio(r.median.dexie / r.median.chronik)}`).join("; "),
      appendWorst.median.dexie / appendWorst.median.chronik,
    ),
    target(
      "in memory: Rust projection rebuild at least 1.0× a JS reducer over an array of the same events",
      ...rebuildMeasured(
        `${ratio(wasmVsPlainMemory)} the JS reducer (${ms(pm.rebuildMemoryRust)} against ${ms(pm.rebuildMemoryPlain)})`,
        wasmVsPlainMemory,
      ),
    ),
    target(
      `cold open of the app with ${int(scanned)} events and no checkpoint: first balance under 500 ms`,
      ms(cold),
      500 / cold,
    ),
    target("app bundle (wasm + js + css + html, gzip -9) under 500 KB", kb(appGzip), (500 * 1024) / appGzip),
    target(
      "npm package without the example domains (`--no-default-features`) bundle under 250 KB gzipped",
      engineGzip === null ? "not built in this run" : kb(engineGzip),
      engineGzip === null ? null : (250 * 1024) / engineGzip,
    ),
    target(
      "demo data at least 20,000 events/s into IndexedDB (same events for a seed)",
      `${rate(demoRate)} (${int(P.demo.events)} events in ${ms(P.demo.ms)})`,
      demoRate / 20000,
    ),
    target(
      "PostgreSQL: appends over HTTP at 64 clients at least 0.8× raw SQL",
      pgRatio === null
        ? "not measured (no bench/server.json)"
        : `HTTP ${int(Math.round(pg("HTTP").eventsPerSecond))}/s, \`PgStore\` ${int(Math.round(pg("PgStore").eventsPerSecond))}/s, raw SQL ${int(Math.round(pg("raw SQL").eventsPerSecond))}/s: ${ratio(pgRatio)}; catch-up of ${int(server.catchUp.httpPages.events)} events over HTTP pages ${int(Math.round(server.catchUp.httpPages.eventsPerSecond))}/s, live (SSE) ${int(Math.round(server.catchUp.live.eventsPerSecond))}/s, \`PgStore\` pages ${int(Math.round(server.catchUp.pgStorePages.eventsPerSecond))}/s`,
      pgRatio === null ? null : pgRatio / 0.8,
    ),
  ],
);

// ------------------------------------------------------------------ documents

const m = browser.machine;
const nativeDate = [...native.values()].map((b) => b.modified).sort((a, b) => b - a)[0]?.toISOString() ?? "none";
const machine = [
  `- **Machine**: ${m.nproc} cores (\`nproc\`), ${m.cpu}; load average ${m.loadBefore.map((x) => x.toFixed(2)).join(", ")} at the start and ${m.loadAfter.map((x) => x.toFixed(2)).join(", ")} at the end of the browser run.`,
  `- **Browser**: Debian's Chromium ${m.chromium}, headless (playwright-core), one profile for the whole run; Node ${m.node}.`,
  `- **Commands**: browser tables from \`${browser.command ?? COMMAND}\`; native tables from criterion's estimates of the last \`${COMMAND}\` that ran them (${nativeDate}) (criterion with \`--warm-up-time 0.5 --measurement-time 1\`; ${browser.settings.runs} runs per browser measurement, 5 for the reads and the snapshot case, medians; systems in a rotating order). Browser run ${browser.started} – ${browser.finished}.`,
  `- **Caveat**: the machine is shared: two cores, with other engineers' builds and tests running at the same time (see the load averages). Ratios measured in the same page run are more trustworthy than absolute numbers; expect ±30% between runs.`,
].join("\n");

const nativeAll = [...native.values()]
  .sort((a, b) => a.id.localeCompare(b.id))
  .map((b) => [b.id, time(b.median), b.elements ? rate((b.elements * 1e9) / b.median) : "–"]);

// Seed 003 measured in this run, and how many times faster chronik's median is.
function seedRow(seedId, id) {
  const theirs = seedRun.get(seedId);
  const ours = native.get(id);
  if (!theirs) return ["–", "–"];
  return [time(theirs.median), ours ? ratio(theirs.median / ours.median) : "–"];
}
const seedTable = table(
  [
    "seed 003 benchmark",
    "seed 003 (its README)",
    "seed 003 (this run)",
    "chronik median",
    "chronik speed-up (this run)",
    "chronik throughput",
    "chronik benchmark",
  ],
  SEED.map(([label, theirs, id, seedId]) => {
    const [median, throughput] = nativeRow(id);
    const [measured, speedUp] = seedRow(seedId, id);
    return [label, theirs, measured, median, speedUp, throughput, `\`${id}\``];
  }),
);

const appendTable = table(
  ["batch size", "chronik `append` (expectedVersion)", "raw IndexedDB", "Dexie `bulkAdd`", "chronik vs raw", "chronik vs Dexie"],
  appendRows,
);
const readTable = table(["read", "chronik", "raw IndexedDB", "Dexie", "chronik vs raw", "chronik vs Dexie"], readRows);
const projectionTable = table(["rebuild of AccountBalances", "median", "speed vs chronik's Rust on IndexedDB"], projectionRows);
const temporalTable = table(
  ["state of one account at version n/2 + 5", "median", "ratio"],
  [
    [
      `browser, IndexedDB, ${int(T.prepare.events / 2)}-event account, snapshot at n/2 (Rust aggregate in wasm)`,
      ms(T.median.snap),
      ratio(browserTemporal),
    ],
    [`browser, the same account history without snapshots (full replay of n/2 + 5 events)`, ms(T.median.plain), "1×"],
    ["native, `MemoryStore`, 1,000,000 events, snapshots every 10", nWith ? time(nWith.median) : "–", nativeTemporal ? ratio(nativeTemporal) : "–"],
    ["native, the same without snapshots", nWithout ? time(nWithout.median) : "–", "1×"],
  ],
);
const bundleRows = (b) => Object.entries(b.files).map(([f, s]) => [`\`${f.replace(/-[0-9a-f]{12,}/, "-…")}\``, kb(s.raw), kb(s.gzip)]);
const bundleTable = table(
  ["file", "raw", "gzip -9"],
  [
    ...bundleRows(B.package),
    ["**npm package (web target), total**", `**${kb(B.package.raw)}**`, `**${kb(B.package.gzip)}**`],
    ...(B.engineOnly
      ? [["**npm package without the example domains (`--no-default-features`), total**", `**${kb(B.engineOnly.raw)}**`, `**${kb(B.engineOnly.gzip)}**`]]
      : []),
    ...bundleRows(B.app),
    ["**app (dist/), total**", `**${kb(B.app.raw)}**`, `**${kb(B.app.gzip)}**`],
  ],
);

const notesPath = join(ROOT, "bench/notes.md");
const notes = existsSync(notesPath) ? readFileSync(notesPath, "utf8").trim() : "";

// The server's load on PostgreSQL (server/benches/load.rs), when it was run.
let serverSection = "";
if (server) {
  const us = (x) => time(x * 1e3);
  const perSec = (x) => `${int(Math.round(x))}/s`;
  const raw = (clients) => server.appends.find((a) => a.path === "raw SQL" && a.clients === clients);
  const appendRows = server.appends.map((a) => [
    a.path,
    String(a.clients),
    perSec(a.eventsPerSecond),
    us(a.p50Us),
    us(a.p99Us),
    `${(a.eventsPerSecond / raw(a.clients).eventsPerSecond).toFixed(2)}×`,
  ]);
  const c = server.catchUp;
  serverSection = `## Server (PostgreSQL 15, chronik-server over HTTP)

Measured ${new Date(server.date * 1000).toISOString().slice(0, 10)} by \`cargo xtask bench\` (server/benches/load.rs) on a
throwaway local PostgreSQL (fsync off), a pool of ${server.pool} connections shared by all three paths.
Appends: one event per append, each client its own stream, every append checking its expected
version; raw SQL is one \`INSERT\` per event through the same pool, with no head row, stream row
or check (the physical limit here), and the ratio is against it at the same client count:

${table(["path", "clients", "events/s", "p50", "p99", "vs raw SQL"], appendRows)}

Catch-up of ${int(c.httpPages.events)} events, and a rebuild of AccountBalances over ${int(server.rebuild.events)} demo events on PostgreSQL:

${table(
    ["workload", "events/s", "time"],
    [
      ["\`PgStore::read_all\`, pages of 1,000", perSec(c.pgStorePages.eventsPerSecond), ms(c.pgStorePages.seconds * 1e3)],
      ["\`GET …/events\`, pages of 1,000", perSec(c.httpPages.eventsPerSecond), ms(c.httpPages.seconds * 1e3)],
      ["\`GET …/live\` (Server-Sent Events)", perSec(c.live.eventsPerSecond), ms(c.live.seconds * 1e3)],
      ["AccountBalances rebuild over the whole log (\`PgStore\`; it reads its event types only)", perSec(server.rebuild.eventsPerSecond), ms(server.rebuild.seconds * 1e3)],
    ],
  )}

`;
}

const results = `# chronik benchmarks

Generated by \`${COMMAND}\` (bench/report.mjs) from bench/results.json and criterion's
estimates; every number below is a median of this run. The analysis after the tables is
bench/notes.md.

${machine}

## Targets

${targets}

## Browser (IndexedDB, headless Chromium)

### Append ${int(browser.settings.appendEvents)} events to one stream, every append checking the expected version

chronik is \`db.append(stream, events, { expectedVersion })\`; raw IndexedDB and Dexie use the
same object stores and indexes as chronik and the same check (read the stream head and the log
head inside the readwrite transaction, then write): raw \`put\`s every event without awaiting
each, Dexie \`bulkAdd\`s them. One transaction per batch for all three. "vs" columns are
throughput ratios (above 1×: chronik is faster).

${appendTable}

### Reads (the events decoded into plain JS objects)

${readTable}

### Projection rebuild over ${int(scanned)} demo events

The demo data (\`db.generateDemo({ events: ${int(scanned)}, seed: 7 })\`: accounts, transfers, orders,
sagas; written in ${ms(P.demo.ms)}, ${rate((P.demo.events * 1000) / P.demo.ms)} through the command handlers) holds
${applied ? int(applied) : "?"} bank events. Each rebuild computes the same balances of every account from position zero;
the results agree${outcomesAgree ? " (events applied, accounts and total are equal in every system)" : " **only partly — see results.json**"}.
Emmett (\`@event-driven-io/emmett\` ${"0.42.0"}) has no global log in its in-memory store, so its rebuild reads every
account stream; loading the bank events into it took ${P.emmettLoad.ms ? ms(P.emmettLoad.ms) : "–"}.

${projectionTable}

### State at a version

${temporalTable}

In the browser the account histories are ${int(browser.settings.temporalEvents)} events${browser.settings.temporalEvents < 1_000_000 ? " (not 1,000,000: `BENCH_TEMPORAL_EVENTS` was set lower)" : ""}, written with raw appends in batches of 1,000 (${browser.temporal.prepare ? `${int(browser.temporal.prepare.events)} events in ${ms(browser.temporal.prepare.ms)}` : "–"}); one
command through the bank handler at version n/2 takes the snapshot the default policy (every 10 events)
takes there, so the snapshotted read replays 5 events, as natively.

### Cold open

A new page navigates to the app with ${int(scanned)} events stored in its database (\`chronik-app\`,
written by the package in the same origin); the time is the page's own clock from navigation start:

${table(
  ["page", "until", "median", "samples"],
  Object.values(browser.coldOpen).map((c) => ["`" + c.page + "`", c.until, ms(c.median), c.samples.map(ms).join(", ")]),
)}

### Bundle size

${bundleTable}

${serverSection}${syncSection}## Native (criterion, \`MemoryStore\`)

Next to the seed 003 order system's published numbers (its README; its own machine, unknown)
and its own benches measured in this run on this machine (\`${COMMAND}\` runs them unless \`--no-seed003\`)
(\`${SEED003_DIR ?? "not run"}\`; the speed-up is seed 003's median over chronik's):

${seedTable}

Every native benchmark of this run:

${table(["benchmark", "median", "throughput"], nativeAll)}

${notes}
`;
writeFileSync(join(ROOT, "bench/results.md"), results);

// README: the Benchmarks section, up to the next "## " heading.
const readmePath = join(ROOT, "README.md");
const readme = readFileSync(readmePath, "utf8");
const start = readme.indexOf("## Benchmarks\n");
const end = readme.indexOf("\n## ", start + 1);
if (start < 0 || end < 0) throw new Error("README.md has no Benchmarks section followed by another section");
const readmeRow = (r) => [
  `append 10,000 events, batches of ${int(r.batch)}`,
  `${rate((r.events * 1000) / r.median.chronik)}`,
  ratio(r.median.raw / r.median.chronik),
  ratio(r.median.dexie / r.median.chronik),
];
const section = `## Benchmarks

\`${COMMAND}\` measures chronik side by side with raw IndexedDB, Dexie and Emmett in one headless
Chromium run, plus the native criterion benches, and writes [bench/results.md](bench/results.md)
(machine, every table, what falls short and why). Medians of this project's shared 2-core machine
(${m.cpu}, Chromium ${m.chromium}); ratios are chronik's throughput over the other's (above 1×:
chronik is faster).

${table(
  ["browser workload", "chronik", "vs raw IndexedDB", "vs Dexie"],
  [
    ...browser.append.map(readmeRow),
    ...browser.read.map((r) => [`read ${READ_LABEL[r.what]}`, ms(r.median.chronik), ratio(r.median.raw / r.median.chronik), ratio(r.median.dexie / r.median.chronik)]),
    [`rebuild AccountBalances over ${int(scanned)} events (Rust in wasm)`, ms(pm.rebuildRust), `${ratio(pm.rebuildPlain / pm.rebuildRust)} (a plain JS reducer over raw reads)`, "–"],
    ...(pm.rebuildJs ? [[`the same read model defined in JS (\`defineProjection\`)`, ms(pm.rebuildJs), `${ratio(pm.rebuildPlain / pm.rebuildJs)} (the same reducer)`, "–"]] : []),
    [`state at version n/2 + 5 of ${int(browser.settings.temporalEvents)}, snapshot / replay`, `${ms(T.median.snap)} / ${ms(T.median.plain)}`, "–", "–"],
    [`cold open of the app with ${int(scanned)} events, to the first balance (Bank page, no checkpoints)`, ms(browser.coldOpen.bankCold.median), "–", "–"],
    ["the same, reopened (checkpoints saved)", ms(browser.coldOpen.bankWarm.median), "–", "–"],
    ["the same, to the Stats page's count", ms(browser.coldOpen.stats.median), "–", "–"],
    ["bundle, gzipped: npm package / app", `${kb(B.package.gzip)} / ${kb(appGzip)}`, "–", "–"],
  ],
)}

The targets chronik is held to, against this run (bench/results.md says why each miss remains):

${targets}

Native (\`MemoryStore\`), next to the seed 003 order system's published numbers:

${table(
  ["benchmark", "seed 003", "seed 003 (this run)", "chronik", "throughput"],
  SEED.map(([label, theirs, id, seedId]) => [label, theirs, seedRow(seedId, id)[0], ...nativeRow(id)]),
)}
| state at version 500,005 of 1,000,000, snapshots every 10 | – | – | ${nWith ? time(nWith.median) : "–"} | – |
| the same without snapshots | – | – | ${nWithout ? time(nWithout.median) : "–"} | ${nativeTemporal ? ratio(nativeTemporal) + " slower" : "–"} |
`;
writeFileSync(readmePath, readme.slice(0, start) + section + readme.slice(end));
console.error("bench: wrote bench/results.md and README.md's Benchmarks section");
