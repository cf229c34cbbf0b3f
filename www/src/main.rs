//! The chronik web app. This file only mounts the app; see `app.rs`.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(chronik_www::app::App);
}
