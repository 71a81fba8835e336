//! The lab's state outside the reactive system: the runs (a trainer each), what they have
//! reported, and the data sets loaded so far. The page reads it when its `tick` signal moves.

use std::collections::HashMap;

use crate::backend::{AnyBackend, Backend, State};
use crate::config::Config;
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::experiment::Experiment;
use crate::gpu::{GpuBackend, GpuContext};
use crate::landscape::Point;
use crate::landscape::trajectory::{TRAJECTORY_LIMIT, Trajectory};
use crate::share::Variant;
use crate::sparse::Method;
use crate::train::state::RunState;
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

impl History {
    /// Forgets what came after `steps` steps (a run gone back to a snapshot).
    pub fn keep_to(&mut self, steps: usize) {
        // A step's loss is recorded under its index (0 for the first step), an update under
        // the step it ran in, an evaluation under the steps done.
        self.losses.retain(|l| l.0 < steps);
        self.evals.retain(|e| e.step <= steps);
        self.update_log.retain(|u| u.0 < steps);
        for c in &mut self.updates {
            *c = (0, 0, 0);
        }
        for &(_, layer, dropped, grown) in &self.update_log {
            if let Some(c) = self.updates.get_mut(layer) {
                *c = (c.0 + 1, c.1 + dropped, c.2 + grown);
            }
        }
        self.last_update = self.update_log.last().map(|u| u.0);
        self.flashes.clear();
    }
}

/// What one run has reported so far.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// (step, mini-batch loss) of every step.
    pub losses: Vec<(usize, f64)>,
    pub evals: Vec<EvalMetrics>,
    /// Per layer: mask updates seen, connections dropped and grown in total.
    pub updates: Vec<(usize, usize, usize)>,
    /// Every mask update of every layer: (step, layer, dropped, grown).
    pub update_log: Vec<(usize, usize, usize, usize)>,
    /// The most recent mask update step, if any.
    pub last_update: Option<usize>,
    pub flashes: Vec<Flash>,
    pub train_flops: f64,
    pub train_flops_fraction: f64,
}

/// Parameters and masks saved at a step, for the line view's ends.
pub use crate::worker::Mark;

/// The snapshots of a run the line view can start or end at (besides its current state).
#[derive(Clone, Debug)]
pub struct Marks {
    /// Where the run started: its initial weights (or the state it was forked from).
    pub start: Mark,
    /// Just before and just after the most recent mask update.
    pub before_update: Option<Mark>,
    pub after_update: Option<Mark>,
}

pub struct Run {
    pub config: Config,
    pub label: String,
    /// None while a step is in flight (taken out so no borrow is held across an await).
    pub trainer: Option<Trainer<AnyBackend>>,
    /// The last full copy of the GPU state, from which the CPU carries on if the device is
    /// lost.
    pub synced: Option<Synced>,
    /// The trainer's step when it was last put back.
    steps_done: usize,
    pub history: History,
    /// The weights as last read from the backend, for the mask views.
    pub weights: Vec<Vec<f32>>,
    /// Bumped whenever `weights` or the masks change: a mask view with nothing new to show
    /// (and no flash fading) does not redraw.
    pub seq: u64,
    /// The path through parameter space (None while a view borrows it).
    pub trajectory: Option<Trajectory>,
    pub marks: Marks,
    /// The worker that trains the run while the lab plays (`workers.rs`).
    pub remote: Option<super::workers::Remote>,
}

impl Run {
    /// A run on the GPU when `gpu` is given and works, else on the CPU; the second value says
    /// why a GPU run was not possible.
    fn new(
        config: Config,
        train: &Dataset,
        test: &Dataset,
        gpu: Option<&GpuContext>,
    ) -> Result<(Self, Option<String>), String> {
        let setup = Setup::new(&config)?;
        let setup_weights = setup.weights.clone();
        let start = Mark {
            step: 0,
            point: setup.initial_point(),
            masks: setup.masks.clone(),
        };
        let (backend, why_not_gpu) = backend_for(&setup, train, test, gpu)?;
        let trainer = Trainer::new(setup, backend, train.len(), test.len());
        let label = label_of(&config);
        let mut run = Self::with_trainer(config, label, trainer, start, None);
        run.weights = setup_weights;
        Ok((run, why_not_gpu))
    }

    /// A run of `trainer` under `config`, from the snapshot `start`, with nothing recorded
    /// yet; its path is also recorded every `record_every` steps when given.
    fn with_trainer(
        config: Config,
        label: String,
        trainer: Trainer<AnyBackend>,
        start: Mark,
        record_every: Option<usize>,
    ) -> Self {
        let layers = trainer.layers().len();
        Self {
            label,
            steps_done: trainer.step,
            trainer: Some(trainer),
            synced: None,
            history: History {
                updates: vec![(0, 0, 0); layers],
                ..History::default()
            },
            weights: start.point.weights.clone(),
            trajectory: Some(Trajectory::new(
                start.point.clone(),
                TRAJECTORY_LIMIT,
                record_every,
            )),
            marks: Marks {
                start,
                before_update: None,
                after_update: None,
            },
            remote: None,
            seq: 0,
            config,
        }
    }

    /// A run going on from a checkpoint's state under `config` (its own, or with other
    /// steps), on `gpu` when given and working, else on the CPU. Err says what does not fit.
    pub fn resumed(
        state: &RunState,
        config: Config,
        (train, test): (&Dataset, &Dataset),
        gpu: Option<&GpuContext>,
    ) -> Result<Self, String> {
        let start = Mark {
            step: state.step,
            point: Point {
                weights: state.params.weights.clone(),
                biases: state.params.biases.clone(),
            },
            masks: state.masks.clone(),
        };
        let trainer = rebuild(state, &config, (train, test), gpu)?;
        Ok(Self::with_trainer(
            config.clone(),
            label_of(&config),
            trainer,
            start,
            None,
        ))
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
                    self.seq += 1;
                    let c = &mut h.updates[u.layer];
                    *c = (c.0 + 1, c.1 + u.dropped.len(), c.2 + u.grown.len());
                    h.update_log
                        .push((u.step, u.layer, u.dropped.len(), u.grown.len()));
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

    /// Steps done (some of whose losses may still be on their way back from a GPU), also
    /// while the trainer is out for a step.
    pub fn step(&self) -> usize {
        self.trainer.as_ref().map_or(self.steps_done, |t| t.step)
    }

    /// Returns a trainer taken out for a step.
    pub fn put_back(&mut self, trainer: Trainer<AnyBackend>) {
        self.steps_done = trainer.step;
        self.trainer = Some(trainer);
    }

    pub fn done(&self) -> bool {
        self.trainer.as_ref().is_some_and(|t| t.done())
    }
}

/// A run's name in legends and tables: "dense", or method, distribution and sparsity.
fn label_of(config: &Config) -> String {
    match config.method {
        Method::Dense => "dense".to_string(),
        m => format!(
            "{} {} {}%",
            m.name(),
            config.dist.name(),
            // (0.8132 as 81.32, not 81.32000000000001)
            (1e4 * config.sparsity).round() / 100.0
        ),
    }
}

/// The whole lab: the primary run (index 0) and optional comparison runs on the same seed.
#[derive(Default)]
pub struct Lab {
    pub runs: Vec<Run>,
    pub data: HashMap<String, (Dataset, Dataset)>,
    /// Name of the backend the runs train on.
    pub backend: String,
    /// A run resumed from a checkpoint, waiting for the reset that its configuration's
    /// change starts: that reset takes it instead of starting over.
    pub pending: Option<Run>,
    /// The workers that train runs while the lab plays (`workers.rs`).
    pub workers: Vec<super::workers::PoolWorker>,
    /// How many times each data set was put in `data`: with its name, what a worker that
    /// keeps a copy knows it by (a set loaded again, say an own set replaced, is a new one).
    data_loads: HashMap<String, u64>,
}

impl Lab {
    /// Rebuilds every run (on `gpu` when given). Returns why the GPU could not be used, if so.
    pub fn reset(
        &mut self,
        config: &Config,
        versus: &[Variant],
        gpu: Option<&GpuContext>,
    ) -> Result<Option<String>, String> {
        let (train, test) = self
            .data
            .get(&config.data.name())
            .ok_or_else(|| format!("data set {} is not loaded", config.data.name()))?;
        let mut configs = vec![config.clone()];
        configs.extend(
            versus
                .iter()
                .map(|v| v.apply(config))
                .filter(|c| c != config),
        );
        // The old runs go first: a CNN's buffers twice over would double the page's memory.
        self.runs.clear();
        let mut runs = Vec::new();
        let mut why_not_gpu = None;
        for c in configs {
            let (run, why) = Run::new(c, train, test, gpu)?;
            why_not_gpu = why_not_gpu.or(why);
            runs.push(run);
        }
        // A race of several models (Big-Sparse) names each run's model.
        if runs.iter().any(|r| r.config.model != config.model) {
            for r in &mut runs {
                r.label = format!("{} {}", r.config.model, r.label);
            }
        }
        self.set_runs(runs);
        self.refresh_backend_name();
        Ok(why_not_gpu)
    }

    /// Puts a data set (training, test) in the lab under `name`.
    pub fn insert_data(&mut self, name: String, sets: (Dataset, Dataset)) {
        *self.data_loads.entry(name.clone()).or_default() += 1;
        self.data.insert(name, sets);
    }

    /// The name a worker keeps the data set `name` under (changes when it is loaded again).
    pub fn data_key(&self, name: &str) -> String {
        format!("{name}#{}", self.data_loads.get(name).copied().unwrap_or(0))
    }

    /// Puts `runs` in the place of the lab's runs; the workers, which held the old runs,
    /// go too.
    pub fn set_runs(&mut self, runs: Vec<Run>) {
        self.workers.clear();
        self.runs = runs;
    }

    pub fn refresh_backend_name(&mut self) {
        self.backend = self
            .primary()
            .and_then(|r| r.trainer.as_ref())
            .map(|t| t.backend.describe())
            .unwrap_or_default();
    }

    pub fn primary(&self) -> Option<&Run> {
        self.runs.first()
    }

    /// Run `i`, or the primary run when there is no such run.
    pub fn run(&self, i: usize) -> Option<&Run> {
        self.runs.get(i).or(self.runs.first())
    }
}

/// The backend of a run of `setup`: on `gpu` when given and it starts, else on the CPU; the
/// second value says why the GPU could not be used.
fn backend_for(
    setup: &Setup,
    train: &Dataset,
    test: &Dataset,
    gpu: Option<&GpuContext>,
) -> Result<(AnyBackend, Option<String>), String> {
    match gpu.map(|g| GpuBackend::with_context(g.clone(), setup, train.clone(), test.clone())) {
        Some(Ok(g)) => Ok((AnyBackend::from(g), None)),
        other => {
            let why_not_gpu = match other {
                Some(Err(e)) => Some(e.to_string()),
                _ => None,
            };
            Ok((
                AnyBackend::from(cpu_backend(setup, train, test)?),
                why_not_gpu,
            ))
        }
    }
}

/// A CPU backend that evaluates batch by batch across animation frames.
fn cpu_backend(setup: &Setup, train: &Dataset, test: &Dataset) -> Result<CpuBackend, String> {
    let mut backend = CpuBackend::new(setup, train.clone(), test.clone())?;
    backend.yielder = Some(Box::new(|| Box::pin(super::frame::next_frame())));
    Ok(backend)
}

/// A trainer going on from `state` under `config`, on `gpu` when given and working, else on
/// the CPU (a checkpoint opened, a run back from its worker).
pub fn rebuild(
    state: &RunState,
    config: &Config,
    (train, test): (&Dataset, &Dataset),
    gpu: Option<&GpuContext>,
) -> Result<Trainer<AnyBackend>, String> {
    let setup = state.setup(config)?;
    let (backend, _) = backend_for(&setup, train, test, gpu)?;
    state.resume(setup, backend, train.len(), test.len())
}

/// A host copy of a run's training state at a step.
pub struct Synced {
    pub step: usize,
    pub state: State,
}

/// Reads the full training state of a GPU run, so the CPU can carry on from it.
pub async fn sync_state(trainer: &mut Trainer<AnyBackend>) -> Synced {
    Synced {
        step: trainer.step,
        state: trainer.backend.read_state().await,
    }
}

/// A CPU backend holding a copy of a run's state (or the initial weights when `synced` is
/// None) under the trainer's masks, and the step of that state.
pub fn cpu_from_state(
    exp: &Experiment,
    masks: &[Vec<bool>],
    synced: Option<Synced>,
    train: &Dataset,
    test: &Dataset,
) -> Result<(CpuBackend, usize), String> {
    let mut setup = Setup::of(exp.clone());
    setup.masks = masks.to_vec();
    let Some(s) = synced else {
        return Ok((cpu_backend(&setup, train, test)?, 0));
    };
    let mut cpu = CpuBackend::with_state(&setup, &s.state, train.clone(), test.clone())?;
    cpu.yielder = Some(Box::new(|| Box::pin(super::frame::next_frame())));
    Ok((cpu, s.step))
}

impl Run {
    /// After a lost GPU device: a CPU backend from the last synchronised state (or from the
    /// initial weights if none), with the trainer's masks; steps since then are lost.
    pub fn fall_back_to_cpu(&mut self, train: &Dataset, test: &Dataset) -> Result<String, String> {
        let Some(trainer) = self.trainer.as_mut() else {
            return Err("the run is busy".into());
        };
        let (cpu, from_step) = cpu_from_state(
            &trainer.exp,
            &trainer.masks,
            self.synced.take(),
            train,
            test,
        )?;
        let lost = trainer.drop_in_flight();
        let now = trainer.step;
        trainer.backend = AnyBackend::from(cpu);
        Ok(format!(
            "{}: carried on at step {now} on the CPU from the weights synchronised at step {from_step} ({lost} recorded steps lost)",
            self.label
        ))
    }

    /// A run continuing this one's current state under `config` (on the CPU), labelled `label`,
    /// recording its path also every `record_every` steps when given.
    pub async fn fork(
        trainer: &mut Trainer<AnyBackend>,
        config: Config,
        label: String,
        (train, test): (&Dataset, &Dataset),
        record_every: Option<usize>,
    ) -> Result<Run, String> {
        let synced = sync_state(trainer).await;
        let start = Mark {
            step: 0,
            point: Point {
                weights: synced.state.weights.clone(),
                biases: synced.state.biases.clone(),
            },
            masks: trainer.masks.clone(),
        };
        let cpu = match &trainer.backend {
            // An exact copy (bias momentum too), as `riglab escape` makes: the same numbers.
            AnyBackend::Cpu(c) => {
                let mut copy = c.duplicate();
                copy.yielder = Some(Box::new(|| Box::pin(super::frame::next_frame())));
                copy
            }
            // The GPU's state as read back.
            AnyBackend::Gpu(_) => {
                cpu_from_state(&trainer.exp, &trainer.masks, Some(synced), train, test)?.0
            }
        };
        let forked = trainer.fork(&config, AnyBackend::from(cpu))?;
        Ok(Run::with_trainer(
            config,
            label,
            forked,
            start,
            record_every,
        ))
    }
}
