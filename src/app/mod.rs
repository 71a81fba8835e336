//! The page (wasm only): leptos components over a few signals (`ctx`); effects touch the
//! outside world (URL, canvases, network); the training loop runs in animation frames.

mod backend;
mod charts;
mod controls;
mod ctx;
mod data;
mod driver;
mod escape;
mod export;
mod fetch;
mod lab;
mod landscape;
mod landscape_draw;
mod masks;
mod owndata;
mod persist;
mod runfile;
mod sweep;
mod tradeoff;
mod url;
mod views;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::config::Config;
use crate::share::{BackendChoice, Variant};

use backend::{BackendBadge, open_gpu};
use controls::{Controls, RunBar};
use ctx::{Ctx, GpuState, Status};
use data::DataPreview;
use views::{
    Charts, Densities, Explanation, Flops, HowRiglWorks, LabState, MaskViews, Notices,
    PixelHeatmap, StatusLine,
};

/// Entry point of the wasm binary.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Rebuilds the runs from the current configuration (loading the data set if needed),
/// paused at step 0.
pub(crate) async fn reset(ctx: Ctx) {
    driver::pause(ctx).await;
    // Train where the first runs will: wait until WebGPU is probed.
    while ctx.gpu_state.get_untracked() == GpuState::Probing {
        driver::next_frame().await;
    }
    let config = ctx.config.get_untracked();
    let versus = ctx.versus.get_untracked();
    let gpu = ctx.gpu.get_value();
    let restoring = ctx.restore_once.get_value();
    ctx.restore_once.set_value(false);
    ctx.resumed.set(None);
    let loaded = data::ensure(ctx, &config.data).await;
    if restoring && loaded.is_ok() {
        // Opening a link again: go on with the runs this browser kept for it.
        let data = ctx
            .lab
            .with_value(|l| l.data.get(&config.data.name()).cloned());
        if let Some((train, test)) = data
            && let Some(runs) = persist::restore(ctx, (&train, &test), gpu.as_ref()).await
        {
            let step = runs[0].step();
            ctx.lab.update_value(|l| {
                l.runs = runs;
                l.refresh_backend_name();
            });
            ctx.resumed.set(Some(step));
            ctx.status.set(Status::Ready);
            ctx.view_tick.update(|t| *t += 1);
            return;
        }
    }
    if !restoring {
        // Starting over: a reload should not bring back what was reset.
        persist::forget(ctx).await;
    }
    let result = match loaded {
        Ok(()) => ctx
            .lab
            .try_update_value(|l| {
                // A run opened from a checkpoint under this configuration, racing nothing.
                let opened = l.pending.as_ref().is_some_and(|r| r.config == config);
                match l.pending.take_if(|_| opened && versus.is_empty()) {
                    Some(run) => {
                        l.runs = vec![run];
                        l.refresh_backend_name();
                        Ok(None)
                    }
                    None => l.reset(&config, &versus, gpu.as_ref()),
                }
            })
            .unwrap_or(Ok(None)),
        Err(e) => Err(e),
    };
    ctx.status.set(match result {
        Ok(why_not_gpu) => {
            if let Some(why) = why_not_gpu {
                ctx.fallback_note.set(Some(format!(
                    "These runs train on the CPU: the GPU backend could not start ({why})."
                )));
            }
            Status::Ready
        }
        Err(e) => Status::Error(e),
    });
    ctx.view_tick.update(|t| *t += 1);
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
            spawn_local(persist::save_lab(ctx));
        }
    });
    for (target, event) in [
        (
            window.clone().unchecked_into::<web_sys::EventTarget>(),
            "pagehide",
        ),
        (
            window
                .document()
                .map_or(window.clone().unchecked_into(), |d| d.unchecked_into()),
            "visibilitychange",
        ),
    ] {
        let _ = target.add_event_listener_with_callback(event, save.as_ref().unchecked_ref());
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
        ctx.lab.with_value(|l| l.backend.clone())
    };
    view! {
        <header class="top">
            <div class="brand">
                <h1>"riglab"</h1>
                <p class="tagline">"Sparse training you can see: RigL, live in your browser"</p>
            </div>
            <div class="header-right">
                <span id="train-backend" class="badge" data-ready=move || (ctx.status.get() == Status::Ready).to_string()>
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
