//! Orders: create orders, change their items, submit or cancel them, and watch each
//! submitted order's fulfilment saga reserve stock, take payment and ship, or undo
//! what it did when a (simulated) service refuses. Orders are grouped by status; a small
//! stock panel feeds the reservations.

use std::collections::HashSet;
use std::future::Future;

use chronik_examples::saga::SagaAction;
use chronik_examples::services::Inventory;
use chronik_examples::{Order, OrderItem, OrderStatus, SagaState, SagaStatus, SagaStep};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::api::orders::{self as api_orders, FaultSwitches, OrderCard, OrderGroup, STATUSES};
use crate::api::AppError;

/// What every control of the page shares: the feedback regions, whether a command is
/// running, the failure switches, and the sagas this page has moved.
#[derive(Clone, Copy)]
struct Ctx {
    /// The last command's outcome: `Ok` a note, `Err` why it was refused.
    feedback: RwSignal<Option<Result<String, String>>>,
    /// Where the last command came from (`create`, `stock` or an order id): its outcome
    /// shows there, next to the control that was used.
    origin: RwSignal<String>,
    /// A command is running: buttons wait.
    busy: RwSignal<bool>,
    /// Which steps the simulated services refuse.
    switches: RwSignal<FaultSwitches>,
    /// Orders whose saga was stepped or run since the page opened (the others, left
    /// midway, were interrupted by a reload or a closed tab).
    touched: RwSignal<HashSet<String>>,
}

impl Ctx {
    /// Runs a command issued from `origin`; its outcome (a note from `ok`, or the
    /// reason it was refused) shows in that place's feedback regions.
    fn run<T: 'static>(
        self,
        origin: String,
        command: impl Future<Output = Result<T, AppError>> + 'static,
        ok: impl FnOnce(T) -> String + 'static,
    ) {
        self.busy.set(true);
        self.feedback.set(None);
        self.origin.set(origin);
        spawn_local(async move {
            let outcome = command.await.map(ok).map_err(|e| e.to_string());
            self.feedback.set(Some(outcome));
            self.busy.set(false);
        });
    }

    fn touch(self, order_id: &str) {
        let id = order_id.to_string();
        self.touched.update(|t| {
            t.insert(id);
        });
    }
}

/// The orders page.
#[component]
pub fn OrdersPage() -> impl IntoView {
    let ctx = Ctx {
        feedback: RwSignal::new(None),
        origin: RwSignal::new(String::new()),
        busy: RwSignal::new(false),
        switches: RwSignal::new(FaultSwitches::default()),
        touched: RwSignal::new(HashSet::new()),
    };
    let board = LocalResource::new(move || {
        api::changes().track();
        async move { api_orders::board().await }
    });
    let stock = LocalResource::new(move || {
        api::changes().track();
        async move { api_orders::inventory().await }
    });
    let head = LocalResource::new(move || {
        api::changes().track();
        async move { api::head_position().await.unwrap_or(0) }
    });
    let groups = Memo::new(move |_| board.get().and_then(Result::ok));

    view! {
        <section class="card" aria-labelledby="orders-heading">
            <h2 id="orders-heading">"Orders"</h2>
            <p class="muted intro">
                "Every change below is an event in " <code>"order-{id}"</code>
                ". Submitting hands an order to its fulfilment saga (its own stream, "
                <code>"saga-{id}"</code> "), which reserves stock, takes payment, ships and "
                "completes the order, or, when a service refuses, undoes what it did, newest "
                "first, and cancels the order. Sagas are not resumed by themselves: one left "
                "midway by a reload waits for " <strong>"Resume saga"</strong>
                ", so you can see where it stopped."
            </p>
            <CreateOrder ctx=ctx />
            <Feedback ctx=ctx head=head />
        </section>
        <div class="orders-side">
            <StockPanel ctx=ctx stock=stock />
            <FaultPanel ctx=ctx />
        </div>
        {move || board.get().and_then(Result::err).map(|e| view! {
            <p class="error" role="alert" data-testid="orders-load-error">{e.to_string()}</p>
        })}
        {move || board.get().is_none().then(|| view! { <p class="muted">"Loading orders…"</p> })}
        {STATUSES.into_iter().map(|status| {
            let group = Memo::new(move |_| {
                groups.get().and_then(|g| g.into_iter().find(|g| g.status == status))
            });
            view! { <GroupView status=status group=group ctx=ctx /> }
        }).collect_view()}
    }
}

/// The form that creates an order.
#[component]
fn CreateOrder(ctx: Ctx) -> impl IntoView {
    let order_id = RwSignal::new(String::new());
    let customer = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (id, who) = (order_id.get(), customer.get());
        ctx.run(
            "create".into(),
            async move { api_orders::create_order(&id, &who).await },
            move |order| {
                order_id.set(String::new());
                format!("created order {} for {}", order.id, order.customer_id)
            },
        );
    };
    view! {
        <form class="orders-form" on:submit=create>
            <label>"Order id" <input type="text" placeholder="ord-1" bind:value=order_id /></label>
            <label>"Customer" <input type="text" placeholder="cust-1" bind:value=customer /></label>
            <button type="submit" disabled=move || ctx.busy.get()>"Create order"</button>
        </form>
    }
}

/// The create form's feedback and the size of the store.
#[component]
fn Feedback(ctx: Ctx, head: LocalResource<u64>) -> impl IntoView {
    view! {
        <div class="orders-feedback">
            <FeedbackSlot ctx=ctx here="create".to_string() />
            <p class="muted" data-testid="orders-head">
                {move || match head.get().unwrap_or(0) {
                    1 => "1 event in the store".to_string(),
                    n => format!("{n} events in the store"),
                }}
            </p>
        </div>
    }
}

/// Live regions for the outcome of a command issued here: the reason it was refused,
/// or a note. Every place has its regions from the start (so that screen readers
/// announce what appears in them); only the place the last command came from fills
/// them and carries the test ids.
#[component]
fn FeedbackSlot(ctx: Ctx, here: String) -> impl IntoView {
    let active = move || ctx.origin.with(|o| *o == here);
    let error = {
        let active = active.clone();
        move || match ctx.feedback.get() {
            Some(Err(reason)) if active() => reason,
            _ => String::new(),
        }
    };
    let note = {
        let active = active.clone();
        move || match ctx.feedback.get() {
            Some(Ok(note)) if active() => note,
            _ => String::new(),
        }
    };
    let error_id = {
        let active = active.clone();
        move || active().then_some("orders-error")
    };
    let note_id = move || active().then_some("orders-status");
    view! {
        <div class="feedback-slot">
            <p class="error feedback" aria-live="polite" data-testid=error_id>{error}</p>
            <p class="ok feedback" role="status" data-testid=note_id>{note}</p>
        </div>
    }
}

/// The warehouse: receive stock, and units on hand, reserved and available per product.
#[component]
fn StockPanel(ctx: Ctx, stock: LocalResource<Result<Inventory, AppError>>) -> impl IntoView {
    let product = RwSignal::new(String::new());
    let units = RwSignal::new("10".to_string());
    let receive = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (p, n) = (product.get(), units.get());
        ctx.run(
            "stock".into(),
            async move {
                let level = api_orders::receive_stock(&p, &n).await?;
                Ok((p, level))
            },
            |(p, level)| {
                format!(
                    "received stock: {} has {} available",
                    p.trim(),
                    level.available()
                )
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="stock-heading">
            <h2 id="stock-heading">"Stock"</h2>
            <p class="muted">"The saga reserves an order's items here; a release gives them back."</p>
            <form class="orders-form" on:submit=receive>
                <label>"Stock product" <input type="text" placeholder="sku-1" bind:value=product /></label>
                <label>"Stock units" <input type="text" inputmode="numeric" bind:value=units /></label>
                <button type="submit" disabled=move || ctx.busy.get()>"Receive stock"</button>
            </form>
            <FeedbackSlot ctx=ctx here="stock".to_string() />
            {move || stock.get().map(|result| match result {
                Ok(inventory) => view! { <StockTable inventory=inventory /> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

/// Stock per product and the open reservations.
#[component]
fn StockTable(inventory: Inventory) -> impl IntoView {
    if inventory.products.is_empty() {
        return view! { <p class="muted" data-testid="stock-empty">"No stock yet."</p> }.into_any();
    }
    let reservations: Vec<_> = inventory.reservations.into_iter().collect();
    view! {
        <table class="events stock" data-testid="stock-table">
            <thead>
                <tr>
                    <th scope="col">"Product"</th>
                    <th scope="col">"On hand"</th>
                    <th scope="col">"Reserved"</th>
                    <th scope="col">"Available"</th>
                </tr>
            </thead>
            <tbody>
                {inventory.products.into_iter().map(|(product, level)| view! {
                    <tr>
                        <td><code>{product.clone()}</code></td>
                        <td class="num" data-testid=format!("stock-onhand-{product}")>{level.on_hand}</td>
                        <td class="num" data-testid=format!("stock-reserved-{product}")>{level.reserved}</td>
                        <td class="num strong" data-testid=format!("stock-available-{product}")>{level.available()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        {(!reservations.is_empty()).then(|| view! {
            <h3 class="small-heading">"Open reservations"</h3>
            <ul class="reservations">
                {reservations.into_iter().map(|(id, lines)| {
                    let what = lines.iter()
                        .map(|l| format!("{} × {}", l.quantity, l.product_id))
                        .collect::<Vec<_>>()
                        .join(", ");
                    view! {
                        <li data-testid=format!("reservation-{id}")>
                            <code>{id.clone()}</code>": "{what}
                        </li>
                    }
                }).collect_view()}
            </ul>
        })}
    }
    .into_any()
}

/// The switches that make a saga step's service refuse.
#[component]
fn FaultPanel(ctx: Ctx) -> impl IntoView {
    let switch = |label: &'static str,
                  get: fn(&FaultSwitches) -> bool,
                  set: fn(&mut FaultSwitches, bool)| {
        view! {
            <label class="switch">
                <input
                    type="checkbox"
                    prop:checked=move || ctx.switches.with(get)
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        ctx.switches.update(|s| set(s, on));
                    }
                />
                {label}
            </label>
        }
    };
    view! {
        <section class="card" aria-labelledby="faults-heading">
            <h2 id="faults-heading">"Simulated services"</h2>
            <p class="muted">
                "While a switch is on, that service refuses every call: the saga records the "
                "failure and compensates. The switches apply to the next Step or Run."
            </p>
            <div class="switches">
                {switch("Fail inventory", |s| s.inventory, |s, on| s.inventory = on)}
                {switch("Fail payment", |s| s.payment, |s, on| s.payment = on)}
                {switch("Fail shipping", |s| s.shipping, |s, on| s.shipping = on)}
            </div>
        </section>
    }
}

/// The orders in one status, as cards.
#[component]
fn GroupView(status: OrderStatus, group: Memo<Option<OrderGroup>>, ctx: Ctx) -> impl IntoView {
    let name = status.to_string();
    let heading = format!("group-{name}-heading");
    let count = move || group.with(|g| g.as_ref().map_or(0, |g| g.count));
    let ids = move || {
        group.with(|g| {
            g.as_ref()
                .map(|g| {
                    g.orders
                        .iter()
                        .map(|c| c.order.id.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let hidden = move || {
        group.with(|g| {
            g.as_ref()
                .map_or(0, |g| g.count.saturating_sub(g.orders.len() as u64))
        })
    };
    view! {
        <section
            class=format!("card order-group status-{}", name.to_lowercase())
            class:empty=move || count() == 0
            aria-labelledby=heading
            data-testid=format!("group-{name}")
        >
            <h2 id=heading.clone()>
                {name.clone()}
                <span class="count" data-testid=format!("count-{name}")>{count}</span>
            </h2>
            {move || (count() == 0).then(|| view! { <p class="muted">"No orders."</p> })}
            <div class="order-grid">
                <For each=ids key=|id| id.clone() let:id>
                    <OrderCardView id=id status=status group=group ctx=ctx />
                </For>
            </div>
            {move || (hidden() > 0).then(|| view! {
                <p class="muted">{format!("and {} older orders not shown", hidden())}</p>
            })}
        </section>
    }
}

/// One order: its items and total, the commands it accepts now, and its saga. The card
/// stays while the order keeps its status (so what is typed into it survives); its
/// contents follow the order's and the saga's events.
#[component]
fn OrderCardView(
    id: String,
    status: OrderStatus,
    group: Memo<Option<OrderGroup>>,
    ctx: Ctx,
) -> impl IntoView {
    let card = {
        let id = id.clone();
        Memo::new(move |_| {
            group.with(|g| {
                g.as_ref()
                    .and_then(|g| g.orders.iter().find(|c| c.order.id == id).cloned())
            })
        })
    };
    let items = Memo::new(move |_| {
        card.with(|c| {
            c.as_ref()
                .map(|c| c.order.items.clone())
                .unwrap_or_default()
        })
    });
    let draft = status == OrderStatus::Draft;
    // A completed order keeps its cancel control: trying it shows the state machine
    // refusing (a shipped order cannot be cancelled).
    let cancellable = status != OrderStatus::Cancelled;
    view! {
        <article class="order" data-testid=format!("order-{id}") aria-label=format!("Order {id}")>
            {move || card.get().map(|c| view! { <OrderHeader order=c.order /> })}
            <ItemsTable order_id=id.clone() items=items ctx=ctx editable=draft />
            {draft.then(|| view! { <AddItem order_id=id.clone() ctx=ctx /> })}
            {move || card.get().map(|c| view! { <OrderOutcome card=c ctx=ctx /> })}
            {cancellable.then(|| view! { <OrderCommands order_id=id.clone() draft=draft ctx=ctx /> })}
            <FeedbackSlot ctx=ctx here=id.clone() />
        </article>
    }
}

/// The order's id, customer, status and total.
#[component]
fn OrderHeader(order: Order) -> impl IntoView {
    let id = order.id.clone();
    view! {
        <header class="order-head">
            <h3>{id.clone()}</h3>
            <span class="muted">{order.customer_id.clone()}</span>
            <span class=format!("pill pill-{}", order.status.to_string().to_lowercase())
                data-testid=format!("status-{id}")>{order.status.to_string()}</span>
            <span class="order-total">
                "Total " <strong data-testid=format!("total-{id}")>{order.total().to_string()}</strong>
            </span>
        </header>
    }
}

/// How the order ended (cancellation reason, tracking number) and its saga.
#[component]
fn OrderOutcome(card: OrderCard, ctx: Ctx) -> impl IntoView {
    let order = card.order;
    let id = order.id.clone();
    view! {
        {order.cancel_reason.clone().map(|reason| view! {
            <p class="cancel-reason">
                "Cancelled: " <span data-testid=format!("cancel-reason-{id}")>{reason}</span>
            </p>
        })}
        {order.tracking_number.clone().map(|t| view! {
            <p class="ok">"Shipped, tracking " <code data-testid=format!("tracking-{id}")>{t}</code></p>
        })}
        {match card.saga {
            Some(saga) => view! { <SagaPanel order_id=id.clone() saga=saga.state events=saga.events ctx=ctx /> }.into_any(),
            None if order.status == OrderStatus::Submitted => view! {
                <NotStarted order_id=id.clone() ctx=ctx />
            }.into_any(),
            None => ().into_any(),
        }}
    }
}

/// The order's lines; in a draft, each line's quantity can change and the line go. A
/// row stays (with what is typed into it) until its own line changes.
#[component]
fn ItemsTable(
    order_id: String,
    items: Memo<Vec<OrderItem>>,
    ctx: Ctx,
    editable: bool,
) -> impl IntoView {
    view! {
        {move || items.with(Vec::is_empty).then(|| view! { <p class="muted">"No items yet."</p> })}
        <table class="events items" hidden=move || items.with(Vec::is_empty)>
            <thead>
                <tr>
                    <th scope="col">"Product"</th>
                    <th scope="col">"Quantity"</th>
                    <th scope="col">"Unit price"</th>
                    <th scope="col">"Line total"</th>
                    {editable.then(|| view! { <th scope="col"><span class="sr-only">"Actions"</span></th> })}
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || items.get()
                    key=|i| (i.product_id.clone(), i.quantity, i.unit_price)
                    let:item
                >
                    <ItemRow order_id=order_id.clone() item=item ctx=ctx editable=editable />
                </For>
            </tbody>
        </table>
    }
}

/// One line of an order.
#[component]
fn ItemRow(order_id: String, item: OrderItem, ctx: Ctx, editable: bool) -> impl IntoView {
    let product = item.product_id.clone();
    let quantity = RwSignal::new(item.quantity.to_string());
    let (oid, pid) = (order_id.clone(), product.clone());
    let set_quantity = move |_| {
        let (oid, pid, q) = (oid.clone(), pid.clone(), quantity.get());
        ctx.run(
            oid.clone(),
            async move {
                api_orders::change_quantity(&oid, &pid, &q)
                    .await
                    .map(|o| (o, pid))
            },
            |(o, pid)| {
                let now = o
                    .items
                    .iter()
                    .find(|i| i.product_id == pid)
                    .map_or(0, |i| i.quantity);
                format!("{} now has {now} × {pid}, total {}", o.id, o.total())
            },
        );
    };
    let (oid, pid) = (order_id.clone(), product.clone());
    let remove = move |_| {
        let (oid, pid) = (oid.clone(), pid.clone());
        ctx.run(
            oid.clone(),
            async move { api_orders::remove_item(&oid, &pid).await.map(|o| (o, pid)) },
            |(o, pid)| format!("removed {pid} from {}, total {}", o.id, o.total()),
        );
    };
    view! {
        <tr data-testid="order-item">
            <td><code>{product.clone()}</code></td>
            <td class="num">
                {if editable {
                    view! {
                        <input
                            class="qty"
                            type="text"
                            inputmode="numeric"
                            aria-label=format!("Quantity of {product} in {order_id}")
                            bind:value=quantity
                        />
                    }.into_any()
                } else {
                    view! { <span data-testid="item-quantity">{item.quantity}</span> }.into_any()
                }}
            </td>
            <td class="num">{item.unit_price.to_string()}</td>
            <td class="num">{item.line_total().to_string()}</td>
            {editable.then(|| view! {
                <td class="row-actions">
                    <button class="secondary" aria-label=format!("Set quantity of {product} in {order_id}")
                        on:click=set_quantity disabled=move || ctx.busy.get()>"Set"</button>
                    <button class="secondary" aria-label=format!("Remove {product} from {order_id}")
                        on:click=remove disabled=move || ctx.busy.get()>"Remove"</button>
                </td>
            })}
        </tr>
    }
}

/// Adds a line to a draft order.
#[component]
fn AddItem(order_id: String, ctx: Ctx) -> impl IntoView {
    let product = RwSignal::new(String::new());
    let quantity = RwSignal::new("1".to_string());
    let price = RwSignal::new(String::new());
    let oid = order_id.clone();
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (oid, p, q, u) = (oid.clone(), product.get(), quantity.get(), price.get());
        ctx.run(
            oid.clone(),
            async move { api_orders::add_item(&oid, &p, &q, &u).await },
            |o| {
                format!(
                    "{} has {} line(s), total {}",
                    o.id,
                    o.items.len(),
                    o.total()
                )
            },
        );
    };
    view! {
        <form class="add-item" on:submit=add>
            <label>"Product"
                <input type="text" placeholder="sku-1" aria-label=format!("Product for {order_id}") bind:value=product />
            </label>
            <label>"Quantity"
                <input type="text" inputmode="numeric" aria-label=format!("Quantity for {order_id}") bind:value=quantity />
            </label>
            <label>"Unit price"
                <input type="text" inputmode="decimal" placeholder="9.99" aria-label=format!("Unit price for {order_id}") bind:value=price />
            </label>
            <button type="submit" aria-label=format!("Add item to {order_id}") disabled=move || ctx.busy.get()>"Add item"</button>
        </form>
    }
}

/// Submit (a draft) and cancel (with a reason).
#[component]
fn OrderCommands(order_id: String, draft: bool, ctx: Ctx) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let oid = order_id.clone();
    let submit = move |_| {
        let oid = oid.clone();
        ctx.run(
            oid.clone(),
            async move { api_orders::submit(&oid).await },
            |o| {
                format!(
                    "submitted {} (total {}); its saga can start",
                    o.id,
                    o.total()
                )
            },
        );
    };
    let oid = order_id.clone();
    let cancel = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (oid, why) = (oid.clone(), reason.get());
        ctx.touch(&oid);
        ctx.run(
            oid.clone(),
            async move { api_orders::cancel(&oid, &why).await },
            |c| match c.saga {
                Some(_) => format!("cancelled {}; its saga undid what it had done", c.order.id),
                None => format!("cancelled {}", c.order.id),
            },
        );
    };
    view! {
        <div class="order-commands">
            {draft.then(|| view! {
                <button aria-label=format!("Submit order {order_id}") on:click=submit
                    disabled=move || ctx.busy.get()>"Submit order"</button>
            })}
            <form class="cancel-form" on:submit=cancel>
                <input type="text" placeholder="reason" aria-label=format!("Reason to cancel {order_id}") bind:value=reason />
                <button type="submit" class="danger" aria-label=format!("Cancel order {order_id}")
                    title="Cancels the order; a saga under way then undoes its steps"
                    disabled=move || ctx.busy.get()>"Cancel order"</button>
            </form>
        </div>
    }
}

/// Buttons of a saga: one action at a time, or to the end.
#[component]
fn SagaButtons(order_id: String, resume: bool, ctx: Ctx) -> impl IntoView {
    let oid = order_id.clone();
    let step = move |_| {
        let oid = oid.clone();
        ctx.touch(&oid);
        let switches = ctx.switches.get_untracked();
        ctx.run(
            oid.clone(),
            async move {
                api_orders::step_saga(&oid, switches)
                    .await
                    .map(|s| (oid, s))
            },
            |(oid, s)| format!("saga of {oid}: next, {}", describe(s.next_action())),
        );
    };
    let oid = order_id.clone();
    let run = move |_| {
        let oid = oid.clone();
        ctx.touch(&oid);
        let switches = ctx.switches.get_untracked();
        ctx.run(
            oid.clone(),
            async move { api_orders::run_saga(&oid, switches).await.map(|s| (oid, s)) },
            |(oid, s)| outcome(&oid, &s),
        );
    };
    let run_label = if resume { "Resume saga" } else { "Run saga" };
    view! {
        <div class="saga-buttons">
            <button class="secondary" aria-label=format!("Step saga of {order_id}") on:click=step
                disabled=move || ctx.busy.get()>"Step"</button>
            <button aria-label=format!("{run_label} of {order_id}") on:click=run
                disabled=move || ctx.busy.get()>{run_label}</button>
        </div>
    }
}

/// A submitted order whose saga has not started.
#[component]
fn NotStarted(order_id: String, ctx: Ctx) -> impl IntoView {
    view! {
        <div class="saga" data-testid=format!("saga-{order_id}") data-status="NotStarted">
            <h4>"Fulfilment saga"</h4>
            <p class="muted">"Not started. Step records one event at a time; Run goes to the end."</p>
            <SagaButtons order_id=order_id.clone() ctx=ctx resume=false />
        </div>
    }
}

/// A saga step by step: its forward steps with references, its compensations, the
/// failure, what it does next, and its events.
#[component]
fn SagaPanel(
    order_id: String,
    saga: SagaState,
    events: Vec<api_orders::SagaLine>,
    ctx: Ctx,
) -> impl IntoView {
    let finished = saga.status.is_terminal();
    let status = format!("{:?}", saga.status);
    let oid = order_id.clone();
    let interrupted = move || !finished && !ctx.touched.with(|t| t.contains(&oid));
    let steps = SagaStep::ALL.map(|step| {
        let state = api_orders::step_status(&saga, step);
        let reference = saga.step(step).and_then(|r| r.reference.clone());
        view! {
            <li class=format!("step step-{state}") data-testid="saga-step" data-step=step.as_str() data-state=state>
                <span class="step-name">{step_label(step)}</span>
                <span class="step-state">{state}</span>
                {reference.map(|r| view! { <code class="step-ref">{r}</code> })}
            </li>
        }
    });
    let compensations: Vec<_> = saga
        .compensations
        .iter()
        .map(|c| {
            let state = if c.completed { "done" } else { "started" };
            view! {
                <li class=format!("comp comp-{state}") data-testid="saga-compensation" data-step=c.step.as_str() data-state=state>
                    {compensation_name(c.step)} " · " {state}
                </li>
            }
        })
        .collect();
    let has_compensations = !compensations.is_empty();
    let event_count = events.len();
    view! {
        <div class=format!("saga saga-{}", status.to_lowercase()) data-testid=format!("saga-{order_id}") data-status=status.clone()>
            <h4>"Fulfilment saga " <span class="muted">{format!("· {status}")}</span></h4>
            <ol class="saga-steps" aria-label="Saga steps">{steps}</ol>
            {has_compensations.then(|| view! {
                <p class="small-heading">"Compensations, newest first"</p>
                <ol class="saga-comps" aria-label="Compensations">{compensations}</ol>
            })}
            {saga.failure.clone().map(|f| view! {
                <p class="saga-failure" data-testid="saga-failure">{f}</p>
            })}
            {(!finished).then(|| {
                let next = describe(saga.next_action());
                let oid = order_id.clone();
                view! {
                    {move || if interrupted() {
                        view! {
                            <p class="interrupted" data-testid="saga-interrupted">
                                <strong>{format!("Interrupted after {event_count} events")}</strong>
                                " (the page was reloaded or closed). Resume saga continues from the last "
                                "recorded event: an answered step is never called again; a step started but "
                                "unanswered is retried with the same idempotency key, and the service answers "
                                "as before."
                            </p>
                        }.into_any()
                    } else {
                        view! { <p class="muted">"Paused."</p> }.into_any()
                    }}
                    <p class="next">"Next: " {next}</p>
                    <SagaButtons order_id=oid ctx=ctx resume=true />
                }
            })}
            <details class="saga-events">
                <summary>{format!("Saga events ({event_count})")}</summary>
                <ol>
                    {events.into_iter().map(|e| view! {
                        <li data-testid="saga-event" data-type=e.event_type.clone()>
                            <span class="num">{e.version}</span>" "
                            <strong>{e.event_type.clone()}</strong>" "
                            <span class="muted">{e.detail}</span>
                        </li>
                    }).collect_view()}
                </ol>
            </details>
        </div>
    }
}

/// A forward step, in words.
fn step_label(step: SagaStep) -> &'static str {
    match step {
        SagaStep::ReserveInventory => "Reserve inventory",
        SagaStep::TakePayment => "Take payment",
        SagaStep::Ship => "Ship",
        SagaStep::CompleteOrder => "Complete order",
    }
}

/// What undoing `step` means.
fn compensation_name(step: SagaStep) -> &'static str {
    match step {
        SagaStep::ReserveInventory => "Release inventory",
        SagaStep::TakePayment => "Refund payment",
        SagaStep::Ship => "Cancel shipment",
        SagaStep::CompleteOrder => "Nothing to undo",
    }
}

/// The saga's next action, in words.
fn describe(action: SagaAction) -> String {
    match action {
        SagaAction::Start => "record SagaStarted".into(),
        SagaAction::BeginStep(step) => format!("start {step}"),
        SagaAction::RunStep(step) => format!("call the service for {step} and record its answer"),
        SagaAction::BeginCompensation(step) => format!("start undoing {step}"),
        SagaAction::RunCompensation(step) => {
            format!("{} and record it", compensation_name(step).to_lowercase())
        }
        SagaAction::Finish => "record SagaCompleted".into(),
        SagaAction::Abort => "cancel the order and record SagaAborted".into(),
        SagaAction::Done => "nothing: the saga is finished".into(),
    }
}

/// A finished (or stopped) saga, in one sentence.
fn outcome(order_id: &str, saga: &SagaState) -> String {
    match saga.status {
        SagaStatus::Completed => format!("saga of {order_id} completed: the order is shipped"),
        SagaStatus::Aborted => format!(
            "saga of {order_id} compensated: {}",
            saga.failure.clone().unwrap_or_default()
        ),
        _ => format!("saga of {order_id}: next, {}", describe(saga.next_action())),
    }
}
