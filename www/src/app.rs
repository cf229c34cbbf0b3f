//! The application shell: navigation and the routes to each page.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::pages;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
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
                </nav>
            </header>
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
                </Routes>
            </main>
        </Router>
    }
}
