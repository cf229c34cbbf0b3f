//! Projections: every read model of the example domains with its status, checkpoint,
//! lag and event count; rebuild one from scratch with a progress bar; a failed one shows
//! the event that broke it and the error.

use chronik_core::{ProjectionStatus, RebuildProgress};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::projections::{self as projections_api, ProjectionInfo};
use crate::{api, format};

/// The projections page. Opening it (and every change to the store while it is open)
/// catches every projection up to the head.
#[component]
pub fn ProjectionsPage() -> impl IntoView {
    // Moves after each projection's catch-up or rebuild, so the list refreshes.
    let tick = RwSignal::new(0u64);
    let catch_up_error = RwSignal::new(None::<String>);
    let overview = LocalResource::new(move || {
        api::changes().track();
        tick.track();
        async move { projections_api::overview().await }
    });
    Effect::new(move |_| {
        api::changes().track();
        spawn_local(async move {
            let bump = move || {
                tick.try_update(|n| *n += 1);
            };
            let result = projections_api::catch_up_all(bump).await;
            catch_up_error.try_set(result.err().map(|e| e.to_string()));
        });
    });
    // The last list read: kept while a refresh is under way.
    let infos = RwSignal::new(Vec::<ProjectionInfo>::new());
    let loaded = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(list)) = overview.get() {
            infos.set(list);
            loaded.set(true);
        }
    });
    let head = Memo::new(move |_| infos.with(|l| l.first().map_or(0, |i| i.head)));

    view! {
        <section class="card" aria-labelledby="projections-heading">
            <h2 id="projections-heading">"Projections"</h2>
            <p class="muted page-intro">
                "Read models folded from the event log. Each saves its state together with a "
                "checkpoint (the position of the last event it accounted for), so opening the "
                "app resumes from there instead of replaying everything. Lag is how many events "
                "of the log lie past the checkpoint."
            </p>
            <p class="head-line">
                "The log's head is at position "
                <strong data-testid="projections-head">{move || format::count(head.get())}</strong>
            </p>
            <div aria-live="polite">
                {move || catch_up_error.get().map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                {move || match overview.get() {
                    Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }),
                    _ => None,
                }}
            </div>
            // Rendered once: the cards read their numbers from `infos` and keep their own
            // rebuild progress while the list refreshes.
            <Show
                when=move || loaded.get()
                fallback=|| view! { <p>"Loading projections…"</p> }
            >
                <div class="projection-grid" data-testid="projection-list">
                    <For
                        each=move || { let names: Vec<String> = infos.get().into_iter().map(|i| i.name).collect(); names }
                        key=|name| name.clone()
                        let:name
                    >
                        <ProjectionCard
                            info=Signal::derive({
                                let name = name.clone();
                                move || infos.with(|l| l.iter().find(|i| i.name == name).cloned())
                            })
                            on_done=move || { tick.try_update(|n| *n += 1); }
                        />
                    </For>
                </div>
            </Show>
        </section>
    }
}

/// How a status reads, and its CSS modifier.
fn status_label(status: &ProjectionStatus) -> (&'static str, &'static str) {
    match status {
        ProjectionStatus::CaughtUp => ("Caught up", "caught-up"),
        ProjectionStatus::CatchingUp => ("Catching up", "catching-up"),
        ProjectionStatus::Rebuilding => ("Rebuilding", "rebuilding"),
        ProjectionStatus::Failed { .. } => ("Failed", "failed"),
    }
}

/// One read model: status, numbers, failure, and its rebuild button with progress.
#[component]
fn ProjectionCard(
    info: Signal<Option<ProjectionInfo>>,
    on_done: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let name = move || info.with(|i| i.as_ref().map(|i| i.name.clone()).unwrap_or_default());
    let progress = RwSignal::new(None::<RebuildProgress>);
    let rebuilding = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);

    let rebuild = move |_| {
        let Some(current) = info.get_untracked() else {
            return;
        };
        rebuilding.set(true);
        outcome.set(None);
        progress.set(Some(RebuildProgress {
            position: 0,
            head: current.head,
        }));
        spawn_local(async move {
            let result = projections_api::rebuild(&current.name, move |p| {
                progress.try_set(Some(p));
            })
            .await;
            let message = result.map_err(|e| e.to_string()).and_then(|r| {
                progress.try_update(|p| {
                    if let Some(p) = p {
                        p.position = r.position;
                    }
                });
                let applied = format!(
                    "applied {} {}",
                    format::count(r.applied as u64),
                    if r.applied == 1 { "event" } else { "events" }
                );
                match r.status {
                    ProjectionStatus::Failed { position, .. } => Err(format!(
                        "Rebuilt from position 0: {applied}, then stopped again at position {position}"
                    )),
                    _ => Ok(format!("Rebuilt from position 0: {applied}")),
                }
            });
            outcome.try_set(Some(message));
            rebuilding.try_set(false);
            on_done();
        });
    };

    let status = move || {
        if rebuilding.get() {
            ProjectionStatus::Rebuilding
        } else {
            info.with(|i| {
                i.as_ref()
                    .map_or(ProjectionStatus::CatchingUp, |i| i.status.clone())
            })
        }
    };
    let field = move |f: fn(&ProjectionInfo) -> String| {
        move || info.with(|i| i.as_ref().map(f).unwrap_or_default())
    };

    view! {
        <article class="projection" data-testid=move || format!("projection-{}", name())>
            <header class="projection-head">
                <h3>{name}</h3>
                <span
                    class=move || format!("status status-{}", status_label(&status()).1)
                    data-testid="projection-status"
                >
                    {move || status_label(&status()).0}
                </span>
            </header>
            <p class="muted">
                <span class="domain-tag">{field(|i| i.domain.to_string())}</span>
                {field(|i| i.description.to_string())}
            </p>
            <dl class="projection-numbers">
                <div>
                    <dt>"Checkpoint"</dt>
                    <dd data-testid="projection-position">{field(|i| format::count(i.position))}</dd>
                </div>
                <div>
                    <dt>"Lag"</dt>
                    <dd data-testid="projection-lag" class:lagging=move || info.with(|i| i.as_ref().is_some_and(|i| i.lag > 0))>
                        {field(|i| format::count(i.lag))}
                    </dd>
                </div>
                <div>
                    <dt>"Applied"</dt>
                    <dd
                        data-testid="projection-processed"
                        title=move || info.with(|i| i.as_ref().is_some_and(|i| i.processed.is_none()).then_some("counted once it has caught up"))
                    >
                        {field(|i| i.processed.map_or("—".to_string(), format::count))}
                    </dd>
                </div>
                <div>
                    <dt>"Handles"</dt>
                    <dd title=field(|i| i.handles.join(", "))>
                        {field(|i| match i.handles.len() {
                            0 => "all types".to_string(),
                            1 => "1 type".to_string(),
                            n => format!("{n} types"),
                        })}
                    </dd>
                </div>
            </dl>
            <p class="projection-summary">
                <span class="muted">"State: "</span>
                <span data-testid="projection-summary">{field(|i| i.summary.clone())}</span>
            </p>
            {move || match status() {
                ProjectionStatus::Failed { position, error } => Some(view! {
                    <div class="failure" role="alert" data-testid="projection-failure">
                        <p>
                            "Stopped at the event at position "
                            <strong data-testid="projection-failed-position">{position}</strong>
                            "; its checkpoint stays just before it."
                        </p>
                        <pre data-testid="projection-error">{error}</pre>
                    </div>
                }),
                _ => None,
            }}
            <div class="rebuild-row">
                <button
                    type="button"
                    aria-label=move || format!("Rebuild {}", name())
                    disabled=move || rebuilding.get()
                    on:click=rebuild
                >
                    "Rebuild"
                </button>
                {move || progress.get().map(|p| {
                    let max = p.head.max(1);
                    let value = if p.head == 0 { 1 } else { p.position.min(p.head) };
                    view! {
                        <progress
                            aria-label=format!("Rebuild progress of {}", name())
                            data-testid="rebuild-progress"
                            max=max
                            value=value
                        ></progress>
                        <span class="muted num" data-testid="rebuild-count">
                            {format!("{} / {}", format::count(p.position), format::count(p.head))}
                        </span>
                    }
                })}
            </div>
            <p class="status" aria-live="polite" data-testid="rebuild-outcome">
                {move || outcome.get().map(|o| match o {
                    Ok(msg) => view! { <span class="ok">{msg}</span> }.into_any(),
                    Err(msg) => view! { <span class="error">{msg}</span> }.into_any(),
                })}
            </p>
        </article>
    }
}
