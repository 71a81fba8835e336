//! Which compute backend the page can use: a WebGPU adapter, or the CPU fallback and why;
//! and, with `backend=auto`, which one trains a configuration faster, by measurement: a few
//! steps timed on each where it would train (in a worker, as the runs).

use js_sys::{Function, Promise, Reflect};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::ctx::{Ctx, GpuState};
use super::frame::now_ms;
use super::workers;
use crate::backend::AnyBackend;
use crate::config::Config;
use crate::cpu::CpuBackend;
use crate::experiment::Setup;
use crate::gpu::{GpuBackend, GpuContext};
use crate::share::BackendChoice;
use crate::train::Trainer;
use crate::worker::landscape::{Job, time_steps};
use crate::worker::protocol::Piece;

#[derive(Clone, Debug, PartialEq)]
pub enum Backend {
    WebGpu {
        adapter: String,
        fallback_adapter: bool,
    },
    Cpu {
        why: String,
    },
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn get_string(obj: &JsValue, key: &str) -> String {
    get(obj, key).as_string().unwrap_or_default()
}

/// Asks `navigator.gpu` for an adapter. Every way this can fail becomes a reason to show.
pub async fn probe() -> Backend {
    let navigator: JsValue = web_sys::window().expect("a window").navigator().into();
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        let why = if web_sys::window().is_some_and(|w| w.is_secure_context()) {
            "this browser has no WebGPU (navigator.gpu is missing)"
        } else {
            "WebGPU needs a secure context (https or localhost)"
        };
        return Backend::Cpu { why: why.into() };
    }
    let request = get(&gpu, "requestAdapter").dyn_into::<Function>();
    let promise = request
        .and_then(|f| f.call0(&gpu))
        .and_then(|p| p.dyn_into::<Promise>());
    let adapter = match promise {
        Ok(p) => JsFuture::from(p).await,
        Err(e) => Err(e),
    };
    match adapter {
        Ok(a) if !a.is_null() && !a.is_undefined() => {
            let info = get(&a, "info");
            let parts: Vec<String> = ["vendor", "architecture", "description"]
                .iter()
                .map(|k| get_string(&info, k))
                .filter(|s| !s.is_empty())
                .collect();
            let fallback = get(&info, "isFallbackAdapter")
                .as_bool()
                .or_else(|| get(&a, "isFallbackAdapter").as_bool())
                .unwrap_or(false);
            let adapter = if parts.is_empty() {
                "unnamed adapter".into()
            } else {
                parts.join(" ")
            };
            Backend::WebGpu {
                adapter,
                fallback_adapter: fallback,
            }
        }
        Ok(_) => Backend::Cpu {
            why: "no WebGPU adapter is available".into(),
        },
        Err(e) => Backend::Cpu {
            why: format!(
                "requesting a WebGPU adapter failed: {}",
                get_string(&e, "message")
            ),
        },
    }
}

/// Probes WebGPU, then opens a wgpu device on it for training (unless the link asks for
/// the CPU). Every failure is kept as the reason the page trains on the CPU.
pub async fn open_gpu(ctx: Ctx) {
    let state = match probe().await {
        Backend::Cpu { why } => GpuState::Unavailable(why),
        Backend::WebGpu {
            adapter,
            fallback_adapter,
        } => {
            let choice = ctx.backend_choice.get_untracked();
            if choice == BackendChoice::Cpu {
                ctx.fallback_note.set(Some(
                    "Training on the CPU: the link asks for it (backend=cpu).".into(),
                ));
            } else {
                match GpuContext::new().await {
                    Ok(gpu) => ctx.gpu.set_value(Some(gpu)),
                    Err(e) => ctx
                        .fallback_note
                        .set(Some(format!("Training on the CPU: {e}."))),
                }
            }
            GpuState::Ready {
                adapter,
                fallback_adapter,
            }
        }
    };
    ctx.gpu_state.set(state);
}

/// Timing stops after this long on each backend ...
const TIME_BUDGET_MS: f64 = 300.0;
/// ... or this many steps.
const TIME_MOST_STEPS: usize = 10;

/// What a step of a configuration took on each backend (ms), or why it could not be timed.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    cpu: Result<f64, String>,
    /// ms a step, and whether in a worker.
    gpu: Result<(f64, bool), String>,
}

impl Measured {
    /// Neither could be timed (`why`).
    fn failed(why: String) -> Self {
        Self {
            cpu: Err(why.clone()),
            gpu: Err(why),
        }
    }

    pub fn gpu_faster(&self) -> bool {
        match (&self.cpu, &self.gpu) {
            (Ok(c), Ok((g, _))) => g < c,
            (Err(_), Ok(_)) => true,
            _ => false,
        }
    }
}

fn key_of(config: &Config) -> String {
    format!(
        "{} {} batch {} {} sparsity {}",
        config.data.name(),
        config.model,
        config.batch,
        config.method.name(),
        config.sparsity
    )
}

/// The GPU device the runs of `config` train on: with `backend=gpu` the page's device; with
/// `auto` the device once a few timed steps of `config` were faster there than on the CPU
/// (timed once per model, data, batch, method and sparsity, in the background while the runs
/// start on the CPU: when WebGPU wins, runs still at step 0 start again there, and the page
/// says both figures), else none.
pub fn gpu_for(ctx: Ctx, config: &Config) -> Option<GpuContext> {
    let gpu = ctx.gpu.get_value()?;
    if ctx.backend_choice.get_untracked() != BackendChoice::Auto {
        return Some(gpu);
    }
    let key = key_of(config);
    let known = ctx
        .measured
        .with_value(|m| m.iter().find(|x| x.0 == key).map(|x| x.1.clone()));
    match known {
        Some(Some(m)) => {
            ctx.fallback_note.set(Some(say(ctx, &m)));
            m.gpu_faster().then_some(gpu)
        }
        Some(None) => None,
        None => {
            ctx.measured.update_value(|all| all.push((key, None)));
            ctx.fallback_note.set(Some(
                "backend=auto: training on the CPU while a few steps of this network are timed on the CPU and on WebGPU…".into(),
            ));
            ctx.to_time.set_value(Some(config.clone()));
            None
        }
    }
}

/// Times the configuration `gpu_for` left to time, if any (once the runs are built: a reset
/// stops the workers of the runs before).
pub fn start_timing(ctx: Ctx) {
    let Some(config) = ctx.to_time.try_update_value(Option::take).flatten() else {
        return;
    };
    let Some(gpu) = ctx.gpu.get_value() else {
        return;
    };
    let key = key_of(&config);
    leptos::task::spawn_local(async move {
        let m = measure(ctx, &config, &gpu, key.clone()).await;
        ctx.measured.update_value(|all| {
            if let Some(x) = all.iter_mut().find(|x| x.0 == key) {
                x.1 = Some(m.clone());
            }
        });
        let still = ctx.config.with_untracked(|c| key_of(c) == key);
        if !still {
            return;
        }
        ctx.fallback_note.set(Some(say(ctx, &m)));
        // Runs not started yet go to the faster GPU now; others at their next reset.
        let fresh = ctx.mode.get_untracked() == super::ctx::Mode::Paused
            && !ctx.driving.get_untracked()
            && ctx.lab.with_value(|l| l.runs.iter().all(|r| r.step() == 0));
        if m.gpu_faster() && fresh {
            super::reset::reset(ctx).await;
        }
    });
}

/// The note about a measurement: both figures and the choice.
fn say(ctx: Ctx, m: &Measured) -> String {
    let adapter = match ctx.gpu_state.get_untracked() {
        GpuState::Ready {
            adapter,
            fallback_adapter,
        } => format!(
            "{adapter}{}",
            if fallback_adapter {
                ", a software adapter"
            } else {
                ""
            }
        ),
        _ => "WebGPU".into(),
    };
    let figure = |r: &Result<(f64, bool), String>| match r {
        Ok((ms, true)) => format!("{ms:.1} ms a step in a worker"),
        Ok((ms, false)) => format!("{ms:.1} ms a step"),
        Err(e) => e.clone(),
    };
    let in_worker = workers::enabled(ctx);
    let (cpu, gpu) = (
        figure(&m.cpu.clone().map(|ms| (ms, in_worker))),
        figure(&m.gpu),
    );
    if m.gpu_faster() {
        format!(
            "backend=auto: this network trains faster on WebGPU ({gpu}, {adapter}) than on the CPU ({cpu}), so it trains on WebGPU. Add backend=cpu to the link to train on the CPU anyway."
        )
    } else {
        format!(
            "backend=auto: this network trains faster on the CPU ({cpu}) than on WebGPU ({gpu}, {adapter}), so it trains on the CPU. Add backend=gpu to the link to train on WebGPU anyway."
        )
    }
}

/// Times steps of `config` on a copy of its first run on the lab's data (the first two
/// batches of it, a copy), on the CPU, then on WebGPU (`gpu` here, or a worker's own device),
/// each in a worker where the page trains in workers; WebGPU gives up once its warm-up takes
/// 20 of the CPU's steps (and 2 s).
async fn measure(ctx: Ctx, config: &Config, gpu: &GpuContext, key: String) -> Measured {
    let sets = ctx.lab.with_value(|l| {
        l.data.get(&config.data.name()).map(|(train, test)| {
            let n = 2 * config.batch;
            (train.head(n), test.head(n))
        })
    });
    let Some((train, test)) = sets else {
        return Measured::failed("its data set is not loaded".to_string());
    };
    let bounds = (TIME_BUDGET_MS, TIME_MOST_STEPS);
    let name = format!("{} images to time: {key}", 2 * config.batch);
    let own = Some((name.as_str(), (&train, &test)));
    let setup = match Setup::new(config) {
        Ok(s) => s,
        Err(e) => return Measured::failed(e.to_string()),
    };
    let cpu_trainer = CpuBackend::new(&setup, train.clone(), test.clone())
        .map(|b| Trainer::new(setup.clone(), AnyBackend::from(b), train.len(), test.len()));
    let mut t = match cpu_trainer {
        Ok(t) => t,
        Err(e) => return Measured::failed(e),
    };
    // A timing in a worker: the state of `t` (at step 0) goes there, `t` stays as it is.
    let timed_in_worker = async |t: &mut Trainer<AnyBackend>, gpu: bool, give_up_ms| {
        let job = Job::Time {
            budget_ms: TIME_BUDGET_MS,
            most: TIME_MOST_STEPS,
            give_up_ms,
        };
        match workers::in_worker(ctx, (config, t, None), (own, gpu), &job, |_| {}).await? {
            Piece::Timed { ms_per_step, .. } => Ok(ms_per_step),
            Piece::Refused { message } => Err(message),
            other => Err(format!("the worker answered {other:?}")),
        }
    };
    let cpu = if workers::enabled(ctx) {
        timed_in_worker(&mut t, false, None).await
    } else {
        let timed = time_steps(&mut t, bounds, f64::INFINITY, &now_ms).await;
        Ok(timed.map_or(f64::INFINITY, |x| x.1))
    };
    let give_up = cpu
        .as_ref()
        .map_or(f64::INFINITY, |ms| (20.0 * ms).max(2000.0));
    // WebGPU where the runs on it would train: in a worker, unless workers have none.
    let in_worker = if workers::gpu_ok(ctx) {
        let timed = timed_in_worker(&mut t, true, give_up.is_finite().then_some(give_up)).await;
        // (No WebGPU in the worker: timed here instead.)
        Some(timed).filter(|_| workers::gpu_ok(ctx))
    } else {
        None
    };
    let gpu = match in_worker {
        Some(timed) => timed.map(|ms| (ms, true)),
        None => {
            async {
                // On `AnyBackend`, as the runs: one copy of the trainer's code in the wasm.
                let b = GpuBackend::with_context(gpu.clone(), &setup, train.clone(), test.clone())
                    .map_err(|e| e.to_string())?;
                let mut t = Trainer::new(setup, AnyBackend::from(b), train.len(), test.len());
                match time_steps(&mut t, bounds, give_up, &now_ms).await {
                    Ok((_, ms)) => Ok((ms, false)),
                    Err(ms) => Err(format!(
                        "its warm-up took {:.1} s: not timed further",
                        ms / 1000.0
                    )),
                }
            }
            .await
        }
    };
    Measured { cpu, gpu }
}

/// The badge in the header: "WebGPU · <adapter>" or "CPU fallback: <why>".
#[component]
pub fn BackendBadge(ctx: Ctx) -> impl IntoView {
    move || {
        match ctx.gpu_state.get() {
        GpuState::Probing => view! { <span id="backend-badge" class="badge" data-backend="probing">"probing WebGPU…"</span> }.into_any(),
        GpuState::Ready { adapter, fallback_adapter } => {
            let title = if fallback_adapter { "a software (fallback) adapter: correct but slow" } else { "hardware adapter" };
            view! {
                <span id="backend-badge" class="badge gpu" data-backend="webgpu" title=title>
                    "WebGPU · " {adapter} {fallback_adapter.then_some(" (fallback adapter)")}
                </span>
            }
            .into_any()
        }
        GpuState::Unavailable(why) => view! {
            <span id="backend-badge" class="badge cpu" data-backend="cpu">"CPU fallback: " {why}</span>
        }
        .into_any(),
        GpuState::Lost(why) => view! {
            <span id="backend-badge" class="badge cpu" data-backend="cpu">"CPU fallback: the GPU device was lost (" {why} ")"</span>
        }
        .into_any(),
    }
    }
}
