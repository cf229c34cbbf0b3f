// The browser workloads of `cargo xtask bench`, run by bench/run.mjs in headless Chromium.
//
// Every function times only the work it names (opening, seeding and deleting databases are
// outside the clock) and returns plain numbers. chronik is the npm package's `web` build;
// "raw" is hand-written IndexedDB with the same object stores and indexes as chronik's
// (events keyed by position with unique [streamId, version] and eventId indexes, eventType
// and recordedAt indexes; a streams store holding each stream's head); "dexie" is Dexie 4
// over the same layout. Every append checks the stream's expected version inside its
// readwrite transaction, as chronik does.
import initWasm, { Chronik } from "chronik";
import Dexie from "dexie";

let emmett = null;
let emmettError = null;

export async function init() {
  await initWasm();
  try {
    emmett = await import("@event-driven-io/emmett");
  } catch (e) {
    emmettError = String(e);
  }
}

export function info() {
  return { userAgent: navigator.userAgent, emmett: emmett !== null, emmettError };
}

const now = () => performance.now();

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("aborted"));
    tx.onerror = () => reject(tx.error);
  });
}

export async function deleteDatabase(name) {
  const r = indexedDB.deleteDatabase(name);
  await new Promise((resolve, reject) => {
    r.onsuccess = resolve;
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error(`deleting ${name} is blocked`));
  });
}

/** The event every append workload writes; `i` varies the payload a little. */
function deposit(i) {
  return { type: "MoneyDeposited", data: { amount: 100 + (i % 900), note: "bench" } };
}

// ---------------------------------------------------------------- raw IndexedDB

function openRaw(name) {
  const r = indexedDB.open(name, 1);
  r.onupgradeneeded = () => {
    const db = r.result;
    const events = db.createObjectStore("events", { keyPath: "position" });
    events.createIndex("streamVersion", ["streamId", "version"], { unique: true });
    events.createIndex("eventId", "eventId", { unique: true });
    events.createIndex("eventType", "eventType");
    events.createIndex("recordedAt", "recordedAt");
    db.createObjectStore("streams", { keyPath: "streamId" });
  };
  return request(r);
}

/** One readwrite transaction: read the stream head and the log head, check the expected
 *  version, then `put` every event without awaiting each; resolves at commit. */
function rawAppend(db, streamId, expected, events) {
  const tx = db.transaction(["events", "streams"], "readwrite");
  const store = tx.objectStore("events");
  const streams = tx.objectStore("streams");
  const head = streams.get(streamId);
  const last = store.openKeyCursor(null, "prev");
  let result;
  last.onsuccess = () => {
    const current = head.result?.version ?? 0;
    if (current !== expected) {
      tx.abort();
      return;
    }
    let position = last.result ? last.result.key : 0;
    let version = current;
    const recordedAt = Date.now();
    for (const e of events) {
      position += 1;
      version += 1;
      store.put({
        position,
        eventId: crypto.randomUUID(),
        streamId,
        version,
        eventType: e.type,
        schemaVersion: 1,
        data: e.data,
        metadata: {},
        recordedAt,
      });
    }
    streams.put({ streamId, version, lastPosition: position, updatedAt: recordedAt });
    result = { lastVersion: version, lastPosition: position };
  };
  return done(tx).then(() => result);
}

// ---------------------------------------------------------------- Dexie

async function openDexie(name) {
  const db = new Dexie(name);
  db.version(1).stores({
    events: "position, &[streamId+version], &eventId, eventType, recordedAt",
    streams: "streamId",
  });
  await db.open();
  return db;
}

/** A Dexie transaction: read both heads, check the expected version, `bulkAdd`. */
function dexieAppend(db, streamId, expected, events) {
  return db.transaction("rw", db.events, db.streams, async () => {
    const head = await db.streams.get(streamId);
    const current = head?.version ?? 0;
    if (current !== expected) throw new Error(`WrongExpectedVersion: ${expected} ≠ ${current}`);
    const [lastKey] = await db.events.orderBy(":id").reverse().limit(1).primaryKeys();
    let position = lastKey ?? 0;
    let version = current;
    const recordedAt = Date.now();
    const rows = events.map((e) => ({
      position: ++position,
      eventId: crypto.randomUUID(),
      streamId,
      version: ++version,
      eventType: e.type,
      schemaVersion: 1,
      data: e.data,
      metadata: {},
      recordedAt,
    }));
    await db.events.bulkAdd(rows);
    await db.streams.put({ streamId, version, lastPosition: position, updatedAt: recordedAt });
    return { lastVersion: version, lastPosition: position };
  });
}

// ---------------------------------------------------------------- one API over the three

async function openSystem(system, name) {
  if (system === "chronik") {
    const db = await Chronik.open(name);
    return {
      append: (s, v, ev) => db.append(s, ev, { expectedVersion: v }),
      readStream: (s) => db.readStream(s),
      readAllFrom: (p) => db.readAll({ fromPosition: p }),
      close: () => db.close(),
    };
  }
  if (system === "raw") {
    const db = await openRaw(name);
    return {
      append: (s, v, ev) => rawAppend(db, s, v, ev),
      readStream: (s) => {
        const tx = db.transaction("events", "readonly");
        const range = IDBKeyRange.bound([s, 1], [s, Number.MAX_SAFE_INTEGER]);
        return request(tx.objectStore("events").index("streamVersion").getAll(range));
      },
      readAllFrom: (p) => {
        const tx = db.transaction("events", "readonly");
        return request(tx.objectStore("events").getAll(IDBKeyRange.lowerBound(p)));
      },
      close: () => db.close(),
    };
  }
  if (system === "dexie") {
    const db = await openDexie(name);
    return {
      append: (s, v, ev) => dexieAppend(db, s, v, ev),
      readStream: (s) =>
        db.events.where("[streamId+version]").between([s, 1], [s, Dexie.maxKey], true, true).toArray(),
      readAllFrom: (p) => db.events.where(":id").aboveOrEqual(p).toArray(),
      close: () => db.close(),
    };
  }
  throw new Error(`unknown system ${system}`);
}

/** Appends `total` events to one stream in batches of `batch`, each append expecting the
 *  version the previous one left. Resolves to the milliseconds the appends took. */
export async function append(system, batch, total, run) {
  const name = `bench-append-${system}-${batch}-${run}`;
  await deleteDatabase(name);
  const db = await openSystem(system, name);
  const batches = [];
  for (let i = 0; i < total; i += batch) {
    batches.push(Array.from({ length: Math.min(batch, total - i) }, (_, k) => deposit(i + k)));
  }
  let version = 0;
  const t0 = now();
  for (const events of batches) {
    const r = await db.append("account-bench", version, events);
    version = r.lastVersion;
  }
  const ms = now() - t0;
  db.close();
  await deleteDatabase(name);
  if (version !== total) throw new Error(`${system}: ended at version ${version}, not ${total}`);
  return ms;
}

const READ_DB = (system) => `bench-read-${system}`;

/** Seeds the read workloads: stream `big` (10,000 events) then `small` (100 events). */
export async function prepareReads(system) {
  await deleteDatabase(READ_DB(system));
  const db = await openSystem(system, READ_DB(system));
  for (let v = 0; v < 10_000; v += 1000) {
    await db.append("big", v, Array.from({ length: 1000 }, (_, k) => deposit(v + k)));
  }
  await db.append("small", 0, Array.from({ length: 100 }, (_, k) => deposit(k)));
  db.close();
}

/** One read: `stream100`, `stream10k`, or `allFrom` (the global log from position 5,001
 *  to its end, 5,100 events). Resolves to the milliseconds it took. */
export async function read(system, what) {
  const db = await openSystem(system, READ_DB(system));
  const [expected, go] = {
    stream100: [100, () => db.readStream("small")],
    stream10k: [10_000, () => db.readStream("big")],
    allFrom: [5_100, () => db.readAllFrom(5_001)],
  }[what];
  const t0 = now();
  const rows = await go();
  const ms = now() - t0;
  db.close();
  if (rows.length !== expected) throw new Error(`${system} ${what}: ${rows.length} rows, not ${expected}`);
  return ms;
}

// ---------------------------------------------------------------- projections

const BANK_TYPES = ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "AccountClosed"];

/** AccountBalances in JavaScript: the same state as the Rust read model. Mutates. */
function applyBalance(state, streamId, version, recordedAt, type, data) {
  const id = streamId.slice("account-".length);
  const account = (state.accounts[id] ??= {
    owner: "",
    balance: 0,
    status: "open",
    version: 0,
    lastUpdated: 0,
  });
  account.version = version;
  account.lastUpdated = recordedAt;
  switch (type) {
    case "AccountOpened":
      account.owner = data.owner;
      account.status = "open";
      break;
    case "MoneyDeposited":
      account.balance += data.amount;
      state.total += data.amount;
      break;
    case "MoneyWithdrawn":
      account.balance -= data.amount;
      state.total -= data.amount;
      break;
    case "AccountClosed":
      account.status = "closed";
      break;
  }
  return state;
}

const summary = (state) => ({ accounts: Object.keys(state.accounts).length, total: state.total });

let demo = null;

/** Writes `events` events of the deterministic demo data (bank accounts and transfers,
 *  orders, sagas) into database `name` through the command handlers; the database stays
 *  open for the projection workloads. Resolves to { ms, events }. */
export async function prepareDemo(name, events) {
  await deleteDatabase(name);
  const db = await Chronik.open(name);
  const t0 = now();
  const written = await db.generateDemo({ events, seed: 7 });
  const ms = now() - t0;
  demo = { name, db, js: null, emmett: null };
  return { ms, events: written };
}

/** Rebuilds the Rust AccountBalances read model (wasm) from position zero. */
export async function rebuildRust() {
  const p = demo.db.projection("AccountBalances");
  const t0 = now();
  const n = await p.rebuild();
  const ms = now() - t0;
  const state = await p.state();
  return { ms, applied: n, accounts: Object.keys(state.accounts).length, total: state.total };
}

/** Rebuilds the same read model defined in JavaScript with `defineProjection`. */
export async function rebuildJs() {
  demo.js ??= demo.db.defineProjection({
    name: "jsBalances",
    types: BANK_TYPES,
    initialState: { accounts: {}, total: 0 },
    apply: (state, e) => applyBalance(state, e.streamId, e.version, e.recordedAt, e.type, e.data),
  });
  const t0 = now();
  const n = await demo.js.rebuild();
  const ms = now() - t0;
  return { ms, applied: n, ...summary(await demo.js.state()) };
}

/** A plain JS reducer over the events read straight from chronik's IndexedDB database
 *  (`getAll` in pages of 1,000 by position, one read transaction per page). */
export async function rebuildPlain() {
  const db = await request(indexedDB.open(demo.name));
  const t0 = now();
  const state = { accounts: {}, total: 0 };
  const wanted = new Set(BANK_TYPES);
  let from = 1;
  let applied = 0;
  for (;;) {
    const tx = db.transaction("events", "readonly");
    const page = await request(tx.objectStore("events").getAll(IDBKeyRange.lowerBound(from), 1000));
    for (const e of page) {
      if (wanted.has(e.type)) {
        applyBalance(state, e.streamId, e.version, e.recordedAt, e.type, e.data);
        applied += 1;
      }
    }
    if (page.length < 1000) break;
    from = page[page.length - 1].position + 1;
  }
  const ms = now() - t0;
  db.close();
  return { ms, applied, ...summary(state) };
}

/** Loads the demo's bank events into Emmett's in-memory event store (one append per run
 *  of consecutive events of a stream, expecting its version); resolves to { ms, events }. */
export async function loadEmmett() {
  if (!emmett) return { error: emmettError ?? "not loaded" };
  const db = await request(indexedDB.open(demo.name));
  const tx = db.transaction("events", "readonly");
  const all = await request(tx.objectStore("events").getAll());
  db.close();
  const store = emmett.getInMemoryEventStore();
  const streams = new Set();
  const t0 = now();
  let run = [];
  const flush = async () => {
    if (run.length === 0) return;
    const first = run[0];
    await store.appendToStream(
      first.streamId,
      run.map((e) => ({ type: e.type, data: e.data, metadata: { recordedAt: e.recordedAt } })),
      { expectedStreamVersion: first.version === 1 ? emmett.STREAM_DOES_NOT_EXIST : BigInt(first.version - 1) },
    );
    run = [];
  };
  let loaded = 0;
  for (const e of all) {
    if (!BANK_TYPES.includes(e.type)) continue;
    if (run.length > 0 && run[0].streamId !== e.streamId) await flush();
    run.push(e);
    streams.add(e.streamId);
    loaded += 1;
  }
  await flush();
  const ms = now() - t0;
  demo.emmett = { store, streams: [...streams] };
  return { ms, events: loaded };
}

/** The same reducer over Emmett's in-memory store: `readStream` of every account stream
 *  (the in-memory store has no global log to read). */
export async function rebuildEmmett() {
  if (!demo.emmett) return { error: emmettError ?? "not loaded" };
  const { store, streams } = demo.emmett;
  const t0 = now();
  const state = { accounts: {}, total: 0 };
  let applied = 0;
  for (const streamId of streams) {
    const { events } = await store.readStream(streamId);
    for (const e of events) {
      applyBalance(state, streamId, Number(e.metadata.streamPosition), e.metadata.recordedAt, e.type, e.data);
      applied += 1;
    }
  }
  const ms = now() - t0;
  return { ms, applied, ...summary(state) };
}

/** The engine without IndexedDB: the demo log exported as NDJSON and imported into
 *  `Chronik.inMemory()`, and the same lines parsed into a JS array for the plain reducer. */
export async function prepareMemory() {
  const text = await (await demo.db.exportNdjson()).text();
  const mem = Chronik.inMemory();
  const report = await mem.importNdjson(text);
  demo.memory = { db: mem, events: text.split("\n").filter((l) => l).map((l) => JSON.parse(l)) };
  return { events: demo.memory.events.length, imported: report.imported ?? report };
}

/** AccountBalances (Rust, wasm) rebuilt over the in-memory store. */
export async function rebuildMemoryRust() {
  const p = demo.memory.db.projection("AccountBalances");
  const t0 = now();
  const n = await p.rebuild();
  const ms = now() - t0;
  const state = await p.state();
  return { ms, applied: n, accounts: Object.keys(state.accounts).length, total: state.total };
}

/** The plain JS reducer over the same events held in a JS array. */
export async function rebuildMemoryPlain() {
  const wanted = new Set(BANK_TYPES);
  const t0 = now();
  const state = { accounts: {}, total: 0 };
  let applied = 0;
  for (const e of demo.memory.events) {
    if (wanted.has(e.type)) {
      applyBalance(state, e.streamId, e.version, e.recordedAt, e.type, e.data);
      applied += 1;
    }
  }
  const ms = now() - t0;
  return { ms, applied, ...summary(state) };
}

export function closeDemo() {
  demo?.db.close();
  demo = null;
}

// ---------------------------------------------------------------- state at a version

let temporal = null;

/** Two bank accounts of `n` events each, written with raw appends in batches of 1,000:
 *  `acc-snap` gets one command through the bank handler at version n/2 (the default policy,
 *  a snapshot every 10 events, takes one there); `acc-plain` has no snapshot at all. */
export async function prepareTemporal(n) {
  const name = "bench-temporal";
  await deleteDatabase(name);
  const db = await Chronik.open(name);
  const bank = db.bank();
  // One real deposit, read back, is the template for the raw appends.
  await bank.execute("template", { type: "OpenAccount", owner: "Ada" });
  await bank.execute("template", { type: "Deposit", amount: "1.00" });
  const [opened, deposited] = (await db.readStream("account-template")).map((e) => ({
    type: e.type,
    data: e.data,
    schemaVersion: e.schemaVersion,
  }));
  const half = n / 2;
  const t0 = now();
  for (const id of ["snap", "plain"]) {
    const stream = `account-${id}`;
    let version = 0;
    const fill = async (to) => {
      while (version < to) {
        const size = Math.min(1000, to - version);
        const events = Array.from({ length: size }, (_, k) => (version + k === 0 ? opened : deposited));
        version = (await db.append(stream, events, { expectedVersion: version })).lastVersion;
      }
    };
    await fill(half - 1);
    if (id === "snap") {
      await bank.execute(id, { type: "Deposit", amount: "1.00" });
      version += 1;
    } else {
      await fill(half);
    }
    await fill(n);
  }
  const ms = now() - t0;
  temporal = { db, bank, n };
  return { ms, events: 2 * n };
}

/** `bank.state(id, { atVersion: n/2 + 5 })`; resolves to the milliseconds it took. */
export async function stateAt(id) {
  const at = temporal.n / 2 + 5;
  const t0 = now();
  const s = await temporal.bank.state(id, { atVersion: at });
  const ms = now() - t0;
  if (s.version !== at) throw new Error(`state at ${at} came back at ${s.version}`);
  return { ms, balance: s.balance };
}

export function closeTemporal() {
  temporal?.db.close();
  temporal = null;
}

// ---------------------------------------------------------------- cold open (seeding)

/** Removes every projection checkpoint of database `name`, so the app starts cold. */
export async function clearCheckpoints(name) {
  const db = await request(indexedDB.open(name));
  const tx = db.transaction("projections", "readwrite");
  tx.objectStore("projections").clear();
  await done(tx);
  db.close();
}

// ---------------------------------------------------------------- sync with chronik-server

/** Every event of `store` on the server, fetched page by page (outside any clock). */
async function serverEvents(url, store) {
  const events = [];
  for (let after = 0; ; ) {
    const page = await (await fetch(`${url}/v1/stores/${store}/events?after=${after}&limit=1000`)).json();
    if (page.events.length === 0) return events;
    events.push(...page.events);
    after = page.next;
  }
}

/** A new device catches up: a fresh IndexedDB database calls `db.sync()` on a store the
 *  server holds `expected` events of; the clock runs from the call until the sync is
 *  live (its first catch-up done) with every event stored. */
export async function syncCatchUp(url, store, expected, run) {
  const name = `bench-sync-catchup-${run}`;
  await deleteDatabase(name);
  const db = await Chronik.open(name);
  const t0 = now();
  const sync = await db.sync({ url, store });
  await new Promise((resolve) => {
    const check = () => sync.status === "live" && resolve();
    sync.on("change", check);
    check();
  });
  const ms = now() - t0;
  const stored = (await db.readAll({ fromPosition: expected, limit: 2 })).length;
  sync.stop();
  db.close();
  await deleteDatabase(name);
  if (stored !== 1) throw new Error(`catch-up ended live without event ${expected} as the last one`);
  return ms;
}

/** The raw IndexedDB baseline of the catch-up: the same events (fetched before the clock
 *  starts), written in pages of 1,000 as a pull delivers them, each page one readwrite
 *  transaction putting its rows and its streams' heads. */
export async function rawCatchUp(url, store, expected, run) {
  const events = await serverEvents(url, store);
  if (events.length !== expected) throw new Error(`the server holds ${events.length} events, not ${expected}`);
  const name = `bench-sync-raw-${run}`;
  await deleteDatabase(name);
  const db = await openRaw(name);
  const t0 = now();
  for (let i = 0; i < events.length; i += 1000) {
    const tx = db.transaction(["events", "streams"], "readwrite");
    const rows = tx.objectStore("events");
    const heads = new Map();
    for (const e of events.slice(i, i + 1000)) {
      rows.put({
        position: e.position,
        eventId: e.id,
        streamId: e.streamId,
        version: e.version,
        eventType: e.type,
        schemaVersion: e.schemaVersion ?? 1,
        data: e.data,
        metadata: e.metadata ?? {},
        recordedAt: e.recordedAt,
      });
      heads.set(e.streamId, e);
    }
    const streams = tx.objectStore("streams");
    for (const e of heads.values()) {
      streams.put({ streamId: e.streamId, version: e.version, lastPosition: e.position, updatedAt: e.recordedAt });
    }
    await done(tx);
  }
  const ms = now() - t0;
  db.close();
  await deleteDatabase(name);
  return ms;
}

/** One device of the latency workload: an IndexedDB database syncing `store`, which
 *  records when each event reached its log (wall clock in ms, comparable across pages:
 *  `performance.timeOrigin + performance.now()`). */
export async function syncDevice(url, store, name) {
  await deleteDatabase(name);
  const db = await Chronik.open(name);
  const sync = await db.sync({ url, store });
  await new Promise((resolve) => {
    const check = () => sync.status === "live" && resolve();
    sync.on("change", check);
    check();
  });
  const seen = new Map();
  db.subscribe({}, (e) => {
    if (!seen.has(e.id)) seen.set(e.id, performance.timeOrigin + now());
  });
  window.syncBench = { db, sync, seen, name };
}

/** Appends one event with id `id` on this device; resolves to the wall-clock ms it was made. */
export async function syncAppend(id, i) {
  const at = performance.timeOrigin + now();
  await window.syncBench.db.append("latency", [{ id, ...deposit(i) }]);
  return at;
}

/** When this device saw event `id` (wall-clock ms), waiting up to 30 s for it. */
export async function syncSeen(id) {
  const started = now();
  while (!window.syncBench.seen.has(id)) {
    if (now() - started > 30_000) throw new Error(`event ${id} did not arrive within 30 s`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return window.syncBench.seen.get(id);
}

export async function syncClose() {
  const { db, sync, name } = window.syncBench;
  sync.stop();
  db.close();
  await deleteDatabase(name);
}
