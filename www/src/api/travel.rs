//! Time travel: the state of one stream, or of the whole store, as of a chosen point,
//! next to the state one step earlier and the event that made the step.
//!
//! A stream of a known aggregate type is rebuilt with
//! [`CommandHandler::state_at_version`]: the nearest snapshot at or below the version plus
//! the events after it. Any other stream is folded generically from its first event. The
//! whole store shows the AccountBalances read model at a global position, as the app's
//! live runner of it computes it ([`chronik_core::ProjectionRunner::state_at`]): it agrees
//! with the live read model at every position and fails where the runner fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use super::AppStore;
use chronik_core::{
    Aggregate, AggregateState, CommandHandler, EventStore, HandlerError, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, StreamInfo, Upcasters,
};
use chronik_examples::bank::AccountBalancesState;
use chronik_examples::registry::{self, AggregateType, AggregateVisitor};
use chronik_examples::services::{Inventory, Payment, Shipment};
use chronik_examples::{BankAccount, Order, SagaState, Transfer};
use serde_json::Value;

use super::AppError;
use super::{changed, projections, store, LogEntry};

/// One labelled value of a state, such as the balance of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// What the value is (also the key the previous state is compared by).
    pub label: String,
    /// The value, formatted for display.
    pub value: String,
    /// The `data-testid` of the value, for the values tests read.
    pub testid: Option<&'static str>,
}

/// A list within a state, such as an order's items.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What the rows are.
    pub caption: String,
    /// Column headings.
    pub columns: Vec<&'static str>,
    /// The rows, each with a key the previous state is compared by.
    pub rows: Vec<Row>,
}

/// One row of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What identifies the row across steps (an account id, a product id).
    pub key: String,
    /// The cells, formatted.
    pub cells: Vec<String>,
}

/// A state as the page shows it: labelled values and lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateView {
    /// What kind of state this is ("Bank account", "AccountBalances").
    pub title: String,
    /// The values.
    pub fields: Vec<Field>,
    /// The lists.
    pub tables: Vec<Table>,
}

/// A point on the timeline worth marking: a snapshot, or a projection checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// The version (stream) or position (whole store) it is at.
    pub at: u64,
    /// What it is, for its tooltip.
    pub label: String,
}

/// How the state at the chosen point was rebuilt.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuild {
    /// Where the rebuild started (a snapshot, a checkpoint), 0 for the beginning.
    pub from: u64,
    /// How many events were replayed on top of it.
    pub events_replayed: u64,
    /// The whole story, in words.
    pub summary: String,
}

/// Everything the time-travel page shows for one point.
#[derive(Debug, Clone, PartialEq)]
pub struct TravelPoint {
    /// The stream travelled through, `None` for the whole store.
    pub stream: Option<String>,
    /// The chosen version (stream) or global position (whole store); 0 only when empty.
    pub at: u64,
    /// The last version or position: "now".
    pub head: u64,
    /// Snapshot points (or the projection checkpoint) on the timeline.
    pub marks: Vec<Mark>,
    /// Whether this stream can be snapshotted now (it has an aggregate type).
    pub can_snapshot: bool,
    /// The state as of `at`.
    pub state: StateView,
    /// The state one step earlier, to show what changed.
    pub previous: StateView,
    /// The event at `at`, which made the step (upcast for display).
    pub cause: Option<LogEntry>,
    /// How `state` was rebuilt.
    pub rebuild: Rebuild,
    /// Anything the reader should know (a stream that does not decode as its aggregate
    /// type).
    pub notes: Vec<String>,
    /// Why there is no state at `at` (the whole store's read model fails on an event at
    /// or before it, as its live runner does).
    pub error: Option<String>,
}

/// Every stream in the store, ordered by id.
pub async fn streams() -> Result<Vec<StreamInfo>, AppError> {
    store().await?.list_streams().await.map_err(AppError::from)
}

/// The state of `stream` (the whole store when `None`) as of `at`: a version of the
/// stream, or a global position; `None` means now (the last one).
pub async fn travel(stream: Option<&str>, at: Option<u64>) -> Result<TravelPoint, AppError> {
    let store = store().await?;
    match stream {
        None => whole_store(store, at).await,
        Some(stream) => stream_travel(store, stream, at).await,
    }
}

/// Saves a snapshot of `stream`'s current state now (from a full replay), so later
/// jumps past it start there. Returns the snapshot's version.
pub async fn snapshot_now(stream: &str) -> Result<u64, AppError> {
    let store = store().await?;
    let Some(kind) = AggregateType::of_stream(stream) else {
        return Err(AppError::invalid(format!(
            "'{stream}' has no aggregate type, so it has no snapshots"
        )));
    };
    let id = aggregate_id(stream).to_string();
    let version = kind.with(Snapshot { store, id }).await?;
    changed();
    version.ok_or_else(|| AppError::invalid(format!("'{stream}' has no events to snapshot")))
}

/// Snapshots one aggregate, whichever type it is.
struct Snapshot {
    store: Rc<AppStore>,
    id: String,
}

impl AggregateVisitor for Snapshot {
    type Output = Pin<Box<dyn Future<Output = Result<Option<u64>, AppError>>>>;

    fn visit<A: Aggregate + 'static>(self) -> Self::Output {
        Box::pin(async move {
            CommandHandler::<_, A>::new(self.store)
                .with_upcasters(registry::upcasters())
                .snapshot_now(&self.id)
                .await
                .map_err(AppError::from)
        })
    }
}

/// The aggregate id in `stream`: what follows `{category}-`.
fn aggregate_id(stream: &str) -> &str {
    stream.split_once('-').map_or("", |(_, id)| id)
}

// ------------------------------------------------------------------ one stream

async fn stream_travel(
    store: Rc<AppStore>,
    stream: &str,
    at: Option<u64>,
) -> Result<TravelPoint, AppError> {
    let head = store
        .stream_version(stream)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::invalid(format!("stream '{stream}' does not exist")))?;
    let at = at.unwrap_or(head).clamp(1, head);
    let kind = AggregateType::of_stream(stream);
    // Every reader of the domains' events uses the registry's one set.
    let upcasters = registry::upcasters();
    let s = &store;
    // The one place that knows how each aggregate looks on this page.
    let typed = match kind {
        Some(AggregateType::BankAccount) => typed(s, stream, at, &upcasters, account_view).await,
        Some(AggregateType::Order) => typed(s, stream, at, &upcasters, order_view).await,
        Some(AggregateType::Transfer) => typed(s, stream, at, &upcasters, transfer_view).await,
        Some(AggregateType::Saga) => typed(s, stream, at, &upcasters, saga_view).await,
        Some(AggregateType::Inventory) => typed(s, stream, at, &upcasters, inventory_view).await,
        Some(AggregateType::Payment) => typed(s, stream, at, &upcasters, payment_view).await,
        Some(AggregateType::Shipment) => typed(s, stream, at, &upcasters, shipment_view).await,
        None => Ok(None),
    };
    let mut notes = Vec::new();
    let (state, previous, rebuild) = match typed {
        Ok(Some(found)) => found,
        Ok(None) => generic_fold(s, stream, at, &upcasters, None).await?,
        // Events this aggregate cannot read (appended by hand, say): fold them as JSON.
        Err(Unreadable(reason)) => {
            notes.push(format!(
                "this stream does not read as its aggregate type ({reason}); showing the generic fold of its events"
            ));
            generic_fold(s, stream, at, &upcasters, Some(reason)).await?
        }
    };
    let marks = store
        .list_snapshots(stream)
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(|snap| Mark {
            at: snap.version,
            label: format!(
                "snapshot at v{} (schema {}, taken {})",
                snap.version,
                snap.schema_version,
                crate::format::time(snap.taken_at)
            ),
        })
        .collect();
    let cause = store
        .read_stream(
            stream,
            ReadStreamOptions {
                from_version: Some(at),
                limit: Some(1),
                ..ReadStreamOptions::default()
            },
        )
        .await
        .map_err(AppError::from)?
        .into_iter()
        .next()
        .map(|e| upcast_for_display(&upcasters, e));
    Ok(TravelPoint {
        stream: Some(stream.to_string()),
        at,
        head,
        marks,
        can_snapshot: kind.is_some(),
        state,
        previous,
        cause,
        rebuild,
        notes,
        error: None,
    })
}

/// Why a typed rebuild gave up: the stream's events or snapshot do not decode.
struct Unreadable(String);

type Views = (StateView, StateView, Rebuild);

/// The state of a typed aggregate at `at` and at `at - 1`, each from the nearest
/// snapshot at or below it.
async fn typed<A: Aggregate>(
    store: &Rc<AppStore>,
    stream: &str,
    at: u64,
    upcasters: &Upcasters,
    view: fn(&A) -> StateView,
) -> Result<Option<Views>, Unreadable> {
    let handler = CommandHandler::<_, A>::new(Rc::clone(store)).with_upcasters(upcasters.clone());
    let id = aggregate_id(stream);
    let unreadable = |e: HandlerError<A::Error>| match e {
        HandlerError::Decode { .. }
        | HandlerError::Upcast { .. }
        | HandlerError::SnapshotDecode { .. } => Unreadable(e.to_string()),
        other => Unreadable(format!("cannot rebuild: {other}")),
    };
    let current = handler.state_at_version(id, at).await.map_err(unreadable)?;
    let previous = if at > 1 {
        handler
            .state_at_version(id, at - 1)
            .await
            .map_err(unreadable)?
    } else {
        AggregateState::empty()
    };
    let from = current.snapshot_version.unwrap_or(0);
    let replayed = current.events_replayed;
    let summary = match current.snapshot_version {
        Some(v) => format!(
            "from snapshot at v{v} + {replayed} {} replayed",
            plural(replayed, "event")
        ),
        None => format!(
            "no snapshot at or below v{at}: {replayed} {} replayed from the start",
            plural(replayed, "event")
        ),
    };
    Ok(Some((
        view(&current.state),
        view(&previous.state),
        Rebuild {
            from,
            events_replayed: replayed,
            summary,
        },
    )))
}

/// A stream without an aggregate type, folded from its first event: how many events of
/// each type, and the latest value of every payload field.
async fn generic_fold(
    store: &Rc<AppStore>,
    stream: &str,
    at: u64,
    upcasters: &Upcasters,
    reason: Option<String>,
) -> Result<Views, AppError> {
    let events = store
        .read_stream(
            stream,
            ReadStreamOptions {
                limit: Some(at as usize),
                ..ReadStreamOptions::default()
            },
        )
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(|e| upcast_for_display(upcasters, e).event)
        .collect::<Vec<_>>();
    let fold = |events: &[RecordedEvent]| {
        let mut by_type = BTreeMap::<String, u64>::new();
        let mut latest = BTreeMap::<String, String>::new();
        for e in events {
            *by_type.entry(e.event_type.clone()).or_default() += 1;
            match &e.data {
                Value::Object(fields) => {
                    for (k, v) in fields {
                        latest.insert(k.clone(), compact(v));
                    }
                }
                Value::Null => {}
                other => {
                    latest.insert("data".into(), compact(other));
                }
            }
        }
        let mut fields = vec![Field {
            label: "Events".into(),
            value: events.len().to_string(),
            testid: Some("travel-event-count"),
        }];
        if let Some(last) = events.last() {
            fields.push(Field {
                label: "Last event".into(),
                value: last.event_type.clone(),
                testid: None,
            });
        }
        fields.extend(latest.into_iter().map(|(k, v)| Field {
            label: format!("latest {k}"),
            value: v,
            testid: None,
        }));
        StateView {
            title: "Events so far (generic fold)".into(),
            fields,
            tables: vec![Table {
                caption: "Events by type".into(),
                columns: vec!["Type", "Count"],
                rows: by_type
                    .into_iter()
                    .map(|(t, n)| Row {
                        key: t.clone(),
                        cells: vec![t, n.to_string()],
                    })
                    .collect(),
            }],
        }
    };
    let n = events.len();
    let state = fold(&events);
    let previous = fold(&events[..n.saturating_sub(1)]);
    let why = match reason {
        Some(_) => "it does not read as its aggregate type",
        None => "this stream has no aggregate type, so no snapshots",
    };
    Ok((
        state,
        previous,
        Rebuild {
            from: 0,
            events_replayed: n as u64,
            summary: format!(
                "{n} {} folded from the start ({why})",
                plural(n as u64, "event")
            ),
        },
    ))
}

// ------------------------------------------------------------------ the whole store

/// The read model the whole store shows.
const WHOLE_STORE_MODEL: &str = "AccountBalances";

/// The AccountBalances read model just after global position `at`, from the app's live
/// runner of it ([`chronik_core::ProjectionRunner::state_at`] through the projection
/// hub): the same event types, upcasters and `apply` as its catch-up, so the state
/// agrees with the live read model at every position, and a position at or past an
/// event it cannot apply is that failure (`Ok(Err(reason))`), as the runner stops there.
pub async fn balances_at(at: u64) -> Result<Result<AccountBalancesState, String>, AppError> {
    Ok(
        projections::state_at::<AccountBalancesState>(WHOLE_STORE_MODEL, at)
            .await?
            .map_err(|e| e.to_string()),
    )
}

async fn whole_store(store: Rc<AppStore>, at: Option<u64>) -> Result<TravelPoint, AppError> {
    let head = store.head_position().await.map_err(AppError::from)?;
    let at = at.unwrap_or(head).min(head);
    // The one step earlier first: the runner keeps the last state it computed, so the
    // state at `at` then folds one event on top of it.
    let previous = balances_at(at.saturating_sub(1)).await?;
    let current = balances_at(at).await?;
    let checkpoint = store
        .load_checkpoint(WHOLE_STORE_MODEL)
        .await
        .map_err(AppError::from)?
        .map(|cp| cp.position)
        .filter(|p| *p > 0);
    let marks = checkpoint
        .iter()
        .map(|p| Mark {
            at: *p,
            label: format!("{WHOLE_STORE_MODEL} checkpoint at position {p}"),
        })
        .collect();
    // The step itself: the event at `at`.
    let cause_event = if at > 0 {
        store
            .read_all(ReadAllOptions {
                from_position: at,
                limit: Some(1),
                ..ReadAllOptions::default()
            })
            .await
            .map_err(AppError::from)?
            .into_iter()
            .next()
    } else {
        None
    };
    let empty = || StateView {
        title: "AccountBalances read model".into(),
        ..StateView::default()
    };
    let previous = previous.as_ref().map_or_else(|_| empty(), balances_view);
    let (state, error) = match &current {
        Ok(state) => (balances_view(state), None),
        Err(e) => (empty(), Some(e.clone())),
    };
    let summary = match &error {
        None => format!(
            "{WHOLE_STORE_MODEL} from its live runner: its state just after position {at}, \
             folded exactly as its catch-up folds the log"
        ),
        Some(_) => format!(
            "{WHOLE_STORE_MODEL} from its live runner: no state at position {at}, \
             where its catch-up stops too"
        ),
    };
    Ok(TravelPoint {
        stream: None,
        at,
        head,
        marks,
        can_snapshot: false,
        state,
        previous,
        cause: cause_event.map(|e| upcast_for_display(&registry::upcasters(), e)),
        rebuild: Rebuild {
            // The runner starts from its checkpoint's state when `at` is at or past it.
            from: checkpoint
                .filter(|p| *p <= at && error.is_none())
                .unwrap_or(0),
            events_replayed: 0,
            summary,
        },
        notes: Vec::new(),
        error,
    })
}

// ------------------------------------------------------------------ views

fn upcast_for_display(upcasters: &Upcasters, event: RecordedEvent) -> LogEntry {
    let stored_schema_version = event.schema_version;
    match upcasters.upcast(event.clone()) {
        Ok(up) => LogEntry {
            event: up.event,
            stored_schema_version,
            upcast_error: None,
        },
        Err(e) => LogEntry {
            event,
            stored_schema_version,
            upcast_error: Some(e.to_string()),
        },
    }
}

fn field(label: &str, value: impl ToString) -> Field {
    Field {
        label: label.into(),
        value: value.to_string(),
        testid: None,
    }
}

fn tested(label: &str, value: impl ToString, testid: &'static str) -> Field {
    Field {
        testid: Some(testid),
        ..field(label, value)
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// A JSON value on one line, strings without quotes.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "—".into())
}

fn account_view(a: &BankAccount) -> StateView {
    StateView {
        title: "Bank account".into(),
        fields: vec![
            tested("Owner", &a.owner, "travel-owner"),
            tested("Status", format!("{:?}", a.status), "travel-status"),
            tested("Balance", a.balance, "travel-balance"),
            field("Events", a.version),
        ],
        tables: Vec::new(),
    }
}

fn order_view(o: &Order) -> StateView {
    let mut fields = vec![
        field("Customer", &o.customer_id),
        tested("Status", o.status, "travel-status"),
        tested("Total", o.total(), "travel-total"),
    ];
    for (label, value) in [
        ("Reservation", &o.reservation_id),
        ("Payment", &o.payment_id),
        ("Tracking number", &o.tracking_number),
        ("Cancel reason", &o.cancel_reason),
    ] {
        if value.is_some() {
            fields.push(field(label, or_dash(value)));
        }
    }
    StateView {
        title: "Order".into(),
        fields,
        tables: vec![Table {
            caption: "Items".into(),
            columns: vec!["Product", "Quantity", "Unit price", "Line total"],
            rows: o
                .items
                .iter()
                .map(|i| Row {
                    key: i.product_id.clone(),
                    cells: vec![
                        i.product_id.clone(),
                        i.quantity.to_string(),
                        i.unit_price.to_string(),
                        i.line_total().to_string(),
                    ],
                })
                .collect(),
        }],
    }
}

fn transfer_view(t: &Transfer) -> StateView {
    StateView {
        title: "Transfer".into(),
        fields: vec![
            field("From", &t.from),
            field("To", &t.to),
            field("Amount", t.amount),
            tested("Status", format!("{:?}", t.status), "travel-status"),
            field("Reason", or_dash(&t.reason)),
        ],
        tables: Vec::new(),
    }
}

fn saga_view(s: &SagaState) -> StateView {
    let mut rows: Vec<Row> = s
        .steps
        .iter()
        .map(|r| Row {
            key: format!("step {}", r.step.as_str()),
            cells: vec![
                r.step.as_str().to_string(),
                format!("{:?}", r.status),
                or_dash(&r.reference),
            ],
        })
        .collect();
    rows.extend(s.compensations.iter().map(|c| Row {
        key: format!("undo {}", c.step.as_str()),
        cells: vec![
            format!("undo {}", c.step.as_str()),
            if c.completed { "Completed" } else { "Started" }.into(),
            "—".into(),
        ],
    }));
    StateView {
        title: "Fulfilment saga".into(),
        fields: vec![
            field("Order", &s.order_id),
            field("Customer", &s.customer_id),
            tested("Status", format!("{:?}", s.status), "travel-status"),
            field("Total", s.total),
            field("Failure", or_dash(&s.failure)),
        ],
        tables: vec![Table {
            caption: "Steps and compensations".into(),
            columns: vec!["Step", "Status", "Reference"],
            rows,
        }],
    }
}

fn inventory_view(i: &Inventory) -> StateView {
    StateView {
        title: "Inventory".into(),
        fields: vec![
            field("Products", i.products.len()),
            field("Open reservations", i.reservations.len()),
        ],
        tables: vec![
            Table {
                caption: "Stock".into(),
                columns: vec!["Product", "On hand", "Reserved", "Available"],
                rows: i
                    .products
                    .iter()
                    .map(|(id, s)| Row {
                        key: id.clone(),
                        cells: vec![
                            id.clone(),
                            s.on_hand.to_string(),
                            s.reserved.to_string(),
                            s.available().to_string(),
                        ],
                    })
                    .collect(),
            },
            Table {
                caption: "Reservations".into(),
                columns: vec!["Reservation", "Lines"],
                rows: i
                    .reservations
                    .iter()
                    .map(|(id, lines)| Row {
                        key: id.clone(),
                        cells: vec![
                            id.clone(),
                            lines
                                .iter()
                                .map(|l| format!("{} × {}", l.quantity, l.product_id))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ],
                    })
                    .collect(),
            },
        ],
    }
}

fn payment_view(p: &Payment) -> StateView {
    StateView {
        title: "Payment".into(),
        fields: vec![
            field("Payment id", or_dash(&p.payment_id)),
            field("Customer", &p.customer_id),
            field("Amount", p.amount),
            field("Refunded", if p.refunded { "yes" } else { "no" }),
        ],
        tables: Vec::new(),
    }
}

fn shipment_view(s: &Shipment) -> StateView {
    StateView {
        title: "Shipment".into(),
        fields: vec![
            field("Tracking number", or_dash(&s.tracking_number)),
            field("Units", s.units),
            field("Cancelled", if s.cancelled { "yes" } else { "no" }),
        ],
        tables: Vec::new(),
    }
}

/// The AccountBalances read model as the page shows it.
pub fn balances_view(b: &AccountBalancesState) -> StateView {
    StateView {
        title: "AccountBalances read model".into(),
        fields: vec![
            tested("Accounts", b.accounts.len(), "travel-accounts"),
            tested("Total of all balances", b.total, "travel-total"),
        ],
        tables: vec![Table {
            caption: "Accounts".into(),
            columns: vec!["Account", "Owner", "Status", "Balance"],
            rows: b
                .accounts
                .iter()
                .map(|(id, a)| Row {
                    key: id.clone(),
                    cells: vec![
                        id.clone(),
                        a.owner.clone(),
                        format!("{:?}", a.status),
                        a.balance.to_string(),
                    ],
                })
                .collect(),
        }],
    }
}
