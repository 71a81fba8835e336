//! The training loop: one experiment, one backend, the rules of RIGL.md, events out.
//! `masks.rs` holds the mask updates (drop and grow, SNIP, pruning); `record.rs` trains while
//! recording the path through parameter space; `escape.rs` is the escape demo.

pub mod escape;
mod masks;
#[cfg(not(target_arch = "wasm32"))]
pub mod record;
pub mod state;

use std::collections::VecDeque;

pub use crate::events::{Divergence, EvalMetrics, Event, MaskUpdate, StepMetrics};
pub use crate::experiment::{Plan, Setup, plan};

use crate::backend::{Backend, Split, StepOptions};
use crate::config::Config;
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::experiment::{DataOrder, Experiment};
use crate::gpu::{GpuBackend, GpuContext, GpuError};
use crate::sparse::flops::{FlopsCounter, dense_forward_flops, forward_flops};
use crate::sparse::mask::count_active;
use crate::sparse::update::Scratch;
use crate::sparse::{LayerShape, Method};
use crate::train::state::RunState;

/// Training-set images used for the "train" numbers of an evaluation.
pub const EVAL_TRAIN_SAMPLES: usize = 2000;
/// RIGL.md "SNFS": decay of the moving average of the dense gradient.
const SNFS_DECAY: f32 = 0.9;

/// The divergence check's state (see `Trainer::watch`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Watch {
    pub first_loss: Option<f64>,
    pub diverged: Option<Divergence>,
}

/// Step metrics waiting for their loss (a GPU reports losses a few steps late).
struct PendingStep {
    step: usize,
    lr: f64,
    train_flops: f64,
    train_flops_fraction: f64,
}

pub struct Trainer<B: Backend> {
    /// What the configuration decided: network, densities, schedules, optimiser, seed.
    pub exp: Experiment,
    pub backend: B,
    /// The masks, as the trainer decided them (the backend holds a copy).
    pub masks: Vec<Vec<bool>>,
    active: Vec<usize>,
    data: DataOrder,
    batch: Vec<u32>,
    flops: FlopsCounter,
    f_current: f64,
    pending: VecDeque<PendingStep>,
    /// Buffers reused by every mask update, one set per masked layer.
    scratch: Vec<Scratch>,
    /// The weights each layer's last change resets (`reset_list`).
    reset: Vec<Vec<u32>>,
    /// Host seconds of the last drop-and-grow of every masked layer.
    last_mask_update: Option<f64>,
    /// The first step's loss, and the divergence that stopped the run, if one did.
    first_loss: Option<f64>,
    diverged: Option<Divergence>,
    test_len: usize,
    /// Steps done.
    pub step: usize,
}

impl Trainer<CpuBackend> {
    /// A run on the CPU backend.
    pub fn cpu(config: &Config, train: Dataset, test: Dataset) -> Result<Self, String> {
        let setup = Setup::new(config)?;
        let (train_len, test_len) = (train.len(), test.len());
        let backend = CpuBackend::new(&setup, train, test)?;
        Ok(Trainer::new(setup, backend, train_len, test_len))
    }
}

impl Trainer<GpuBackend> {
    /// A run on a GPU backend on `ctx` (or on a newly requested device).
    pub async fn gpu(
        config: &Config,
        train: Dataset,
        test: Dataset,
        ctx: Option<GpuContext>,
    ) -> Result<Self, GpuError> {
        let setup = Setup::new(config).map_err(GpuError::InvalidSetup)?;
        let (train_len, test_len) = (train.len(), test.len());
        let ctx = match ctx {
            Some(c) => c,
            None => GpuContext::new().await?,
        };
        let backend = GpuBackend::with_context(ctx, &setup, train, test)?;
        Ok(Trainer::new(setup, backend, train_len, test_len))
    }
}

impl<B: Backend> Trainer<B> {
    /// A run over a backend built from `setup` and holding `train_len` training and
    /// `test_len` test images.
    pub fn new(setup: Setup, backend: B, train_len: usize, test_len: usize) -> Self {
        let exp = setup.exp;
        let f_d = dense_forward_flops(exp.layers());
        let mut t = Self {
            flops: FlopsCounter::new(f_d),
            f_current: f_d,
            data: exp.data_order(train_len),
            batch: vec![0; exp.batch],
            active: Vec::new(),
            pending: VecDeque::new(),
            scratch: Vec::new(),
            reset: Vec::new(),
            last_mask_update: None,
            first_loss: None,
            diverged: None,
            masks: setup.masks,
            exp,
            backend,
            test_len,
            step: 0,
        };
        t.refresh_flops();
        t
    }

    /// The same run on another backend type (e.g. into an `AnyBackend`).
    pub fn map_backend<C: Backend>(self, f: impl FnOnce(B) -> C) -> Trainer<C> {
        Trainer {
            exp: self.exp,
            backend: f(self.backend),
            masks: self.masks,
            active: self.active,
            data: self.data,
            batch: self.batch,
            flops: self.flops,
            f_current: self.f_current,
            pending: self.pending,
            scratch: self.scratch,
            reset: self.reset,
            last_mask_update: self.last_mask_update,
            first_loss: self.first_loss,
            diverged: self.diverged,
            test_len: self.test_len,
            step: self.step,
        }
    }

    pub fn layers(&self) -> &[LayerShape] {
        self.exp.layers()
    }

    /// Whether the run is over: all its steps taken, or diverged.
    pub fn done(&self) -> bool {
        self.step >= self.exp.steps || self.diverged.is_some()
    }

    /// The divergence that stopped the run, once its loss has come back (a GPU's comes a
    /// few steps late): a non-finite loss, or one above `DIVERGED_FACTOR` times the first.
    pub fn diverged(&self) -> Option<&Divergence> {
        self.diverged.as_ref()
    }

    /// What the divergence check has seen: the first step's loss and the divergence, if
    /// any. A run handed to another thread takes it along (`set_watch`), so it stops where
    /// it would have stopped here.
    pub fn watch(&self) -> Watch {
        Watch {
            first_loss: self.first_loss,
            diverged: self.diverged.clone(),
        }
    }

    /// Takes the state `s` of a run with these masks in place: the parameters, optimiser
    /// state, step, data order and FLOPs (`RunState::resume` on a new trainer; a run back from
    /// its worker, which this trainer followed, without building a new backend). Err (and
    /// nothing changed) when the masks are not the state's or the data set is another.
    pub fn catch_up(&mut self, s: &RunState) -> Result<(), String> {
        if self.masks != s.masks {
            return Err("its masks are not the state's".into());
        }
        if s.data.len() != self.data.len() {
            return Err(format!(
                "it trained on {} images; this data set has {}",
                s.data.len(),
                self.data.len()
            ));
        }
        self.backend.load_state(&s.params)?;
        let f_d = dense_forward_flops(self.exp.layers());
        self.flops = FlopsCounter::resumed(f_d, s.train_flops, s.dense_train_flops);
        self.step = s.step;
        self.data = s.data.clone();
        self.pending.clear();
        self.refresh_flops();
        Ok(())
    }

    pub fn set_watch(&mut self, w: Watch) {
        self.first_loss = w.first_loss;
        self.diverged = w.diverged;
    }

    /// Follows a run that trains elsewhere (the same run, in a worker): its step and its
    /// mask updates (into the backend too), so that what the page shows of this trainer
    /// (masks, active counts, the step) stays that run's (its divergence comes with its state), and `catch_up` can
    /// later take the run's state in place. Its weights stay where they were.
    pub fn follow(&mut self, step: usize, updates: &[&MaskUpdate]) {
        for u in updates {
            let Some(mask) = self.masks.get_mut(u.layer) else {
                continue;
            };
            let n = mask.len() as u32;
            let mut toggled: Vec<u32> = u
                .dropped
                .iter()
                .chain(&u.grown)
                .copied()
                .filter(|&i| i < n)
                .collect();
            for &i in &u.dropped {
                if let Some(m) = mask.get_mut(i as usize) {
                    *m = false;
                }
            }
            for &i in &u.grown {
                if let Some(m) = mask.get_mut(i as usize) {
                    *m = true;
                }
            }
            toggled.sort_unstable();
            toggled.dedup();
            self.backend
                .set_mask(u.layer, &self.masks[u.layer], &toggled);
        }
        if !updates.is_empty() {
            self.refresh_flops();
        }
        self.step = step;
    }

    /// A new run that starts from this run's current state (the weights and momentum held
    /// by `backend`, a copy of this run's; the masks; the data order) under `config`, with
    /// its own step counter, schedules and FLOPs from 0. RIGL.md "escape from a local
    /// minimum": continue one Static solution with Static and with RigL.
    pub fn fork<C: Backend>(&self, config: &Config, backend: C) -> Result<Trainer<C>, String> {
        let mut setup = Setup::new(config)?;
        let (a, b) = (&self.exp, &setup.exp);
        if (&a.data, &a.graph, a.batch, a.dist, a.sparsity)
            != (&b.data, &b.graph, b.batch, b.dist, b.sparsity)
        {
            return Err(
                "a fork keeps the data set, model, batch size, distribution and sparsity".into(),
            );
        }
        setup.masks = self.masks.clone();
        let mut t = Trainer::new(setup, backend, self.data.len(), self.test_len);
        t.data = self.data.clone();
        Ok(t)
    }

    /// Steps recorded whose loss has not come back yet (a GPU runs behind the host).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Collects the losses that have arrived since the last step, as step events.
    pub async fn poll(&mut self, wait: bool, events: &mut Vec<Event>) {
        self.flush_losses(wait, events).await;
    }

    /// Forgets steps whose loss will never arrive (the backend was replaced after a lost
    /// device); returns how many.
    pub fn drop_in_flight(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        n
    }

    /// Active weights per layer and the current forward FLOPs per sample.
    fn refresh_flops(&mut self) {
        self.active = self.masks.iter().map(|m| count_active(m)).collect();
        self.f_current = forward_flops(self.exp.layers(), &self.active);
    }

    /// The forward FLOPs per sample after `commit`s (which keep `active` up to date).
    fn update_flops(&mut self) {
        self.f_current = forward_flops(self.exp.layers(), &self.active);
    }

    pub fn active(&self, layer: usize) -> usize {
        self.active[layer]
    }

    /// Whether step t changes masks by drop and grow.
    pub fn is_update_step(&self, t: usize) -> bool {
        self.exp.is_update_step(t)
    }

    /// Whether step t may change masks (a drop-and-grow update, a pruning step, or SNIP at
    /// step 0).
    pub fn may_change_masks_at(&self, t: usize) -> bool {
        self.exp.may_change_masks_at(t)
    }

    /// The step of the next drop-and-grow (or prune) update at or after the current step.
    pub fn next_update_step(&self) -> Option<usize> {
        self.exp.next_update_step(self.step)
    }

    /// Turns the backend's finished losses into step events.
    async fn flush_losses(&mut self, wait: bool, events: &mut Vec<Event>) {
        for loss in self.backend.take_losses(wait).await {
            let p = self
                .pending
                .pop_front()
                .expect("a loss for every recorded step");
            let first = *self.first_loss.get_or_insert(loss);
            if self.diverged.is_none() && Divergence::is_diverged(loss, first) {
                self.diverged = Some(Divergence {
                    step: p.step,
                    loss,
                    first_loss: first,
                });
            }
            events.push(Event::Step(StepMetrics {
                step: p.step,
                loss,
                lr: p.lr,
                train_flops: p.train_flops,
                train_flops_fraction: p.train_flops_fraction,
            }));
        }
    }

    /// One training step (RIGL.md step 7: on a RigL update step the mask update replaces the
    /// SGD step; Static, SET and SNFS do the SGD step, then the mask update on the post-step
    /// weights, as in the official code, where SNFS is a subclass of SET).
    pub async fn step(&mut self, events: &mut Vec<Event>) {
        let update = self.is_update_step(self.step);
        self.step_as(update, events).await;
    }

    /// One step that is a mask update step whatever the schedule says, at the schedule's
    /// drop fraction for the current step (a drop-and-grow method's, else a plain step):
    /// benchmarks time update steps with it.
    pub async fn update_step(&mut self, events: &mut Vec<Event>) {
        let update = self.exp.method.is_dynamic();
        self.step_as(update, events).await;
    }

    /// The seed of step t's image transforms, when the run augments its images.
    fn augment_seed(&self, t: usize) -> Option<u64> {
        self.exp
            .augment
            .then(|| crate::data::augment::step_seed(self.exp.seed, t))
    }

    /// Host seconds the last drop-and-grow of every masked layer took: choosing, installing
    /// the new masks, reporting; not the read-back of a GPU's weights and scores (which waits
    /// for the step's dense gradient).
    pub fn last_mask_update_seconds(&self) -> Option<f64> {
        self.last_mask_update
    }

    async fn step_as(&mut self, update: bool, events: &mut Vec<Event>) {
        let t = self.step;
        let method = self.exp.method;
        let lr = self.exp.lr.at(t);
        self.data.next_batch(&mut self.batch);
        if t == 0 && method == Method::Snip {
            self.snip(events).await;
        }
        let dense_grad = method == Method::Snfs || (method == Method::Rigl && update);
        let replaces_sgd = update && method == Method::Rigl;
        let opts = StepOptions {
            lr: lr as f32,
            momentum: self.exp.momentum as f32,
            wd: self.exp.wd as f32,
            dense_grad,
            sgd: !replaces_sgd,
            snfs_decay: (method == Method::Snfs).then_some(SNFS_DECAY),
            augment: self.augment_seed(t),
        };
        self.backend.train_step(&self.batch, &opts);
        self.flops
            .add_step(method, self.f_current, dense_grad, self.exp.batch);
        self.pending.push_back(PendingStep {
            step: t,
            lr,
            train_flops: self.flops.total(),
            train_flops_fraction: self.flops.fraction(),
        });
        if update {
            self.drop_and_grow_all(t, events).await;
        }
        if method == Method::Prune && self.exp.prune.is_prune_step(t) {
            self.prune_all(t, events).await;
        }
        self.step += 1;
        let eval = self.step.is_multiple_of(self.exp.eval_every) || self.step == self.exp.steps;
        self.flush_losses(eval, events).await;
        if eval {
            let e = self.evaluate().await;
            events.push(Event::Eval(e));
        }
    }

    /// Waits until the backend has finished every recorded step and reports their losses (a
    /// GPU runs steps asynchronously: a benchmark times up to here).
    pub async fn wait_for_losses(&mut self, events: &mut Vec<Event>) {
        self.flush_losses(true, events).await;
    }

    /// Loss and accuracy on the first EVAL_TRAIN_SAMPLES training images and the test set.
    pub async fn evaluate(&mut self) -> EvalMetrics {
        let (train_loss, train_accuracy) = self
            .backend
            .evaluate(Split::Train, EVAL_TRAIN_SAMPLES.min(self.data.len()))
            .await;
        let (test_loss, test_accuracy) = self.backend.evaluate(Split::Test, self.test_len).await;
        EvalMetrics {
            step: self.step,
            train_loss,
            train_accuracy,
            test_loss,
            test_accuracy,
        }
    }

    /// Cumulative training FLOPs and their fraction of dense training's.
    pub fn train_flops(&self) -> (f64, f64) {
        (self.flops.total(), self.flops.fraction())
    }

    /// Forward FLOPs per sample at the current masks (inference cost).
    pub fn inference_flops(&self) -> f64 {
        self.f_current
    }
}
