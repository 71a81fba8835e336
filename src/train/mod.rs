//! The training loop: one configuration, one network, the rules of RIGL.md, events out.

pub mod escape;
pub mod events;
#[cfg(not(target_arch = "wasm32"))]
pub mod landscape_run;
pub mod plan;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

pub use events::{EvalMetrics, Event, MaskUpdate, StepMetrics};
pub use plan::{Plan, data_shape, plan};

use std::collections::VecDeque;

use crate::backend::{Backend, Split, StepOptions, Tensor};
use crate::config::{Config, FirstUpdate, LrSchedule};
use crate::cpu::CpuBackend;
use crate::data::{Dataset, ImageShape};
use crate::model::init::he_normal;
use crate::sparse::flops::{FlopsCounter, dense_forward_flops, forward_flops};
use crate::sparse::mask::{active_for_density, count_active, random_mask};
use crate::sparse::schedule::{PruneSchedule, UpdateSchedule};
use crate::sparse::update::{
    Grow, MaskChange, Scratch, drop_and_grow_with, drop_count, magnitude_prune, snip_mask,
};
use crate::sparse::{LayerShape, Method};

/// Training-set images used for the "train" numbers of an evaluation.
pub const EVAL_TRAIN_SAMPLES: usize = 2000;
/// RIGL.md "SNFS": decay of the moving average of the dense gradient.
const SNFS_DECAY: f32 = 0.9;

/// Independent seeded random streams, so that methods sharing a seed share the
/// initial weights and the data order (a fair comparison).
fn stream(seed: u64, purpose: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ purpose.wrapping_mul(0xA076_1D64_78BD_642F))
}
const STREAM_INIT: u64 = 1;
const STREAM_DATA: u64 = 2;
const STREAM_MASK: u64 = 3;

/// Learning rate at step t: constant; step (x0.1 at 50% and 75% of the steps); or cosine
/// decay from lr to 0 over the run.
pub fn learning_rate(config: &Config, t: usize) -> f64 {
    let progress = t as f64 / config.steps as f64;
    match config.lr_schedule {
        LrSchedule::Constant => config.lr,
        LrSchedule::Step if progress >= 0.75 => config.lr * 0.01,
        LrSchedule::Step if progress >= 0.5 => config.lr * 0.1,
        LrSchedule::Step => config.lr,
        LrSchedule::Cosine => config.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// Everything a run starts from, independent of the backend: the layers, their target
/// densities, initial weights and masks (RIGL.md: random masks with exactly floor(s*N)
/// zeros for Static, SET, SNFS and RigL; dense for Dense, SNIP and pruning).
#[derive(Clone, Debug)]
pub struct Setup {
    pub config: Config,
    pub input: ImageShape,
    pub classes: usize,
    pub layers: Vec<LayerShape>,
    /// Target density per layer; layers at 1.0 are never masked.
    pub densities: Vec<f64>,
    pub weights: Vec<Vec<f32>>,
    pub masks: Vec<Vec<bool>>,
}

impl Setup {
    pub fn new(config: &Config) -> Result<Self, String> {
        if let Some(e) = config.validate().first() {
            return Err(e.to_string());
        }
        let (input, classes) = data_shape(config.data);
        let layers = config.model.layer_shapes(input, classes);
        let densities = plan::densities(config, &layers);
        let mut init = stream(config.seed, STREAM_INIT);
        let mut weights: Vec<Vec<f32>> = layers.iter().map(|l| he_normal(l, &mut init)).collect();
        let mut mask_rng = stream(config.seed, STREAM_MASK);
        let random_masks = matches!(
            config.method,
            Method::Static | Method::Set | Method::Snfs | Method::Rigl
        );
        let masks: Vec<Vec<bool>> = layers
            .iter()
            .zip(&densities)
            .map(|(l, &d)| {
                if random_masks && d < 1.0 {
                    random_mask(l.num_weights(), 1.0 - d, &mut mask_rng)
                } else {
                    vec![true; l.num_weights()]
                }
            })
            .collect();
        for (w, m) in weights.iter_mut().zip(&masks) {
            w.iter_mut()
                .zip(m)
                .filter(|(_, on)| !**on)
                .for_each(|(w, _)| *w = 0.0);
        }
        Ok(Self {
            config: config.clone(),
            input,
            classes,
            layers,
            densities,
            weights,
            masks,
        })
    }

    /// The run's initial parameters: the initial weights, biases 0.
    pub fn initial_point(&self) -> crate::landscape::Point {
        crate::landscape::Point {
            weights: self.weights.clone(),
            biases: self.layers.iter().map(|l| vec![0.0; l.n_out]).collect(),
        }
    }
}

/// Step metrics waiting for their loss (a GPU reports losses a few steps late).
struct PendingStep {
    step: usize,
    lr: f64,
    train_flops: f64,
    train_flops_fraction: f64,
}

/// The first step at or after `step` that changes masks: a drop-and-grow update, or a
/// pruning step; None for methods whose mask is fixed.
pub fn next_update_step(config: &Config, step: usize) -> Option<usize> {
    match config.method {
        m if m.is_dynamic() => update_schedule(config).next_update(step),
        Method::Prune => {
            let p = plan::prune_schedule(config);
            (step..=p.end).find(|&t| p.is_prune_step(t))
        }
        _ => None,
    }
}

/// RIGL.md "Update schedule" for a configuration.
pub fn update_schedule(config: &Config) -> UpdateSchedule {
    UpdateSchedule {
        dt: config.dt,
        t_end: config.t_end_step(),
        first_at_dt: config.first_update == FirstUpdate::Dt,
        alpha: config.alpha,
        drop_schedule: config.drop_schedule,
    }
}

/// A host copy of a tensor when the backend has no view of it.
async fn host_copy<B: Backend>(backend: &mut B, layer: usize, tensor: Tensor) -> Option<Vec<f32>> {
    if backend.view(layer, tensor).is_some() {
        None
    } else {
        Some(backend.read(layer, tensor).await)
    }
}

/// The tensor in host memory: the backend's own, or the copy `host_copy` made.
fn on_host<'a, B: Backend>(
    backend: &'a B,
    copy: &'a Option<Vec<f32>>,
    layer: usize,
    tensor: Tensor,
) -> &'a [f32] {
    match copy {
        Some(copy) => copy,
        None => backend
            .view(layer, tensor)
            .expect("a view where nothing was copied"),
    }
}

pub struct Trainer<B: Backend> {
    pub config: Config,
    pub backend: B,
    pub layers: Vec<LayerShape>,
    pub densities: Vec<f64>,
    /// The masks, as the trainer decided them (the backend holds a copy).
    pub masks: Vec<Vec<bool>>,
    active: Vec<usize>,
    order: Vec<u32>,
    cursor: usize,
    batch: Vec<u32>,
    data_rng: Pcg64,
    schedule: UpdateSchedule,
    prune: PruneSchedule,
    flops: FlopsCounter,
    f_current: f64,
    pending: VecDeque<PendingStep>,
    /// Buffers reused by every mask update.
    scratch: Scratch,
    reset: Vec<u32>,
    /// Host seconds of the last drop-and-grow of every masked layer.
    last_mask_update: Option<f64>,
    train_len: usize,
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

impl<B: Backend> Trainer<B> {
    /// A run over a backend built from `setup` and holding `train_len` training and
    /// `test_len` test images.
    pub fn new(setup: Setup, backend: B, train_len: usize, test_len: usize) -> Self {
        let config = setup.config;
        let f_d = dense_forward_flops(&setup.layers);
        let mut t = Self {
            schedule: update_schedule(&config),
            prune: plan::prune_schedule(&config),
            flops: FlopsCounter::new(f_d),
            f_current: f_d,
            order: (0..train_len as u32).collect(),
            cursor: train_len,
            batch: vec![0; config.batch],
            data_rng: stream(config.seed, STREAM_DATA),
            active: Vec::new(),
            pending: VecDeque::new(),
            scratch: Scratch::default(),
            reset: Vec::new(),
            last_mask_update: None,
            masks: setup.masks,
            layers: setup.layers,
            densities: setup.densities,
            backend,
            config,
            train_len,
            test_len,
            step: 0,
        };
        t.refresh_flops();
        t
    }

    pub fn done(&self) -> bool {
        self.step >= self.config.steps
    }

    /// A new run that starts from this run's current state (the weights and momentum held
    /// by `backend`, a copy of this run's; the masks; the data order) under `config`, with
    /// its own step counter, schedules and FLOPs from 0. RIGL.md "escape from a local
    /// minimum": continue one Static solution with Static and with RigL.
    pub fn fork<C: Backend>(&self, config: &Config, backend: C) -> Result<Trainer<C>, String> {
        let c = &self.config;
        if (
            config.data,
            &config.model,
            config.batch,
            config.dist,
            config.sparsity,
        ) != (c.data, &c.model, c.batch, c.dist, c.sparsity)
        {
            return Err(
                "a fork keeps the data set, model, batch size, distribution and sparsity".into(),
            );
        }
        let mut setup = Setup::new(config)?;
        setup.masks = self.masks.clone();
        let mut t = Trainer::new(setup, backend, self.order.len(), self.test_len);
        (t.order, t.cursor, t.data_rng) = (self.order.clone(), self.cursor, self.data_rng.clone());
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
        self.f_current = forward_flops(&self.layers, &self.active);
    }

    /// The forward FLOPs per sample after `commit`s (which keep `active` up to date).
    fn update_flops(&mut self) {
        self.f_current = forward_flops(&self.layers, &self.active);
    }

    pub fn active(&self, layer: usize) -> usize {
        self.active[layer]
    }

    /// The next mini-batch of a seeded shuffle, reshuffled every epoch.
    fn next_batch(&mut self) {
        for b in 0..self.batch.len() {
            if self.cursor == self.order.len() {
                self.order.shuffle(&mut self.data_rng);
                self.cursor = 0;
            }
            self.batch[b] = self.order[self.cursor];
            self.cursor += 1;
        }
    }

    /// Whether step t changes masks by drop and grow.
    pub fn is_update_step(&self, t: usize) -> bool {
        self.config.method.is_dynamic() && self.schedule.is_update_step(t)
    }

    /// Whether step t may change masks (a drop-and-grow update, a pruning step, or SNIP at
    /// step 0).
    pub fn may_change_masks_at(&self, t: usize) -> bool {
        match self.config.method {
            Method::Prune => self.prune.is_prune_step(t),
            Method::Snip => t == 0,
            _ => self.is_update_step(t),
        }
    }

    /// The step of the next drop-and-grow (or prune) update at or after the current step.
    pub fn next_update_step(&self) -> Option<usize> {
        next_update_step(&self.config, self.step)
    }

    fn tie_seed(&self, t: usize, layer: usize) -> u64 {
        self.config.seed ^ ((t as u64) << 20) ^ (layer as u64)
    }

    /// Applies a change to layer l (trainer's mask and the backend's) and reports it.
    fn commit(
        &mut self,
        t: usize,
        l: usize,
        change: MaskChange,
        drop_fraction: f64,
        events: &mut Vec<Event>,
    ) {
        let mask = &mut self.masks[l];
        for &i in &change.dropped {
            mask[i as usize] = false;
        }
        for &i in &change.grown {
            mask[i as usize] = true;
        }
        // Every changed weight, in ascending order (as `Backend::set_mask` promises).
        let reset = &mut self.reset;
        reset.clear();
        let mut grown = change.grown.iter().copied().peekable();
        for &d in &change.dropped {
            while let Some(g) = grown.next_if(|&g| g < d) {
                reset.push(g);
            }
            reset.push(d);
        }
        reset.extend(grown);
        self.backend.set_mask(l, mask, reset);
        self.active[l] = self.active[l] + change.grown.len() - change.dropped.len();
        debug_assert_eq!(self.active[l], count_active(mask));
        events.push(Event::MaskUpdate(MaskUpdate {
            step: t,
            layer: l,
            layer_name: self.layers[l].name.clone(),
            active: self.active[l],
            dropped: change.dropped,
            grown: change.grown,
            drop_fraction,
        }));
    }

    fn masked_layers(&self) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&l| self.densities[l] < 1.0)
            .collect()
    }

    /// RIGL.md "One mask update": drop by magnitude, grow by the dense gradient (RigL), its
    /// moving average (SNFS) or at random (SET), in every masked layer. Reads the weights
    /// and scores in place where the backend allows (`Backend::view`); reuses its buffers.
    async fn drop_and_grow_all(&mut self, t: usize, events: &mut Vec<Event>) {
        let started = web_time::Instant::now();
        let mut reading = 0.0;
        let f = self.schedule.drop_fraction(t);
        let score_tensor = match self.config.method {
            Method::Rigl => Some(Tensor::Grad),
            Method::Snfs => Some(Tensor::SnfsEma),
            _ => None,
        };
        for l in self.masked_layers() {
            // Host copies only where the backend has no view (a GPU).
            let read = web_time::Instant::now();
            let weight_copy = host_copy(&mut self.backend, l, Tensor::Weights).await;
            let score_copy = match score_tensor {
                Some(tensor) => host_copy(&mut self.backend, l, tensor).await,
                None => None,
            };
            reading += read.elapsed().as_secs_f64();
            let seed = self.tie_seed(t, l);
            let k = drop_count(f, self.active[l]);
            let weights = on_host(&self.backend, &weight_copy, l, Tensor::Weights);
            let grow = match score_tensor {
                Some(tensor) => Grow::ByScore(on_host(&self.backend, &score_copy, l, tensor)),
                None => Grow::Random(seed.rotate_left(32)),
            };
            let change =
                drop_and_grow_with(&mut self.scratch, weights, &self.masks[l], k, grow, seed);
            self.commit(t, l, change, f, events);
        }
        self.update_flops();
        self.last_mask_update = Some(started.elapsed().as_secs_f64() - reading);
    }

    /// SNIP at step 0: keep the largest |g * w| of the dense network on this batch.
    async fn snip(&mut self, events: &mut Vec<Event>) {
        let probe = StepOptions {
            lr: 0.0,
            momentum: 0.0,
            wd: 0.0,
            dense_grad: true,
            sgd: false,
            snfs_decay: None,
        };
        self.backend.train_step(&self.batch, &probe);
        self.backend.take_losses(true).await;
        for l in self.masked_layers() {
            let weights = self.backend.read(l, Tensor::Weights).await;
            let grads = self.backend.read(l, Tensor::Grad).await;
            let active = active_for_density(weights.len(), self.densities[l]);
            let mask = snip_mask(&weights, &grads, active, self.tie_seed(0, l));
            let dropped = (0..mask.len() as u32)
                .filter(|&i| !mask[i as usize])
                .collect();
            self.commit(
                0,
                l,
                MaskChange {
                    dropped,
                    grown: Vec::new(),
                },
                1.0 - self.densities[l],
                events,
            );
        }
        self.refresh_flops();
    }

    /// Gradual magnitude pruning to the cubic schedule's sparsity at step t.
    async fn prune_all(&mut self, t: usize, events: &mut Vec<Event>) {
        for l in self.masked_layers() {
            let s_t = self.prune.sparsity_at(t, 1.0 - self.densities[l]);
            let target = active_for_density(self.masks[l].len(), 1.0 - s_t);
            if target >= self.active[l] {
                continue;
            }
            let weights = self.backend.read(l, Tensor::Weights).await;
            let dropped = magnitude_prune(&weights, &self.masks[l], target, self.tie_seed(t, l));
            self.commit(
                t,
                l,
                MaskChange {
                    dropped,
                    grown: Vec::new(),
                },
                s_t,
                events,
            );
        }
        self.refresh_flops();
    }

    /// Turns the backend's finished losses into step events.
    async fn flush_losses(&mut self, wait: bool, events: &mut Vec<Event>) {
        for loss in self.backend.take_losses(wait).await {
            let p = self
                .pending
                .pop_front()
                .expect("a loss for every recorded step");
            events.push(Event::Step(StepMetrics {
                step: p.step,
                loss,
                lr: p.lr,
                train_flops: p.train_flops,
                train_flops_fraction: p.train_flops_fraction,
            }));
        }
    }

    /// One training step (RIGL.md step 7: on a RigL or SNFS update step the mask update
    /// replaces the SGD step; SET does the SGD step, then the mask update).
    pub async fn step(&mut self, events: &mut Vec<Event>) {
        let update = self.is_update_step(self.step);
        self.step_as(update, events).await;
    }

    /// One step that is a mask update step whatever the schedule says, at the schedule's
    /// drop fraction for the current step (a drop-and-grow method's, else a plain step):
    /// benchmarks time update steps with it.
    pub async fn update_step(&mut self, events: &mut Vec<Event>) {
        let update = self.config.method.is_dynamic();
        self.step_as(update, events).await;
    }

    /// Host seconds the last drop-and-grow of every masked layer took: choosing, installing
    /// the new masks, reporting; not the read-back of a GPU's weights and scores (which waits
    /// for the step's dense gradient).
    pub fn last_mask_update_seconds(&self) -> Option<f64> {
        self.last_mask_update
    }

    async fn step_as(&mut self, update: bool, events: &mut Vec<Event>) {
        let t = self.step;
        let method = self.config.method;
        let lr = learning_rate(&self.config, t);
        self.next_batch();
        if t == 0 && method == Method::Snip {
            self.snip(events).await;
        }
        let dense_grad = method == Method::Snfs || (method == Method::Rigl && update);
        let replaces_sgd = update && matches!(method, Method::Rigl | Method::Snfs);
        let opts = StepOptions {
            lr: lr as f32,
            momentum: self.config.momentum as f32,
            wd: self.config.wd as f32,
            dense_grad,
            sgd: !replaces_sgd,
            snfs_decay: (method == Method::Snfs).then_some(SNFS_DECAY),
        };
        self.backend.train_step(&self.batch, &opts);
        self.flops
            .add_step(method, self.f_current, dense_grad, self.config.batch);
        self.pending.push_back(PendingStep {
            step: t,
            lr,
            train_flops: self.flops.total(),
            train_flops_fraction: self.flops.fraction(),
        });
        if update {
            self.drop_and_grow_all(t, events).await;
        }
        if method == Method::Prune && self.prune.is_prune_step(t) {
            self.prune_all(t, events).await;
        }
        self.step += 1;
        let eval =
            self.step.is_multiple_of(self.config.eval_every) || self.step == self.config.steps;
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
            .evaluate(Split::Train, EVAL_TRAIN_SAMPLES.min(self.train_len))
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
