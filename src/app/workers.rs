//! The page's side of the workers (DESIGN.md: "every run trains in its own Web Worker"):
//! while the lab plays at full speed or steps to a step (a single step, the next mask
//! update), each run on the CPU backend trains in a worker (one per run up to one per core,
//! at most 4; more runs share them, a step each in turn), so the page's thread only draws and
//! a race uses every core. The page keeps a copy of each such run's trainer that follows the
//! worker's reports (step, masks, losses, the points of its path, the marks around mask
//! updates, the weights now and then); when the lab pauses, reaches that step or slows down,
//! the workers send their state and the runs go on here from it, exactly (checkpoints then
//! work as before). Landscapes of a paused run are jobs for a worker (`landscape`), as is
//! the timing of a step for `backend=auto` (`in_worker`) and an evaluation (`job`).
//!
//! A worker that fails or stops answering is replaced: the run goes back to the last state
//! its worker sent (at most `STATE_EVERY_MS` old), its record is cut there, and a new worker
//! takes it on. A run on WebGPU trains in a worker on the worker's own device; where a
//! worker has no WebGPU (`Report::NoGpu`), such runs stay on the page's thread. A worker
//! whose device is lost (`Report::GpuLost`) drops the run, which goes on on the CPU from the
//! last state that worker sent.

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use super::ctx::Ctx;
use super::frame::{Slice, next_frame, now_ms};
use super::lab::{Lab, Run};
use crate::backend::AnyBackend;
use crate::checkpoint;
use crate::config::Config;
use crate::data::Dataset;
use crate::events::mask_updates;
use crate::train::{Trainer, Watch};
use crate::worker::landscape::{self, Job};
use crate::worker::protocol::{
    Command, DATA_KEPT, MarkSlots, Message, Piece, PointSlots, Report, Slot, StepReport, Unpack,
    decode,
};
use crate::worker::session::{configure, plain};
use crate::worker::web::{from_js, to_js};

/// A recalled worker that has not sent its state by then is taken for dead.
const ANSWER_WITHIN_MS: f64 = 15_000.0;

/// A worker of the page's pool (at most `navigator.hardwareConcurrency`, and at most 4).
pub struct PoolWorker {
    worker: Worker,
    id: u64,
    /// Its wasm is loaded (`Report::Started`); until then messages wait in `queued`.
    ready: bool,
    queued: Vec<Message>,
    /// The data sets it was sent (`Lab::data_key`); it keeps the latest `DATA_KEPT`.
    data: Vec<String>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl PoolWorker {
    /// Stops it; its handlers are unset first, so that events already queued (an error after
    /// its last message) find nothing to call.
    fn stop(&self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

impl Drop for PoolWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl PoolWorker {
    fn send(&mut self, m: Message) {
        if self.ready {
            let (data, transfer) = to_js(&m);
            let _ = self.worker.post_message_with_transfer(&data, &transfer);
        } else {
            self.queued.push(m);
        }
    }

    /// Notes that the data sets `key` go to this worker now; whether they are new to it (then
    /// they must go along). As the worker does: this name the newest, the oldest past
    /// `DATA_KEPT` gone.
    fn takes_data(&mut self, key: &str) -> bool {
        let first = !self.data.iter().any(|k| k == key);
        self.data.retain(|k| k != key);
        self.data.push(key.to_string());
        let extra = self.data.len().saturating_sub(DATA_KEPT);
        self.data.drain(..extra);
        first
    }
}

/// Where a run trains when it trains in a worker.
pub struct Remote {
    /// The worker (`PoolWorker::id`) and the run's number there.
    worker: u64,
    run: u32,
    /// The worker holds the run: configured, and its state not back yet.
    pub training: bool,
    /// The last state it sent (or the one it was given): step, checkpoint, watch.
    last_state: Option<(usize, Vec<u8>, Watch)>,
    /// How many states it has sent.
    states: u64,
    /// It trains to this step (`Command::Play`), or on.
    until: Option<usize>,
    pub steps_per_s: f64,
    /// Where the worker trains it (`Report::Configured`), once it said.
    backend: Option<String>,
}

/// Sends `m` about the run `remote` to its worker.
fn send(l: &mut Lab, remote: (u64, u32), m: Message) {
    if let Some(w) = l.workers.iter_mut().find(|w| w.id == remote.0) {
        w.send(m.to(remote.1));
    }
}

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
    static NEXT_RUN: Cell<u32> = const { Cell::new(1) };
    /// Workers could not be made here (said once); the runs train on the page's thread.
    static BROKEN: Cell<bool> = const { Cell::new(false) };
    /// The landscapes being computed in workers.
    static JOBS: RefCell<Vec<Inbox>> = const { RefCell::new(Vec::new()) };
    /// Why a worker has no WebGPU, once one said so (`Report::NoGpu`): runs on WebGPU then
    /// stay on the page's thread.
    static NO_GPU: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Whether runs on WebGPU train in workers (until a worker says it has no WebGPU).
pub fn gpu_ok(ctx: Ctx) -> bool {
    enabled(ctx) && NO_GPU.with(|n| n.borrow().is_none())
}

/// What a landscape's worker (`worker`, under the job's own run `run`) sent and the page has
/// not shown yet: pieces (finished or not), or why it failed.
struct Inbox {
    worker: u64,
    run: u32,
    pieces: Vec<(Piece, bool)>,
    failed: Option<String>,
}

/// Runs `f` on the inbox of `worker`'s job `run`, if there is one.
fn with_inbox(worker: u64, run: u32, f: impl FnOnce(&mut Inbox)) -> bool {
    JOBS.with(|j| {
        j.borrow_mut()
            .iter_mut()
            .find(|x| x.worker == worker && x.run == run)
            .map(f)
            .is_some()
    })
}

/// Computes `job` (a landscape, an evaluation) in a worker at the state of run `i`'s trainer
/// `t` (paused and taken out of the lab): `show` gets the latest piece as they arrive, once a frame; the last piece when
/// it is done. Err: no worker could take it, or it stopped (why).
pub async fn job(
    ctx: Ctx,
    i: usize,
    t: &mut Trainer<AnyBackend>,
    job: &Job<'_>,
    show: impl FnMut(&Piece),
) -> Result<Piece, String> {
    let config = ctx
        .lab
        .with_value(|l| l.run(i).map(|r| r.config.clone()))
        .ok_or("the run is gone")?;
    let gpu = t.backend.is_gpu();
    in_worker(ctx, (&config, t, Some(i)), (None, gpu), job, show).await
}

/// Data sets of a job's own, under the name the worker keeps them by.
pub type OwnData<'a> = (&'a str, (&'a Dataset, &'a Dataset));

/// Computes `job` in a worker at the state of `t`, a trainer of `config` (run `i`'s when
/// given: what its snapshot reports goes to it), on the lab's data sets for `config`, or on
/// `own` (named so, for the worker to keep as it keeps the lab's), on the worker's WebGPU
/// when `gpu`; see `job`.
pub async fn in_worker(
    ctx: Ctx,
    (config, t, i): (&Config, &mut Trainer<AnyBackend>, Option<usize>),
    (own, gpu): (Option<OwnData<'_>>, bool),
    job: &Job<'_>,
    mut show: impl FnMut(&Piece),
) -> Result<Piece, String> {
    let mut events = Vec::new();
    let state = t.snapshot(config, &mut events).await;
    let bytes = checkpoint::to_bytes(&state)?;
    // A map's paths are packed over several frames.
    let mut packing = landscape::Packing::new(job);
    let mut slice = Slice::new();
    while packing.advance() {
        slice.pace().await;
    }
    let command = packing.finish();
    let watch = t.watch();
    let at = ctx
        .lab
        .try_update_value(|l| -> Result<(u64, u32), String> {
            if let Some(r) = i.and_then(|i| l.runs.get_mut(i)) {
                r.record(&mut events, now_ms());
            }
            // Any worker will do (a landscape's lab is paused; the timing of a step shares
            // a worker with a run that may already train there).
            let id = match l.workers.first() {
                Some(w) => w.id,
                None => add_worker(ctx, l)?,
            };
            let run = next_run();
            let name = config.data.name();
            let key = own.map_or_else(|| l.data_key(&name), |(k, _)| k.to_string());
            let first = l
                .workers
                .iter_mut()
                .find(|w| w.id == id)
                .is_some_and(|w| w.takes_data(&key));
            let sets = match own {
                Some((_, sets)) => sets,
                None => {
                    let sets = l.data.get(&name).ok_or("its data set is gone")?;
                    (&sets.0, &sets.1)
                }
            };
            let sets = first.then_some(sets);
            send(
                l,
                (id, run),
                configure(&bytes, watch, &key, sets, (None, gpu)),
            );
            send(l, (id, run), command);
            Ok((id, run))
        })
        .ok_or("the lab is gone")??;
    JOBS.with(|j| {
        j.borrow_mut().push(Inbox {
            worker: at.0,
            run: at.1,
            pieces: Vec::new(),
            failed: None,
        })
    });
    let outcome = loop {
        next_frame().await;
        let mut pieces = Vec::new();
        let mut failed = None;
        with_inbox(at.0, at.1, |x| {
            pieces = std::mem::take(&mut x.pieces);
            failed = x.failed.take();
        });
        if let Some((piece, finished)) = pieces.pop() {
            show(&piece);
            if finished {
                break Ok(piece);
            }
        }
        if let Some(why) = failed {
            break Err(why);
        }
        if !ctx
            .lab
            .with_value(|l| l.workers.iter().any(|w| w.id == at.0))
        {
            break Err("its worker stopped".to_string());
        }
    };
    JOBS.with(|j| j.borrow_mut().retain(|x| (x.worker, x.run) != at));
    outcome
}

/// Whether this page trains its CPU runs in workers.
pub fn enabled(ctx: Ctx) -> bool {
    !ctx.no_workers
        && !BROKEN.get()
        && js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("Worker")).unwrap_or(false)
}

/// Workers that train runs now.
pub fn busy_workers(lab: &Lab) -> usize {
    let mut ids: Vec<u64> = training(lab).into_iter().map(|(w, _)| w).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

/// Where each run trains and how fast, one line each (the header's tooltip).
pub fn where_runs(l: &Lab) -> String {
    l.runs
        .iter()
        .map(|r| match r.remote.as_ref().filter(|m| m.training) {
            Some(m) => {
                let k = l
                    .workers
                    .iter()
                    .position(|w| w.id == m.worker)
                    .map_or(0, |k| k + 1);
                let on = match m.backend.as_deref() {
                    Some(b) if b.starts_with("WebGPU") => " on WebGPU",
                    _ => "",
                };
                format!("{}: worker {k}{on} · {:.0} steps/s", r.label, m.steps_per_s)
            }
            None => format!("{}: on the page's thread", r.label),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs training in workers now.
pub fn in_workers(lab: &Lab) -> usize {
    training(lab).len()
}

/// How many workers the page has started so far (crashed and stopped ones included).
pub fn started() -> u64 {
    NEXT_ID.get() - 1
}

impl Run {
    /// Whether a worker holds this run now (the trainer here only follows it).
    pub fn in_worker(&self) -> bool {
        self.remote.as_ref().is_some_and(|m| m.training)
    }

    /// Steps per second of the run's worker, when it trains in one.
    pub fn worker_rate(&self) -> Option<f64> {
        self.remote
            .as_ref()
            .filter(|m| m.training)
            .map(|m| m.steps_per_s)
    }
}

/// The page's own script and wasm (Trunk's preload links), as absolute URLs.
fn glue_urls() -> Result<(String, String), String> {
    let window = web_sys::window().ok_or("no window")?;
    let doc = window.document().ok_or("no document")?;
    let base = window.location().href().map_err(|_| "no location")?;
    let href = |selector: &str| -> Result<String, String> {
        let rel = doc
            .query_selector(selector)
            .ok()
            .flatten()
            .and_then(|e| e.get_attribute("href"))
            .ok_or_else(|| format!("the page has no {selector}"))?;
        web_sys::Url::new_with_base(&rel, &base)
            .map(|u| u.href())
            .map_err(|_| format!("{rel} is not a URL"))
    };
    Ok((
        href("link[rel=modulepreload]")?,
        href("link[rel=preload][as=fetch]")?,
    ))
}

/// A new worker running the page's own wasm (which finds itself in a worker and serves the
/// protocol).
fn spawn(ctx: Ctx) -> Result<PoolWorker, String> {
    let (js, wasm) = glue_urls()?;
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let source = format!(
        "import init from {};\nawait init({{ module_or_path: {} }});\n",
        quote(&js),
        quote(&wasm)
    );
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let parts = js_sys::Array::of1(&JsValue::from_str(&source));
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|_| "no Blob")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "no object URL")?;
    let wo = WorkerOptions::new();
    wo.set_type(WorkerType::Module);
    wo.set_name("riglab run");
    let worker = Worker::new_with_options(&url, &wo).map_err(|e| {
        format!(
            "a worker could not start ({})",
            e.as_string().unwrap_or_else(|| format!("{e:?}"))
        )
    })?;
    let _ = web_sys::Url::revoke_object_url(&url);
    let id = NEXT_ID.get();
    NEXT_ID.set(id + 1);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        on_report(ctx, id, &e.data());
    });
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
        e.prevent_default();
        crashed(ctx, id, &e.message());
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(PoolWorker {
        worker,
        id,
        ready: false,
        queued: Vec::new(),
        data: Vec::new(),
        _on_message: on_message,
        _on_error: on_error,
    })
}

/// A new worker in the pool; its id.
fn add_worker(ctx: Ctx, l: &mut Lab) -> Result<u64, String> {
    let w = spawn(ctx)?;
    let id = w.id;
    l.workers.push(w);
    Ok(id)
}

/// A run number no worker has had.
fn next_run() -> u32 {
    let run = NEXT_RUN.get();
    NEXT_RUN.set(run + 1);
    run
}

/// How many workers the page keeps: one per core, up to 4 (the largest race).
fn pool_size() -> usize {
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
    (cores as usize).clamp(1, 4)
}

/// The worker for a run that goes to one: its own from before when that still lives, a new
/// one while the pool is not full, else the one holding the fewest runs that train.
fn worker_for(ctx: Ctx, l: &mut Lab, i: usize) -> Result<(u64, u32), String> {
    if let Some(m) = l.runs[i].remote.as_ref()
        && l.workers.iter().any(|w| w.id == m.worker)
    {
        return Ok((m.worker, m.run));
    }
    let id = if l.workers.len() < pool_size() {
        add_worker(ctx, l)?
    } else {
        let load = |id: u64| {
            l.runs
                .iter()
                .filter(|r| {
                    r.remote
                        .as_ref()
                        .is_some_and(|m| m.worker == id && m.training)
                })
                .count()
        };
        l.workers
            .iter()
            .map(|w| w.id)
            .min_by_key(|&id| load(id))
            .ok_or("no worker")?
    };
    let run = next_run();
    Ok((id, run))
}

/// The lab's run held by run `run` of worker `worker`.
fn index_of(lab: &Lab, worker: u64, run: u32) -> Option<usize> {
    lab.runs.iter().position(|r| {
        r.remote
            .as_ref()
            .is_some_and(|m| m.worker == worker && m.run == run)
    })
}

/// Hands every run that can train in a worker to one: on the CPU backend (or on WebGPU while
/// workers have it), not done (nor at `until`, to which they then train), not already there.
pub async fn dispatch(ctx: Ctx, until: Option<usize>) {
    let n = ctx.lab.with_value(|l| l.runs.len());
    let gpu_too = gpu_ok(ctx);
    // Packing a run (and, for a new worker, its data sets) takes milliseconds: once a frame's
    // budget is spent, the next run goes a frame later.
    let mut slice = Slice::new();
    for i in 0..n {
        slice.pace().await;
        let taken = ctx.lab.try_update_value(|l| {
            let r = l.runs.get_mut(i)?;
            let ok = !r.in_worker()
                && r.trainer.as_ref().is_some_and(|t| {
                    (matches!(t.backend, AnyBackend::Cpu(_)) || gpu_too)
                        && !t.done()
                        && until.is_none_or(|u| t.step < u)
                });
            if !ok {
                return None;
            }
            let every = r.trajectory.as_ref().and_then(|t| t.every_steps());
            Some((r.trainer.take()?, r.config.clone(), every))
        });
        let Some(Some((mut t, config, every))) = taken else {
            continue;
        };
        let mut events = Vec::new();
        let state = t.snapshot(&config, &mut events).await;
        let watch = t.watch();
        let gpu = t.backend.is_gpu();
        let now = now_ms();
        let failed = ctx.lab.try_update_value(|l| {
            let name = config.data.name();
            let r = l.runs.get_mut(i)?;
            r.record(&mut events, now);
            r.put_back(t);
            let bytes = checkpoint::to_bytes(&state).ok()?;
            let at = match worker_for(ctx, l, i) {
                Ok(at) => at,
                Err(e) => return Some(e),
            };
            // The data sets go to each worker once; it keeps them for the next plays.
            let key = l.data_key(&name);
            let first = l
                .workers
                .iter_mut()
                .find(|w| w.id == at.0)?
                .takes_data(&key);
            let sets = l.data.get(&name)?;
            let message = configure(
                &bytes,
                watch.clone(),
                &key,
                first.then_some((&sets.0, &sets.1)),
                (every, gpu),
            );
            let crash_at = if i == 0 {
                ctx.crash_worker_at.try_update_value(Option::take).flatten()
            } else {
                None
            };
            send(l, at, message);
            let lose_gpu_at = ctx.lose_gpu_at.filter(|_| gpu);
            send(
                l,
                at,
                plain(&Command::Play {
                    crash_at,
                    until,
                    lose_gpu_at,
                }),
            );
            l.runs.get_mut(i)?.remote = Some(Remote {
                worker: at.0,
                run: at.1,
                training: true,
                last_state: Some((state.step, bytes, watch)),
                states: 0,
                until,
                steps_per_s: 0.0,
                backend: None,
            });
            None
        });
        if let Some(Some(why)) = failed {
            BROKEN.set(true);
            ctx.note.set(Some(format!(
                "This browser could not start a Web Worker ({why}); the runs train on the page's own thread."
            )));
            return;
        }
    }
}

/// Whether a run trains in a worker to another end than `until`.
pub fn any_going_elsewhere(ctx: Ctx, until: Option<usize>) -> bool {
    ctx.lab.with_value(|l| {
        l.runs
            .iter()
            .filter_map(|r| r.remote.as_ref().filter(|m| m.training))
            .any(|m| m.until != until)
    })
}

/// Whether any run trains in a worker now.
pub fn any(ctx: Ctx) -> bool {
    ctx.lab.with_value(|l| in_workers(l) > 0)
}

/// The (worker, run) of every run that trains in a worker.
fn training(l: &Lab) -> Vec<(u64, u32)> {
    l.runs
        .iter()
        .filter_map(|r| r.remote.as_ref().filter(|m| m.training))
        .map(|m| (m.worker, m.run))
        .collect()
}

/// Sends `command` about every run that trains in a worker; returns them.
fn tell_all(ctx: Ctx, command: &Command) -> Vec<(u64, u32)> {
    ctx.lab
        .try_update_value(|l| {
            let all = training(l);
            for &at in &all {
                send(l, at, plain(command));
            }
            all
        })
        .unwrap_or_default()
}

/// Brings every run home from its worker: asks for the states and waits for them (a worker
/// that does not answer is replaced from its last state).
pub async fn recall(ctx: Ctx) {
    let asked = tell_all(ctx, &Command::Pause);
    if asked.is_empty() {
        return;
    }
    let start = now_ms();
    while any(ctx) {
        if now_ms() - start > ANSWER_WITHIN_MS {
            for (worker, _) in asked {
                crashed(ctx, worker, "it did not answer within 15 s");
            }
            break;
        }
        next_frame().await;
    }
}

/// Asks every worker for its runs' states now and waits (up to a second) for them: the
/// page keeps them when it is hidden or closed.
pub async fn fresh_states(ctx: Ctx) {
    let states = |l: &Lab, (w, run): (u64, u32)| {
        index_of(l, w, run)
            .and_then(|i| l.runs[i].remote.as_ref())
            .filter(|m| m.training)
            .map(|m| m.states)
    };
    let before: Vec<((u64, u32), Option<u64>)> = ctx.lab.with_value(|l| {
        training(l)
            .into_iter()
            .map(|at| (at, states(l, at)))
            .collect()
    });
    tell_all(ctx, &Command::Snapshot);
    let start = now_ms();
    while now_ms() - start < 1000.0 {
        let fresh = ctx.lab.with_value(|l| {
            before.iter().all(|&(at, n)| match (states(l, at), n) {
                (Some(now), Some(then)) => now > then,
                _ => true,
            })
        });
        if fresh {
            break;
        }
        super::frame::sleep_ms(20).await;
    }
}

/// The state the run's worker last sent, with the run's record up to it: what the page keeps
/// of a run in a worker.
pub fn kept_state(r: &Run) -> Option<(usize, &[u8])> {
    r.remote
        .as_ref()
        .filter(|m| m.training)
        .and_then(|m| m.last_state.as_ref())
        .map(|(step, bytes, _)| (*step, bytes.as_slice()))
}

fn on_report(ctx: Ctx, worker: u64, data: &JsValue) {
    let message = match from_js(data) {
        Ok(m) => m,
        Err(e) => return crashed(ctx, worker, &e),
    };
    let (report, u) = match decode::<Report>(&message) {
        Ok(r) => r,
        Err(e) => return crashed(ctx, worker, &e),
    };
    if report == Report::Started {
        ctx.lab.update_value(|l| {
            if let Some(w) = l.workers.iter_mut().find(|w| w.id == worker) {
                w.ready = true;
                for m in std::mem::take(&mut w.queued) {
                    w.send(m);
                }
            }
        });
        return;
    }
    if let Report::Landscape { piece, finished } = report {
        with_inbox(worker, message.run, |x| x.pieces.push((piece, finished)));
        return;
    }
    if let Report::Failed { message } = &report {
        return crashed(ctx, worker, message);
    }
    if let Report::NoGpu { why } = &report {
        return no_gpu(ctx, worker, message.run, why);
    }
    if let Report::GpuLost { why, .. } = &report {
        return gpu_lost(ctx, worker, message.run, why);
    }
    let failed = ctx.lab.try_update_value(|l| {
        let i = index_of(l, worker, message.run)?;
        let r = &mut l.runs[i];
        // (A run already home ignores what its worker still had on the way.)
        let remote = r.remote.as_mut().filter(|m| m.training)?;
        match report {
            Report::Progress {
                steps,
                points,
                marks,
                weights,
                steps_per_s,
            } => {
                remote.steps_per_s = steps_per_s;
                follow(r, steps, &points, marks, weights, &u).err()
            }
            Report::State {
                step,
                state,
                watch,
                stopped,
            } => {
                let bytes = match u.bytes(state) {
                    Ok(b) => b.to_vec(),
                    Err(e) => return Some(e),
                };
                remote.last_state = Some((step, bytes, watch));
                remote.states += 1;
                if stopped.is_some() {
                    return bring_home(l, i).err();
                }
                None
            }
            Report::Configured { backend, .. } => {
                remote.backend = Some(backend);
                None
            }
            Report::Started
            | Report::Failed { .. }
            | Report::NoGpu { .. }
            | Report::GpuLost { .. }
            | Report::Landscape { .. } => None,
        }
    });
    if let Some(Some(why)) = failed {
        crashed(ctx, worker, &why);
    }
}

/// What the page keeps of a run in a worker, from one progress report.
fn follow(
    r: &mut Run,
    steps: Vec<StepReport>,
    points: &[PointSlots],
    marks: Option<(MarkSlots, MarkSlots)>,
    weights: Option<Vec<Slot>>,
    u: &Unpack,
) -> Result<(), String> {
    let now = now_ms();
    for StepReport { step, mut events } in steps {
        if let Some(tr) = r.trajectory.as_mut()
            && let Some(ticket) = tr.offer(step, &events)
            && let Some(p) = points.iter().find(|p| p.step == step)
        {
            tr.push(ticket, step, p.unpack(u)?);
        }
        if let Some(t) = r.trainer.as_mut() {
            t.follow(step, &mask_updates(&events));
        }
        r.record(&mut events, now);
    }
    if let Some((before, after)) = marks {
        r.marks.before_update = Some(before.unpack(u)?);
        r.marks.after_update = Some(after.unpack(u)?);
    }
    if let Some(w) = weights {
        r.weights = w.iter().map(|&s| u.floats(s)).collect::<Result<_, _>>()?;
        r.seq += 1;
    }
    Ok(())
}

/// The run goes on here from the state its worker last sent.
fn bring_home(l: &mut Lab, i: usize) -> Result<(), String> {
    let r = &mut l.runs[i];
    let Some(remote) = r.remote.as_mut() else {
        return Ok(());
    };
    remote.training = false;
    let (_, bytes, watch) = remote
        .last_state
        .clone()
        .ok_or("the worker sent no state")?;
    let state = checkpoint::from_bytes(&bytes)?;
    // The trainer here followed the run (masks included): it takes the state in place. A
    // new one (a copy of the data sets: a second or so for CIFAR-10) only if it cannot.
    let caught_up = r
        .trainer
        .as_mut()
        .is_some_and(|t| t.catch_up(&state).is_ok());
    let mut t = match r.trainer.take() {
        Some(t) if caught_up => t,
        old => {
            r.trainer = old;
            let (train, test) = l
                .data
                .get(&r.config.data.name())
                .ok_or("its data set is gone")?;
            super::lab::rebuild(&state, &r.config, (train, test), None)?
        }
    };
    t.set_watch(watch);
    r.put_back(t);
    Ok(())
}

/// A worker failed (`why`): each run it trained goes on here from the last state it sent,
/// its record cut there, and the next frame hands it to a new worker.
fn crashed(ctx: Ctx, worker: u64, why: &str) {
    JOBS.with(|j| {
        for x in j.borrow_mut().iter_mut().filter(|x| x.worker == worker) {
            x.failed = Some(format!("its worker stopped ({why})"));
        }
    });
    let notes = ctx.lab.try_update_value(|l| {
        // Stopped now, dropped later: this may run inside its own message handler.
        let (dead, live) = std::mem::take(&mut l.workers)
            .into_iter()
            .partition::<Vec<_>, _>(|w| w.id == worker);
        l.workers = live;
        for w in &dead {
            w.stop();
        }
        leptos::task::spawn_local(async move { drop(dead) });
        let mine: Vec<usize> = (0..l.runs.len())
            .filter(|&i| l.runs[i].remote.as_ref().is_some_and(|m| m.worker == worker))
            .collect();
        let mut notes = Vec::new();
        for i in mine {
            if !l.runs[i].in_worker() {
                l.runs[i].remote = None;
                continue;
            }
            let from = l.runs[i].remote.as_ref().and_then(|m| m.last_state.as_ref()).map(|s| s.0);
            let shown = l.runs[i].step();
            let back = bring_home(l, i).map(|()| from.unwrap_or(0));
            let r = &mut l.runs[i];
            r.remote = None;
            notes.push(match back {
                Ok(step) => {
                    r.history.keep_to(step);
                    if let Some(tr) = r.trajectory.as_mut() {
                        tr.forget_after(step);
                    }
                    format!(
                        "The worker training {} stopped ({why}). The run went back to its last snapshot, step {step} ({} steps lost), and goes on in a new worker.",
                        r.label,
                        shown.saturating_sub(step)
                    )
                }
                Err(e) => format!(
                    "The worker training {} stopped ({why}) and the run could not go on from its snapshot ({e}); reset to start it again.",
                    r.label
                ),
            });
        }
        notes
    });
    if let Some(notes) = notes.filter(|n| !n.is_empty()) {
        ctx.note.set(Some(notes.join(" ")));
        ctx.view_tick.update(|t| *t += 1);
    }
}

/// A worker has no WebGPU (`why`): run `run` there, which it refused, stays on the page's
/// thread (where its trainer is still at the state it was sent with), and so do later runs on
/// WebGPU; a job there fails (and is computed here).
fn no_gpu(ctx: Ctx, worker: u64, run: u32, why: &str) {
    NO_GPU.with(|n| *n.borrow_mut() = Some(why.to_string()));
    with_inbox(worker, run, |x| {
        x.failed = Some(format!("no WebGPU in the worker ({why})"));
    });
    ctx.lab.update_value(|l| {
        if let Some(i) = index_of(l, worker, run) {
            l.runs[i].remote = None;
        }
    });
    ctx.note.set(Some(format!(
        "WebGPU is not available in a Web Worker here ({why}): runs on WebGPU train on the page's thread."
    )));
}

/// The WebGPU device of run `run`'s worker was lost (`why`): the run goes on on the CPU from
/// the last state the worker sent (its record cut there; the next frame hands it to a worker
/// again), the runs on the page's device fall back too, and the page says so.
fn gpu_lost(ctx: Ctx, worker: u64, run: u32, why: &str) {
    let note = ctx.lab.try_update_value(|l| {
        let i = index_of(l, worker, run)?;
        let shown = l.runs[i].step();
        let remote = l.runs[i].remote.take()?;
        let (step, bytes, watch) = remote.last_state?;
        let r = &l.runs[i];
        let (train, test) = l.data.get(&r.config.data.name())?;
        let rebuilt = checkpoint::from_bytes(&bytes)
            .and_then(|state| super::lab::rebuild(&state, &r.config, (train, test), None));
        let r = &mut l.runs[i];
        Some(match rebuilt {
            Ok(mut t) => {
                t.set_watch(watch);
                r.trainer = None;
                r.put_back(t);
                r.history.keep_to(step);
                if let Some(tr) = r.trajectory.as_mut() {
                    tr.forget_after(step);
                }
                l.refresh_backend_name();
                format!(
                    "{}: carried on at step {step} on the CPU from the last state its worker sent ({} steps lost)",
                    l.runs[i].label,
                    shown.saturating_sub(step)
                )
            }
            Err(e) => format!(
                "{} could not go on from its last state ({e}); reset to start it again",
                r.label
            ),
        })
    });
    super::driver::fall_back(ctx, why, note.flatten());
}
