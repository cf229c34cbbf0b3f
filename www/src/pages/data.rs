//! Data: the whole database at once. Generate demo data, export it as NDJSON, import an
//! export, clear everything, and see how much storage it takes.

use chronik_core::ImportReport;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::data::{self as data_api, Export, Generated, PickedFile};
use crate::{api, format};

/// Whether one of the page's long operations is running (they all take the whole
/// database, so only one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Idle,
    Generating,
    Exporting,
    Importing,
    Clearing,
}

/// `(done, total)` of a running operation.
type Progress = RwSignal<Option<(u64, u64)>>;

/// The data page.
#[component]
pub fn DataPage() -> impl IntoView {
    let busy = RwSignal::new(Busy::Idle);
    // Moves when an operation finishes (not on every append of a long run).
    let refresh = RwSignal::new(0u64);
    view! {
        <StorageCard refresh=refresh />
        <GenerateCard busy=busy refresh=refresh />
        <div class="data-pair">
            <ExportCard busy=busy />
            <ImportCard busy=busy refresh=refresh />
        </div>
        <ClearCard busy=busy refresh=refresh />
    }
}

/// Events in the store, storage used and quota.
#[component]
fn StorageCard(refresh: RwSignal<u64>) -> impl IntoView {
    let numbers = LocalResource::new(move || {
        refresh.track();
        async move {
            let head = api::head_position().await;
            let estimate = data_api::storage_estimate().await;
            (head, estimate)
        }
    });
    view! {
        <section class="card" aria-labelledby="storage-heading">
            <h2 id="storage-heading">"Data"</h2>
            <p class="muted page-intro">
                "Everything lives in this browser's IndexedDB. Fill it with demo data, take it "
                "with you as an NDJSON file (one event a line), bring it back, or start over."
            </p>
            <Transition fallback=|| view! { <p>"Measuring…"</p> }>
                {move || numbers.get().map(|(head, estimate)| {
                    let events = match head {
                        Ok(n) => format::count(n),
                        Err(e) => e.to_string(),
                    };
                    let (used, quota, share) = match estimate {
                        Some((used, quota)) => (
                            format::bytes(used),
                            format::bytes(quota),
                            (quota > 0).then(|| {
                                format!("That is {:.2}% of the quota. ", used as f64 / quota as f64 * 100.0)
                            }),
                        ),
                        None => ("unknown".to_string(), "unknown".to_string(), None),
                    };
                    view! {
                        <div class="tiles tiles-3">
                            <div class="tile">
                                <span class="tile-value" data-testid="data-events">{events}</span>
                                <span class="tile-label">"Events"</span>
                            </div>
                            <div class="tile">
                                <span class="tile-value" data-testid="data-storage-used">{used}</span>
                                <span class="tile-label">"Storage used"</span>
                            </div>
                            <div class="tile">
                                <span class="tile-value" data-testid="data-storage-quota">{quota}</span>
                                <span class="tile-label">"Quota"</span>
                            </div>
                        </div>
                        <p class="muted small storage-note">
                            {share}
                            "Storage used counts all this site keeps: the event database and the "
                            "offline copy of the app."
                        </p>
                    }
                })}
            </Transition>
        </section>
    }
}

/// A progress bar with "done / total" next to it.
#[component]
fn ProgressLine(progress: Progress, label: &'static str, testid: &'static str) -> impl IntoView {
    move || {
        progress.get().map(|(done, total)| {
            let max = total.max(1);
            let value = if total == 0 { 1 } else { done.min(total) };
            view! {
                <div class="progress-line">
                    <progress aria-label=label data-testid=testid max=max value=value></progress>
                    <span class="muted num" data-testid=format!("{testid}-count")>
                        {format!("{} / {}", format::count(done), format::count(total))}
                    </span>
                </div>
            }
        })
    }
}

/// A status line in an `aria-live` region: a success or an error.
fn outcome_view(outcome: Option<Result<String, String>>) -> impl IntoView {
    outcome.map(|o| match o {
        Ok(msg) => view! { <span class="ok">{msg}</span> }.into_any(),
        Err(msg) => view! { <span class="error">{msg}</span> }.into_any(),
    })
}

/// Generate demo data of a chosen size, with progress and cancel.
#[component]
fn GenerateCard(busy: RwSignal<Busy>, refresh: RwSignal<u64>) -> impl IntoView {
    let size = RwSignal::new("1000".to_string());
    let progress: Progress = RwSignal::new(None);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    // Asked for between appends of a running generation.
    let cancel = RwSignal::new(false);

    let generate = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() != Busy::Idle {
            return;
        }
        let events: u64 = size.get_untracked().parse().unwrap_or(1000);
        cancel.set(false);
        busy.set(Busy::Generating);
        outcome.set(None);
        progress.set(Some((0, events)));
        spawn_local(async move {
            let result = data_api::generate_demo(
                events,
                move || cancel.try_get_untracked().unwrap_or(true),
                move |done, total| {
                    progress.try_set(Some((done, total)));
                },
            )
            .await;
            outcome.try_set(Some(result.map_err(|e| e.to_string()).map(
                |g: Generated| {
                    if g.cancelled {
                        format!(
                        "Cancelled after {} of {} events. The {} events written so far are kept.",
                        format::count(g.produced),
                        format::count(events),
                        format::count(g.written)
                    )
                    } else if g.written == 0 {
                        format!(
                            "All {} demo events were already stored: nothing new to write.",
                            format::count(g.produced)
                        )
                    } else {
                        format!("Wrote {} demo events.", format::count(g.written))
                    }
                },
            )));
            busy.try_set(Busy::Idle);
            refresh.try_update(|n| *n += 1);
        });
    };
    let stop = move |_| {
        cancel.set(true);
    };

    view! {
        <section class="card" aria-labelledby="generate-heading">
            <h2 id="generate-heading">"Generate demo data"</h2>
            <p class="muted">
                "Bank accounts with deposits, withdrawals and transfers; orders filled, "
                "submitted and fulfilled by the saga, with the odd failure and its "
                "compensation. Every event comes from the aggregates' own rules, spread over "
                "the time before now. The data is deterministic: generating the same size again "
                "writes nothing new."
            </p>
            <form class="inline-form" on:submit=generate>
                <label>
                    "Events to generate"
                    <select
                        prop:value=move || size.get()
                        on:change=move |ev| size.set(event_target_value(&ev))
                        disabled=move || busy.get() != Busy::Idle
                    >
                        <option value="1000">"1,000"</option>
                        <option value="10000">"10,000"</option>
                        <option value="100000">"100,000"</option>
                    </select>
                </label>
                <button type="submit" disabled=move || busy.get() != Busy::Idle>
                    "Generate"
                </button>
                <Show when=move || busy.get() == Busy::Generating>
                    <button type="button" class="secondary" on:click=stop>
                        "Cancel"
                    </button>
                </Show>
            </form>
            <ProgressLine progress=progress label="Demo data progress" testid="generate-progress" />
            <p class="status" role="status" aria-live="polite" data-testid="generate-outcome">
                {move || outcome_view(outcome.get())}
            </p>
            <p class="muted small">
                "Cancelling stops between two appends: every event written until then stays, "
                "and each append is whole."
            </p>
        </section>
    }
}

/// Export every event as an NDJSON download.
#[component]
fn ExportCard(busy: RwSignal<Busy>) -> impl IntoView {
    let progress: Progress = RwSignal::new(None);
    let outcome = RwSignal::new(None::<Result<Export, String>>);
    let export = move |_| {
        if busy.get_untracked() != Busy::Idle {
            return;
        }
        busy.set(Busy::Exporting);
        outcome.set(None);
        progress.set(Some((0, 0)));
        spawn_local(async move {
            let result = data_api::export(move |done, total| {
                progress.try_set(Some((done, total)));
            })
            .await;
            outcome.try_set(Some(result.map_err(|e| e.to_string())));
            busy.try_set(Busy::Idle);
        });
    };
    view! {
        <section class="card" aria-labelledby="export-heading">
            <h2 id="export-heading">"Export"</h2>
            <p class="muted">
                "Every event as stored, one JSON object a line, in log order: ids, versions, "
                "positions and times included."
            </p>
            <button type="button" on:click=export disabled=move || busy.get() != Busy::Idle>
                "Export NDJSON"
            </button>
            <ProgressLine progress=progress label="Export progress" testid="export-progress" />
            <p class="status" role="status" aria-live="polite" data-testid="export-outcome">
                {move || outcome.get().map(|o| match o {
                    Ok(export) => view! {
                        <span class="ok">
                            {format!("Exported {} events ({}): ", format::count(export.events), format::bytes(export.bytes))}
                            <a href=export.url download=data_api::EXPORT_FILE>{data_api::EXPORT_FILE}</a>
                        </span>
                    }.into_any(),
                    Err(e) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                })}
            </p>
        </section>
    }
}

/// Import an NDJSON file, listing the lines that are wrong.
#[component]
fn ImportCard(busy: RwSignal<Busy>, refresh: RwSignal<u64>) -> impl IntoView {
    let progress: Progress = RwSignal::new(None);
    let outcome = RwSignal::new(None::<Result<ImportReport, String>>);
    let file_label = RwSignal::new(None::<String>);
    let picked = move |ev: leptos::ev::Event| {
        let Some(file) = PickedFile::from_change(&ev) else {
            return;
        };
        if busy.get_untracked() != Busy::Idle {
            return;
        }
        busy.set(Busy::Importing);
        file_label.set(Some(format!(
            "{} ({})",
            file.name(),
            format::bytes(file.size())
        )));
        outcome.set(None);
        progress.set(Some((0, 0)));
        spawn_local(async move {
            let result = data_api::import(&file, move |done, total| {
                progress.try_set(Some((done, total)));
            })
            .await;
            if let Ok(report) = &result {
                // Lines were checked before anything was written: no progress to show.
                if report.imported == 0 && !report.is_ok() {
                    progress.try_set(None);
                }
            }
            outcome.try_set(Some(result.map_err(|e| e.to_string())));
            busy.try_set(Busy::Idle);
            refresh.try_update(|n| *n += 1);
        });
    };
    view! {
        <section class="card" aria-labelledby="import-heading">
            <h2 id="import-heading">"Import"</h2>
            <p class="muted">
                "Every line is checked first: if any is wrong, nothing is written. Events "
                "already in the store are skipped, so importing a file twice changes nothing."
            </p>
            <label class="file-label">
                "Import NDJSON"
                <input
                    type="file"
                    accept=".ndjson,.jsonl,application/x-ndjson"
                    on:change=picked
                    disabled=move || busy.get() != Busy::Idle
                />
            </label>
            {move || file_label.get().map(|f| view! { <p class="muted small" data-testid="import-file">{f}</p> })}
            <ProgressLine progress=progress label="Import progress" testid="import-progress" />
            <div class="status" role="status" aria-live="polite" data-testid="import-outcome">
                {move || outcome.get().map(|o| match o {
                    Ok(report) if report.is_ok() => view! {
                        <span class="ok">
                            {format!(
                                "Imported {} events ({} already present, {} lines).",
                                format::count(report.imported),
                                format::count(report.skipped),
                                format::count(report.lines),
                            )}
                        </span>
                    }.into_any(),
                    Ok(report) => view! { <ImportErrors report=report /> }.into_any(),
                    Err(e) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                })}
            </div>
        </section>
    }
}

/// The lines an import rejected, with their line numbers.
#[component]
fn ImportErrors(report: ImportReport) -> impl IntoView {
    let summary = if report.imported == 0 {
        format!(
            "Nothing was imported: {} {} errors.",
            format::count(report.error_count),
            if report.error_count == 1 {
                "line has"
            } else {
                "lines have"
            }
        )
    } else {
        format!(
            "Imported {} events, then stopped: {} {} errors.",
            format::count(report.imported),
            format::count(report.error_count),
            if report.error_count == 1 {
                "line has"
            } else {
                "lines have"
            }
        )
    };
    let more = report.error_count - report.errors.len() as u64;
    view! {
        <p class="error" data-testid="import-summary">{summary}</p>
        <ol class="import-errors" data-testid="import-errors">
            {report.errors.into_iter().map(|e| view! {
                <li data-testid="import-error">
                    <span class="line-no" data-testid="import-error-line">{format!("Line {}", e.line)}</span>
                    <span>{e.message}</span>
                </li>
            }).collect_view()}
        </ol>
        {(more > 0).then(|| view! { <p class="muted">{format!("… and {} more.", format::count(more))}</p> })}
    }
}

/// Delete everything, after a confirmation.
#[component]
fn ClearCard(busy: RwSignal<Busy>, refresh: RwSignal<u64>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    // When the confirmation opens, focus goes to the safe choice.
    let keep_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = keep_button.get() {
            let _ = button.focus();
        }
    });
    let clear = move |_| {
        confirming.set(false);
        busy.set(Busy::Clearing);
        outcome.set(None);
        spawn_local(async move {
            let result = data_api::clear_database().await;
            outcome.try_set(Some(result.map_err(|e| e.to_string()).map(|()| {
                "The database is empty: every event, snapshot and checkpoint is gone.".to_string()
            })));
            busy.try_set(Busy::Idle);
            refresh.try_update(|n| *n += 1);
        });
    };
    view! {
        <section class="card danger" aria-labelledby="clear-heading">
            <h2 id="clear-heading">"Clear the database"</h2>
            <p class="muted">
                "Deletes every event, snapshot and projection checkpoint in this browser. "
                "Export first if you want to keep them. Other open tabs lose their connection "
                "and need a reload."
            </p>
            <button
                type="button"
                class="danger-button"
                on:click=move |_| confirming.set(true)
                disabled=move || busy.get() != Busy::Idle
            >
                "Clear database"
            </button>
            <Show when=move || confirming.get()>
                <div
                    class="overlay"
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Escape" {
                            confirming.set(false);
                        }
                    }
                >
                    <div
                        class="dialog"
                        role="alertdialog"
                        aria-modal="true"
                        aria-labelledby="clear-confirm-title"
                        aria-describedby="clear-confirm-text"
                    >
                        <h3 id="clear-confirm-title">"Delete everything?"</h3>
                        <p id="clear-confirm-text">
                            "Every event, snapshot and checkpoint in this browser will be deleted. "
                            "This cannot be undone."
                        </p>
                        <div class="dialog-buttons">
                            <button type="button" class="secondary" on:click=move |_| confirming.set(false) node_ref=keep_button>
                                "Keep my data"
                            </button>
                            <button type="button" class="danger-button" on:click=clear>
                                "Delete everything"
                            </button>
                        </div>
                    </div>
                </div>
            </Show>
            <p class="status" role="status" aria-live="polite" data-testid="clear-outcome">
                {move || outcome_view(outcome.get())}
            </p>
        </section>
    }
}
