//! From a validated configuration, everything a run needs, decided once: the network (op
//! list and layer shapes for the data set's images), the target density of every layer, the
//! mask-update and drop-fraction schedule, the pruning schedule, the learning-rate schedule,
//! the optimiser's constants, and the seeded random streams (initial weights, masks, data
//! order). The trainer and the backends read these values; none of them reads a `Config`.

pub mod grid;
pub mod plan;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

pub use plan::{LayerPlan, Plan, Totals, plan};

use crate::config::{Config, DataSet, FirstUpdate, LrSchedule};
use crate::data::ImageShape;
use crate::model::init::he_normal;
use crate::model::{Graph, Point};
use crate::sparse::distribution::{DistOptions, layer_densities};
use crate::sparse::mask::random_mask;
use crate::sparse::schedule::{PruneSchedule, UpdateSchedule};
use crate::sparse::{Distribution, LayerShape, Method};

/// Independent seeded random streams, so that methods sharing a seed share the
/// initial weights and the data order (a fair comparison).
fn stream(seed: u64, purpose: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ purpose.wrapping_mul(0xA076_1D64_78BD_642F))
}
const STREAM_INIT: u64 = 1;
const STREAM_DATA: u64 = 2;
const STREAM_MASK: u64 = 3;

/// The learning rate over a run of `steps` steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LearningRate {
    pub base: f64,
    pub schedule: LrSchedule,
    pub steps: usize,
}

impl LearningRate {
    /// The learning rate at step t: constant; step (x0.1 at 50% and x0.01 from 75% of the
    /// steps); or cosine decay from `base` to 0 over the run.
    pub fn at(&self, t: usize) -> f64 {
        let progress = t as f64 / self.steps as f64;
        match self.schedule {
            LrSchedule::Constant => self.base,
            LrSchedule::Step if progress >= 0.75 => self.base * 0.01,
            LrSchedule::Step if progress >= 0.5 => self.base * 0.1,
            LrSchedule::Step => self.base,
            LrSchedule::Cosine => self.base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// RIGL.md "Update schedule" of a configuration.
pub fn update_schedule(config: &Config) -> UpdateSchedule {
    UpdateSchedule {
        dt: config.dt,
        t_end: config.t_end_step(),
        first_at_dt: config.first_update == FirstUpdate::Dt,
        alpha: config.alpha,
        drop_schedule: config.drop_schedule,
    }
}

/// RIGL.md "Gradual magnitude pruning" schedule of a configuration.
pub fn prune_schedule(config: &Config) -> PruneSchedule {
    PruneSchedule {
        start: config.prune_start_step(),
        end: config.prune_end_step(),
        every: config.prune_every,
    }
}

/// Per-layer target densities of a configuration (1.0 everywhere for dense training).
pub fn densities(config: &Config, layers: &[LayerShape]) -> Vec<f64> {
    if config.method == Method::Dense {
        return vec![1.0; layers.len()];
    }
    let opts = DistOptions {
        dist: config.dist,
        sparsity: config.sparsity,
        dense_first: config.first_layer_dense(),
        dense_last: config.dense_last,
    };
    layer_densities(layers, &opts)
}

/// Everything a run needs that a configuration decides.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub data: DataSet,
    /// The network for the data set's images: ops, geometry, maskable layers.
    pub graph: Graph,
    pub method: Method,
    pub dist: Distribution,
    /// Global sparsity S.
    pub sparsity: f64,
    /// Target density per layer; layers at 1.0 are never masked.
    pub densities: Vec<f64>,
    /// When drop-and-grow updates happen and their drop fraction f(t).
    pub schedule: UpdateSchedule,
    pub prune: PruneSchedule,
    pub lr: LearningRate,
    pub momentum: f64,
    pub wd: f64,
    pub batch: usize,
    pub steps: usize,
    pub eval_every: usize,
    pub seed: u64,
    /// Random crops and flips of the training images (`data::augment`).
    pub augment: bool,
}

impl Experiment {
    /// The run of a configuration; the first broken rule or out-of-range field is the error.
    pub fn new(config: &Config) -> Result<Self, String> {
        if let Some(e) = config.validate().first() {
            return Err(e.to_string());
        }
        Ok(Self::derive(config))
    }

    /// [`Experiment::new`] without the validation (for a plan of any configuration).
    pub(crate) fn derive(config: &Config) -> Self {
        let (input, classes) = config.data.shape();
        let graph = Graph::new(&config.model, input, classes);
        let densities = densities(config, &graph.layers);
        Self {
            data: config.data.clone(),
            densities,
            graph,
            method: config.method,
            dist: config.dist,
            sparsity: config.sparsity,
            schedule: update_schedule(config),
            prune: prune_schedule(config),
            lr: LearningRate {
                base: config.lr,
                schedule: config.lr_schedule,
                steps: config.steps,
            },
            momentum: config.momentum,
            wd: config.wd,
            batch: config.batch,
            steps: config.steps,
            eval_every: config.eval_every,
            seed: config.seed,
            augment: config.augments(),
        }
    }

    pub fn layers(&self) -> &[LayerShape] {
        &self.graph.layers
    }

    pub fn input(&self) -> ImageShape {
        self.graph.input
    }

    pub fn classes(&self) -> usize {
        self.graph.classes
    }

    /// The layers a mask applies to (target density below 1).
    pub fn masked_layers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.densities.len()).filter(|&l| self.densities[l] < 1.0)
    }

    /// Whether step t changes masks by drop and grow.
    pub fn is_update_step(&self, t: usize) -> bool {
        self.method.is_dynamic() && self.schedule.is_update_step(t)
    }

    /// Whether step t may change masks (a drop-and-grow update, a pruning step, or SNIP at
    /// step 0).
    pub fn may_change_masks_at(&self, t: usize) -> bool {
        match self.method {
            Method::Prune => self.prune.is_prune_step(t),
            Method::Snip => t == 0,
            _ => self.is_update_step(t),
        }
    }

    /// The first step at or after `step` that changes masks: a drop-and-grow update, or a
    /// pruning step; None for methods whose mask is fixed.
    pub fn next_update_step(&self, step: usize) -> Option<usize> {
        match self.method {
            m if m.is_dynamic() => self.schedule.next_update(step),
            Method::Prune => (step..=self.prune.end).find(|&t| self.prune.is_prune_step(t)),
            _ => None,
        }
    }

    /// The seed of the tie-breaks of layer `layer`'s mask update at step t.
    pub fn tie_seed(&self, t: usize, layer: usize) -> u64 {
        self.seed ^ ((t as u64) << 20) ^ (layer as u64)
    }

    /// The order in which a run visits `train_len` training images.
    pub fn data_order(&self, train_len: usize) -> DataOrder {
        DataOrder {
            order: (0..train_len as u32).collect(),
            cursor: train_len,
            rng: stream(self.seed, STREAM_DATA),
        }
    }
}

/// A seeded shuffle of the training images, reshuffled every epoch. It serialises whole
/// (the order, the position, the generator's state), so a resumed run sees the same batches.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataOrder {
    order: Vec<u32>,
    /// Images of the current epoch used so far (the length: reshuffle before the next).
    cursor: usize,
    rng: Pcg64,
}

impl DataOrder {
    /// Fills `batch` with the next images.
    pub fn next_batch(&mut self, batch: &mut [u32]) {
        for b in batch {
            if self.cursor == self.order.len() {
                self.order.shuffle(&mut self.rng);
                self.cursor = 0;
            }
            *b = self.order[self.cursor];
            self.cursor += 1;
        }
    }

    /// Images of the current epoch used so far.
    pub fn position(&self) -> usize {
        self.cursor
    }

    /// Training images it orders.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Everything a run starts from, independent of the backend: its experiment, the initial
/// weights and masks (RIGL.md: random masks with exactly floor(s*N) zeros for Static, SET,
/// SNFS and RigL; dense for Dense, SNIP and pruning).
#[derive(Clone, Debug)]
pub struct Setup {
    pub exp: Experiment,
    pub weights: Vec<Vec<f32>>,
    pub masks: Vec<Vec<bool>>,
}

impl Setup {
    /// The start of a run of `config`.
    pub fn new(config: &Config) -> Result<Self, String> {
        Ok(Self::of(Experiment::new(config)?))
    }

    /// The start of a run of `exp`.
    pub fn of(exp: Experiment) -> Self {
        let mut init = stream(exp.seed, STREAM_INIT);
        let layers = exp.layers();
        let mut weights: Vec<Vec<f32>> = layers.iter().map(|l| he_normal(l, &mut init)).collect();
        let mut mask_rng = stream(exp.seed, STREAM_MASK);
        let random_masks = matches!(
            exp.method,
            Method::Static | Method::Set | Method::Snfs | Method::Rigl
        );
        let masks: Vec<Vec<bool>> = layers
            .iter()
            .zip(&exp.densities)
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
        Self {
            exp,
            weights,
            masks,
        }
    }

    /// The run's initial parameters: the initial weights, biases 0.
    pub fn initial_point(&self) -> Point {
        Point {
            weights: self.weights.clone(),
            biases: self
                .exp
                .layers()
                .iter()
                .map(|l| vec![0.0; l.n_out])
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(query: &str) -> Experiment {
        Experiment::new(&Config::parse_strict(query).unwrap()).unwrap()
    }

    #[test]
    fn learning_rate_schedules_at_chosen_steps() {
        let lr = |schedule: &str, t| {
            exp(&format!("lr=0.2&steps=1000&lr_schedule={schedule}"))
                .lr
                .at(t)
        };
        // Constant.
        assert_eq!((lr("constant", 0), lr("constant", 999)), (0.2, 0.2));
        // Step: x0.1 from 50% of the steps, x0.01 from 75%.
        assert_eq!(lr("step", 499), 0.2);
        assert!((lr("step", 500) - 0.02).abs() < 1e-15);
        assert!((lr("step", 749) - 0.02).abs() < 1e-15);
        assert!((lr("step", 750) - 0.002).abs() < 1e-15);
        // Cosine: base at 0, half at the middle, 0.2 * (1 + cos(pi / 4)) / 2 at a quarter.
        assert_eq!(lr("cosine", 0), 0.2);
        assert!((lr("cosine", 500) - 0.1).abs() < 1e-15);
        let quarter = 0.1 * (1.0 + std::f64::consts::FRAC_1_SQRT_2);
        assert!((lr("cosine", 250) - quarter).abs() < 1e-15);
    }

    #[test]
    fn invalid_configurations_are_refused_with_the_reason() {
        let c = Config {
            sparsity: 1.5,
            ..Config::default()
        };
        let err = Experiment::new(&c).unwrap_err();
        assert!(err.contains("sparsity"), "{err}");
    }

    #[test]
    fn the_data_order_is_a_seeded_shuffle_of_each_epoch() {
        let e = exp("seed=4");
        let mut order = e.data_order(10);
        let mut epoch = vec![0u32; 10];
        order.next_batch(&mut epoch);
        let mut sorted = epoch.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..10).collect::<Vec<_>>(),
            "each image once per epoch"
        );
        let mut again = e.data_order(10);
        let mut first = vec![0u32; 4];
        again.next_batch(&mut first);
        assert_eq!(first, epoch[..4], "the same seed, the same order");
        let mut next = vec![0u32; 10];
        order.next_batch(&mut next);
        assert_ne!(next, epoch, "reshuffled for the next epoch");
    }

    #[test]
    fn the_next_mask_change_by_method() {
        let e = exp("method=rigl&steps=1000&dt=100&tend=0.75");
        assert_eq!(e.next_update_step(1), Some(100));
        assert_eq!(e.next_update_step(701), None);
        assert!(e.may_change_masks_at(0) && !e.may_change_masks_at(50));
        assert_eq!(exp("method=static").next_update_step(0), None);
        let p = exp("method=prune&steps=1000&prune_start=0.1&prune_end=0.6&prune_every=100");
        assert_eq!(p.next_update_step(1), Some(100));
        assert!(exp("method=snip").may_change_masks_at(0));
    }
}
