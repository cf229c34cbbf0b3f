//! The application shell: header and the pages.

use leptos::prelude::*;

use crate::pages::stream::StreamPage;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <header class="topbar">
            <h1>"chronik"</h1>
            <p class="tagline">"Offline-first event sourcing in your browser"</p>
        </header>
        <main>
            <StreamPage />
        </main>
    }
}
