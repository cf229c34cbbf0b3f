//! The application shell: navigation and the routes to each page.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::{api, pages};

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    // Connected when last closed: connect again.
    pages::sync::resume_sync();
    view! {
        <Router>
            <header class="topbar">
                <h1>"chronik"</h1>
                <p class="tagline">"Offline-first event sourcing in your browser"</p>
                // One link per page, in this order.
                <nav aria-label="Main" class="nav">
                    <pages::bank::BankNavLink />
                    <A href="/orders">"Orders"</A>
                    <A href="/log">"Event log"</A>
                    <A href="/travel">"Time travel"</A>
                    <A href="/projections">"Projections"</A>
                    <A href="/stats">"Stats"</A>
                    <A href="/data">"Data"</A>
                    <A href="/append">"Append"</A>
                    <A href="/sync">"Sync"</A>
                </nav>
                <pages::sync::SyncBadge />
            </header>
            <ReloadBanner />
            <main>
                // One route per page.
                <Routes fallback=|| view! { <p role="alert">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::bank::BankPage />
                    <Route path=path!("/bank/:id") view=pages::bank::BankPage />
                    <Route path=path!("/orders") view=pages::orders::OrdersPage />
                    <Route path=path!("/log") view=pages::log::LogPage />
                    <Route path=path!("/projections") view=pages::projections::ProjectionsPage />
                    <Route path=path!("/stats") view=pages::stats::StatsPage />
                    <Route path=path!("/data") view=pages::data::DataPage />
                    <Route path=path!("/travel") view=pages::travel::TravelPage />
                    <Route path=path!("/append") view=pages::append::AppendPage />
                    <Route path=path!("/sync") view=pages::sync::SyncPage />
                </Routes>
            </main>
        </Router>
    }
}

/// Shown once an operation found the database closed under this tab (another tab
/// upgraded it to a newer version of the app, or deleted it): nothing more can be read
/// or written until the page is reloaded.
#[component]
fn ReloadBanner() -> impl IntoView {
    let reload = |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    move || {
        api::store_closed().map(|reason| {
            view! {
                <div class="reload-banner" role="alert" aria-label="Reload needed" data-testid="reload-banner">
                    <p>
                        <strong>"This tab can no longer use the database. "</strong>
                        <span data-testid="reload-reason">{reason}</span>
                    </p>
                    <button type="button" aria-label="Reload the page" on:click=reload>"Reload"</button>
                </div>
            }
        })
    }
}
