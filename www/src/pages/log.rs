//! The event log: every event in the store, a page at a time, with filters by stream,
//! type and time, and a detail pane with data, metadata and schema version.
//!
//! Pages are read by global position (a key range in IndexedDB), so the cost of a page
//! does not grow with the size of the store.

use leptos::prelude::*;

use crate::api::{self, LogEntry, LogFilter};
use crate::format;

/// Events per page.
const PAGE: usize = 50;

/// The event log page.
#[component]
pub fn LogPage() -> impl IntoView {
    let stream = RwSignal::new(String::new());
    let event_type = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    // Start positions of the pages before the current one, for "Previous".
    let history = RwSignal::new(Vec::<u64>::new());
    let start = RwSignal::new(1u64);
    let selected = RwSignal::new(None::<LogEntry>);

    let filter = Memo::new(move |_| LogFilter {
        stream_prefix: Some(stream.get()).filter(|s| !s.trim().is_empty()),
        event_type: Some(event_type.get()).filter(|t| !t.is_empty()),
        from_ms: format::parse_datetime_local(&from.get()),
        to_ms: format::parse_datetime_local(&to.get()),
    });
    // A new filter starts again from the first page.
    Effect::new(move |_| {
        filter.track();
        history.set(Vec::new());
        start.set(1);
    });

    let page = LocalResource::new(move || {
        let (filter, from) = (filter.get(), start.get());
        api::changes().track();
        async move { api::read_log(&filter, from, PAGE + 1).await }
    });
    let types = LocalResource::new(move || {
        api::changes().track();
        async move {
            api::stats()
                .await
                .map(|s| s.events_by_type.into_keys().collect::<Vec<_>>())
                .unwrap_or_default()
        }
    });
    let head = LocalResource::new(move || {
        api::changes().track();
        async move { api::head_position().await.unwrap_or(0) }
    });

    let next = move |_| {
        if let Some(Ok(entries)) = page.get() {
            if entries.len() > PAGE {
                history.update(|h| h.push(start.get_untracked()));
                start.set(entries[PAGE].event.position);
            }
        }
    };
    let previous = move |_| {
        if let Some(p) = history.try_update(|h| h.pop()).flatten() {
            start.set(p);
        }
    };
    let first = move |_| {
        history.set(Vec::new());
        start.set(1);
    };

    view! {
        <section class="card" aria-labelledby="log-heading">
            <h2 id="log-heading">"Event log"</h2>
            <form class="filters" on:submit=|ev| ev.prevent_default() role="search">
                <label>
                    "Stream"
                    <input type="text" placeholder="account-" data-testid="log-stream" bind:value=stream />
                </label>
                <label>
                    "Type"
                    <select data-testid="log-type" bind:value=event_type>
                        <option value="">"All types"</option>
                        {move || types.get().unwrap_or_default().into_iter().map(|t| {
                            view! { <option value=t.clone()>{t.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>
                    "From"
                    <input type="datetime-local" step="1" data-testid="log-from" bind:value=from />
                </label>
                <label>
                    "To"
                    <input type="datetime-local" step="1" data-testid="log-to" bind:value=to />
                </label>
            </form>
            <div class="pager" role="navigation" aria-label="Event log pages">
                <button on:click=first disabled=move || start.get() <= 1>"First"</button>
                <button on:click=previous disabled=move || history.get().is_empty()>"Previous"</button>
                <button
                    on:click=next
                    disabled=move || !matches!(page.get(), Some(Ok(ref e)) if e.len() > PAGE)
                >
                    "Next"
                </button>
                <span class="muted" data-testid="log-head">
                    {move || format!("{} events in the store", head.get().unwrap_or(0))}
                </span>
            </div>
            <div class="log-layout">
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || page.get().map(|result| match result {
                        Ok(entries) if entries.is_empty() => {
                            view! { <p data-testid="log-empty">"No events match."</p> }.into_any()
                        }
                        Ok(mut entries) => {
                            entries.truncate(PAGE);
                            view! { <LogTable entries=entries selected=selected /> }.into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    })}
                </Transition>
                <EventDetail selected=selected />
            </div>
        </section>
    }
}

/// The rows of one page; clicking (or Enter on) a row selects it.
#[component]
fn LogTable(entries: Vec<LogEntry>, selected: RwSignal<Option<LogEntry>>) -> impl IntoView {
    view! {
        <table class="events" data-testid="log-table">
            <thead>
                <tr>
                    <th scope="col">"Position"</th>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Stream"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col">"Version"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || entries.clone() key=|e| e.event.position let:entry>
                    {
                        let position = entry.event.position;
                        let is_selected = move || {
                            selected.with(|s| s.as_ref().map(|e| e.event.position) == Some(position))
                        };
                        let choose = {
                            let entry = entry.clone();
                            move || selected.set(Some(entry.clone()))
                        };
                        let choose_key = choose.clone();
                        view! {
                            <tr
                                data-testid="log-row"
                                tabindex="0"
                                class:selected=is_selected
                                aria-selected=move || is_selected().to_string()
                                on:click=move |_| choose()
                                on:keydown=move |ev| if ev.key() == "Enter" { choose_key() }
                            >
                                <td class="num">{position}</td>
                                <td>{format::time(entry.event.recorded_at)}</td>
                                <td data-testid="log-row-stream">{entry.event.stream_id.clone()}</td>
                                <td data-testid="log-row-type">
                                    {entry.event.event_type.clone()}
                                    {entry.was_upcast().then(|| view! { <span class="badge" title="upcast on read">"upcast"</span> })}
                                </td>
                                <td class="num">{entry.event.version}</td>
                            </tr>
                        }
                    }
                </For>
            </tbody>
        </table>
    }
}

/// Everything about the selected event.
#[component]
fn EventDetail(selected: RwSignal<Option<LogEntry>>) -> impl IntoView {
    view! {
        <aside class="detail" aria-label="Event detail" data-testid="event-detail" aria-live="polite">
            {move || match selected.get() {
                None => view! { <p class="muted">"Select an event to see its data and metadata."</p> }.into_any(),
                Some(entry) => {
                    let e = &entry.event;
                    let schema = if entry.was_upcast() {
                        format!("{} (stored as {}, upcast on read)", e.schema_version, entry.stored_schema_version)
                    } else {
                        e.schema_version.to_string()
                    };
                    view! {
                        <h3>{e.event_type.clone()}</h3>
                        <dl>
                            <dt>"Stream"</dt><dd>{e.stream_id.clone()}</dd>
                            <dt>"Version"</dt><dd>{e.version}</dd>
                            <dt>"Position"</dt><dd>{e.position}</dd>
                            <dt>"Event id"</dt><dd><code>{e.event_id.clone()}</code></dd>
                            <dt>"Recorded"</dt><dd>{format::time(e.recorded_at)}</dd>
                            <dt>"Schema version"</dt><dd data-testid="detail-schema">{schema}</dd>
                        </dl>
                        {entry.upcast_error.clone().map(|err| view! { <p class="error">{err}</p> })}
                        <h4>"Data"</h4>
                        <pre data-testid="detail-data">{format::json(&e.data)}</pre>
                        <h4>"Metadata"</h4>
                        <pre data-testid="detail-metadata">
                            {serde_json::to_value(&e.metadata).map(|m| format::json(&m)).unwrap_or_default()}
                        </pre>
                    }.into_any()
                }
            }}
        </aside>
    }
}
