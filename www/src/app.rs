//! The application shell: navigation and the routes to each page.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::pages::append::AppendPage;
use crate::pages::log::LogPage;
use crate::pages::stats::StatsPage;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="topbar">
                <h1>"chronik"</h1>
                <p class="tagline">"Offline-first event sourcing in your browser"</p>
                <nav aria-label="Main" class="nav">
                    <A href="/">"Append"</A>
                    <A href="/log">"Event log"</A>
                    <A href="/stats">"Stats"</A>
                </nav>
            </header>
            <main>
                <Routes fallback=|| view! { <p role="alert">"Page not found."</p> }>
                    <Route path=path!("/") view=AppendPage />
                    <Route path=path!("/log") view=LogPage />
                    <Route path=path!("/stats") view=StatsPage />
                </Routes>
            </main>
        </Router>
    }
}
