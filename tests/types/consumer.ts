// A typed consumer of the npm package: `tsc --noEmit` checks the generated declarations
// are precise enough for an app written in strict TypeScript.
import init, {
  Chronik,
  ChronikError,
  type AppendResult,
  type NewEvent,
  type RecordedEvent,
  type ExpectedVersion,
  type JsonValue,
  type PendingBatch,
  type Sync,
  type SyncConflict,
  type SyncOptions,
  type SyncState,
  type SyncStatus,
} from "../../web/pkg/chronik.js";

interface Deposited {
  cents: number;
}

export async function depositTwice(name: string): Promise<number> {
  await init();
  const db = await Chronik.open(name);
  const events: NewEvent[] = [
    { type: "Deposited", data: { cents: 500 } },
    { type: "Deposited", data: { cents: 250 }, id: "dep-2", metadata: { correlationId: "req-1" } },
  ];
  const expected: ExpectedVersion = "noStream";
  const r: AppendResult = await db.append("account-1", events, { expectedVersion: expected });
  const read: RecordedEvent[] = await db.readStream("account-1", { direction: "backward", limit: r.lastVersion });
  const total = read
    .filter((e) => e.type === "Deposited")
    .reduce((sum, e) => sum + (e.data as unknown as Deposited).cents, 0);
  const log = await db.readAll({ fromPosition: 1, types: ["Deposited"], streamPrefix: "account-" });
  db.close();
  return total + log.length;
}

export async function appendOnce(db: Chronik, expected: number): Promise<number | null> {
  try {
    await db.append("account-1", [{ type: "Deposited", data: { cents: 1 } }], { expectedVersion: expected });
    return expected + 1;
  } catch (e) {
    if (e instanceof ChronikError && e.code === "WrongExpectedVersion") {
      const actual: number | null | undefined = e.actual;
      const message: string = e.message;
      return message.length > 0 ? (actual ?? null) : null;
    }
    throw e;
  }
}

// @ts-expect-error: expectedVersion takes a number or "any" | "noStream" | "streamExists"
export const wrong: ExpectedVersion = "latest";

/** Options objects and progress callbacks may be left out. */
export async function defaults(db: Chronik): Promise<number> {
  await db.append("account-2", [{ type: "Opened", data: {}, metadata: { userId: "u-1", correlationId: "c" } }]);
  const events = await db.readStream("account-2");
  const all = await db.readAll();
  const userId: JsonValue | undefined = events[0].metadata["userId"];
  await db.importNdjson("");
  await db.generateDemo({ events: 10 });
  await db.generateDemo({ events: 10 }, (done: number, total: number) => void (done + total));
  await db.bank().execute("acc-9", { type: "OpenAccount", owner: "Ada" });
  await db.projection("AccountBalances").rebuild();
  db.fulfilment();
  return events.length + all.length + (userId === undefined ? 0 : 1);
}

// Sync: options, status, pending batches and conflicts are typed precisely.
export async function syncOnce(db: Chronik, url: string): Promise<string[]> {
  const sync: Sync = await db.sync({ url, store: "notes", token: "secret", pollMs: 1000 });
  const statuses: SyncStatus[] = [];
  const off: () => void = sync.on("change", (s: SyncState) => {
    statuses.push(s.status);
    const error: string | null = s.lastError;
    if (s.storeChanged && error === null) statuses.push(sync.status);
  });
  const pending: PendingBatch[] = await sync.pending();
  const names = pending.map((p) => p.command?.name ?? p.streamId);
  const conflicts: SyncConflict[] = await sync.conflicts();
  for (const c of conflicts) {
    const reason: "rejected" | "versionConflict" | "refused" | "abandoned" = c.reason;
    if (reason === "rejected" || reason === "abandoned") await sync.discard(c.id);
    else await sync.retry(c.id);
  }
  const last: string | null = sync.lastError;
  off();
  sync.stop();
  return [...names, ...statuses, last ?? ""];
}

// @ts-expect-error: a sync needs the server's url and store
export const noStore: SyncOptions = { url: "http://127.0.0.1:8080" };
// @ts-expect-error: the status is one of six names
export const badStatus: SyncStatus = "syncing";
