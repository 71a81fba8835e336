//! FLOPs accounting (RIGL.md "FLOPs accounting", paper appendix H).
//!
//! Convention: 2 FLOPs per multiply-add of each ACTIVE weight. The forward pass of one
//! sample costs f = sum over maskable layers of 2 * active_l * positions_l (positions_l =
//! output positions of a conv layer, 1 for a dense layer). Biases, activations, pooling and
//! the loss are ignored: they cost the same for every method. The backward pass costs
//! 2 x forward (gradients with respect to activations and to the weights). f_D is the dense
//! network's forward cost, f_S (or f) the sparse one's.

use super::schedule::PruneSchedule;
use super::{LayerShape, Method};

/// Forward FLOPs of one sample with `active[l]` active weights in layer l:
/// sum of 2 * active_l * positions_l.
pub fn forward_flops(layers: &[LayerShape], active: &[usize]) -> f64 {
    assert_eq!(layers.len(), active.len(), "one active count per layer");
    layers
        .iter()
        .zip(active)
        .map(|(l, &a)| 2.0 * a as f64 * l.positions as f64)
        .sum()
}

/// f_D: forward FLOPs of one sample of the dense network.
pub fn dense_forward_flops(layers: &[LayerShape]) -> f64 {
    let all: Vec<usize> = layers.iter().map(LayerShape::num_weights).collect();
    forward_flops(layers, &all)
}

/// Training FLOPs per sample, averaged over a run (RIGL.md "FLOPs accounting"):
/// Dense 3 f_D; Static, SNIP, SET 3 f_S; SNFS 2 f_S + f_D (dense gradient every step);
/// RigL (3 f_S * dT + 2 f_S + f_D) / (dT + 1) (one dense-gradient step every dT + 1).
/// Prune: 3 f_s at the given `f_s`, i.e. the cost of a step at that mask; the run average
/// of dense-to-sparse pruning comes from [`prune_train_flops_per_sample`].
/// As in the paper, SNIP's one dense mini-batch at t = 0 is not counted.
pub fn train_flops_per_sample(method: Method, f_s: f64, f_d: f64, dt: usize) -> f64 {
    match method {
        Method::Dense => 3.0 * f_d,
        Method::Static | Method::Snip | Method::Set | Method::Prune => 3.0 * f_s,
        Method::Snfs => 2.0 * f_s + f_d,
        Method::Rigl => {
            let dt = dt as f64;
            (3.0 * f_s * dt + 2.0 * f_s + f_d) / (dt + 1.0)
        }
    }
}

/// Gradual magnitude pruning's training FLOPs per sample (RIGL.md "FLOPs accounting"):
/// the average over t in 0..steps of 3 f_D (1 - s_t), with s_t = `schedule.sparsity_at(t)`
/// (the target of the cubic ramp; between prune steps the mask in effect lags it slightly).
/// Zero steps cost 0.
pub fn prune_train_flops_per_sample(
    f_d: f64,
    schedule: &PruneSchedule,
    final_sparsity: f64,
    steps: usize,
) -> f64 {
    if steps == 0 {
        return 0.0;
    }
    let sum: f64 = (0..steps)
        .map(|t| 3.0 * f_d * (1.0 - schedule.sparsity_at(t, final_sparsity)))
        .sum();
    sum / steps as f64
}

/// FLOPs of ONE training step for one sample, for a cumulative counter.
/// `f_current` is the forward FLOPs at the current mask. RIGL.md "FLOPs accounting" and
/// "One mask update" (7): Dense 3 f_D; Static, SNIP, SET 3 f; SNFS 2 f + f_D every step;
/// RigL 3 f on ordinary steps and 2 f + f_D on update steps (the dense gradient replaces
/// the sparse backward); Prune 3 f, so dense-to-sparse costs fall as it prunes.
pub fn step_flops_per_sample(
    method: Method,
    f_current: f64,
    f_d: f64,
    is_update_step: bool,
) -> f64 {
    match method {
        Method::Dense => 3.0 * f_d,
        Method::Static | Method::Snip | Method::Set | Method::Prune => 3.0 * f_current,
        Method::Snfs => 2.0 * f_current + f_d,
        Method::Rigl if is_update_step => 2.0 * f_current + f_d,
        Method::Rigl => 3.0 * f_current,
    }
}

/// Training FLOPs accumulated over a run, next to what dense training of the same steps
/// and batches would have cost.
#[derive(Clone, Debug, PartialEq)]
pub struct FlopsCounter {
    f_d: f64,
    total: f64,
    dense_total: f64,
}

impl FlopsCounter {
    /// A counter for a network whose dense forward pass costs `f_d` per sample.
    pub fn new(f_d: f64) -> Self {
        Self {
            f_d,
            total: 0.0,
            dense_total: 0.0,
        }
    }

    /// Adds one training step of `batch` samples ([`step_flops_per_sample`]).
    pub fn add_step(&mut self, method: Method, f_current: f64, is_update_step: bool, batch: usize) {
        let b = batch as f64;
        self.total += b * step_flops_per_sample(method, f_current, self.f_d, is_update_step);
        self.dense_total += b * 3.0 * self.f_d;
    }

    /// Training FLOPs so far.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// What dense training (3 f_D per sample) would have cost for the same steps and batches.
    pub fn dense_total(&self) -> f64 {
        self.dense_total
    }

    /// A counter that has already counted `total` and `dense_total` (a resumed run).
    pub fn resumed(f_d: f64, total: f64, dense_total: f64) -> Self {
        Self {
            f_d,
            total,
            dense_total,
        }
    }

    /// total / dense_total; 0 before any step.
    pub fn fraction(&self) -> f64 {
        if self.dense_total > 0.0 {
            self.total / self.dense_total
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageShape;
    use crate::model::spec::ModelSpec;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn paper_example_rigl_at_uniform_90_percent() {
        // RIGL.md: uniform 90%, dT = 100 -> ~0.103 of dense. With f_D = 1, f_S = 0.1:
        // (3 * 0.1 * 100 + 2 * 0.1 + 1) / 101 = 31.2 / 101 = 0.30891; / 3 = 0.10297.
        let rigl = train_flops_per_sample(Method::Rigl, 0.1, 1.0, 100);
        let dense = train_flops_per_sample(Method::Dense, 0.1, 1.0, 100);
        assert!(close(rigl / dense, 0.10297, 1e-4));
        assert!(close(rigl, 31.2 / 101.0, 1e-12));
    }

    #[test]
    fn per_sample_formulas() {
        let (f_s, f_d) = (0.1, 1.0);
        assert_eq!(train_flops_per_sample(Method::Dense, f_s, f_d, 100), 3.0);
        for m in [Method::Static, Method::Snip, Method::Set, Method::Prune] {
            assert!(close(train_flops_per_sample(m, f_s, f_d, 100), 0.3, 1e-12)); // 3 * 0.1
        }
        // SNFS: 2 * 0.1 + 1 = 1.2.
        assert!(close(
            train_flops_per_sample(Method::Snfs, f_s, f_d, 100),
            1.2,
            1e-12
        ));
        // RigL with dT = 1: (0.3 + 0.2 + 1) / 2 = 0.75.
        assert!(close(
            train_flops_per_sample(Method::Rigl, f_s, f_d, 1),
            0.75,
            1e-12
        ));
    }

    #[test]
    fn lenet_dense_forward_flops() {
        // 784*300 + 300*100 + 100*10 = 266200 weights, 2 FLOPs each.
        let l = ModelSpec::default().layer_shapes(ImageShape::new(1, 28, 28), 10);
        assert_eq!(dense_forward_flops(&l), 532_400.0);
        // 10% of each layer: 2 * (23520 + 3000 + 100) = 53240.
        assert_eq!(forward_flops(&l, &[23_520, 3_000, 100]), 53_240.0);
    }

    #[test]
    fn conv_flops_count_positions() {
        // 3x3x1x16 conv on 28x28: 144 weights * 784 positions * 2 = 225792.
        let c = [LayerShape::conv("conv1", 1, 16, 3, 784)];
        assert_eq!(dense_forward_flops(&c), 225_792.0);
        assert_eq!(forward_flops(&c, &[72]), 112_896.0); // 72 * 784 * 2
        // cnn:16,32,128 on 28x28: conv1 225792 + conv2 4608*196*2 = 1806336
        // + fc1 200704*2 = 401408 + fc2 1280*2 = 2560 -> 2436096.
        let l = ModelSpec::default_cnn().layer_shapes(ImageShape::new(1, 28, 28), 10);
        assert_eq!(dense_forward_flops(&l), 2_436_096.0);
    }

    #[test]
    fn step_costs() {
        let (f, f_d) = (10.0, 100.0);
        for u in [false, true] {
            assert_eq!(step_flops_per_sample(Method::Dense, f, f_d, u), 300.0);
            assert_eq!(step_flops_per_sample(Method::Static, f, f_d, u), 30.0);
            assert_eq!(step_flops_per_sample(Method::Snip, f, f_d, u), 30.0);
            assert_eq!(step_flops_per_sample(Method::Set, f, f_d, u), 30.0);
            assert_eq!(step_flops_per_sample(Method::Prune, f, f_d, u), 30.0);
            assert_eq!(step_flops_per_sample(Method::Snfs, f, f_d, u), 120.0); // 20 + 100
        }
        assert_eq!(step_flops_per_sample(Method::Rigl, f, f_d, false), 30.0);
        assert_eq!(step_flops_per_sample(Method::Rigl, f, f_d, true), 120.0);
    }

    #[test]
    fn counter_over_201_rigl_steps() {
        // t = 0..=200 with dT = 100: updates at 0, 100, 200. f = 10, f_D = 100, batch 4:
        // (198 * 30 + 3 * (20 + 100)) * 4 = (5940 + 360) * 4 = 25200;
        // dense: 201 * 300 * 4 = 241200; fraction 25200 / 241200 = 0.104478.
        let mut c = FlopsCounter::new(100.0);
        assert_eq!(c.fraction(), 0.0);
        for t in 0..=200_usize {
            c.add_step(Method::Rigl, 10.0, t.is_multiple_of(100), 4);
        }
        assert_eq!(c.total(), 25_200.0);
        assert_eq!(c.dense_total(), 241_200.0);
        assert!(close(c.fraction(), 25_200.0 / 241_200.0, 1e-15));
        // Dense training costs exactly dense_total.
        let mut d = FlopsCounter::new(100.0);
        for _ in 0..=200 {
            d.add_step(Method::Dense, 10.0, false, 4);
        }
        assert_eq!(d.total(), d.dense_total());
        assert_eq!(d.fraction(), 1.0);
    }

    #[test]
    fn prune_average_by_hand() {
        // t0 = 2, t1 = 4, S = 0.8, 6 steps: s_t = 0, 0, 0, 0.8 * (1 - 1/8) = 0.7, 0.8, 0.8;
        // 1 - s_t = 1, 1, 1, 0.3, 0.2, 0.2 (sum 3.7); average 3 * 3.7 / 6 = 1.85 (f_D = 1).
        let p = PruneSchedule {
            start: 2,
            end: 4,
            every: 1,
        };
        assert!(close(
            prune_train_flops_per_sample(1.0, &p, 0.8, 6),
            1.85,
            1e-12
        ));
        assert_eq!(prune_train_flops_per_sample(1.0, &p, 0.8, 0), 0.0);
        // Before any pruning it is dense: 3 f_D.
        assert!(close(
            prune_train_flops_per_sample(2.0, &p, 0.8, 2),
            6.0,
            1e-12
        ));
    }
}
