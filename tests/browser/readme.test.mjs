// The README's JavaScript quick start, run as written in a browser page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { launch, harnessPage } from "./harness.mjs";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const section = readme.slice(readme.indexOf("## JavaScript"));
const quickStart = section.match(/```js\n([\s\S]*?)```/)[1];

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the README quick start runs as written", async () => {
  const context = await browser.newContext();
  const page = await harnessPage(context);
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  // The page already loaded the package; the import line becomes a lookup on it.
  const body = quickStart
    .replace('import init, { Chronik, ChronikError } from "chronik";', "const { default: init, Chronik, ChronikError } = window.chronik;")
    .concat("\nreturn { balance: account.balance, then: then.balance, saga: saga.status, imported: report.imported, seen };");
  assert.notEqual(body, quickStart, "the quick start still imports from \"chronik\"");
  const result = await page.evaluate(`(async () => { ${body} })()`);
  assert.equal(result.balance, "69.50");
  assert.equal(result.then, "100.00");
  assert.equal(result.saga, "completed");
  assert.ok(result.imported > 10);
  assert.ok(logs.includes("expected 0, actual 1"), "the conflict is reported as the README says");
  assert.ok(logs.includes("refunded"), `the transfer ends as the README says: ${logs.join(" | ")}`);
  assert.ok(
    logs.some((l) => l.startsWith("InvalidInput invalid input: events[0].data.qty is NaN")),
    `the refusal is reported as the README says: ${logs.join(" | ")}`,
  );
  assert.deepEqual(page.errors, []);
  await context.close();
});
