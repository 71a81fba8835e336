//! RIGL.md "Escape from a local minimum": train with a static mask until the loss
//! plateaus, then continue from that exact state twice, once with the mask still fixed
//! and once with RigL, on the same data order. Static stays in its basin; RigL's changing
//! topology lets the loss drop further.

use serde::Serialize;

use crate::config::Config;
use crate::landscape::map::PlaneMap;
#[cfg(not(target_arch = "wasm32"))]
use crate::landscape::trajectory::{TRAJECTORY_LIMIT, Trajectory};
use crate::sparse::Method;

#[cfg(not(target_arch = "wasm32"))]
use super::Trainer;
#[cfg(not(target_arch = "wasm32"))]
use super::record::train_recording;
#[cfg(not(target_arch = "wasm32"))]
use crate::backend::block_on;
#[cfg(not(target_arch = "wasm32"))]
use crate::cpu::CpuBackend;
#[cfg(not(target_arch = "wasm32"))]
use crate::data::Dataset;
#[cfg(not(target_arch = "wasm32"))]
use crate::landscape::LOSS_SAMPLES;
#[cfg(not(target_arch = "wasm32"))]
use crate::landscape::compute::trajectory_map;

/// Steps of each continuation in the demo.
pub const ESCAPE_MORE_STEPS: usize = 1000;

/// The demo's setup: 98% sparse LeNet-300-100 on MNIST, constant learning rate.
pub const ESCAPE_PRESET: &str =
    "method=static&sparsity=0.98&dist=erk&lr=0.1&lr_schedule=constant&steps=1500&eval_every=500";

/// The continuations record where they are every this many steps (and after each mask
/// update): their paths on the PCA plane of both.
pub const ESCAPE_RECORD_EVERY: usize = 50;

/// Grid size (per side) of the loss map on the PCA plane of both continuations' paths.
pub const ESCAPE_MAP_GRID: usize = 21;

/// A continuation's configuration: the Static phase's, with `method` for `more` steps
/// (evaluated four times).
pub fn continuation_config(base: &Config, method: Method, more: usize) -> Config {
    let mut c = base.clone();
    (c.method, c.steps, c.eval_every) = (method, more, (more / 4).max(1));
    c
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Continuation {
    pub method: &'static str,
    /// (step of the continuation, mini-batch loss).
    pub losses: Vec<(usize, f64)>,
    /// Loss on the first training images at the end.
    pub train_loss: f64,
    pub test_accuracy: f64,
    pub mask_updates: usize,
    /// Its path from the Static solution.
    #[cfg(not(target_arch = "wasm32"))]
    #[serde(skip)]
    pub trajectory: Trajectory,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Escape {
    pub config: String,
    pub static_steps: usize,
    /// Training loss (first training images) of the Static solution.
    pub plateau_loss: f64,
    pub static_run: Continuation,
    pub rigl_run: Continuation,
    /// The loss on the PCA plane of both continuations' paths, about the Static solution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<PlaneMap>,
}

impl Escape {
    /// One sentence on what happened.
    pub fn summary(&self) -> String {
        summarize(
            self.plateau_loss,
            self.static_run.train_loss,
            self.rigl_run.train_loss,
            self.rigl_run.losses.len(),
        )
    }
}

/// One sentence on an escape: the Static solution's training loss, then each continuation's.
pub fn summarize(plateau: f64, static_after: f64, rigl_after: f64, steps: usize) -> String {
    let (s, r) = (static_after, rigl_after);
    let verdict = if r < 0.8 * s {
        "RigL left the basin: its changing mask found a much lower training loss, while the fixed mask stayed stuck"
    } else if r < s {
        "RigL ended lower than Static, but not by much"
    } else {
        "RigL did not end lower than Static here"
    };
    format!(
        "From a Static solution at training loss {plateau:.4}, {steps} more steps gave {s:.4} with Static and {r:.4} with RigL: {verdict}."
    )
}

#[cfg(not(target_arch = "wasm32"))]
fn run_to_end(t: &mut Trainer<CpuBackend>, method: &'static str) -> Continuation {
    let mut trajectory = Trajectory::new(
        t.backend.point(),
        TRAJECTORY_LIMIT,
        Some(ESCAPE_RECORD_EVERY),
    );
    let (mut losses, mut updates) = (Vec::new(), 0);
    train_recording(t, &mut trajectory, |events| {
        for e in events {
            match e {
                super::Event::Step(s) => losses.push((s.step, s.loss)),
                super::Event::MaskUpdate(_) => updates += 1,
                super::Event::Eval(_) => {}
            }
        }
    });
    let eval = block_on(t.evaluate());
    Continuation {
        method,
        losses,
        train_loss: eval.train_loss,
        test_accuracy: eval.test_accuracy,
        mask_updates: updates,
        trajectory,
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Trains `config` as Static for `config.steps` steps, then continues for `more` steps with
/// Static and with RigL (the continuation's own schedule: updates every dt from its step 0).
/// With `map_grid`, also the loss on a grid of that size over the PCA plane of both paths.
pub fn escape(
    config: &Config,
    train: Dataset,
    test: Dataset,
    more: usize,
    map_grid: Option<usize>,
) -> Result<Escape, String> {
    let mut base = config.clone();
    base.method = Method::Static;
    let mut t = Trainer::cpu(&base, train, test)?;
    let mut events = Vec::new();
    while !t.done() {
        block_on(t.step(&mut events));
        events.clear();
    }
    let plateau_loss = block_on(t.evaluate()).train_loss;
    let fork = |method: Method| -> Result<Trainer<CpuBackend>, String> {
        t.fork(
            &continuation_config(&base, method, more),
            t.backend.duplicate(),
        )
    };
    let (mut s, mut r) = (fork(Method::Static)?, fork(Method::Rigl)?);
    let (static_run, rigl_run) = (run_to_end(&mut s, "static"), run_to_end(&mut r, "rigl"));
    let map = match map_grid {
        Some(grid) => {
            let plateau = t.backend.point();
            let (s_end, r_end) = (s.backend.point(), r.backend.point());
            let paths = [
                (
                    "static".to_string(),
                    static_run.trajectory.path_to(s.step, &s_end),
                ),
                (
                    "rigl".to_string(),
                    rigl_run.trajectory.path_to(r.step, &r_end),
                ),
            ];
            Some(block_on(trajectory_map(
                &mut t.backend,
                &paths,
                &plateau,
                grid,
                LOSS_SAMPLES,
                async |_| {},
            ))?)
        }
        None => None,
    };
    Ok(Escape {
        config: base.to_query(),
        static_steps: base.steps,
        plateau_loss,
        static_run,
        rigl_run,
        map,
    })
}
