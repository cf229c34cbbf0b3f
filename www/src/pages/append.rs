//! The append page: append a raw event (type + JSON payload) to any stream and see that
//! stream's events. A developer's tool: the domain pages issue commands instead.

use chronik_core::RecordedEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::{api, format};

/// Append events to a stream and list them.
#[component]
pub fn AppendPage() -> impl IntoView {
    let stream = RwSignal::new("demo-1".to_string());
    let event_type = RwSignal::new("NoteAdded".to_string());
    let payload = RwSignal::new(r#"{"text": "hello"}"#.to_string());
    let status = RwSignal::new(None::<Result<String, String>>);
    let refresh = RwSignal::new(0u32);

    let events = LocalResource::new(move || {
        let stream = stream.get();
        refresh.track();
        async move { api::read_stream(&stream).await }
    });

    let append = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (s, t, p) = (stream.get(), event_type.get(), payload.get());
        spawn_local(async move {
            match api::append_json(&s, &t, &p).await {
                Ok(r) => {
                    status.set(Some(Ok(format!(
                        "appended {t} as version {} (position {})",
                        r.last_version, r.last_position
                    ))));
                    refresh.update(|n| *n += 1);
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
        });
    };

    view! {
        <section class="card" aria-labelledby="append-heading">
            <h2 id="append-heading">"Append an event"</h2>
            <form class="append-form" on:submit=append data-testid="append-form">
                <label>
                    "Stream"
                    <input type="text" data-testid="stream-input" bind:value=stream />
                </label>
                <label>
                    "Event type"
                    <input type="text" data-testid="type-input" bind:value=event_type />
                </label>
                <label class="wide">
                    "Payload (JSON)"
                    <textarea rows="3" data-testid="payload-input" bind:value=payload></textarea>
                </label>
                <button type="submit" data-testid="append-button">"Append event"</button>
            </form>
            <p class="status" role="status" aria-live="polite" data-testid="status">
                {move || match status.get() {
                    Some(Ok(msg)) => view! { <span class="ok">{msg}</span> }.into_any(),
                    Some(Err(msg)) => view! { <span class="error">{msg}</span> }.into_any(),
                    None => ().into_any(),
                }}
            </p>
        </section>
        <section class="card" aria-labelledby="events-heading">
            <h2 id="events-heading">"Events in " <code>{move || stream.get()}</code></h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || events.get().map(|result| match result {
                    Ok(list) if list.is_empty() => {
                        view! { <p data-testid="empty">"No events yet."</p> }.into_any()
                    }
                    Ok(list) => view! { <EventTable events=list /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// A table of events: version, position, type, payload and time.
#[component]
fn EventTable(events: Vec<RecordedEvent>) -> impl IntoView {
    view! {
        <table class="events" data-testid="event-table">
            <thead>
                <tr>
                    <th scope="col">"Version"</th>
                    <th scope="col">"Position"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col">"Data"</th>
                    <th scope="col">"Recorded"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || events.clone() key=|e| e.position let:event>
                    <tr data-testid="event-row">
                        <td class="num">{event.version}</td>
                        <td class="num">{event.position}</td>
                        <td data-testid="event-type">{event.event_type.clone()}</td>
                        <td><code>{event.data.to_string()}</code></td>
                        <td>{format::time(event.recorded_at)}</td>
                    </tr>
                </For>
            </tbody>
        </table>
    }
}
