//! Time travel: choose a stream (or the whole store), move along its history with a
//! slider, and see the state as it was at that point, what the step changed and which
//! event caused it. Snapshot points are marked on the timeline; a jump is rebuilt from
//! the nearest snapshot at or below it, and the page says so.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;

use crate::api::travel::{Mark, Row, StateView, Table, TravelPoint};
use crate::api::{self, LogEntry};
use crate::format;

/// Milliseconds between two steps while playing at 1×.
const STEP_MS: f64 = 1000.0;

/// The time-travel page. `?stream=<id>` preselects a stream.
#[component]
pub fn TravelPage() -> impl IntoView {
    let initial = use_query_map().with_untracked(|q| q.get("stream").unwrap_or_default());
    // The stream travelled through; empty for the whole store.
    let subject = RwSignal::new(initial);
    // The chosen point; `None` is now (the head, following new events).
    let point = RwSignal::new(None::<u64>);
    let speed = RwSignal::new("1".to_string());
    let playing = RwSignal::new(false);
    let timer = StoredValue::new(None::<IntervalHandle>);
    let status = RwSignal::new(None::<Result<String, String>>);
    // The timeline of what is shown, kept while the next point loads.
    let head = RwSignal::new(0u64);
    let marks = RwSignal::new(Vec::<Mark>::new());

    let streams = LocalResource::new(move || {
        api::changes().track();
        async move { api::travel::streams().await }
    });
    let travel = LocalResource::new(move || {
        let (stream, at) = (subject.get(), point.get());
        api::changes().track();
        async move {
            let stream = Some(stream).filter(|s| !s.is_empty());
            api::travel::travel(stream.as_deref(), at).await
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(t)) = travel.get() {
            head.set(t.head);
            marks.set(t.marks);
        }
    });

    let at = move || point.get().unwrap_or_else(|| head.get()).min(head.get());
    let lowest = move || head.get().min(1);
    let at_head = move || at() >= head.get();
    // Moves to `v`; the head is "now".
    let go = move |v: u64| {
        let h = head.get_untracked();
        point.set((v < h).then_some(v.max(h.min(1))));
    };
    let stop = move || {
        if let Some(Some(handle)) = timer.try_get_value() {
            handle.clear();
        }
        timer.try_set_value(None);
        playing.try_set(false);
    };
    // (Re)starts the play timer at the chosen speed.
    let schedule = move || {
        if let Some(handle) = timer.get_value() {
            handle.clear();
        }
        let factor = speed.get_untracked().parse::<f64>().unwrap_or(1.0).max(0.1);
        let tick = move || {
            let h = head.get_untracked();
            let a = point.get_untracked().unwrap_or(h).min(h);
            if a >= h {
                stop();
            } else {
                go(a + 1);
            }
        };
        let handle =
            set_interval_with_handle(tick, Duration::from_millis((STEP_MS / factor) as u64));
        timer.set_value(handle.ok());
        playing.set(true);
    };
    let play_pause = move |_| {
        if playing.get_untracked() {
            stop();
        } else {
            // Playing from now starts again from the beginning.
            if point.get_untracked().is_none() {
                point.set(Some(lowest()));
            }
            schedule();
        }
    };
    on_cleanup(stop);

    // Another stream starts at its present.
    Effect::new(move |_| {
        subject.track();
        stop();
        point.set(None);
        status.set(None);
    });

    let snapshot = move |_| {
        let stream = subject.get_untracked();
        spawn_local(async move {
            status.set(Some(
                api::travel::snapshot_now(&stream)
                    .await
                    .map(|v| format!("saved a snapshot of {stream} at v{v}"))
                    .map_err(|e| e.to_string()),
            ));
        });
    };
    let unit = move || {
        if subject.with(String::is_empty) {
            "Position"
        } else {
            "Version"
        }
    };
    let used_mark = move || {
        travel
            .get()
            .and_then(Result::ok)
            .map(|t| t.rebuild.from)
            .unwrap_or(0)
    };
    let can_snapshot = move || matches!(travel.get(), Some(Ok(ref t)) if t.can_snapshot && t.stream.as_deref() == Some(subject.get().as_str()));

    view! {
        <section class="card travel" aria-label="Timeline">
            <h2>"Time travel"</h2>
            <p class="muted intro">
                "Every state here is derived from the event log. Pick a stream, or the whole store, and move through its history: "
                "each step applies one more event. Diamonds mark snapshots; a jump rebuilds from the nearest one at or below it."
            </p>
            <div class="travel-pick">
                <label>
                    "Stream"
                    <select data-testid="travel-stream" bind:value=subject>
                        <option value="">"Whole store (AccountBalances)"</option>
                        {move || {
                            let mut list = streams.get().and_then(Result::ok).unwrap_or_default();
                            // A stream asked for in the URL that does not exist (yet) stays selectable.
                            let chosen = subject.get_untracked();
                            if !chosen.is_empty() && !list.iter().any(|s| s.stream_id == chosen) {
                                list.insert(0, chronik_core::StreamInfo {
                                    stream_id: chosen.clone(),
                                    stream_type: String::new(),
                                    version: 0,
                                    last_position: 0,
                                    updated_at: 0,
                                });
                            }
                            list.into_iter().map(|s| {
                                let selected = s.stream_id == subject.get_untracked();
                                let text = format!("{} ({} {})", s.stream_id, s.version, if s.version == 1 { "event" } else { "events" });
                                view! { <option value=s.stream_id.clone() selected=selected>{text}</option> }
                            }).collect_view()
                        }}
                    </select>
                </label>
                <Show when=can_snapshot>
                    <button class="secondary" on:click=snapshot data-testid="travel-snapshot-now">
                        "Snapshot now"
                    </button>
                </Show>
            </div>
            <div class="timeline">
                <label for="travel-slider" class="timeline-label">"Time travel"</label>
                <div class="slider-wrap">
                    <input
                        id="travel-slider"
                        type="range"
                        step="1"
                        min=move || lowest().to_string()
                        max=move || head.get().to_string()
                        prop:value=move || at().to_string()
                        disabled=move || head.get() == 0
                        style=move || {
                            let (lo, hi) = (lowest(), head.get());
                            let f = if hi > lo { (at() - lo) as f64 / (hi - lo) as f64 } else { 1.0 };
                            format!("--done: {:.2}%", f * 100.0)
                        }
                        aria-valuetext=move || format!("{} {} of {}", unit(), at(), head.get())
                        on:input=move |ev| {
                            if let Ok(v) = event_target_value(&ev).parse::<u64>() {
                                go(v);
                            }
                        }
                    />
                    <div class="ticks" data-testid="travel-marks">
                        <For each=move || marks.get() key=|m| (m.at, m.label.clone()) let:mark>
                            {
                                let v = mark.at;
                                let left = move || {
                                    let (lo, hi) = (lowest(), head.get());
                                    let f = if hi > lo { (v.saturating_sub(lo)) as f64 / (hi - lo) as f64 } else { 0.0 };
                                    format!("left: calc(9px + (100% - 18px) * {f:.4})")
                                };
                                view! {
                                    <button
                                        class="tick"
                                        class:used=move || used_mark() == v
                                        style=left
                                        title=mark.label.clone()
                                        aria-label=format!("Jump to {}", mark.label)
                                        data-testid="travel-mark"
                                        data-at=v
                                        on:click=move |_| go(v)
                                    >
                                        <span class="tick-label">{format!("{}{v}", if unit() == "Version" { "v" } else { "@" })}</span>
                                    </button>
                                }
                            }
                        </For>
                    </div>
                </div>
                <p class="readout">
                    <span data-testid="travel-at">
                        {move || format!("{} {} of {}", unit(), at(), head.get())}
                    </span>
                    {move || if point.get().is_none() {
                        view! { <span class="pill now" data-testid="travel-mode">"now"</span> }.into_any()
                    } else {
                        view! { <span class="pill past" data-testid="travel-mode">"in the past"</span> }.into_any()
                    }}
                </p>
            </div>
            <div class="travel-controls" role="group" aria-label="Playback">
                <button
                    class="secondary"
                    aria-label="Step back"
                    disabled=move || at() <= lowest()
                    on:click=move |_| { stop(); go(at().saturating_sub(1).max(lowest())); }
                >
                    "◀ Step"
                </button>
                <button
                    aria-label=move || if playing.get() { "Pause" } else { "Play" }
                    disabled=move || head.get() == 0
                    data-testid="travel-play"
                    on:click=play_pause
                >
                    {move || if playing.get() { "❚❚ Pause" } else { "▶ Play" }}
                </button>
                <button
                    class="secondary"
                    aria-label="Step forward"
                    disabled=at_head
                    on:click=move |_| { stop(); go(at() + 1); }
                >
                    "Step ▶"
                </button>
                <label class="inline">
                    "Speed"
                    <select
                        data-testid="travel-speed"
                        bind:value=speed
                        on:change=move |_| if playing.get_untracked() { schedule() }
                    >
                        <option value="0.5">"0.5×"</option>
                        <option value="1">"1×"</option>
                        <option value="2">"2×"</option>
                        <option value="4">"4×"</option>
                        <option value="8">"8×"</option>
                    </select>
                </label>
                <button
                    class="now-button"
                    disabled=move || point.get().is_none()
                    on:click=move |_| { stop(); point.set(None); }
                >
                    "Back to now"
                </button>
            </div>
            <p class="status" role="status" aria-live="polite" data-testid="travel-message">
                {move || match status.get() {
                    Some(Ok(msg)) => view! { <span class="ok">{msg}</span> }.into_any(),
                    Some(Err(msg)) => view! { <span class="error">{msg}</span> }.into_any(),
                    None => ().into_any(),
                }}
            </p>
        </section>
        <Transition fallback=|| view! { <section class="card"><p>"Rebuilding…"</p></section> }>
            {move || travel.get().map(|result| match result {
                Ok(t) if t.head == 0 => view! {
                    <section class="card">
                        <p data-testid="travel-empty">"The store is empty: append or generate some events, then come back to travel through them."</p>
                    </section>
                }.into_any(),
                Ok(t) => view! { <PointView point=t /> }.into_any(),
                Err(e) => view! { <section class="card"><p class="error" role="alert">{e.to_string()}</p></section> }.into_any(),
            })}
        </Transition>
    }
}

/// The state at one point, what changed from the step before, and why.
#[component]
fn PointView(point: TravelPoint) -> impl IntoView {
    let changes = changed_labels(&point.state, &point.previous);
    let summary = if changes.is_empty() {
        "nothing visible changed".to_string()
    } else {
        format!("changed: {}", changes.join(", "))
    };
    let TravelPoint {
        stream,
        at,
        state,
        previous,
        cause,
        rebuild,
        notes,
        error,
        ..
    } = point;
    let whole = stream.is_none();
    view! {
        <div class="travel-layout">
            <section class="card state" aria-label="State at this point" data-testid="travel-state" data-stream=stream.clone().unwrap_or_default() data-at=at>
                <h3>{state.title.clone()} <span class="muted">{if whole { format!(" at position {at}") } else { format!(" at v{at}") }}</span></h3>
                {error.map(|e| view! {
                    <p class="error" role="alert" data-testid="travel-error">{e.to_string()}</p>
                })}
                <StateFields state=state.clone() previous=previous.clone() />
                {state.tables.iter().map(|table| {
                    let before = previous.tables.iter().find(|t| t.caption == table.caption).cloned();
                    view! { <StateTable table=table.clone() previous=before /> }
                }).collect_view()}
                {(!notes.is_empty()).then(|| view! {
                    <ul class="notes" data-testid="travel-notes">
                        {notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                    </ul>
                })}
            </section>
            <aside class="card travel-step" aria-label="This step">
                <h3>"This step"</h3>
                <p class="rebuild" data-testid="travel-rebuild">{rebuild.summary}</p>
                <p class="changes" data-testid="travel-changes">{summary}</p>
                {match cause {
                    Some(entry) => view! { <Cause entry=entry whole=whole /> }.into_any(),
                    None => view! { <p class="muted">"No event yet."</p> }.into_any(),
                }}
            </aside>
        </div>
    }
}

/// The labels of the fields and rows that differ between two states.
fn changed_labels(state: &StateView, previous: &StateView) -> Vec<String> {
    let mut labels: Vec<String> = state
        .fields
        .iter()
        .filter(|f| previous_value(previous, &f.label) != Some(f.value.as_str()))
        .map(|f| f.label.clone())
        .collect();
    for table in &state.tables {
        let before = previous.tables.iter().find(|t| t.caption == table.caption);
        let rows_before = before.map(|t| t.rows.as_slice()).unwrap_or_default();
        for row in &table.rows {
            if rows_before.iter().find(|r| r.key == row.key) != Some(row) {
                labels.push(format!("{} › {}", table.caption, row.key));
            }
        }
        for row in rows_before {
            if !table.rows.iter().any(|r| r.key == row.key) {
                labels.push(format!("{} › {} (removed)", table.caption, row.key));
            }
        }
    }
    labels
}

fn previous_value<'a>(previous: &'a StateView, label: &str) -> Option<&'a str> {
    previous
        .fields
        .iter()
        .find(|f| f.label == label)
        .map(|f| f.value.as_str())
}

/// The labelled values of a state; those the step changed are highlighted with what they
/// were before.
#[component]
fn StateFields(state: StateView, previous: StateView) -> impl IntoView {
    view! {
        <dl class="state-fields">
            {state.fields.into_iter().map(|f| {
                let before = previous_value(&previous, &f.label).map(str::to_string);
                let changed = before.as_deref() != Some(f.value.as_str());
                let was = before.filter(|b| changed && !b.is_empty());
                view! {
                    <div class="field" class:changed=changed data-field=f.label.clone()>
                        <dt>{f.label.clone()}</dt>
                        <dd>
                            <span class="value" data-testid=f.testid>{f.value.clone()}</span>
                            {was.map(|w| view! { <span class="was">"was " {w}</span> })}
                        </dd>
                    </div>
                }
            }).collect_view()}
        </dl>
    }
}

/// One list of a state; changed cells and new rows are highlighted, removed rows shown
/// struck through.
#[component]
fn StateTable(table: Table, previous: Option<Table>) -> impl IntoView {
    let before: Vec<Row> = previous.map(|t| t.rows).unwrap_or_default();
    let removed: Vec<Row> = before
        .iter()
        .filter(|r| !table.rows.iter().any(|n| n.key == r.key))
        .cloned()
        .collect();
    let empty = table.rows.is_empty() && removed.is_empty();
    view! {
        <h4>{table.caption.clone()}</h4>
        {if empty {
            view! { <p class="muted">"None."</p> }.into_any()
        } else {
            view! {
                <table class="events state-table" data-testid="travel-table">
                    <thead>
                        <tr>{table.columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}</tr>
                    </thead>
                    <tbody>
                        {table.rows.into_iter().map(|row| {
                            let old = before.iter().find(|r| r.key == row.key).cloned();
                            let is_new = old.is_none();
                            view! {
                                <tr data-testid="travel-row" data-key=row.key.clone() class:added=is_new>
                                    {row.cells.into_iter().enumerate().map(|(i, cell)| {
                                        let changed = old.as_ref().is_none_or(|o| o.cells.get(i) != Some(&cell));
                                        view! { <td class:changed=changed>{cell}</td> }
                                    }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                        {removed.into_iter().map(|row| view! {
                            <tr class="removed" data-testid="travel-row-removed" data-key=row.key.clone()>
                                {row.cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}

/// The event that made the step.
#[component]
fn Cause(entry: LogEntry, whole: bool) -> impl IntoView {
    let e = entry.event.clone();
    let upcast = entry.was_upcast().then(|| {
        format!(
            "stored as schema {}, upcast to {}",
            entry.stored_schema_version, e.schema_version
        )
    });
    view! {
        <div class="cause" data-testid="travel-cause">
            <p class="cause-type">
                <span class="muted">"caused by "</span>
                <strong data-testid="travel-cause-type">{e.event_type.clone()}</strong>
                {upcast.map(|u| view! { <span class="badge" title=u>"upcast"</span> })}
            </p>
            <dl>
                {whole.then(|| view! { <dt>"Stream"</dt><dd>{e.stream_id.clone()}</dd> })}
                <dt>"Version"</dt><dd>{e.version}</dd>
                <dt>"Position"</dt><dd>{e.position}</dd>
                <dt>"Recorded"</dt><dd>{format::time(e.recorded_at)}</dd>
            </dl>
            {entry.upcast_error.clone().map(|err| view! { <p class="error">{err}</p> })}
            <pre>{format::json(&e.data)}</pre>
        </div>
    }
}
