// A tab whose database was deleted by another tab shows a reload banner; reloading
// recovers.
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

test("a tab whose database another tab deleted shows the reload banner, and reloading recovers", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const [first, second] = [await context.newPage(), await context.newPage()];
  const errors = [];
  for (const page of [first, second]) page.on("pageerror", (e) => errors.push(e.message));

  // The first tab writes, so its connection is open.
  await first.goto(BASE_URL);
  await first.getByLabel("Account", { exact: true }).fill("acc-old");
  await first.getByLabel("Owner").fill("Ada");
  await first.getByRole("button", { name: "Open account" }).click();
  await first.getByTestId("balance-acc-old").waitFor();
  assert.equal(await first.getByTestId("reload-banner").count(), 0);

  // The second tab deletes the database.
  await second.goto(`${BASE_URL}data`);
  await second.getByRole("button", { name: "Clear database" }).click();
  const dialog = second.getByRole("alertdialog", { name: "Delete everything?" });
  await dialog.getByRole("button", { name: "Delete everything" }).click();
  await second.getByTestId("clear-outcome").getByText("The database is empty").waitFor();

  // The first tab's next read finds its connection closed: the banner says to reload.
  await first.getByRole("link", { name: "Event log" }).click();
  const banner = first.getByRole("alert", { name: "Reload needed" });
  await banner.waitFor();
  assert.equal(await banner.getAttribute("data-testid"), "reload-banner");
  assert.match(await first.getByTestId("reload-reason").textContent(), /deleted elsewhere/);
  await first.screenshot({ path: `${ARTIFACTS}/reload-banner.png`, fullPage: true });

  // Reloading opens the database afresh: the banner is gone and the app works again.
  await banner.getByRole("button", { name: "Reload the page" }).click();
  await first.waitForLoadState("load");
  await first.getByTestId("log-empty").waitFor();
  assert.equal(await first.getByTestId("reload-banner").count(), 0);
  await first.getByRole("link", { name: "Bank" }).click();
  await first.getByLabel("Account", { exact: true }).fill("acc-new");
  await first.getByLabel("Owner").fill("Grace");
  await first.getByRole("button", { name: "Open account" }).click();
  await first.getByTestId("balance-acc-new").waitFor();
  assert.equal(await first.getByTestId("balance-acc-old").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});
