// Offline: once the service worker is active, the app reloads with the network off,
// and its IndexedDB data is still there. The manifest makes it installable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, BASE_URL, ARTIFACTS } from "./browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the app is installable: a manifest with name, icon, start URL and standalone display", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(BASE_URL);
  const manifest = await page.evaluate(async () => {
    const link = document.querySelector('link[rel="manifest"]');
    const response = await fetch(link.href);
    return { type: response.headers.get("content-type"), body: await response.json() };
  });
  assert.equal(manifest.body.start_url, "/");
  assert.equal(manifest.body.display, "standalone");
  assert.ok(manifest.body.name.startsWith("chronik"));
  assert.match(manifest.body.theme_color, /^#[0-9a-f]{6}$/);
  const icon = manifest.body.icons.find((i) => i.type === "image/svg+xml");
  const iconResponse = await page.request.get(new URL(icon.src, BASE_URL).href);
  assert.equal(iconResponse.status(), 200);
  assert.match(await iconResponse.text(), /^<svg/);
  await context.close();
});

test("after the service worker is active the app reloads offline with its data", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${BASE_URL}append`);
  await page.getByLabel("Stream").fill("offline-1");
  await page.getByLabel("Event type").fill("NoteAdded");
  await page.getByLabel("Payload (JSON)").fill(JSON.stringify({ text: "written online" }));
  await page.getByRole("button", { name: "Append event" }).click();
  await page.getByTestId("status").getByText("version 1 ").waitFor();

  const state = await page.evaluate(async () => (await navigator.serviceWorker.ready).active.state);
  assert.ok(["activating", "activated"].includes(state), state);
  await page.waitForFunction(async () => (await navigator.serviceWorker.ready).active.state === "activated");

  await context.setOffline(true);
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  const response = await page.reload();
  assert.ok(response.fromServiceWorker(), "the page came from the service worker");
  // The network really is off for the page and its service worker: what is not cached fails.
  const uncached = await page.evaluate(() => fetch(`/not-cached-${Date.now()}.txt`).then(() => "loaded", () => "failed"));
  assert.equal(uncached, "failed");
  await page.getByRole("heading", { name: "chronik" }).waitFor();
  await page.getByLabel("Stream").fill("offline-1");
  await page.getByTestId("event-row").first().waitFor();
  assert.deepEqual(await page.getByTestId("event-type").allTextContents(), ["NoteAdded"]);

  // Other routes load offline too, straight from the address bar.
  const stats = await page.goto(`${BASE_URL}stats`);
  assert.ok(stats.fromServiceWorker());
  await page.getByTestId("stat-events").getByText("1", { exact: true }).waitFor();
  await page.getByRole("link", { name: "Event log" }).click();
  await page.getByTestId("log-row").first().waitFor();
  assert.deepEqual(await page.getByTestId("log-row-type").allTextContents(), ["NoteAdded"]);

  // Writing works offline: the store is in the browser.
  await page.getByRole("link", { name: "Append" }).click();
  await page.getByLabel("Stream").fill("offline-1");
  await page.getByLabel("Payload (JSON)").fill(JSON.stringify({ text: "written offline" }));
  await page.getByRole("button", { name: "Append event" }).click();
  await page.getByTestId("status").getByText("version 2 ").waitFor();
  await page.screenshot({ path: `${ARTIFACTS}/offline.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});
