// Opens pages that load the npm package's `web` build from the repository root.
import { launch } from "../e2e/browser.mjs";

export const ROOT_URL = process.env.CHRONIK_ROOT_URL ?? "http://127.0.0.1:8081/";
export const HARNESS = new URL("tests/pages/harness.html", ROOT_URL).href;
export { launch };

/** A new page with `window.chronik` loaded; uncaught page errors are collected. */
export async function harnessPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(HARNESS);
  await page.waitForFunction(() => window.chronik !== undefined);
  return page;
}
