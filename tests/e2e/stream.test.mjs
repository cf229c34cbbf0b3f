// The thin slice, as a person uses it: append events on the page, reload, find them again.
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

test("three appended events survive a page reload", async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${BASE_URL}append`);

  const stream = `e2e-${Date.now()}`;
  await page.getByLabel("Stream").fill(stream);
  await page.getByTestId("empty").waitFor();
  const types = ["CartCreated", "ItemAdded", "CheckedOut"];
  for (const [i, type] of types.entries()) {
    await page.getByLabel("Event type").fill(type);
    await page.getByLabel("Payload (JSON)").fill(JSON.stringify({ step: i + 1 }));
    await page.getByRole("button", { name: "Append event" }).click();
    await page.getByTestId("status").getByText(`version ${i + 1}`).waitFor();
  }
  assert.equal(await page.getByTestId("event-row").count(), 3);

  await page.reload();
  await page.getByLabel("Stream").fill(stream);
  await page.getByTestId("event-row").nth(2).waitFor();
  assert.deepEqual(await page.getByTestId("event-type").allTextContents(), types);
  await page.screenshot({ path: `${ARTIFACTS}/stream-after-reload.png`, fullPage: true });
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});

test("a payload that is not JSON is refused with a reason and appends nothing", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE_URL}append`);
  const stream = `e2e-bad-${Date.now()}`;
  await page.getByLabel("Stream").fill(stream);
  await page.getByTestId("empty").waitFor();
  await page.getByLabel("Payload (JSON)").fill("{not json");
  await page.getByRole("button", { name: "Append event" }).click();
  await page.getByTestId("status").getByText("payload is not valid JSON").waitFor();
  assert.equal(await page.getByTestId("event-row").count(), 0);
  await page.reload();
  await page.getByLabel("Stream").fill(stream);
  await page.getByTestId("empty").waitFor();
  await context.close();
});
