//! What a run reports: a loss every step, every mask update with its drops and grows, and
//! periodic evaluations. The CLI prints them as JSON lines; the page animates them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    /// Mean training loss of the step's mini-batch.
    #[serde(with = "crate::float_text")]
    pub loss: f64,
    pub lr: f64,
    /// Cumulative training FLOPs so far, and as a fraction of dense training's.
    pub train_flops: f64,
    pub train_flops_fraction: f64,
}

/// One layer's mask update (RIGL.md "Record every update as an event").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskUpdate {
    pub step: usize,
    pub layer: usize,
    pub layer_name: String,
    /// The weights turned off and on, net: a weight dropped and regrown in the same update
    /// (RIGL.md step 3 allows it) is in neither list.
    pub dropped: Vec<u32>,
    pub grown: Vec<u32>,
    /// k: weights the drop step took (and the grow step gave back), regrown ones included
    /// (RIGL.md step 1: floor(f(t) * active)); for SNIP and pruning, the weights removed.
    pub k: usize,
    /// f(t) for drop-and-grow methods; the new sparsity for pruning and SNIP.
    pub drop_fraction: f64,
    /// Active weights of the layer after the update.
    pub active: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Steps done when evaluated.
    pub step: usize,
    #[serde(with = "crate::float_text")]
    pub train_loss: f64,
    pub train_accuracy: f64,
    #[serde(with = "crate::float_text")]
    pub test_loss: f64,
    pub test_accuracy: f64,
}

/// A run whose loss left any sensible range: it stops there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub step: usize,
    /// The step's mean loss: not finite, or above `DIVERGED_FACTOR` times the first one.
    #[serde(with = "crate::float_text")]
    pub loss: f64,
    pub first_loss: f64,
}

/// A loss this many times the first step's counts as diverged.
pub const DIVERGED_FACTOR: f64 = 1e4;

impl Divergence {
    /// Whether `loss` at some step diverged from a run whose first loss was `first`.
    pub fn is_diverged(loss: f64, first: f64) -> bool {
        !loss.is_finite() || loss > DIVERGED_FACTOR * first
    }

    /// What happened, the likely cause and what to try.
    pub fn message(&self, lr: f64, momentum: f64) -> String {
        let what = if self.loss.is_finite() {
            format!(
                "reached {:.3e}, {:.0}x the first step's {:.3}",
                self.loss,
                self.loss / self.first_loss,
                self.first_loss
            )
        } else {
            format!("became {}", self.loss)
        };
        format!(
            "the run diverged at step {}: its loss {what}. Likely cause: the learning rate (lr={lr}) is too high{}; try lr={}",
            self.step,
            if momentum >= 0.95 {
                format!(" for momentum={momentum}")
            } else {
                String::new()
            },
            lr / 2.0
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Step(StepMetrics),
    MaskUpdate(MaskUpdate),
    Eval(EvalMetrics),
}

/// The mask updates among `events`, in order.
pub fn mask_updates(events: &[Event]) -> Vec<&MaskUpdate> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MaskUpdate(m) => Some(m),
            _ => None,
        })
        .collect()
}
