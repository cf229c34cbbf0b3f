// The orders page, as a person uses it: orders, stock, and the fulfilment saga with
// its compensations and its recovery after a reload.
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

async function openOrders(viewport = { width: 1280, height: 900 }) {
  // A fresh browser context has its own, empty IndexedDB.
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${BASE_URL}orders`);
  await page.getByTestId("group-Draft").waitFor();
  return { context, page, errors };
}

/** Waits until the page says the last command succeeded with a note containing `text`. */
async function done(page, text) {
  await page.getByTestId("orders-status").getByText(text).waitFor();
}

async function receive(page, product, units) {
  await page.getByLabel("Stock product", { exact: true }).fill(product);
  await page.getByLabel("Stock units", { exact: true }).fill(String(units));
  await page.getByRole("button", { name: "Receive stock" }).click();
  await done(page, `received stock: ${product}`);
}

async function createOrder(page, id, customer) {
  await page.getByLabel("Order id", { exact: true }).fill(id);
  await page.getByLabel("Customer", { exact: true }).fill(customer);
  await page.getByRole("button", { name: "Create order" }).click();
  await page.getByTestId("group-Draft").getByTestId(`order-${id}`).waitFor();
}

async function addItem(page, id, product, quantity, price) {
  await page.getByLabel(`Product for ${id}`).fill(product);
  await page.getByLabel(`Quantity for ${id}`).fill(String(quantity));
  await page.getByLabel(`Unit price for ${id}`).fill(price);
  await page.getByRole("button", { name: `Add item to ${id}` }).click();
}

async function submit(page, id) {
  await page.getByRole("button", { name: `Submit order ${id}` }).click();
  await page.getByTestId("group-Submitted").getByTestId(`order-${id}`).waitFor();
}

const text = async (page, testId) => (await page.getByTestId(testId).textContent()).trim();

/** Waits until the element `testId` reads exactly `value`. */
async function reads(page, testId, value) {
  const exact = new RegExp(`^\\s*${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`);
  await page.getByTestId(testId).filter({ hasText: exact }).waitFor();
}

/** Waits until the stock panel shows these units of `product`. */
async function expectStock(page, product, { onHand, reserved, available }) {
  await reads(page, `stock-onhand-${product}`, String(onHand));
  await reads(page, `stock-reserved-${product}`, String(reserved));
  await reads(page, `stock-available-${product}`, String(available));
}

/** The saga of `id`: each step's state, the compensations, and its events. */
async function saga(page, id) {
  const panel = page.getByTestId(`saga-${id}`);
  const steps = {};
  for (const step of await panel.getByTestId("saga-step").all()) {
    steps[await step.getAttribute("data-step")] = await step.getAttribute("data-state");
  }
  const compensations = [];
  for (const c of await panel.getByTestId("saga-compensation").all()) {
    compensations.push(`${await c.getAttribute("data-step")}:${await c.getAttribute("data-state")}`);
  }
  const events = [];
  for (const e of await panel.getByTestId("saga-event").all()) {
    events.push((await e.textContent()).replace(/\s+/g, " ").trim());
  }
  return { status: await panel.getAttribute("data-status"), steps, compensations, events };
}

test("payment failing compensates the saga; another order completes", async () => {
  const { context, page, errors } = await openOrders();
  await receive(page, "sku-1", 10);
  await receive(page, "sku-2", 5);
  await expectStock(page, "sku-1", { onHand: 10, reserved: 0, available: 10 });

  await createOrder(page, "ord-1", "cust-1");
  await addItem(page, "ord-1", "sku-1", 2, "9.99");
  await done(page, "ord-1 has 1 line(s), total 19.98");
  await addItem(page, "ord-1", "sku-2", 1, "5");
  await done(page, "total 24.98");
  await addItem(page, "ord-1", "sku-3", 1, "1.00");
  await done(page, "total 25.98");
  // Change a quantity and remove a line.
  await page.getByLabel("Quantity of sku-2 in ord-1", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Set quantity of sku-2 in ord-1" }).click();
  await done(page, "ord-1 now has 3 × sku-2, total 35.98");
  await page.getByRole("button", { name: "Remove sku-3 from ord-1" }).click();
  await done(page, "removed sku-3 from ord-1, total 34.98");
  await reads(page, "total-ord-1", "34.98");
  assert.equal(await page.getByTestId("order-ord-1").getByTestId("order-item").count(), 2);
  await page.getByTestId("order-ord-1").screenshot({ path: `${ARTIFACTS}/orders-draft.png` });
  await submit(page, "ord-1");

  // Payment refuses: the saga releases the stock it reserved and cancels the order.
  await page.getByLabel("Fail payment").check();
  await page.getByRole("button", { name: "Run saga of ord-1" }).click();
  await page.getByTestId("group-Cancelled").getByTestId("order-ord-1").waitFor();
  await done(page, "saga of ord-1 compensated: TakePayment failed: simulated failure");
  assert.equal(await text(page, "cancel-reason-ord-1"), "TakePayment failed: simulated failure");
  const failed = await saga(page, "ord-1");
  assert.equal(failed.status, "Aborted");
  assert.deepEqual(failed.steps, {
    ReserveInventory: "done",
    TakePayment: "failed",
    Ship: "skipped",
    CompleteOrder: "skipped",
  });
  // Newest first: the failed payment is refunded (a no-op, nothing was captured), then
  // the stock is released.
  assert.deepEqual(failed.compensations, ["TakePayment:done", "ReserveInventory:done"]);
  assert.equal(
    await page.getByTestId("saga-ord-1").getByTestId("saga-failure").textContent(),
    "TakePayment failed: simulated failure",
  );
  assert.deepEqual(failed.events.at(-1), "10 SagaAborted TakePayment failed: simulated failure");
  await expectStock(page, "sku-1", { onHand: 10, reserved: 0, available: 10 });
  await expectStock(page, "sku-2", { onHand: 5, reserved: 0, available: 5 });

  // With the switch off, the next order goes all the way.
  await page.getByLabel("Fail payment").uncheck();
  await createOrder(page, "ord-2", "cust-2");
  await addItem(page, "ord-2", "sku-1", 3, "2.50");
  await done(page, "total 7.50");
  await submit(page, "ord-2");
  await page.getByRole("button", { name: "Run saga of ord-2" }).click();
  await page.getByTestId("group-Completed").getByTestId("order-ord-2").waitFor();
  await done(page, "saga of ord-2 completed");
  const completed = await saga(page, "ord-2");
  assert.equal(completed.status, "Completed");
  assert.deepEqual(Object.values(completed.steps), ["done", "done", "done", "done"]);
  assert.deepEqual(completed.compensations, []);
  assert.match(await text(page, "tracking-ord-2"), /^TRK\d{10}$/);
  await expectStock(page, "sku-1", { onHand: 7, reserved: 0, available: 7 });
  assert.equal(await text(page, "count-Completed"), "1");
  assert.equal(await text(page, "count-Cancelled"), "1");

  // Open both sagas' event lists for the screenshot.
  for (const details of await page.locator("details.saga-events").all()) {
    await details.locator("summary").click();
  }
  await page.screenshot({ path: `${ARTIFACTS}/orders-sagas.png`, fullPage: true });
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});

test("sagas stopped midway by a reload resume without repeating a step", async () => {
  const { context, page, errors } = await openOrders();
  await receive(page, "sku-r", 10);
  for (const [id, quantity] of [
    ["ord-a", 2],
    ["ord-b", 3],
  ]) {
    await createOrder(page, id, "cust-r");
    await addItem(page, id, "sku-r", quantity, "1.00");
    await done(page, `${id} has 1 line(s)`);
    await submit(page, id);
  }
  // ord-a: two steps (SagaStarted, StepStarted ReserveInventory: the call is not made yet).
  // ord-b: three steps (the stock is reserved and the answer recorded).
  for (const [id, steps] of [
    ["ord-a", 2],
    ["ord-b", 3],
  ]) {
    for (let n = 1; n <= steps; n++) {
      await page.getByRole("button", { name: `Step saga of ${id}` }).click();
      await page.getByTestId(`saga-${id}`).getByText(`Saga events (${n})`).waitFor();
    }
  }
  assert.equal((await saga(page, "ord-a")).steps.ReserveInventory, "started");
  assert.equal((await saga(page, "ord-b")).steps.ReserveInventory, "done");
  await expectStock(page, "sku-r", { onHand: 10, reserved: 3, available: 7 });
  await page.getByTestId("reservation-ord-b").getByText("3 × sku-r").waitFor();

  await page.reload();
  for (const id of ["ord-a", "ord-b"]) {
    await page.getByTestId(`saga-${id}`).getByTestId("saga-interrupted").waitFor();
  }
  await page.screenshot({ path: `${ARTIFACTS}/orders-interrupted.png`, fullPage: true });
  assert.equal(await page.getByRole("button", { name: "Run saga" }).count(), 0);
  for (const id of ["ord-a", "ord-b"]) {
    await page.getByRole("button", { name: `Resume saga of ${id}` }).click();
    await page.getByTestId("group-Completed").getByTestId(`order-${id}`).waitFor();
  }

  for (const id of ["ord-a", "ord-b"]) {
    const resumed = await saga(page, id);
    assert.equal(resumed.status, "Completed");
    const types = resumed.events.map((e) => e.split(" ")[1]);
    // Each step started once and answered once.
    assert.deepEqual(types, [
      "SagaStarted",
      "StepStarted",
      "StepCompleted",
      "StepStarted",
      "StepCompleted",
      "StepStarted",
      "StepCompleted",
      "StepStarted",
      "StepCompleted",
      "SagaCompleted",
    ]);
    assert.deepEqual(
      resumed.events.filter((e) => e.includes("StepStarted")).map((e) => e.split(" ")[2]),
      ["ReserveInventory", "TakePayment", "Ship", "CompleteOrder"],
    );
  }
  // Reserved once and shipped once per order: 10 − 2 − 3.
  await expectStock(page, "sku-r", { onHand: 5, reserved: 0, available: 5 });
  assert.equal(await page.getByTestId("reservation-ord-a").count(), 0);
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});

test("illegal commands are refused with a reason and append nothing", async () => {
  const { context, page, errors } = await openOrders();
  const error = page.getByTestId("orders-error");
  await createOrder(page, "ord-x", "cust-x");
  const head = "1 event in the store";
  await page.getByTestId("orders-head").getByText(head, { exact: true }).waitFor();

  const refusals = [
    [() => page.getByRole("button", { name: "Submit order ord-x" }).click(), "cannot submit an empty order; add an item first"],
    [() => addItem(page, "ord-x", "sku-1", 0, "1.00"), "quantity must be positive"],
    [() => addItem(page, "ord-x", "sku-1", "two", "1.00"), "quantity 'two' is not a whole number such as 2"],
    [() => addItem(page, "ord-x", "sku-1", 1, "1.234"), "invalid unit price: amount '1.234' has more than two decimal places"],
    [() => addItem(page, "ord-x", "sku-1", 1, "-3"), "invalid unit price: amount '-3' must be greater than zero"],
    [() => addItem(page, "ord-x", "sku-1", 1, "1,50"), "invalid unit price: amount '1,50' is not a decimal number"],
    [() => createOrder(page, "ord-x", "cust-y"), "order already exists; choose another order id"],
    [() => page.getByRole("button", { name: "Cancel order ord-x" }).click(), "enter a reason for the cancellation"],
  ];
  for (const [act, reason] of refusals) {
    await act();
    await error.getByText(reason).waitFor();
  }
  assert.equal(await error.getAttribute("aria-live"), "polite");
  await page.reload();
  await page.getByTestId("order-ord-x").waitFor();
  await page.getByTestId("orders-head").getByText(head, { exact: true }).waitFor();
  assert.equal(await page.getByTestId("order-ord-x").getByTestId("order-item").count(), 0);

  // A shipped order cannot be cancelled: the state machine says so.
  await receive(page, "sku-1", 1);
  await addItem(page, "ord-x", "sku-1", 1, "1.00");
  await done(page, "ord-x has 1 line(s)");
  await submit(page, "ord-x");
  await page.getByRole("button", { name: "Run saga of ord-x" }).click();
  await page.getByTestId("group-Completed").getByTestId("order-ord-x").waitFor();
  // No stock left: the next order's reservation is refused and compensated.
  await createOrder(page, "ord-y", "cust-y");
  await addItem(page, "ord-y", "sku-1", 1, "1.00");
  await done(page, "ord-y has 1 line(s)");
  await submit(page, "ord-y");
  await page.getByRole("button", { name: "Run saga of ord-y" }).click();
  await page.getByTestId("group-Cancelled").getByTestId("order-ord-y").waitFor();
  assert.equal(
    await text(page, "cancel-reason-ord-y"),
    "ReserveInventory failed: out of stock: sku-1 has 0 available, 1 requested",
  );

  await page.reload();
  await page.getByTestId("group-Cancelled").getByTestId("order-ord-y").waitFor();
  await page.waitForFunction(
    () => !document.querySelector('[data-testid="orders-head"]').textContent.startsWith("0 "),
  );
  const after = await text(page, "orders-head");
  assert.notEqual(after, head);
  await page.getByLabel("Reason to cancel ord-x").fill("too late");
  await page.getByRole("button", { name: "Cancel order ord-x" }).click();
  await error.getByText("cannot cancel: the order is Completed").waitFor();
  await page.getByTestId("order-ord-x").screenshot({ path: `${ARTIFACTS}/orders-refused.png` });
  await page.reload();
  await page.getByTestId("group-Completed").getByTestId("order-ord-x").waitFor();
  // The refused cancel appended nothing.
  await page.getByTestId("orders-head").getByText(after, { exact: true }).waitFor();
  assert.deepEqual(errors, [], "no uncaught errors on the page");
  await context.close();
});
