// The data page: demo data with progress and cancel, NDJSON export, clearing the
// database, importing the export back, and an import with bad lines.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { launch, BASE_URL, ARTIFACTS } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The Stats page's counts, three projections' states and an account's balance. */
async function observe(page) {
  await page.getByRole("link", { name: "Stats" }).click();
  const events = await page.getByTestId("stat-events").textContent();
  const streams = await page.getByTestId("stat-streams").textContent();
  await page.getByRole("link", { name: "Projections" }).click();
  await page.waitForFunction(() => {
    const all = [...document.querySelectorAll('[data-testid="projection-status"]')];
    return all.length === 8 && all.every((s) => s.textContent === "Caught up");
  });
  const summary = (name) => page.getByTestId(`projection-${name}`).getByTestId("projection-summary").textContent();
  const projections = {
    balances: await summary("AccountBalances"),
    customers: await summary("CustomerStats"),
    orders: await summary("CurrentOrders"),
  };
  // The bank page reads the same hub over the (reopened) store.
  await page.getByRole("link", { name: "Bank" }).click();
  const balance = await page.getByTestId("balance-acc-00001").textContent();
  return { events, streams, balance, ...projections };
}

test("generate, export, clear and import give back the same state", async () => {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${BASE_URL}data`);
  await page.getByTestId("data-events").getByText("0", { exact: true }).waitFor();
  await page.getByLabel("Events to generate").selectOption("1000");
  await page.getByRole("button", { name: "Generate" }).click();
  await page.getByTestId("generate-outcome").getByText("Wrote 1,000 demo events.").waitFor();
  const bar = page.getByRole("progressbar", { name: "Demo data progress" });
  assert.equal(await bar.getAttribute("max"), "1000");
  assert.equal(await bar.getAttribute("value"), "1000");
  assert.equal(await page.getByTestId("generate-progress-count").textContent(), "1,000 / 1,000");
  await page.getByTestId("data-events").getByText("1,000").waitFor();
  assert.match(await page.getByTestId("data-storage-used").textContent(), /^\d+(\.\d)? (B|kB|MB|GB)$/);
  assert.match(await page.getByTestId("data-storage-quota").textContent(), /^\d+(\.\d)? (kB|MB|GB|TB)$/);
  await page.screenshot({ path: `${ARTIFACTS}/data.png`, fullPage: true });

  const before = await observe(page);
  assert.equal(before.events, "1000");
  await page.getByRole("link", { name: "Stats" }).click();
  assert.match(await page.getByTestId("stat-storage-used").textContent(), /^\d+(\.\d)? (B|kB|MB|GB)$/);
  assert.match(await page.getByTestId("stat-storage-quota").textContent(), /^\d+(\.\d)? (kB|MB|GB|TB)$/);

  await page.getByRole("link", { name: "Data" }).click();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Export NDJSON" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "chronik-export.ndjson");
  const exported = `${ARTIFACTS}/chronik-export.ndjson`;
  await download.saveAs(exported);
  const text = await readFile(exported, "utf8");
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 1000);
  assert.deepEqual(lines.map((l) => JSON.parse(l).position), Array.from({ length: 1000 }, (_, i) => i + 1));
  await page.getByTestId("export-outcome").getByText("Exported 1,000 events").waitFor();

  // Clearing asks first; keeping the data changes nothing.
  await page.getByRole("button", { name: "Clear database" }).click();
  const dialog = page.getByRole("alertdialog", { name: "Delete everything?" });
  await dialog.waitFor();
  await page.screenshot({ path: `${ARTIFACTS}/data-clear-confirm.png` });
  await dialog.getByRole("button", { name: "Keep my data" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.getByTestId("data-events").getByText("1,000").waitFor();
  // Focus starts on the safe choice, and Escape backs out too.
  await page.getByRole("button", { name: "Clear database" }).click();
  await dialog.getByRole("button", { name: "Keep my data" }).and(page.locator(":focus")).waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Clear database" }).click();
  await dialog.getByRole("button", { name: "Delete everything" }).click();
  await page.getByTestId("clear-outcome").getByText("The database is empty").waitFor();
  await page.getByTestId("data-events").getByText("0", { exact: true }).waitFor();
  await page.getByRole("link", { name: "Stats" }).click();
  await page.getByTestId("stat-events").getByText("0").waitFor();

  await page.getByRole("link", { name: "Data" }).click();
  await page.getByLabel("Import NDJSON").setInputFiles(exported);
  await page.getByTestId("import-outcome").getByText("Imported 1,000 events (0 already present, 1,000 lines).").waitFor();
  const importBar = page.getByRole("progressbar", { name: "Import progress" });
  assert.equal(await importBar.getAttribute("value"), await importBar.getAttribute("max"));
  await page.getByTestId("data-events").getByText("1,000").waitFor();

  assert.deepEqual(await observe(page), before);

  // The store holds exactly what was exported: a second export is the same file.
  await page.getByRole("link", { name: "Data" }).click();
  const [again] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Export NDJSON" }).click(),
  ]);
  assert.equal(await readFile(await again.path(), "utf8"), text);
  assert.deepEqual(errors, []);
  await context.close();
});

test("an import with bad lines lists them by line number and writes nothing", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE_URL}data`);
  const good = (position, version) =>
    JSON.stringify({
      eventId: `e-${position}`,
      streamId: "account-x",
      version,
      position,
      eventType: "AccountOpened",
      schemaVersion: 1,
      data: { owner: "X" },
      metadata: {},
      recordedAt: 1_700_000_000_000 + position,
    });
  const file = [good(1, 1), "this is not json", good(3, 3), JSON.stringify({ eventId: "e-4" }), ""].join("\n");
  await page.getByLabel("Import NDJSON").setInputFiles({
    name: "broken.ndjson",
    mimeType: "application/x-ndjson",
    buffer: Buffer.from(file),
  });
  const errors = page.getByTestId("import-errors");
  await errors.waitFor();
  assert.deepEqual(await page.getByTestId("import-error-line").allTextContents(), ["Line 2", "Line 3", "Line 4"]);
  const messages = await page.getByTestId("import-error").allTextContents();
  assert.match(messages[0], /json/i);
  assert.match(messages[1], /version/i);
  assert.match(messages[2], /streamId|missing/i);
  assert.equal(await page.getByTestId("import-summary").textContent(), "Nothing was imported: 3 lines have errors.");
  await page.getByTestId("data-events").getByText("0", { exact: true }).waitFor();
  await page.screenshot({ path: `${ARTIFACTS}/data-import-errors.png`, fullPage: true });
  await page.getByRole("link", { name: "Event log" }).click();
  await page.getByTestId("log-head").getByText("0 events in the store").waitFor();
  await context.close();
});

test("cancelling demo data stops between appends and keeps what was written", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE_URL}data`);
  await page.getByLabel("Events to generate").selectOption("100000");
  await page.getByRole("button", { name: "Generate" }).click();
  await page.waitForFunction(
    () => Number(document.querySelector('[data-testid="generate-progress"]')?.getAttribute("value")) >= 1000,
  );
  await page.getByRole("button", { name: "Cancel" }).click();
  const outcome = page.getByTestId("generate-outcome");
  await outcome.getByText("Cancelled after").waitFor();
  const [, produced, written] = (await outcome.textContent()).match(
    /^Cancelled after ([\d,]+) of 100,000 events\. The ([\d,]+) events written so far are kept\.$/,
  );
  assert.equal(produced, written);
  const n = Number(written.replace(/,/g, ""));
  assert.ok(n >= 1000 && n < 100000, `${n} events written`);
  await page.getByTestId("data-events").getByText(written, { exact: true }).waitFor();
  await page.getByRole("link", { name: "Stats" }).click();
  await page.getByTestId("stat-events").getByText(String(n), { exact: true }).waitFor();
  await context.close();
});
