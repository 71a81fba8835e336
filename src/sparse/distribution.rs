//! How the global sparsity S is split over layers: Uniform, ER and ERK
//! (RIGL.md "Sparsity distributions"). Densities d_l = 1 - s_l; 1.0 is a dense layer.

use super::mask::{active_for_density, num_zeros};
use super::{Distribution, LayerShape};

/// What to split and how (RIGL.md "Sparsity distributions").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DistOptions {
    pub dist: Distribution,
    /// Global sparsity S in [0, 1].
    pub sparsity: f64,
    /// Keep the first layer dense (paper default for Uniform on CNNs).
    pub dense_first: bool,
    /// Keep the last layer dense (official MNIST setup).
    pub dense_last: bool,
}

/// Density d_l of every layer under `opts`.
///
/// RIGL.md "Sparsity distributions": Uniform gives s_l = S to every sparse layer; ER and ERK
/// solve for eps (see [`erk_densities`]). `dense_first` / `dense_last` force the first /
/// last layer dense for every distribution and, as the official code's
/// `custom_sparsity_map`, leave those layers out of the split entirely: the other layers hold
/// S over their own weights, so the total is above Uniform's by the forced layers' size.
/// Sparsity 0 gives all 1.0.
pub fn layer_densities(layers: &[LayerShape], opts: &DistOptions) -> Vec<f64> {
    let last = layers.len().saturating_sub(1);
    let forced_dense: Vec<bool> = (0..layers.len())
        .map(|i| (opts.dense_first && i == 0) || (opts.dense_last && i == last))
        .collect();
    if opts.sparsity <= 0.0 {
        return vec![1.0; layers.len()];
    }
    match opts.dist {
        Distribution::Uniform => forced_dense
            .iter()
            .map(|&dense| {
                if dense {
                    1.0
                } else {
                    1.0 - opts.sparsity.min(1.0)
                }
            })
            .collect(),
        Distribution::Er => erk_densities(layers, opts.sparsity, &forced_dense, false),
        Distribution::Erk => erk_densities(layers, opts.sparsity, &forced_dense, true),
    }
}

/// Raw score p_l of a layer (the official code's `raw_probabilities`).
///
/// RIGL.md "Sparsity distributions": ER: p_l = (n_in + n_out) / (n_in * n_out), whatever
/// the kernel; ERK (`kernel_aware`): p_l = sum(shape) / prod(shape) over the weight
/// tensor's dimensions, which for a dense layer equals ER and for a conv layer adds k_h + k_w.
pub fn raw_probability(layer: &LayerShape, kernel_aware: bool) -> f64 {
    let dims = if kernel_aware {
        layer.dims()
    } else {
        vec![layer.n_in, layer.n_out]
    };
    let sum: usize = dims.iter().sum();
    let prod: usize = dims.iter().product();
    sum as f64 / prod as f64
}

/// The ER / ERK solver (ER: `kernel_aware = false`, ERK: `true`): densities d_l = eps * p_l
/// with the total active count equal to Uniform's at `sparsity`.
///
/// RIGL.md "Sparsity distributions":
/// eps = (sum over sparse layers of (N_l - floor(S*N_l)) - sum over dense layers of floor(S*N_l))
///       / sum over sparse layers of p_l * N_l.
/// If eps * p_l > 1 for some layer, the layer(s) with the largest p_l (ties together) become
/// dense ("dense layers" above) and eps is solved again, until every eps * p_l <= 1. Layers
/// with `forced_dense` (the user's dense first / last layer) are in neither sum, as in the
/// official `sparse_utils.get_sparsities_erdos_renyi` (`custom_sparsity_map`): the other
/// layers split S over their own weights. Dense layers get exactly 1.0.
///
/// Should the loop's dense layers alone exceed the budget (eps <= 0), the sparse layers get
/// density 0, never negative; `config` refuses such a configuration (a masked layer without
/// an active weight).
pub fn erk_densities(
    layers: &[LayerShape],
    sparsity: f64,
    forced_dense: &[bool],
    kernel_aware: bool,
) -> Vec<f64> {
    assert_eq!(
        layers.len(),
        forced_dense.len(),
        "one forced_dense flag per layer"
    );
    let mut dense = forced_dense.to_vec();
    if sparsity <= 0.0 {
        return vec![1.0; layers.len()];
    }
    let p: Vec<f64> = layers
        .iter()
        .map(|l| raw_probability(l, kernel_aware))
        .collect();
    let eps = loop {
        let mut rhs = 0.0;
        let mut divisor = 0.0;
        for (i, l) in layers.iter().enumerate() {
            let n = l.num_weights();
            let zeros = num_zeros(n, sparsity) as f64;
            if forced_dense[i] {
                // Left out of the solve (RIGL.md: the user's forced-dense layers).
            } else if dense[i] {
                rhs -= zeros;
            } else {
                rhs += n as f64 - zeros;
                divisor += p[i] * n as f64;
            }
        }
        if divisor == 0.0 {
            break 0.0; // every layer is dense
        }
        let eps = rhs / divisor;
        let max_p = (0..layers.len())
            .filter(|&i| !dense[i])
            .map(|i| p[i])
            .fold(f64::MIN, f64::max);
        if eps * max_p <= 1.0 {
            break eps.max(0.0);
        }
        for i in 0..layers.len() {
            if !dense[i] && p[i] == max_p {
                dense[i] = true;
            }
        }
    };
    (0..layers.len())
        .map(|i| if dense[i] { 1.0 } else { eps * p[i] })
        .collect()
}

/// Active weights per layer at the given densities: N_l - floor((1 - d_l) * N_l)
/// ([`active_for_density`], RIGL.md "Sparsity distributions", last rule).
pub fn active_counts(layers: &[LayerShape], densities: &[f64]) -> Vec<usize> {
    assert_eq!(layers.len(), densities.len(), "one density per layer");
    layers
        .iter()
        .zip(densities)
        .map(|(l, &d)| active_for_density(l.num_weights(), d))
        .collect()
}

/// The first masked layer that `densities` leave without an active weight (such a network
/// is cut in two: the configuration is refused).
pub fn empty_layer(layers: &[LayerShape], densities: &[f64]) -> Option<usize> {
    active_counts(layers, densities)
        .iter()
        .zip(densities)
        .position(|(&active, &d)| d < 1.0 && active == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageShape;
    use crate::model::spec::ModelSpec;

    /// LeNet-300-100: fc1 784x300 (N=235200), fc2 300x100 (30000), fc3 100x10 (1000).
    fn lenet() -> Vec<LayerShape> {
        ModelSpec::default().layer_shapes(ImageShape::new(1, 28, 28), 10)
    }

    /// cnn:16,32,128 on 28x28x1: conv1 3x3x1x16 (N=144), conv2 3x3x16x32 (4608),
    /// fc1 1568x128 (200704), fc2 128x10 (1280).
    fn cnn() -> Vec<LayerShape> {
        ModelSpec::default_cnn().layer_shapes(ImageShape::new(1, 28, 28), 10)
    }

    fn opts(dist: Distribution, sparsity: f64) -> DistOptions {
        DistOptions {
            dist,
            sparsity,
            dense_first: false,
            dense_last: false,
        }
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-9, "layer {i}: got {g}, want {w}");
        }
    }

    /// Uniform's total: sum over layers of N_l - floor(S * N_l).
    fn uniform_total(layers: &[LayerShape], s: f64) -> usize {
        layers
            .iter()
            .map(|l| l.num_weights() - num_zeros(l.num_weights(), s))
            .sum()
    }

    #[test]
    fn uniform_lenet_at_90_percent() {
        let l = lenet();
        let d = layer_densities(&l, &opts(Distribution::Uniform, 0.9));
        assert_close(&d, &[0.1, 0.1, 0.1]);
        // 235200 - 211680 = 23520; 30000 - 27000 = 3000; 1000 - 900 = 100.
        assert_eq!(active_counts(&l, &d), [23_520, 3_000, 100]);
        assert_eq!(uniform_total(&l, 0.9), 26_620);
    }

    #[test]
    fn er_and_erk_lenet_at_90_percent_make_the_output_layer_dense() {
        // Dense layers: p_l * N_l = n_in + n_out: 1084, 400, 110; sum 1594.
        // Pass 1: eps = 26620 / 1594 = 16.70; eps * p_fc3 = 16.70 * 110/1000 = 1.84 > 1:
        //   fc3 (largest p) becomes dense.
        // Pass 2: rhs = 23520 + 3000 - 900 = 25620, divisor = 1084 + 400 = 1484,
        //   eps = 25620 / 1484 = 17.264; eps * p_fc2 = 0.2302 <= 1: done.
        // d_fc1 = 25620 * 1084 / (1484 * 235200) = 0.0795677705...,
        // d_fc2 = 25620 * 400 / (1484 * 30000) = 0.2301886792..., d_fc3 = 1.
        let want: [f64; 3] = [
            25620.0 * 1084.0 / (1484.0 * 235200.0),
            25620.0 * 400.0 / (1484.0 * 30000.0),
            1.0,
        ];
        assert!((want[0] - 0.0795677705).abs() < 1e-9);
        assert!((want[1] - 0.2301886792).abs() < 1e-9);
        let l = lenet();
        for dist in [Distribution::Er, Distribution::Erk] {
            let d = layer_densities(&l, &opts(dist, 0.9));
            assert_close(&d, &want);
            assert_eq!(d[2], 1.0);
            // Actives: d*N = 18714.34 -> 18715; 6905.66 -> 6906; 1000. Total 26621 vs
            // Uniform's 26620: within one weight per layer.
            let a = active_counts(&l, &d);
            assert_eq!(a, [18_715, 6_906, 1_000]);
            let total: usize = a.iter().sum();
            assert!(total.abs_diff(uniform_total(&l, 0.9)) <= l.len());
        }
    }

    #[test]
    fn erk_lenet_at_95_percent_needs_no_dense_layer() {
        // Uniform actives: 235200 - 223440 = 11760; 30000 - 28500 = 1500; 1000 - 950 = 50;
        // total 13310. eps = 13310 / 1594 = 8.35006; eps * p_fc3 = 8.35 * 0.11 = 0.9185 <= 1.
        let eps: f64 = 13310.0 / 1594.0;
        let want = [
            eps * 1084.0 / 235200.0,
            eps * 400.0 / 30000.0,
            eps * 110.0 / 1000.0,
        ];
        assert!((want[2] - 0.9185069009).abs() < 1e-9);
        let l = lenet();
        let d = layer_densities(&l, &opts(Distribution::Erk, 0.95));
        assert_close(&d, &want);
        // d*N = 9051.47, 3340.03, 918.51 -> 9052 + 3341 + 919 = 13312 (13310 +- 3).
        let a = active_counts(&l, &d);
        assert_eq!(a, [9_052, 3_341, 919]);
        assert!(a.iter().sum::<usize>().abs_diff(13_310) <= l.len());
    }

    #[test]
    fn erk_loop_converges_at_50_percent_with_two_dense_layers() {
        // Uniform actives 117600 + 15000 + 500 = 133100.
        // Pass 1: eps = 133100 / 1594 = 83.5; eps * 0.11 = 9.2 > 1 -> fc3 dense.
        // Pass 2: rhs = 117600 + 15000 - 500 = 132100, eps = 132100 / 1484 = 89.02;
        //   eps * p_fc2 = 89.02 * 400/30000 = 1.187 > 1 -> fc2 dense.
        // Pass 3: rhs = 117600 - 15000 - 500 = 102100, eps = 102100 / 1084;
        //   d_fc1 = eps * 1084/235200 = 102100 / 235200 = 0.43409863945...
        let l = lenet();
        let d = layer_densities(&l, &opts(Distribution::Erk, 0.5));
        assert_close(&d, &[102_100.0 / 235_200.0, 1.0, 1.0]);
        assert!(d.iter().all(|&x| x <= 1.0));
        assert_eq!((d[1], d[2]), (1.0, 1.0));
        // 102100 + 30000 + 1000 = 133100 = Uniform's total exactly.
        assert_eq!(active_counts(&l, &d), [102_100, 30_000, 1_000]);
    }

    #[test]
    fn erk_ties_for_the_largest_score_become_dense_together() {
        // 10x100 (N=1000, p = 110/1000), 100x100 (10000, p = 200/10000), 100x10 (1000, p = 0.11).
        // S = 0.5: rhs = 500 + 5000 + 500 = 6000, divisor = 110 + 200 + 110 = 420,
        // eps = 14.29; eps * 0.11 = 1.57 > 1 -> fc1 AND fc3 (tied) dense.
        // rhs = 5000 - 500 - 500 = 4000, divisor = 200, eps = 20, d_fc2 = 20 * 0.02 = 0.4.
        let l = [
            LayerShape::dense("fc1", 10, 100),
            LayerShape::dense("fc2", 100, 100),
            LayerShape::dense("fc3", 100, 10),
        ];
        let d = erk_densities(&l, 0.5, &[false; 3], true);
        assert_close(&d, &[1.0, 0.4, 1.0]);
        assert_eq!(active_counts(&l, &d), [1_000, 4_000, 1_000]); // 6000 = Uniform's
    }

    #[test]
    fn conv_scores_include_the_kernel_for_erk_only() {
        let c = cnn();
        // conv1 3x3x1x16: ER (1 + 16) / (1 * 16) = 17/16; ERK (3+3+1+16) / (3*3*1*16) = 23/144.
        assert!((raw_probability(&c[0], false) - 17.0 / 16.0).abs() < 1e-15);
        assert!((raw_probability(&c[0], true) - 23.0 / 144.0).abs() < 1e-15);
        // conv2 3x3x16x32: ER 48/512; ERK 54/4608.
        assert!((raw_probability(&c[1], false) - 48.0 / 512.0).abs() < 1e-15);
        assert!((raw_probability(&c[1], true) - 54.0 / 4608.0).abs() < 1e-15);
        // Dense layers: the same for both, (1568 + 128) / (1568 * 128).
        for k in [false, true] {
            assert!((raw_probability(&c[2], k) - 1696.0 / 200_704.0).abs() < 1e-15);
        }
    }

    #[test]
    fn erk_and_er_on_the_cnn_at_90_percent() {
        // Uniform zeros: 129 of 144, 4147 of 4608, 180633 of 200704, 1152 of 1280;
        // actives 15 + 461 + 20071 + 128 = 20675.
        let c = cnn();
        // ERK: p_l * N_l = sum(shape): 23, 54, 1696, 138; sum 1911.
        // Pass 1: eps = 20675/1911 = 10.82; conv1 (p = 0.160) gives 1.73 > 1 -> dense.
        // Pass 2: rhs = 461 + 20071 + 128 - 129 = 20531, divisor 1888, eps = 10.87;
        //   fc2 (p = 0.108) gives 1.17 > 1 -> dense.
        // Pass 3: rhs = 461 + 20071 - 129 - 1152 = 19251, divisor 1750, eps = 11.0006;
        //   conv2 0.1289, fc1 0.0930: done.
        let eps = 19251.0 / 1750.0;
        let d = layer_densities(&c, &opts(Distribution::Erk, 0.9));
        assert_close(
            &d,
            &[1.0, eps * 54.0 / 4608.0, eps * 1696.0 / 200_704.0, 1.0],
        );
        // d*N: 594.03 -> 595, 18656.97 -> 18657: 144 + 595 + 18657 + 1280 = 20676.
        let a = active_counts(&c, &d);
        assert_eq!(a, [144, 595, 18_657, 1_280]);
        // ER: p_l * N_l = (n_in + n_out) * k_h * k_w: 153, 432, 1696, 138; sum 2419.
        // Pass 1: eps = 20675/2419 = 8.55; conv1 (p = 17/16) -> dense.
        // Pass 2: rhs = 20531, divisor 2266, eps = 9.0604; fc2 9.06 * 0.1078 = 0.977 <= 1.
        let eps = 20531.0 / 2266.0;
        let d = layer_densities(&c, &opts(Distribution::Er, 0.9));
        assert_close(
            &d,
            &[
                1.0,
                eps * 48.0 / 512.0,
                eps * 1696.0 / 200_704.0,
                eps * 138.0 / 1280.0,
            ],
        );
        // d*N: 3914.12 -> 3915, 15366.54 -> 15367, 1250.34 -> 1251; total 20677.
        assert_eq!(active_counts(&c, &d), [144, 3_915, 15_367, 1_251]);
        for a in [a.iter().sum::<usize>(), active_counts(&c, &d).iter().sum()] {
            assert!(a.abs_diff(20_675) <= c.len());
        }
    }

    #[test]
    fn dense_first_and_last_for_uniform() {
        let l = lenet();
        let mut o = opts(Distribution::Uniform, 0.9);
        o.dense_first = true;
        assert_close(&layer_densities(&l, &o), &[1.0, 0.1, 0.1]);
        o.dense_last = true;
        assert_close(&layer_densities(&l, &o), &[1.0, 0.1, 1.0]);
        o.dense_first = false;
        assert_close(&layer_densities(&l, &o), &[0.1, 0.1, 1.0]);
    }

    #[test]
    fn dense_first_and_last_for_erk() {
        // Same net as the tie test at S = 0.9: zeros 900, 9000, 900.
        let l = [
            LayerShape::dense("fc1", 10, 100),
            LayerShape::dense("fc2", 100, 100),
            LayerShape::dense("fc3", 100, 10),
        ];
        let mut o = opts(Distribution::Erk, 0.9);
        // Free: eps = (100 + 1000 + 100) / 420 = 2.857; max eps * 0.11 = 0.314: no dense layer.
        let eps = 1200.0 / 420.0;
        assert_close(
            &layer_densities(&l, &o),
            &[eps * 0.11, eps * 0.02, eps * 0.11],
        );
        // dense_first: fc1 is left out. rhs = (10000 - 9000) + (1000 - 900) = 1100, divisor
        // = 0.02 * 10000 + 0.11 * 1000 = 310, eps = 3.5484: d_fc2 = 0.070968, d_fc3 = 0.39032.
        o.dense_first = true;
        let eps = 1100.0 / 310.0;
        let d = layer_densities(&l, &o);
        assert_close(&d, &[1.0, eps * 0.02, eps * 0.11]);
        // 10000 - floor(9290.32) = 710 and 1000 - floor(609.68) = 391: fc2 and fc3 hold
        // about 10% of their own 11,000 weights (Uniform: 1,100); fc1 is whole on top.
        assert_eq!(active_counts(&l, &d), [1_000, 710, 391]);
        // Both: fc2 alone, rhs = 1000, divisor = 200, eps = 5: d_fc2 = 0.1 exactly S's.
        o.dense_last = true;
        assert_close(&layer_densities(&l, &o), &[1.0, 0.1, 1.0]);
    }

    #[test]
    fn forced_dense_layers_stay_out_of_the_erk_solve_on_lenet() {
        // LeNet-300-100, ERK, S = 0.9, dense_first (fc1 784x300 left out). p_fc2 = 400 / 30000,
        // p_fc3 = 110 / 1000. rhs = (30000 - 27000) + (1000 - 900) = 3100; divisor = 400 +
        // 110 = 510; eps = 6.0784: d_fc2 = 0.081046, d_fc3 = 0.66863 (both below 1).
        let mut o = opts(Distribution::Erk, 0.9);
        o.dense_first = true;
        let d = layer_densities(&lenet(), &o);
        let eps = 3100.0 / 510.0;
        assert_close(&d, &[1.0, eps * 400.0 / 30000.0, eps * 110.0 / 1000.0]);
        assert!((d[1] - 0.081_046).abs() < 1e-6 && (d[2] - 0.668_627).abs() < 1e-6);
        // dense_last (fc3 left out): rhs = 23520 + 3000 = 26520, divisor = 1084 + 400 = 1484,
        // eps = 17.8706: d_fc1 = 17.8706 * 1084 / 235200 = 0.082363, d_fc2 = 0.238275.
        let mut o = opts(Distribution::Erk, 0.9);
        o.dense_last = true;
        let d = layer_densities(&lenet(), &o);
        let eps = 26520.0 / 1484.0;
        assert_close(&d, &[eps * 1084.0 / 235_200.0, eps * 400.0 / 30000.0, 1.0]);
        // Uniform leaves them out too: every other layer at S.
        let mut o = opts(Distribution::Uniform, 0.9);
        o.dense_first = true;
        assert_close(&layer_densities(&lenet(), &o), &[1.0, 0.1, 0.1]);
    }

    #[test]
    fn zero_sparsity_is_dense_everywhere() {
        for dist in Distribution::ALL {
            for layers in [lenet(), cnn()] {
                let d = layer_densities(&layers, &opts(dist, 0.0));
                assert!(d.iter().all(|&x| x == 1.0), "{dist:?}");
                let n: Vec<usize> = layers.iter().map(|l| l.num_weights()).collect();
                assert_eq!(active_counts(&layers, &d), n);
            }
        }
    }

    #[test]
    fn a_layer_left_without_active_weights_is_found() {
        let l = lenet();
        assert_eq!(empty_layer(&l, &[0.1, 0.1, 1.0]), None);
        // Density 1e-6 of 30,000 weights still keeps one (30000 - floor(29999.97)); 0 none.
        assert_eq!(empty_layer(&l, &[0.1, 1e-6, 1.0]), None);
        assert_eq!(empty_layer(&l, &[0.1, 0.0, 1.0]), Some(1));
        assert_eq!(empty_layer(&l, &[0.0, 0.0, 0.5]), Some(0));
        // Every distribution on both models, at sparsities up to the largest allowed, with
        // and without forced-dense layers, keeps a weight in every masked layer.
        for layers in [lenet(), cnn()] {
            for dist in Distribution::ALL {
                for s in [0.5, 0.9, 0.99, 0.999] {
                    for (first, last) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let o = DistOptions {
                            dist,
                            sparsity: s,
                            dense_first: first,
                            dense_last: last,
                        };
                        let d = layer_densities(&layers, &o);
                        assert_eq!(empty_layer(&layers, &d), None, "{o:?}: {d:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn all_forced_dense_gives_all_ones() {
        let l = [LayerShape::dense("fc", 4, 3)];
        assert_eq!(erk_densities(&l, 0.9, &[true], true), [1.0]);
    }
}
