//! The training loop: one configuration, one network, the rules of RIGL.md, events out.

pub mod events;
pub mod plan;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

pub use events::{EvalMetrics, Event, MaskUpdate, StepMetrics};
pub use plan::{Plan, data_shape, plan};

use crate::config::{Config, FirstUpdate, LrSchedule};
use crate::cpu::{Net, Workspace, sgd::sgd_step};
use crate::data::Dataset;
use crate::sparse::flops::{FlopsCounter, dense_forward_flops, forward_flops};
use crate::sparse::mask::random_mask;
use crate::sparse::schedule::{PruneSchedule, UpdateSchedule};
use crate::sparse::update::{
    Grow, MaskChange, apply_change, drop_and_grow, drop_count, magnitude_prune, snip_mask,
};
use crate::sparse::{LayerShape, Method};

/// Training-set images used for the "train" numbers of an evaluation.
pub const EVAL_TRAIN_SAMPLES: usize = 2000;
const EVAL_BATCH: usize = 500;
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

pub struct Trainer {
    pub config: Config,
    pub net: Net,
    pub layers: Vec<LayerShape>,
    /// Target density per layer; layers at 1.0 are never masked.
    pub densities: Vec<f64>,
    train: Dataset,
    test: Dataset,
    ws: Workspace,
    eval_ws: Workspace,
    order: Vec<u32>,
    cursor: usize,
    batch: Vec<u32>,
    data_rng: Pcg64,
    schedule: UpdateSchedule,
    prune: PruneSchedule,
    snfs_ema: Vec<Vec<f32>>,
    flops: FlopsCounter,
    f_current: f64,
    /// Steps done.
    pub step: usize,
}

impl Trainer {
    /// Sets up a run: He-initialised weights, the method's initial masks (RIGL.md: random
    /// with exactly floor(s*N) zeros for Static, SET, SNFS and RigL; dense for Dense, SNIP
    /// (masked at step 0) and pruning).
    pub fn new(config: &Config, train: Dataset, test: Dataset) -> Result<Self, String> {
        let errors = config.validate();
        if let Some(e) = errors.first() {
            return Err(e.to_string());
        }
        let (input, classes) = data_shape(config.data);
        if train.shape != input || test.shape != input || train.num_classes != classes {
            return Err(format!(
                "data has images of {:?} and {} classes; {} needs {:?} and {classes}",
                train.shape,
                train.num_classes,
                config.data.name(),
                input
            ));
        }
        if train.len() < config.batch {
            return Err(format!(
                "batch={} is larger than the {} training images",
                config.batch,
                train.len()
            ));
        }
        let mut net = Net::new(&config.model, input, classes);
        let layers = config.model.layer_shapes(input, classes);
        let densities = plan::densities(config, &layers);
        if matches!(
            config.method,
            Method::Static | Method::Set | Method::Snfs | Method::Rigl
        ) {
            let mut rng = stream(config.seed, STREAM_MASK);
            for (p, &d) in net.params.iter_mut().zip(&densities) {
                if d < 1.0 {
                    p.set_mask(random_mask(p.weights.len(), 1.0 - d, &mut rng));
                }
            }
        }
        // Every method draws the same dense initial weights; masks then zero some.
        net.init(&mut stream(config.seed, STREAM_INIT));
        let f_d = dense_forward_flops(&layers);
        let mut t = Self {
            ws: net.workspace(config.batch),
            eval_ws: net.workspace(EVAL_BATCH),
            snfs_ema: if config.method == Method::Snfs {
                net.params
                    .iter()
                    .map(|p| vec![0.0; p.weights.len()])
                    .collect()
            } else {
                Vec::new()
            },
            schedule: UpdateSchedule {
                dt: config.dt,
                t_end: config.t_end_step(),
                first_at_dt: config.first_update == FirstUpdate::Dt,
                alpha: config.alpha,
                drop_schedule: config.drop_schedule,
            },
            prune: plan::prune_schedule(config),
            flops: FlopsCounter::new(f_d),
            f_current: f_d,
            order: (0..train.len() as u32).collect(),
            cursor: train.len(),
            batch: vec![0; config.batch],
            data_rng: stream(config.seed, STREAM_DATA),
            config: config.clone(),
            net,
            layers,
            densities,
            train,
            test,
            step: 0,
        };
        t.refresh_flops();
        Ok(t)
    }

    pub fn done(&self) -> bool {
        self.step >= self.config.steps
    }

    /// Current forward FLOPs per sample (after a mask change).
    fn refresh_flops(&mut self) {
        let active: Vec<usize> = self.net.params.iter().map(|p| p.active()).collect();
        self.f_current = forward_flops(&self.layers, &active);
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

    /// The step of the next drop-and-grow (or prune) update at or after the current step.
    pub fn next_update_step(&self) -> Option<usize> {
        match self.config.method {
            m if m.is_dynamic() => self.schedule.next_update(self.step),
            Method::Prune => (self.step..=self.prune.end).find(|&t| self.prune.is_prune_step(t)),
            _ => None,
        }
    }

    fn tie_seed(&self, t: usize, layer: usize) -> u64 {
        self.config.seed ^ ((t as u64) << 20) ^ (layer as u64)
    }

    /// Applies a change to layer l and reports it.
    fn commit(
        &mut self,
        t: usize,
        l: usize,
        change: MaskChange,
        drop_fraction: f64,
        events: &mut Vec<Event>,
    ) {
        let p = &mut self.net.params[l];
        apply_change(&change, &mut p.mask, &mut p.weights, &mut p.momentum);
        p.mask_changed();
        events.push(Event::MaskUpdate(MaskUpdate {
            step: t,
            layer: l,
            layer_name: self.layers[l].name.clone(),
            dropped: change.dropped,
            grown: change.grown,
            drop_fraction,
            active: p.active(),
        }));
    }

    /// RIGL.md "One mask update": drop by magnitude, grow by the dense gradient (RigL), its
    /// moving average (SNFS) or at random (SET), in every masked layer.
    fn drop_and_grow_all(&mut self, t: usize, events: &mut Vec<Event>) {
        let f = self.schedule.drop_fraction(t);
        for l in 0..self.net.params.len() {
            if self.densities[l] >= 1.0 {
                continue;
            }
            let p = &self.net.params[l];
            let k = drop_count(f, p.active());
            let seed = self.tie_seed(t, l);
            let grow = match self.config.method {
                Method::Rigl => Grow::ByScore(&p.grad),
                Method::Snfs => Grow::ByScore(&self.snfs_ema[l]),
                _ => Grow::Random(seed.rotate_left(32)),
            };
            let change = drop_and_grow(&p.weights, &p.mask, k, grow, seed);
            self.commit(t, l, change, f, events);
        }
        self.refresh_flops();
    }

    /// SNIP at step 0: keep the largest |g * w| of the dense network on this batch.
    fn snip(&mut self, events: &mut Vec<Event>) {
        self.net.forward(&mut self.ws);
        self.net.loss(&mut self.ws, true);
        self.net.backward(&mut self.ws, true);
        for l in 0..self.net.params.len() {
            if self.densities[l] >= 1.0 {
                continue;
            }
            let p = &self.net.params[l];
            let active =
                crate::sparse::mask::active_for_density(p.weights.len(), self.densities[l]);
            let mask = snip_mask(&p.weights, &p.grad, active, self.tie_seed(0, l));
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
    fn prune_all(&mut self, t: usize, events: &mut Vec<Event>) {
        for l in 0..self.net.params.len() {
            if self.densities[l] >= 1.0 {
                continue;
            }
            let s_t = self.prune.sparsity_at(t, 1.0 - self.densities[l]);
            let p = &self.net.params[l];
            let target = crate::sparse::mask::active_for_density(p.weights.len(), 1.0 - s_t);
            let dropped = magnitude_prune(&p.weights, &p.mask, target, self.tie_seed(t, l));
            if !dropped.is_empty() {
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
        }
        self.refresh_flops();
    }

    /// One training step (RIGL.md step 7: on a RigL or SNFS update step the mask update
    /// replaces the SGD step; SET does the SGD step, then the mask update).
    pub fn step(&mut self, events: &mut Vec<Event>) {
        let t = self.step;
        let method = self.config.method;
        let lr = learning_rate(&self.config, t);
        self.next_batch();
        self.net.load_batch(&mut self.ws, &self.train, &self.batch);
        if t == 0 && method == Method::Snip {
            self.snip(events);
        }
        let update = self.is_update_step(t);
        let dense_grad = method == Method::Snfs || (method == Method::Rigl && update);
        self.net.forward(&mut self.ws);
        let (loss_sum, _) = self.net.loss(&mut self.ws, true);
        self.net.backward(&mut self.ws, dense_grad);
        if method == Method::Snfs {
            for (ema, p) in self.snfs_ema.iter_mut().zip(&self.net.params) {
                for (m, &g) in ema.iter_mut().zip(&p.grad) {
                    *m = SNFS_DECAY * *m + (1.0 - SNFS_DECAY) * g;
                }
            }
        }
        let replaces_sgd = update && matches!(method, Method::Rigl | Method::Snfs);
        if !replaces_sgd {
            let (m, wd) = (self.config.momentum as f32, self.config.wd as f32);
            for p in &mut self.net.params {
                sgd_step(p, lr as f32, m, wd);
            }
        }
        if update {
            self.drop_and_grow_all(t, events);
        }
        if method == Method::Prune && self.prune.is_prune_step(t) {
            self.prune_all(t, events);
        }
        self.flops
            .add_step(method, self.f_current, dense_grad, self.config.batch);
        events.push(Event::Step(StepMetrics {
            step: t,
            loss: loss_sum / self.config.batch as f64,
            lr,
            train_flops: self.flops.total(),
            train_flops_fraction: self.flops.fraction(),
        }));
        self.step += 1;
        if self.step.is_multiple_of(self.config.eval_every) || self.step == self.config.steps {
            let e = self.evaluate();
            events.push(Event::Eval(e));
        }
    }

    /// Loss and accuracy on the first EVAL_TRAIN_SAMPLES training images and the test set.
    pub fn evaluate(&mut self) -> EvalMetrics {
        let n = self.train.len().min(EVAL_TRAIN_SAMPLES) as u32;
        let train_idx: Vec<u32> = (0..n).collect();
        let test_idx: Vec<u32> = (0..self.test.len() as u32).collect();
        let (train_loss, train_accuracy) =
            self.net
                .evaluate(&mut self.eval_ws, &self.train, &train_idx);
        let (test_loss, test_accuracy) =
            self.net.evaluate(&mut self.eval_ws, &self.test, &test_idx);
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

impl Trainer {
    /// Seconds one RigL drop-and-grow of every masked layer takes, given the current
    /// gradients, measured on a copy so the run is not disturbed (for `riglab bench`).
    pub fn time_mask_update(&self) -> f64 {
        let f = self.schedule.drop_fraction(0);
        let mut copies: Vec<_> = self
            .net
            .params
            .iter()
            .map(|p| (p.mask.clone(), p.weights.clone(), p.momentum.clone()))
            .collect();
        let started = std::time::Instant::now();
        for (l, p) in self.net.params.iter().enumerate() {
            if self.densities[l] < 1.0 {
                let k = drop_count(f, p.active());
                let change = drop_and_grow(&p.weights, &p.mask, k, Grow::ByScore(&p.grad), 0);
                let (mask, weights, momentum) = &mut copies[l];
                apply_change(&change, mask, weights, momentum);
            }
        }
        started.elapsed().as_secs_f64()
    }
}
