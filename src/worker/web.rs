//! The worker's entry in the browser. The page's own wasm binary, started in a module
//! worker (`app/workers.rs` makes it), finds itself without a window and runs this instead
//! of the page: it answers the protocol's commands, in order, with a `Session` per run on the
//! CPU backend or on WebGPU (a device of the worker's own, opened for its first such run),
//! steps the runs that play in turn (one step each) in slices of
//! `PROGRESS_EVERY_MS` and yields between slices, so a `Pause` or a `Snapshot` gets in at
//! once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DedicatedWorkerGlobalScope, MessageChannel, MessageEvent};

use super::protocol::{
    Command, DATA_KEPT, Message, PROGRESS_EVERY_MS, Piece, Report, STATE_EVERY_MS, Stopped,
    WEIGHTS_EVERY_MS,
};
use super::session::{Session, plain, read_command};
use crate::backend::{AnyBackend, Backend};
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::gpu::{GpuBackend, GpuContext};

/// Whether this wasm runs in a worker (no window).
pub fn in_worker() -> bool {
    web_sys::window().is_none()
}

/// A message as JS: `[run, header, ArrayBuffer]`, and the list that transfers the buffer.
pub fn to_js(m: &Message) -> (JsValue, Array) {
    let bytes = Uint8Array::new_with_length(m.payload.len() as u32);
    bytes.copy_from(&m.payload);
    let buffer = bytes.buffer();
    let data = Array::of3(
        &JsValue::from(m.run),
        &JsValue::from_str(&m.header),
        &buffer,
    );
    (data.into(), Array::of1(&buffer))
}

/// A message from JS; Err says what it is not.
pub fn from_js(v: &JsValue) -> Result<Message, String> {
    let a = v
        .dyn_ref::<Array>()
        .ok_or("a message that is not [run, header, payload]")?;
    let run = a.get(0).as_f64().ok_or("a message without its run")? as u32;
    let header = a.get(1).as_string().ok_or("a message without a header")?;
    let payload = Uint8Array::new(&a.get(2)).to_vec();
    Ok(Message {
        run,
        header,
        payload,
    })
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(m: &Message) {
    let (data, transfer) = to_js(m);
    let _ = scope().post_message_with_transfer(&data, &transfer);
}

fn fail(run: u32, message: String) {
    post(&plain(&Report::Failed { message }).to(run));
}

/// One run this worker holds.
struct Held {
    run: u32,
    /// None while a step or a report of it is in progress.
    session: Option<Session<AnyBackend>>,
    playing: bool,
    /// The page asked for its state (`Pause`: with `stopped`, `Snapshot`: without).
    pause_asked: bool,
    snapshot_asked: bool,
    crash_at: Option<usize>,
    /// Destroy the GPU device after this step (`Command::Play`'s `lose_gpu_at`).
    lose_gpu_at: Option<usize>,
    /// Train until this many steps are done (`Play { until }`).
    until: Option<usize>,
    last_weights: f64,
    last_state: f64,
    /// (time, step) at the start of the current second, and the rate over the last one.
    window: (f64, usize),
    steps_per_s: f64,
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
    /// (name, (training, test)) of the data sets sent here, the newest last.
    static DATA: RefCell<Vec<(String, (Dataset, Dataset))>> = const { RefCell::new(Vec::new()) };
    static LOOPING: Cell<bool> = const { Cell::new(false) };
    static CHANNEL: RefCell<Option<MessageChannel>> = const { RefCell::new(None) };
    /// The commands not handled yet, in order (a `Configure` on WebGPU waits for its device).
    static INBOX: RefCell<VecDeque<JsValue>> = const { RefCell::new(VecDeque::new()) };
    static HANDLING: Cell<bool> = const { Cell::new(false) };
    /// This worker's WebGPU device, opened for its first run on WebGPU ...
    static GPU: RefCell<Option<GpuContext>> = const { RefCell::new(None) };
    /// ... or why it has none.
    static NO_GPU: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Runs it refused (`Report::NoGpu`) or dropped (`Report::GpuLost`): the commands about
    /// them that follow (sent before the page knew) are ignored.
    static REFUSED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// The worker's WebGPU device (opened once; a lost one is forgotten), or why there is none.
async fn worker_gpu() -> Result<GpuContext, String> {
    if let Some(why) = NO_GPU.with(|n| n.borrow().clone()) {
        return Err(why);
    }
    if let Some(g) = GPU.with(|g| g.borrow().clone()) {
        return Ok(g);
    }
    let navigator = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"))
        .unwrap_or(JsValue::UNDEFINED);
    let has_gpu = js_sys::Reflect::get(&navigator, &JsValue::from_str("gpu"))
        .is_ok_and(|g| !g.is_undefined() && !g.is_null());
    let opened = if has_gpu {
        GpuContext::new().await.map_err(|e| e.to_string())
    } else {
        Err("this browser has no WebGPU in workers (navigator.gpu is missing there)".into())
    };
    match opened {
        Ok(g) => {
            GPU.with(|x| *x.borrow_mut() = Some(g.clone()));
            Ok(g)
        }
        Err(why) => {
            NO_GPU.with(|n| *n.borrow_mut() = Some(why.clone()));
            Err(why)
        }
    }
}

fn refused(run: u32) -> bool {
    REFUSED.with(|r| r.borrow().contains(&run))
}

/// Keeps the data sets `sets` under `name` for later configures (the page sends each set to a
/// worker once; see `app/workers.rs`).
fn keep_data(name: &str, sets: &(Dataset, Dataset)) {
    DATA.with(|d| {
        let mut d = d.borrow_mut();
        d.retain(|(k, _)| k != name);
        d.push((name.to_string(), sets.clone()));
        let extra = d.len().saturating_sub(DATA_KEPT);
        d.drain(..extra);
    });
}

/// Runs `f` on the run `run` this worker holds, if it does.
fn with_held<T>(run: u32, f: impl FnOnce(&mut Held) -> T) -> Option<T> {
    HELD.with(|h| h.borrow_mut().iter_mut().find(|x| x.run == run).map(f))
}

/// Starts the worker: listens for commands and says that it is ready.
pub fn start() {
    // A panic tells the page what happened before the worker stops answering.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| info.to_string());
        fail(0, message);
    }));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| {
        INBOX.with(|q| q.borrow_mut().push_back(e.data()));
        if !HANDLING.replace(true) {
            wasm_bindgen_futures::spawn_local(handle_all());
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&plain(&Report::Started));
}

/// Handles the queued commands in order.
async fn handle_all() {
    while let Some(data) = INBOX.with(|q| q.borrow_mut().pop_front()) {
        let run = from_js(&data).map_or(0, |m| m.run);
        if let Err(message) = handle(&data).await {
            fail(run, message);
        }
    }
    HANDLING.set(false);
}

async fn handle(data: &JsValue) -> Result<(), String> {
    let m = from_js(data)?;
    let run = m.run;
    let (cmd, configured) = read_command(&m)?;
    if !matches!(cmd, Command::Configure { .. }) && refused(run) {
        return Ok(());
    }
    match cmd {
        Command::Configure { .. } => {
            let mut c = configured.ok_or("a configure without its run")?;
            let sets = match c.sets.take() {
                Some(sets) => {
                    keep_data(&c.data, &sets);
                    sets
                }
                // (The newest now, as on the page's list of what this worker holds.)
                None => DATA
                    .with(|d| {
                        let mut d = d.borrow_mut();
                        let i = d.iter().position(|(k, _)| *k == c.data)?;
                        let entry = d.remove(i);
                        let sets = entry.1.clone();
                        d.push(entry);
                        Some(sets)
                    })
                    .ok_or_else(|| format!("this worker does not hold the data sets {}", c.data))?,
            };
            let gpu = if c.gpu {
                match worker_gpu().await {
                    Ok(g) => Some(g),
                    Err(why) => {
                        REFUSED.with(|r| r.borrow_mut().push(run));
                        post(&plain(&Report::NoGpu { why }).to(run));
                        return Ok(());
                    }
                }
            } else {
                None
            };
            // On `AnyBackend`, as the page's own trainers: one copy of the trainer's code in the wasm.
            let session = Session::start(c, sets, |setup, train, test| match &gpu {
                Some(g) => GpuBackend::with_context(g.clone(), setup, train, test)
                    .map(AnyBackend::from)
                    .map_err(|e| e.to_string()),
                None => CpuBackend::new(setup, train, test).map(AnyBackend::from),
            })?;
            let at = if gpu.is_some() {
                "WebGPU in a worker"
            } else {
                "CPU (wasm) in a worker"
            };
            post(&session.configured(at).to(run));
            let step = session.trainer.step;
            HELD.with(|h| {
                let mut h = h.borrow_mut();
                h.retain(|x| x.run != run);
                h.push(Held {
                    run,
                    session: Some(session),
                    playing: false,
                    pause_asked: false,
                    snapshot_asked: false,
                    crash_at: None,
                    lose_gpu_at: None,
                    until: None,
                    last_weights: f64::NEG_INFINITY,
                    last_state: now(),
                    window: (now(), step),
                    steps_per_s: 0.0,
                });
            });
        }
        Command::Play {
            crash_at,
            until,
            lose_gpu_at,
        } => {
            with_held(run, |h| {
                h.playing = true;
                h.crash_at = crash_at;
                h.lose_gpu_at = lose_gpu_at;
                h.until = until;
                h.window = (now(), h.session.as_ref().map_or(0, |s| s.trainer.step));
            })
            .ok_or("play: this worker does not hold that run")?;
            if !LOOPING.get() {
                LOOPING.set(true);
                wasm_bindgen_futures::spawn_local(play());
            }
        }
        Command::Pause | Command::Snapshot => {
            let pause = cmd == Command::Pause;
            with_held(run, |h| {
                if pause {
                    h.playing = false;
                    h.pause_asked = true;
                } else {
                    h.snapshot_asked = true;
                }
            })
            .ok_or("this worker does not hold that run")?;
            if !LOOPING.get() {
                wasm_bindgen_futures::spawn_local(report_all(true));
            }
        }
        Command::Landscape { .. } => {
            let job = super::landscape::read(&m)?;
            // The run was configured for this landscape alone: forgotten once it is done.
            let session = HELD
                .with(|h| {
                    let mut h = h.borrow_mut();
                    let i = h.iter().position(|x| x.run == run)?;
                    h.remove(i).session
                })
                .ok_or("landscape: this worker does not hold that run")?;
            wasm_bindgen_futures::spawn_local(async move {
                let mut session = session;
                let mut last = f64::NEG_INFINITY;
                let report = async |p: &Piece| {
                    // The PCA's pieces are many and small: one report in a while.
                    let t = now();
                    if matches!(p, Piece::Pca { .. }) && t - last < PROGRESS_EVERY_MS {
                        return;
                    }
                    last = t;
                    let piece = p.clone();
                    let finished = false;
                    post(&plain(&Report::Landscape { piece, finished }).to(run));
                    yield_now().await;
                };
                let piece = job.run(&mut session.trainer, report, &now).await;
                let finished = true;
                post(&plain(&Report::Landscape { piece, finished }).to(run));
            });
        }
    }
    Ok(())
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// Trains the runs that play, a step each in turn, in slices of `PROGRESS_EVERY_MS`,
/// reporting after each slice, until none plays.
async fn play() {
    loop {
        let slice = now();
        let runs: Vec<u32> = HELD.with(|h| h.borrow().iter().map(|x| x.run).collect());
        loop {
            let mut stepped = false;
            for &run in &runs {
                let taken = with_held(run, |h| {
                    let go = h.playing
                        && h.session
                            .as_ref()
                            .is_some_and(|s| !s.done() && !reached(s, h.until));
                    go.then(|| h.session.take())
                        .flatten()
                        .map(|s| (s, h.crash_at, h.lose_gpu_at))
                })
                .flatten();
                let Some((mut s, crash_at, lose_gpu_at)) = taken else {
                    continue;
                };
                s.step().await;
                stepped = true;
                let step = s.trainer.step;
                if lose_gpu_at.is_some_and(|l| step >= l)
                    && let AnyBackend::Gpu(g) = &s.trainer.backend
                {
                    g.context().device.destroy();
                    with_held(run, |h| h.lose_gpu_at = None);
                }
                if let Some(why) = s.trainer.backend.lost_reason() {
                    // The page takes the run on from its last state, on the CPU.
                    GPU.with(|g| g.borrow_mut().take());
                    HELD.with(|h| h.borrow_mut().retain(|x| x.run != run));
                    REFUSED.with(|r| r.borrow_mut().push(run));
                    post(&plain(&Report::GpuLost { step, why }).to(run));
                    continue;
                }
                with_held(run, |h| h.session = Some(s));
                if crash_at.is_some_and(|c| step >= c) {
                    panic!("the worker stopped on purpose after step {step} (crash_worker_at)");
                }
            }
            if !stepped || now() - slice >= PROGRESS_EVERY_MS {
                break;
            }
        }
        report_all(false).await;
        let playing = HELD.with(|h| h.borrow().iter().any(|x| x.playing));
        if !playing {
            break;
        }
        yield_now().await;
    }
    LOOPING.set(false);
}

/// Whether `s` has done the steps `until` asks for.
fn reached(s: &Session<AnyBackend>, until: Option<usize>) -> bool {
    until.is_some_and(|u| s.trainer.step >= u)
}

/// What `report_all` reads of a held run (its session taken out meanwhile).
struct Due {
    session: Session<AnyBackend>,
    playing: bool,
    pause_asked: bool,
    snapshot_asked: bool,
    until: Option<usize>,
    last_weights: f64,
    last_state: f64,
    window: (f64, usize),
    steps_per_s: f64,
}

/// Sends every held run's progress and, when due or asked, its state; `only_asked`: only
/// what the page asked for (the runs are not training).
async fn report_all(only_asked: bool) {
    let runs: Vec<u32> = HELD.with(|h| h.borrow().iter().map(|x| x.run).collect());
    for run in runs {
        let Some(Some(mut d)) = with_held(run, |h| {
            Some(Due {
                session: h.session.take()?,
                playing: h.playing,
                pause_asked: h.pause_asked,
                snapshot_asked: h.snapshot_asked,
                until: h.until,
                last_weights: h.last_weights,
                last_state: h.last_state,
                window: h.window,
                steps_per_s: h.steps_per_s,
            })
        }) else {
            continue;
        };
        let t = now();
        let step = d.session.trainer.step;
        let stopped = if d.playing && d.session.done() {
            Some(Stopped::Finished)
        } else if d.playing && reached(&d.session, d.until) {
            Some(Stopped::Reached)
        } else if d.pause_asked {
            Some(Stopped::Asked)
        } else {
            None
        };
        if t - d.window.0 >= 1000.0 {
            d.steps_per_s = step.saturating_sub(d.window.1) as f64 * 1000.0 / (t - d.window.0);
            d.window = (t, step);
        }
        let weights_due =
            (!only_asked && t - d.last_weights >= WEIGHTS_EVERY_MS) || stopped.is_some();
        if d.session.has_progress() || weights_due {
            post(&d.session.progress(weights_due, d.steps_per_s).await.to(run));
        }
        let state_due = stopped.is_some()
            || d.snapshot_asked
            || (!only_asked && t - d.last_state >= STATE_EVERY_MS);
        if state_due {
            match d.session.state(stopped).await {
                Ok(m) => post(&m.to(run)),
                Err(message) => fail(run, message),
            }
        }
        with_held(run, |h| {
            h.session = Some(d.session);
            h.window = d.window;
            h.steps_per_s = d.steps_per_s;
            if weights_due {
                h.last_weights = t;
            }
            if state_due {
                h.last_state = now();
                h.snapshot_asked = false;
            }
            if stopped.is_some() {
                h.playing = false;
                h.pause_asked = false;
            }
        });
    }
}

/// Lets the worker's queued messages in (a message to itself: no timer clamping).
async fn yield_now() {
    let promise = Promise::new(&mut |resolve, _| {
        CHANNEL.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = MessageChannel::new().ok();
            }
            if let Some(ch) = c.as_ref() {
                ch.port1().set_onmessage(Some(resolve.unchecked_ref()));
                let _ = ch.port2().post_message(&JsValue::UNDEFINED);
            }
        });
    });
    let _ = JsFuture::from(promise).await;
}
