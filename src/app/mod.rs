//! The page (wasm only): leptos components over signals. Effects touch the outside world.

mod backend;
mod fetch;
mod preview;

use leptos::prelude::*;

use backend::BackendBadge;
use preview::DataPreview;

/// Entry point of the wasm binary.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    view! {
        <header class="top">
            <div class="brand">
                <h1>"riglab"</h1>
                <p class="tagline">"Sparse training you can see: RigL, live in your browser"</p>
            </div>
            <BackendBadge/>
        </header>
        <main>
            <DataPreview/>
        </main>
        <footer>
            "After Evci, Gale, Menick, Castro & Elsen, "
            <a href="https://arxiv.org/abs/1911.11134">"Rigging the Lottery: Making All Tickets Winners"</a>
            ", ICML 2020."
        </footer>
    }
}
