//! The controls, generated from the engine's parameter table (one source of truth), the
//! run buttons, presets, the share button and the keyboard.

use leptos::prelude::*;

use super::ctx::{Ctx, Mode, Speed};
use super::{driver, url};
use crate::config::{Config, Group, PARAMS, ParamKind, ParamSpec};
use crate::share::{Variant, versus_entries};
use crate::sparse::{Distribution, Method};

/// One control: a select, a checkbox or a text field. A bad entry is shown beside it and
/// never reaches the trainer.
#[component]
fn Control(ctx: Ctx, spec: &'static ParamSpec) -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let id = format!("param-{}", spec.name);
    let apply = move |text: String| {
        let mut c = ctx.config.get_untracked();
        match spec.set(&mut c, &text) {
            Ok(()) => {
                let problems = c.validate();
                if let Some(p) = problems.first() {
                    set_error.set(Some(p.message.clone()));
                } else {
                    set_error.set(None);
                    ctx.config.set(c);
                }
            }
            Err(e) => set_error.set(Some(format!("{text:?} {e}"))),
        }
    };
    let value = move || ctx.config.with(|c| spec.get(c));
    let input = match spec.kind {
        ParamKind::Choice(names) => view! {
            <select id=id.clone() prop:value=value on:change=move |ev| apply(event_target_value(&ev))>
                {names.iter().map(|n| view! { <option value=*n selected=move || value() == *n>{*n}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        ParamKind::Data => {
            // The prepared sets, the own sets this browser keeps, and (from a shared link) an
            // own set that is not here yet.
            let options = move || {
                let current = value();
                let mut opts: Vec<(String, String)> = crate::config::DataSet::ALL
                    .iter()
                    .map(|d| (d.name(), d.name()))
                    .collect();
                ctx.own_sets.with(|s| {
                    opts.extend(s.iter().map(|e| (e.data.clone(), format!("{} (own)", e.title))))
                });
                if !opts.iter().any(|(v, _)| *v == current) {
                    opts.push((current.clone(), format!("{current} (not loaded)")));
                }
                opts.into_iter()
                    .map(|(v, label)| {
                        let selected = v == current;
                        view! { <option value=v selected=selected>{label}</option> }
                    })
                    .collect_view()
            };
            view! {
                <select id=id.clone() prop:value=value on:change=move |ev| apply(event_target_value(&ev))>
                    {options}
                </select>
            }
            .into_any()
        }
        ParamKind::Switch => view! {
            <select id=id.clone() prop:value=value on:change=move |ev| apply(event_target_value(&ev))>
                {["auto", "true", "false"].into_iter().map(|n| view! { <option value=n selected=move || value() == n>{n}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        ParamKind::Bool => view! {
            <input id=id.clone() type="checkbox" prop:checked=move || value() == "true"
                on:change=move |ev| apply(event_target_checked(&ev).to_string())/>
        }
        .into_any(),
        _ => view! {
            <input id=id.clone() type="text" spellcheck="false" prop:value=value
                on:change=move |ev| apply(event_target_value(&ev))/>
        }
        .into_any(),
    };
    let hidden = ctx.hidden.with_value(|h| h.iter().any(|n| n == spec.name));
    view! {
        <label class="control" class:hidden=hidden class:invalid=move || error.with(Option::is_some) title=spec.help>
            <span class="name">{spec.label}</span>
            {input}
            {move || error.get().map(|e| view! { <span class="field-error">{e}</span> })}
        </label>
    }
}

/// Named setups for a classroom (RIGL.md "What the paper found").
fn presets() -> Vec<(&'static str, &'static str, Vec<Variant>)> {
    vec![
        (
            "RigL vs Static @95%",
            "method=rigl&sparsity=0.95&dist=erk",
            vec![Variant::Method(Method::Static)],
        ),
        (
            "ERK vs Uniform",
            "method=rigl&sparsity=0.9&dist=erk",
            vec![Variant::Dist(Distribution::Uniform)],
        ),
        (
            // The first convolution dense and the images augmented: the auto defaults for a
            // CNN on CIFAR-10 (docs/results.md).
            "CIFAR-10 CNN: RigL vs Static @90%",
            "data=cifar10&model=cnn:16,32,128&method=rigl&sparsity=0.9&steps=2000&eval_every=250",
            vec![Variant::Method(Method::Static)],
        ),
        (
            "SNIP (one-shot)",
            "method=snip&sparsity=0.9&dist=erk",
            vec![Variant::Method(Method::Static)],
        ),
        (
            "Gradual pruning (dense-to-sparse)",
            "method=prune&sparsity=0.9&dist=uniform",
            vec![Variant::Method(Method::Rigl)],
        ),
        (
            // 784*1200 + 1200*400 + 400*10 = 1,424,800 weights at S = 1 - 266200 / 1424800
            // (experiment::grid::matched_sparsity): LeNet-300-100's parameter count.
            "Big-Sparse: wide RigL vs small dense, equal parameters",
            "model=mlp:1200,400&method=rigl&sparsity=0.8132&dist=erk",
            vec![Variant::Model(crate::model::ModelSpec::default(), 0.0)],
        ),
    ]
}

#[component]
pub fn Controls(ctx: Ctx) -> impl IntoView {
    let groups = Group::ALL
        .iter()
        .map(|&g| {
            let controls = PARAMS
                .iter()
                .filter(|p| p.group == g)
                .map(|spec| view! { <Control ctx spec/> })
                .collect_view();
            view! { <fieldset><legend>{g.title()}</legend>{controls}</fieldset> }
        })
        .collect_view();
    let versus_names = move || {
        ctx.versus
            .with(|v| v.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "))
    };
    let on_preset = move |ev| {
        let name = event_target_value(&ev);
        if let Some((_, q, vs)) = presets().into_iter().find(|(n, _, _)| *n == name) {
            ctx.versus.set(vs);
            ctx.config.set(Config::from_query(q).0);
        }
    };
    view! {
        <aside class="controls">
            <label class="control">
                <span class="name">"preset"</span>
                <select id="preset" on:change=on_preset>
                    <option value="">"choose a preset…"</option>
                    {presets().into_iter().map(|(n, _, _)| view! { <option value=n>{n}</option> }).collect_view()}
                </select>
            </label>
            <label class="control" title="methods, distributions or MODEL@SPARSITY trained beside the main run, same seed and data order (e.g. static,set or uniform or mlp:300,100@0)">
                <span class="name">"compare with"</span>
                <input id="versus" type="text" placeholder="e.g. static,set" prop:value=versus_names
                    on:change=move |ev| {
                        let v: Vec<Variant> = versus_entries(&event_target_value(&ev))
                            .iter()
                            .filter_map(|e| Variant::parse(e))
                            .take(3)
                            .collect();
                        ctx.versus.set(v);
                    }/>
            </label>
            {groups}
        </aside>
    }
}

/// Play, pause, step, next update, reset, speed, share; and their keys.
#[component]
pub fn RunBar(ctx: Ctx, reset: Callback<()>) -> impl IntoView {
    let play = move || {
        if ctx.mode.get_untracked() == Mode::Running {
            ctx.mode.set(Mode::Paused);
        } else {
            ctx.mode.set(Mode::Running);
            driver::start(ctx);
        }
    };
    let step_once = move || {
        ctx.mode.set(Mode::Until(ctx.step() + 1));
        driver::start(ctx);
    };
    let next_update = move || {
        // From the configuration, so it works while a step is in flight too.
        let target = ctx.lab.with_value(|l| {
            let r = l.primary()?;
            let exp = crate::experiment::Experiment::new(&r.config).ok()?;
            exp.next_update_step(r.step())
        });
        if let Some(t) = target {
            ctx.mode.set(Mode::Until(t + 1));
            driver::start(ctx);
        }
    };
    let (copied, set_copied) = signal(String::new());
    let share = move || {
        let link = ctx.config.with(|c| url::share_url(c, &ctx.page_params()));
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&link);
        }
        set_copied.set(link);
    };
    window_event_listener(leptos::ev::keydown, move |ev| {
        let target = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok());
        if target.is_some_and(|t| matches!(t.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
        {
            return;
        }
        match ev.key().as_str() {
            " " => {
                ev.prevent_default();
                play();
            }
            "n" => step_once(),
            "u" => next_update(),
            "r" => reset.run(()),
            "f" => ctx.present.update(|p| *p = !*p),
            "?" => ctx.shortcuts.update(|s| *s = !*s),
            "Escape" => ctx.shortcuts.set(false),
            _ => {}
        }
    });
    let running = move || ctx.mode.get() == Mode::Running;
    view! {
        <div class="runbar">
            <button id="play" class="primary" on:click=move |_| play() title="space">
                {move || if running() { "❚❚ Pause" } else { "▶ Play" }}
            </button>
            <button id="step" on:click=move |_| step_once() title="n">"Step"</button>
            <button id="next-update" on:click=move |_| next_update() title="u">"To next mask update"</button>
            <button id="reset" on:click=move |_| reset.run(()) title="r">"Reset"</button>
            <label class="speed">"speed "
                <select id="speed" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if let Some(s) = Speed::ALL.into_iter().find(|s| s.name() == v) {
                        ctx.speed.set(s);
                    }
                }>
                    {Speed::ALL.into_iter().map(|s| view! { <option value=s.name() selected=s == Speed::Max>{s.name()}</option> }).collect_view()}
                </select>
            </label>
            <span id="step-counter" class="counter">
                {move || {
                    ctx.view_tick.track();
                    let steps = ctx.lab.with_value(|l| l.primary().map(|r| r.config.steps)).unwrap_or(ctx.config.with(|c| c.steps));
                    format!("step {} / {steps}", ctx.step())
                }}
            </span>
            <button id="share" on:click=move |_| share() title="copy a link to this exact setup">"Share"</button>
            <super::runfile::RunFiles ctx/>
            <button id="present" on:click=move |_| ctx.present.update(|p| *p = !*p) title="f"
                aria-pressed=move || ctx.present.get().to_string()>{move || if ctx.present.get() { "Leave presentation" } else { "Present" }}</button>
            <button id="shortcuts-button" on:click=move |_| ctx.shortcuts.update(|s| *s = !*s) title="?" aria-label="keyboard shortcuts">"?"</button>
            {move || (!copied.get().is_empty()).then(|| view! { <span class="copied">"copied: " <code id="share-url">{copied.get()}</code></span> })}
        </div>
    }
}

/// The keyboard shortcuts (key ?), over the page.
#[component]
pub fn Shortcuts(ctx: Ctx) -> impl IntoView {
    let keys = [
        ("space", "play / pause"),
        ("n", "one step"),
        ("u", "to the next mask update"),
        ("r", "reset the runs"),
        ("f", "presentation mode on / off"),
        ("?", "this list"),
        ("Esc", "close it"),
    ];
    move || {
        ctx.shortcuts.get().then(|| {
            view! {
                <div id="shortcuts" class="shortcuts" role="dialog" aria-label="Keyboard shortcuts">
                    <h2>"Keyboard shortcuts"</h2>
                    <table>
                        {keys.iter().map(|(k, what)| view! { <tr><td><kbd>{*k}</kbd></td><td>{*what}</td></tr> }).collect_view()}
                    </table>
                    <button on:click=move |_| ctx.shortcuts.set(false)>"Close"</button>
                </div>
            }
        })
    }
}
