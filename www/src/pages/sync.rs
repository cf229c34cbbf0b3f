//! The Sync page: connect this app to a chronik-server's store, see where the sync stands
//! (status, pending writes, the last confirmed position) and settle the conflicts; and
//! the header's sync badge, shown on every page.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api::sync::{self, ConflictInfo, Overview};
use crate::{api, format};

/// The sync's status in the header, linking to the Sync page.
#[component]
pub fn SyncBadge() -> impl IntoView {
    let info = sync::info();
    let label = {
        let info = info.clone();
        move || info.get().label()
    };
    let class = {
        let info = info.clone();
        move || format!("sync-badge sync-{}", info.get().label())
    };
    let title = move || match info.get().last_error {
        Some(e) => format!("Sync: {} ({e})", info.get().label()),
        None => format!("Sync: {}", info.get().label()),
    };
    view! {
        <A href="/sync" attr:class=class attr:data-testid="sync-badge" attr:aria-label=title.clone() attr:title=title>
            "Sync: " <span data-testid="sync-badge-status">{label}</span>
        </A>
    }
}

/// Connects the app again if it was connected when last closed (once, at start).
pub fn resume_sync() {
    spawn_local(async {
        if let Err(e) = sync::resume().await {
            web_sys::console::warn_1(&format!("cannot resume the sync: {e}").into());
        }
    });
}

/// Server settings, connect/disconnect, status, outbox and conflicts.
#[component]
pub fn SyncPage() -> impl IntoView {
    let (saved_url, saved_store) = sync::settings();
    let url = RwSignal::new(if saved_url.is_empty() {
        "http://127.0.0.1:3000".to_string()
    } else {
        saved_url
    });
    let server_store = RwSignal::new(if saved_store.is_empty() {
        "default".to_string()
    } else {
        saved_store
    });
    let message = RwSignal::new(None::<Result<String, String>>);
    let info = sync::info();

    let overview = LocalResource::new(move || {
        api::changes().track();
        sync::info().track();
        async move { sync::overview().await }
    });

    let connect = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (u, s) = (url.get(), server_store.get());
        spawn_local(async move {
            match sync::connect(&u, &s).await {
                Ok(()) => message.set(Some(Ok(format!("connected to {s} at {u}")))),
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let disconnect = move |_| {
        spawn_local(async move {
            match sync::disconnect().await {
                Ok(()) => message.set(Some(Ok("disconnected".to_string()))),
                Err(e) => message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let connected = {
        let info = info.clone();
        move || info.get().connected
    };
    let connected2 = connected.clone();
    let status_label = {
        let info = info.clone();
        move || info.get().label()
    };
    let last_error = move || info.get().last_error;

    view! {
        <section class="card" aria-labelledby="sync-heading">
            <h2 id="sync-heading">"Sync with a server"</h2>
            <p class="hint">
                "Connect to a chronik-server store: your writes are kept here and pushed when the "
                "server can be reached; a command another device made impossible becomes a conflict below."
            </p>
            <form class="sync-form" on:submit=connect data-testid="sync-form" aria-label="Sync settings">
                <label>
                    "Server URL"
                    <input type="url" data-testid="sync-url" aria-label="Server URL" bind:value=url />
                </label>
                <label>
                    "Store"
                    <input type="text" data-testid="sync-store" aria-label="Server store" bind:value=server_store />
                </label>
                <button type="submit" data-testid="sync-connect" aria-label="Connect" disabled=connected>
                    "Connect"
                </button>
                <button type="button" data-testid="sync-disconnect" aria-label="Disconnect"
                    disabled=move || !connected2() on:click=disconnect>
                    "Disconnect"
                </button>
            </form>
            <p class="status" role="status" aria-live="polite" data-testid="sync-message">
                {move || match message.get() {
                    Some(Ok(m)) => view! { <span class="ok">{m}</span> }.into_any(),
                    Some(Err(m)) => view! { <span class="error">{m}</span> }.into_any(),
                    None => ().into_any(),
                }}
            </p>
            <dl class="sync-facts">
                <dt>"Status"</dt>
                <dd data-testid="sync-status">{status_label}</dd>
                {move || last_error().map(|e| view! {
                    <dt>"Last error"</dt>
                    <dd class="error" data-testid="sync-error">{e}</dd>
                })}
                <Transition fallback=|| ()>
                    {move || overview.get().map(|r| match r {
                        Ok(o) => view! { <Facts overview=o /> }.into_any(),
                        Err(e) => view! { <dd class="error" role="alert">{e.to_string()}</dd> }.into_any(),
                    })}
                </Transition>
            </dl>
        </section>
        <section class="card" aria-labelledby="conflicts-heading">
            <h2 id="conflicts-heading">"Conflicts"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || overview.get().map(|r| match r {
                    Ok(o) if o.conflicts.is_empty() => {
                        view! { <p data-testid="no-conflicts">"No conflicts."</p> }.into_any()
                    }
                    Ok(o) => view! { <ConflictList conflicts=o.conflicts message=message /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// Pending writes and the last confirmed position.
#[component]
fn Facts(overview: Overview) -> impl IntoView {
    view! {
        <dt>"Pending writes"</dt>
        <dd data-testid="sync-pending">{overview.pending}</dd>
        <dt>"Last confirmed position"</dt>
        <dd data-testid="sync-confirmed">{overview.confirmed_position}</dd>
        <dt>"Replica"</dt>
        <dd data-testid="sync-replica">
            {if overview.replica { "yes: reads show the server's log and the pending writes" } else { "no: never connected" }}
        </dd>
    }
}

/// The conflicts, each with its reason and what to do with it.
#[component]
fn ConflictList(
    conflicts: Vec<ConflictInfo>,
    message: RwSignal<Option<Result<String, String>>>,
) -> impl IntoView {
    let act = move |id: String, retry: bool| {
        spawn_local(async move {
            let result = if retry {
                sync::retry(&id)
                    .await
                    .map(|()| "retried: pending again".to_string())
            } else {
                sync::discard(&id).await.map(|()| "discarded".to_string())
            };
            message.set(Some(result.map_err(|e| e.to_string())));
        });
    };
    view! {
        <ul class="conflicts" data-testid="conflict-list">
            {conflicts.into_iter().map(|c| {
                let (discard_id, retry_id) = (c.id.clone(), c.id.clone());
                let label = format!("conflict on {}", c.stream_id);
                view! {
                    <li class="conflict" data-testid="conflict" aria-label=label>
                        <p>
                            <strong data-testid="conflict-stream">{c.stream_id.clone()}</strong>
                            " · " <code data-testid="conflict-what">{c.what.clone()}</code>
                        </p>
                        <p class="error" data-testid="conflict-reason">{c.reason.clone()}</p>
                        <p class="hint">{format!("since {}", format::time(c.at))}</p>
                        {c.retryable.then(|| view! {
                            <button type="button" data-testid="conflict-retry"
                                aria-label=format!("Retry the conflict on {}", c.stream_id)
                                on:click=move |_| act(retry_id.clone(), true)>"Retry"</button>
                        })}
                        <button type="button" data-testid="conflict-discard"
                            aria-label=format!("Discard the conflict on {}", c.stream_id)
                            on:click=move |_| act(discard_id.clone(), false)>"Discard"</button>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
