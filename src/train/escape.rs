//! RIGL.md "Escape from a local minimum": train with a static mask until the loss
//! plateaus, then continue from that exact state twice, once with the mask still fixed
//! and once with RigL, on the same data order. Static stays in its basin; RigL's changing
//! topology lets the loss drop further.

use serde::Serialize;

#[cfg(not(target_arch = "wasm32"))]
use super::{Event, Trainer};
#[cfg(not(target_arch = "wasm32"))]
use crate::backend::block_on;
#[cfg(not(target_arch = "wasm32"))]
use crate::config::Config;
#[cfg(not(target_arch = "wasm32"))]
use crate::cpu::CpuBackend;
#[cfg(not(target_arch = "wasm32"))]
use crate::data::Dataset;
#[cfg(not(target_arch = "wasm32"))]
use crate::sparse::Method;

/// Steps of each continuation in the demo.
pub const ESCAPE_MORE_STEPS: usize = 1000;

/// The demo's setup: 98% sparse LeNet-300-100 on MNIST, constant learning rate.
pub const ESCAPE_PRESET: &str =
    "method=static&sparsity=0.98&dist=erk&lr=0.1&lr_schedule=constant&steps=1500&eval_every=500";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Continuation {
    pub method: &'static str,
    /// (step of the continuation, mini-batch loss).
    pub losses: Vec<(usize, f64)>,
    /// Loss on the first training images at the end.
    pub train_loss: f64,
    pub test_accuracy: f64,
    pub mask_updates: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Escape {
    pub config: String,
    pub static_steps: usize,
    /// Training loss (first training images) of the Static solution.
    pub plateau_loss: f64,
    pub static_run: Continuation,
    pub rigl_run: Continuation,
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
    let mut events = Vec::new();
    let (mut losses, mut updates) = (Vec::new(), 0);
    while !t.done() {
        block_on(t.step(&mut events));
        for e in events.drain(..) {
            match e {
                Event::Step(s) => losses.push((s.step, s.loss)),
                Event::MaskUpdate(_) => updates += 1,
                Event::Eval(_) => {}
            }
        }
    }
    let eval = block_on(t.evaluate());
    Continuation {
        method,
        losses,
        train_loss: eval.train_loss,
        test_accuracy: eval.test_accuracy,
        mask_updates: updates,
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Trains `config` as Static for `config.steps` steps, then continues for `more` steps with
/// Static and with RigL (the continuation's own schedule: updates every dt from its step 0).
pub fn escape(
    config: &Config,
    train: Dataset,
    test: Dataset,
    more: usize,
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
        let mut c = base.clone();
        (c.method, c.steps, c.eval_every) = (method, more, more);
        t.fork(&c, t.backend.duplicate())
    };
    let (mut s, mut r) = (fork(Method::Static)?, fork(Method::Rigl)?);
    Ok(Escape {
        config: base.to_query(),
        static_steps: base.steps,
        plateau_loss,
        static_run: run_to_end(&mut s, "static"),
        rigl_run: run_to_end(&mut r, "rigl"),
    })
}
