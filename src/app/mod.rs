//! The page (wasm only): leptos components over a few signals (`ctx`); effects touch the
//! outside world (URL, canvases, network); the training loop runs in animation frames.

mod backend;
mod charts;
mod controls;
mod ctx;
mod curves;
mod data;
mod driver;
mod escape;
mod export;
mod fetch;
mod frame;
mod lab;
mod landscape;
mod landscape_draw;
mod landscape_state;
mod masks;
mod owndata;
mod panels;
mod persist;
mod reset;
mod runfile;
mod status;
mod sweep;
mod tradeoff;
mod url;
mod workers;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::config::Config;
use crate::share::{BackendChoice, Variant};

use backend::{BackendBadge, open_gpu};
use controls::{Controls, RunBar};
use ctx::{Ctx, Status};
use curves::Charts;
use data::DataPreview;
use panels::{Densities, Flops, MaskViews, PixelHeatmap};
use reset::reset;
use status::{Explanation, HowRiglWorks, LabState, Notices, StatusLine};

/// Entry point of the wasm binary.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Keeps the runs when the page is hidden or left (a tab switched, the browser closed, a
/// reload): on top of the save every few seconds while training and the one at each pause,
/// so a reload loses nothing that was shown. Best effort: a closing page may not finish it.
fn keep_on_leave(ctx: Ctx) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let Some(window) = web_sys::window() else {
        return;
    };
    let save = Closure::<dyn Fn()>::new(move || {
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden());
        if hidden {
            // Runs in workers send their states first (they come within a slice).
            spawn_local(async move {
                workers::fresh_states(ctx).await;
                persist::save_lab(ctx).await;
            });
        }
    });
    let _ = window.add_event_listener_with_callback("pagehide", save.as_ref().unchecked_ref());
    if let Some(doc) = window.document() {
        let _ =
            doc.add_event_listener_with_callback("visibilitychange", save.as_ref().unchecked_ref());
    }
    // The page's listeners live as long as the page.
    save.forget();
}

#[component]
fn App() -> impl IntoView {
    let href = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let (config, page, notices) = crate::share::read(&href);
    let ctx = Ctx::new(config, page, notices);
    let reset_cb = Callback::new(move |()| spawn_local(reset(ctx)));
    spawn_local(open_gpu(ctx));
    spawn_local(owndata::load_index(ctx));
    keep_on_leave(ctx);

    // Any change of the page's parameters rewrites the URL; a change of the configuration,
    // the compared runs or the backend starts over (presentation mode or the palette do not).
    Effect::new(move |last: Option<(Config, Vec<Variant>, BackendChoice)>| {
        let c = ctx.config.get();
        let page = ctx.page_params();
        url::write(&c, &page);
        let runs = (c, page.versus, page.backend);
        if last.as_ref() != Some(&runs) {
            spawn_local(reset(ctx));
        }
        runs
    });
    // Presentation mode, embedding and the palette are classes of the body (style.css); the
    // URL follows presentation mode as it is switched.
    Effect::new(move |first: Option<()>| {
        let present = ctx.present.get();
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let classes = body.class_list();
            let _ = classes.toggle_with_force("present", present);
            let _ = classes.toggle_with_force("embed", ctx.embed);
            let _ = classes.toggle_with_force("cb", ctx.colour_blind.get_untracked());
        }
        if first.is_some() {
            url::write(&ctx.config.get_untracked(), &ctx.page_params());
        }
    });

    let backend_name = move || {
        ctx.view_tick.track();
        // (In workers the CPU backend's own thread count says nothing: each worker is one.)
        ctx.lab.with_value(|l| {
            let gpu = l
                .primary()
                .and_then(|r| r.trainer.as_ref())
                .is_some_and(|t| t.backend.is_gpu());
            let on = if gpu { "WebGPU" } else { "CPU" };
            match workers::busy_workers(l) {
                0 => l.backend.clone(),
                1 => format!("{on} in a worker"),
                n => format!("{on} in {n} workers"),
            }
        })
    };
    view! {
        <header class="top">
            <div class="brand">
                <h1>"riglab"</h1>
                <p class="tagline">"Sparse training you can see: RigL, live in your browser"</p>
            </div>
            <div class="header-right">
                <span id="train-backend" class="badge" data-ready=move || (ctx.status.get() == Status::Ready).to_string()
                    title=move || { ctx.view_tick.track(); ctx.lab.with_value(workers::where_runs) }>
                    "training on " {backend_name} " · " {move || format!("{:.0} steps/s", ctx.steps_per_s.get())}
                </span>
                <BackendBadge ctx/>
            </div>
        </header>
        <Notices ctx/>
        <controls::Shortcuts ctx/>
        <div class="layout">
            <Controls ctx/>
            <main>
                <RunBar ctx reset=reset_cb/>
                <Explanation ctx/>
                <StatusLine ctx/>
                {move || ctx.fallback_note.get().map(|n| view! { <p id="fallback-note" class="notice inline">{n}</p> })}
                {move || ctx.resumed.get().map(|step| view! {
                    <p id="resumed" class="notice inline" role="status">
                        {format!("Went on from step {step}: this browser kept these runs when they last paused (and every few seconds while they trained). ")}
                        <button id="start-over" on:click=move |_| spawn_local(async move {
                            persist::forget(ctx).await;
                            reset(ctx).await;
                        })>"Start over"</button>
                    </p>
                })}
                {move || ctx.note.get().map(|n| view! {
                    <p id="run-note" class="notice inline" role="status">{n}" "
                        <button class="link" on:click=move |_| ctx.note.set(None) aria-label="dismiss">"×"</button></p>
                })}
                <div class="grid">
                    <Charts ctx/>
                    <div class="side">
                        <PixelHeatmap ctx/>
                        <Densities ctx/>
                        <Flops ctx/>
                        <tradeoff::AccuracyVsFlops ctx/>
                    </div>
                </div>
                <MaskViews ctx/>
                <escape::EscapeCard ctx/>
                <landscape::LandscapeCard ctx/>
                <sweep::SweepCard ctx/>
                <DataPreview ctx/>
                <HowRiglWorks/>
                <LabState ctx/>
            </main>
        </div>
        <footer>
            "After Evci, Gale, Menick, Castro & Elsen, "
            <a href="https://arxiv.org/abs/1911.11134">"Rigging the Lottery: Making All Tickets Winners"</a>
            ", ICML 2020. The same configuration runs headless: "
            <code>"riglab train '<query>'"</code>"."
        </footer>
    }
}
