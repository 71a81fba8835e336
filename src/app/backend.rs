//! Which compute backend the page can use: a WebGPU adapter, or the CPU fallback and why.

use js_sys::{Function, Promise, Reflect};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::ctx::{Ctx, GpuState};
use crate::gpu::GpuContext;
use crate::share::BackendChoice;

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
            } else if choice == BackendChoice::Auto && fallback_adapter {
                ctx.fallback_note.set(Some(format!(
                    "WebGPU here is a software adapter ({adapter}): the CPU backend trains much faster, so it is used. \
                     Add backend=gpu to the link to train on WebGPU anyway."
                )));
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
