//! The chronik web app. This file only mounts the app; see `app.rs`.

mod api;
mod app;
mod format;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
