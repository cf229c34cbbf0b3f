// The npm package's `nodejs` build, used from Node as an app would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Chronik, ChronikError } = require("../../web/pkg-node/chronik.js");

test("appends to an in-memory stream and reads the events back in order", async () => {
  const db = Chronik.inMemory();
  const r = await db.append(
    "account-1",
    [
      { type: "Opened", data: { owner: "Ada" } },
      { type: "Deposited", data: { cents: 500 }, metadata: { correlationId: "c-1" } },
    ],
    { expectedVersion: "noStream" },
  );
  assert.deepEqual(r, { firstVersion: 1, lastVersion: 2, firstPosition: 1, lastPosition: 2 });

  const events = await db.readStream("account-1");
  assert.deepEqual(
    events.map((e) => [e.type, e.version, e.position, e.data]),
    [
      ["Opened", 1, 1, { owner: "Ada" }],
      ["Deposited", 2, 2, { cents: 500 }],
    ],
  );
  assert.equal(events[1].metadata.correlationId, "c-1");
  assert.equal(events[0].schemaVersion, 1);
  assert.equal(typeof events[0].id, "string");
  assert.ok(events[0].recordedAt > 1_600_000_000_000, "recordedAt is ms since the epoch");
});

test("rejects a stale expectedVersion with a ChronikError carrying both versions", async () => {
  const db = Chronik.inMemory();
  await db.append("s-1", [{ type: "A", data: {} }]);
  await assert.rejects(
    db.append("s-1", [{ type: "B", data: {} }], { expectedVersion: 0 }),
    (err) => {
      assert.ok(err instanceof ChronikError, "errors are ChronikError instances");
      assert.ok(err instanceof Error, "and real Errors");
      assert.match(err.stack, /wrong expected version/);
      assert.equal(err.name, "ChronikError");
      assert.equal(err.code, "WrongExpectedVersion");
      assert.equal(err.expected, 0);
      assert.equal(err.actual, 1);
      return true;
    },
  );
  assert.equal((await db.readStream("s-1")).length, 1, "the rejected append wrote nothing");
});

test("re-appending the same event ids is a no-op that returns the original result", async () => {
  const db = Chronik.inMemory();
  const batch = [
    { id: "e-1", type: "A", data: { n: 1 } },
    { id: "e-2", type: "A", data: { n: 2 } },
  ];
  const first = await db.append("s-1", batch);
  const again = await db.append("s-1", batch);
  assert.deepEqual(again, first);
  assert.equal((await db.readAll()).length, 2);
});

test("bad input is a clear InvalidInput error", async () => {
  const db = Chronik.inMemory();
  await assert.rejects(db.append("s-1", [{ data: {} }]), (err) => {
    assert.equal(err.code, "InvalidInput");
    assert.match(err.message, /type/);
    return true;
  });
  await assert.rejects(db.append("", [{ type: "A", data: {} }]), { code: "InvalidInput" });
});
