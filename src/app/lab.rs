//! The lab's state outside the reactive system: the runs (a trainer each), what they have
//! reported, and the data sets loaded so far. The page reads it when its `tick` signal moves.

use std::collections::HashMap;

use crate::backend::Backend;
use crate::config::Config;
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::share::Variant;
use crate::sparse::Method;
use crate::train::{EvalMetrics, Event, Setup, Trainer};

/// How long a connection's drop or grow flash stays visible, in milliseconds.
pub const FLASH_MS: f64 = 1200.0;

/// One layer's drops and grows of one mask update, with the time it was shown.
#[derive(Clone, Debug)]
pub struct Flash {
    pub layer: usize,
    pub dropped: Vec<u32>,
    pub grown: Vec<u32>,
    pub at_ms: f64,
}

/// What one run has reported so far.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// (step, mini-batch loss) of every step.
    pub losses: Vec<(usize, f64)>,
    pub evals: Vec<EvalMetrics>,
    /// Per layer: mask updates seen, connections dropped and grown in total.
    pub updates: Vec<(usize, usize, usize)>,
    /// The most recent mask update step, if any.
    pub last_update: Option<usize>,
    pub flashes: Vec<Flash>,
    pub train_flops: f64,
    pub train_flops_fraction: f64,
}

pub struct Run {
    pub config: Config,
    pub label: String,
    /// None while a step is in flight (taken out so no borrow is held across an await).
    pub trainer: Option<Trainer<CpuBackend>>,
    pub history: History,
    /// The weights as last read from the backend, for the mask views.
    pub weights: Vec<Vec<f32>>,
}

impl Run {
    fn new(config: Config, train: &Dataset, test: &Dataset) -> Result<Self, String> {
        let setup = Setup::new(&config)?;
        let setup_weights = setup.weights.clone();
        let mut backend = CpuBackend::new(&setup, train.clone(), test.clone())?;
        // Evaluate batch by batch across animation frames.
        backend.yielder = Some(Box::new(|| Box::pin(super::driver::next_frame())));
        let layers = setup.layers.len();
        let trainer = Trainer::new(setup, backend, train.len(), test.len());
        let label = match config.method {
            Method::Dense => "dense".to_string(),
            m => format!(
                "{} {} {}%",
                m.name(),
                config.dist.name(),
                100.0 * config.sparsity
            ),
        };
        Ok(Self {
            label,
            trainer: Some(trainer),
            history: History {
                updates: vec![(0, 0, 0); layers],
                ..History::default()
            },
            weights: setup_weights,
            config,
        })
    }

    /// Records a trainer's events.
    pub fn record(&mut self, events: &mut Vec<Event>, now_ms: f64) {
        for e in events.drain(..) {
            let h = &mut self.history;
            match e {
                Event::Step(s) => {
                    h.losses.push((s.step, s.loss));
                    (h.train_flops, h.train_flops_fraction) =
                        (s.train_flops, s.train_flops_fraction);
                }
                Event::Eval(m) => h.evals.push(m),
                Event::MaskUpdate(u) => {
                    let c = &mut h.updates[u.layer];
                    *c = (c.0 + 1, c.1 + u.dropped.len(), c.2 + u.grown.len());
                    h.last_update = Some(u.step);
                    h.flashes.retain(|f| now_ms - f.at_ms < FLASH_MS);
                    h.flashes.push(Flash {
                        layer: u.layer,
                        dropped: u.dropped,
                        grown: u.grown,
                        at_ms: now_ms,
                    });
                }
            }
        }
    }

    pub fn step(&self) -> usize {
        self.history.losses.last().map_or(0, |&(s, _)| s + 1)
    }

    pub fn done(&self) -> bool {
        self.trainer.as_ref().is_some_and(|t| t.done())
    }
}

/// The whole lab: the primary run (index 0) and optional comparison runs on the same seed.
#[derive(Default)]
pub struct Lab {
    pub runs: Vec<Run>,
    pub data: HashMap<String, (Dataset, Dataset)>,
    /// Name of the backend the runs train on.
    pub backend: String,
}

impl Lab {
    /// Rebuilds every run from `config` (and comparison methods) on data already loaded.
    pub fn reset(&mut self, config: &Config, versus: &[Variant]) -> Result<(), String> {
        let (train, test) = self
            .data
            .get(config.data.name())
            .ok_or_else(|| format!("data set {} is not loaded", config.data.name()))?;
        let mut runs = vec![Run::new(config.clone(), train, test)?];
        for v in versus {
            let c = v.apply(config);
            if c != *config {
                runs.push(Run::new(c, train, test)?);
            }
        }
        self.backend = runs[0]
            .trainer
            .as_ref()
            .map(|t| t.backend.describe())
            .unwrap_or_default();
        self.runs = runs;
        Ok(())
    }

    pub fn primary(&self) -> Option<&Run> {
        self.runs.first()
    }

    /// Run `i`, or the primary run when there is no such run.
    pub fn run(&self, i: usize) -> Option<&Run> {
        self.runs.get(i).or(self.runs.first())
    }
}
