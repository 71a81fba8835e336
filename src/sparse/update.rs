//! Mask update rules (RIGL.md "One mask update of layer l" and "Baselines"), on plain slices
//! so that every backend shares them: a backend hands over weights, scores and the mask; the
//! rule returns the change; `reset_list` and `apply_reset` are steps 4-5 (the CPU backend's
//! code path; shaders/mask.wgsl mirrors `apply_reset` on the GPU). Which weights a rule picks
//! is found by the selection engine of `select.rs`.

use rand::SeedableRng;
use rand_pcg::Pcg64;

pub use super::select::Scratch;
use super::select::{Scan, difference, finish, gather, merge_into, smallest_k};

/// Which weights a mask update turned off and on (net of drop-and-regrow), sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaskChange {
    pub dropped: Vec<u32>,
    pub grown: Vec<u32>,
}

/// How the grow step picks among the weights not kept by the drop step.
#[derive(Clone, Copy, Debug)]
pub enum Grow<'a> {
    /// The largest |score|: the dense gradient (RigL) or its moving average (SNFS).
    ByScore(&'a [f32]),
    /// Uniformly at random (SET), from this seed.
    Random(u64),
}

/// RIGL.md step 1: k = floor(f(t) * number of active weights).
pub fn drop_count(drop_fraction: f64, active: usize) -> usize {
    ((drop_fraction * active as f64 + 1e-9).floor() as usize).min(active)
}

/// RIGL.md steps 2-3 (RigL, and the drop/grow of SET and SNFS): drop the `k` active weights
/// of smallest |w|; grow `k` among all weights not kept (so a just-dropped weight may be
/// regrown). Returns the net change: a weight dropped and regrown is in neither list.
pub fn drop_and_grow(
    weights: &[f32],
    mask: &[bool],
    k: usize,
    grow: Grow<'_>,
    tie_seed: u64,
) -> MaskChange {
    drop_and_grow_with(&mut Scratch::default(), weights, mask, k, grow, tie_seed)
}

/// [`drop_and_grow`] with reusable buffers.
///
/// One pass over the layer (split over threads) collects both the drop candidates (active
/// weights of |w| up to a sampled limit) and the grow candidates (inactive weights of
/// |score| down to a sampled limit, or all of them for random growth); the dropped weights
/// then join the grow candidates.
pub fn drop_and_grow_with(
    scratch: &mut Scratch,
    weights: &[f32],
    mask: &[bool],
    k: usize,
    grow: Grow<'_>,
    tie_seed: u64,
) -> MaskChange {
    assert_eq!(weights.len(), mask.len());
    let n = mask.len();
    let drop_scan = Scan {
        mask,
        active: true,
        values: weights,
        largest: false,
    };
    let grow_scan = match grow {
        Grow::ByScore(score) => {
            assert_eq!(score.len(), n);
            Scan {
                mask,
                active: false,
                values: score,
                largest: true,
            }
        }
        // Every inactive weight, in index order.
        Grow::Random(_) => Scan {
            mask,
            active: false,
            values: weights,
            largest: false,
        },
    };
    let mut drop_limit = drop_scan.limit(k, &mut scratch.keys);
    // The grow limit comes from the inactive weights alone: the dropped ones only add
    // candidates, so k inactive ones within it suffice.
    let mut grow_limit = match grow {
        Grow::ByScore(_) => grow_scan.limit(k, &mut scratch.keys),
        Grow::Random(_) => u32::MAX,
    };
    let mut scans = [Some((drop_scan, drop_limit)), Some((grow_scan, grow_limit))];
    let mut dropped = std::mem::take(&mut scratch.dropped);
    loop {
        gather(scratch, n, scans);
        scans = [None, None];
        if k > 0 && scratch.cands[0].len() < k && drop_limit < u32::MAX {
            drop_limit = u32::MAX;
            scans[0] = Some((drop_scan, drop_limit));
        }
        if k > 0 && scratch.cands[1].len() < k && grow_limit < u32::MAX {
            grow_limit = u32::MAX;
            scans[1] = Some((grow_scan, grow_limit));
        }
        if scans.iter().all(Option::is_none) {
            break;
        }
    }
    // Retries do not touch a scan's candidates that were complete.
    finish(
        &scratch.cands[0],
        k,
        tie_seed,
        &mut scratch.keys,
        &mut scratch.ties,
        &mut dropped,
    );
    // The grow candidates: the inactive ones collected (at least k within the limit, or
    // all of them), and the dropped weights within the limit (one beyond it would rank
    // after k candidates).
    let [_, cands] = &mut scratch.cands;
    let spare = &mut scratch.parts[0][0];
    let mut grown = std::mem::take(&mut scratch.grown);
    match grow {
        Grow::ByScore(_) => {
            merge_into(
                cands,
                dropped.iter().filter_map(|&i| {
                    let key = grow_scan.key(i as usize);
                    (key <= grow_limit).then_some((u64::from(key) << 32) | u64::from(i))
                }),
                spare,
            );
            finish(
                cands,
                k,
                tie_seed.rotate_left(17),
                &mut scratch.keys,
                &mut scratch.ties,
                &mut grown,
            );
        }
        Grow::Random(seed) => {
            merge_into(cands, dropped.iter().map(|&i| u64::from(i)), spare);
            let mut rng = Pcg64::seed_from_u64(seed);
            grown.clear();
            grown.extend(
                rand::seq::index::sample(&mut rng, cands.len(), k.min(cands.len()))
                    .into_iter()
                    .map(|j| cands[j] as u32),
            );
            grown.sort_unstable();
        }
    }
    let change = MaskChange {
        dropped: difference(&dropped, &grown),
        grown: difference(&grown, &dropped),
    };
    scratch.dropped = dropped;
    scratch.grown = grown;
    change
}

/// RIGL.md steps 4-5, which weights: every weight whose mask entry `change` flips (the
/// dropped ones and the newly grown ones; a weight dropped and regrown is in neither list and
/// keeps its value and momentum), in ascending order, into `out`.
pub fn reset_list(change: &MaskChange, out: &mut Vec<u32>) {
    out.clear();
    let mut grown = change.grown.iter().copied().peekable();
    for &d in &change.dropped {
        while let Some(g) = grown.next_if(|&g| g < d) {
            out.push(g);
        }
        out.push(d);
    }
    out.extend(grown);
}

/// RIGL.md steps 4-5 on a layer's host arrays: flips the mask entries of `reset` (from
/// `reset_list`); dropped weights are masked to 0, newly grown ones start at exactly 0, and
/// the momentum of both is reset to 0. Every other weight keeps its value and momentum.
pub fn apply_reset(reset: &[u32], mask: &mut [bool], weights: &mut [f32], momentum: &mut [f32]) {
    for &i in reset {
        let i = i as usize;
        mask[i] = !mask[i];
        weights[i] = 0.0;
        momentum[i] = 0.0;
    }
}

/// SNIP (RIGL.md "Baselines"): keep the `active` weights with the largest |g * w|, from the
/// gradient of the dense network on one mini-batch.
pub fn snip_mask(weights: &[f32], grads: &[f32], active: usize, tie_seed: u64) -> Vec<bool> {
    let saliency: Vec<f32> = weights.iter().zip(grads).map(|(w, g)| w * g).collect();
    let all = vec![true; weights.len()];
    let mut keep = Vec::new();
    let scan = Scan {
        mask: &all,
        active: true,
        values: &saliency,
        largest: true,
    };
    smallest_k(&mut Scratch::default(), scan, active, tie_seed, &mut keep);
    let mut mask = vec![false; weights.len()];
    for i in keep {
        mask[i as usize] = true;
    }
    mask
}

/// Gradual magnitude pruning (RIGL.md "Baselines"): the active weights of smallest |w| to
/// drop so that `target_active` remain (none when already at or below the target).
pub fn magnitude_prune(
    weights: &[f32],
    mask: &[bool],
    target_active: usize,
    tie_seed: u64,
) -> Vec<u32> {
    let active = mask.iter().filter(|&&m| m).count();
    let k = active.saturating_sub(target_active);
    let scan = Scan {
        mask,
        active: true,
        values: weights,
        largest: false,
    };
    let mut dropped = Vec::new();
    smallest_k(&mut Scratch::default(), scan, k, tie_seed, &mut dropped);
    dropped
}

#[cfg(test)]
mod tests {
    use super::super::select::{magnitude_bits, tie};
    use super::*;

    // index:        0     1     2    3     4     5
    const W: [f32; 6] = [0.5, -0.1, 0.0, 0.3, 0.0, -0.8];
    const M: [bool; 6] = [true, true, false, true, false, true];

    #[test]
    fn drop_count_rounds_down() {
        // floor(0.3 * 10) = 3; floor(0.15 * 7) = floor(1.05) = 1; floor(0.3 * 1) = 0.
        assert_eq!(drop_count(0.3, 10), 3);
        assert_eq!(drop_count(0.15, 7), 1);
        assert_eq!(drop_count(0.3, 1), 0);
        assert_eq!(drop_count(1.0, 4), 4);
    }

    #[test]
    fn rigl_drops_smallest_magnitude_and_grows_largest_gradient() {
        // k = 2. Active |w|: 0.5 (0), 0.1 (1), 0.3 (3), 0.8 (5) -> drop {1, 3}.
        // Not kept: {1, 2, 3, 4}; |grad| there: 0.9, 0.05, 0.0, 0.7 -> grow {1, 4}.
        // Weight 1 is dropped and regrown: in neither list. Net: drop 3, grow 4.
        let grad = [5.0, -0.9, 0.05, 0.0, 0.7, 9.0];
        let change = drop_and_grow(&W, &M, 2, Grow::ByScore(&grad), 7);
        assert_eq!(
            change,
            MaskChange {
                dropped: vec![3],
                grown: vec![4]
            }
        );

        let (mut mask, mut w, mut mom) = (M, W, [1.0f32; 6]);
        mom[2] = 0.0;
        mom[4] = 0.0;
        w[4] = 0.25; // a stale value on an inactive weight must not survive growth
        let mut reset = Vec::new();
        reset_list(&change, &mut reset);
        assert_eq!(reset, [3, 4], "the dropped and the newly grown, ascending");
        apply_reset(&reset, &mut mask, &mut w, &mut mom);
        assert_eq!(mask, [true, true, false, false, true, true]);
        // Grown weight 4 starts at exactly 0 with momentum 0; dropped weight 3 is 0.
        assert_eq!((w[4], mom[4], w[3]), (0.0, 0.0, 0.0));
        // Dropped-and-regrown weight 1 keeps its value and momentum.
        assert_eq!((w[1], mom[1]), (-0.1, 1.0));
        // The active count is unchanged (RIGL.md step 6).
        assert_eq!(
            mask.iter().filter(|&&m| m).count(),
            M.iter().filter(|&&m| m).count()
        );
    }

    #[test]
    fn large_gradients_on_kept_weights_do_not_count() {
        // Weights 0 and 5 are kept (large |w|) and have huge gradients; growth must pick
        // among the not-kept {1, 2, 3, 4} only: |grad| 0, 0.2, 0.1, 0 -> grow {2, 3}.
        let grad = [100.0, 0.0, 0.2, 0.1, 0.0, -100.0];
        let change = drop_and_grow(&W, &M, 2, Grow::ByScore(&grad), 1);
        assert_eq!(
            change,
            MaskChange {
                dropped: vec![1],
                grown: vec![2]
            }
        );
    }

    #[test]
    fn ties_are_broken_by_the_seed_deterministically() {
        // All-equal magnitudes and gradients: which of 100 weights get dropped depends only on
        // the seed. Same seed -> same change; some seeds differ.
        let w = vec![1.0f32; 100];
        let mask: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let g = vec![0.0f32; 100];
        let a = drop_and_grow(&w, &mask, 10, Grow::ByScore(&g), 3);
        assert_eq!(a, drop_and_grow(&w, &mask, 10, Grow::ByScore(&g), 3));
        assert!((4..9).any(|s| drop_and_grow(&w, &mask, 10, Grow::ByScore(&g), s) != a));
        // Not simply the lowest indices.
        assert_ne!(a.grown, (0..10).map(|i| 2 * i + 1).collect::<Vec<u32>>());
    }

    #[test]
    fn set_grows_at_random_among_not_kept_weights() {
        let n = 1000;
        let w: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mask: Vec<bool> = (0..n).map(|i| i < 100).collect();
        // k = 30: drops weights 0..30 (smallest |w|), grows 30 among 30..=999 \ 30..100 kept.
        let change = drop_and_grow(&w, &mask, 30, Grow::Random(11), 0);
        let regrown = 30 - change.dropped.len();
        assert_eq!(change.grown.len() + regrown, 30);
        assert!(change.dropped.iter().all(|&i| i < 30));
        assert!(change.grown.iter().all(|&i| i >= 100));
        assert_eq!(change, drop_and_grow(&w, &mask, 30, Grow::Random(11), 0));
        assert_ne!(change, drop_and_grow(&w, &mask, 30, Grow::Random(12), 0));
    }

    #[test]
    fn snip_keeps_the_largest_saliency() {
        // |g*w|: 0.5*1=0.5, 0.1*8=0.8, 0, 0.3*0.1=0.03, 0, 0.8*0.5=0.4 -> keep 3: {0, 1, 5}.
        let g = [1.0, 8.0, 5.0, 0.1, 3.0, -0.5];
        assert_eq!(
            snip_mask(&W, &g, 3, 0),
            vec![true, true, false, false, false, true]
        );
    }

    /// The rules stated plainly: the k smallest candidates by (key, tie, index), from a full
    /// sort.
    fn reference_smallest(keys: &[Option<u32>], k: usize, seed: u64) -> Vec<u32> {
        let mut c: Vec<(u32, u32, u32)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, key)| key.map(|key| (key, tie(seed, i as u32), i as u32)))
            .collect();
        c.sort_unstable();
        let mut out: Vec<u32> = c.iter().take(k).map(|&(_, _, i)| i).collect();
        out.sort_unstable();
        out
    }

    fn reference_drop_and_grow(
        w: &[f32],
        mask: &[bool],
        k: usize,
        grow: Grow<'_>,
        seed: u64,
    ) -> MaskChange {
        let drop_keys: Vec<Option<u32>> = (0..w.len())
            .map(|i| mask[i].then(|| magnitude_bits(w[i])))
            .collect();
        let drop = reference_smallest(&drop_keys, k, seed);
        let mut kept = mask.to_vec();
        for &i in &drop {
            kept[i as usize] = false;
        }
        let grown = match grow {
            Grow::ByScore(g) => {
                let keys: Vec<Option<u32>> = (0..w.len())
                    .map(|i| (!kept[i]).then(|| !magnitude_bits(g[i])))
                    .collect();
                reference_smallest(&keys, k, seed.rotate_left(17))
            }
            Grow::Random(s) => {
                let cands: Vec<u32> = (0..w.len() as u32).filter(|&i| !kept[i as usize]).collect();
                let mut rng = Pcg64::seed_from_u64(s);
                let mut out: Vec<u32> = rand::seq::index::sample(&mut rng, cands.len(), k)
                    .into_iter()
                    .map(|j| cands[j])
                    .collect();
                out.sort_unstable();
                out
            }
        };
        MaskChange {
            dropped: drop
                .iter()
                .copied()
                .filter(|i| !grown.contains(i))
                .collect(),
            grown: grown
                .iter()
                .copied()
                .filter(|i| !drop.contains(i))
                .collect(),
        }
    }

    /// Values with many exact ties (a few levels, some NaN and signed zeros), or spread.
    fn values(n: usize, ties: bool, rng: &mut Pcg64) -> Vec<f32> {
        use rand::Rng;
        (0..n)
            .map(|_| {
                if ties {
                    match rng.random_range(0..10) {
                        0 => f32::NAN,
                        1 => -0.0,
                        2..=4 => 0.0,
                        l => (l as f32 * 0.25) * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
                    }
                } else {
                    rng.random_range(-1.0f32..1.0)
                }
            })
            .collect()
    }

    #[test]
    fn drop_and_grow_matches_a_full_sort_at_every_size_density_and_tie_pattern() {
        use rand::Rng;
        let mut rng = Pcg64::seed_from_u64(42);
        let mut scratch = Scratch::default();
        // Sizes below and above the sample (4096) and the chunk (32768), odd tails.
        for (round, &n) in [1, 7, 100, 4095, 5000, 40_000, 70_001]
            .iter()
            .cycle()
            .take(16)
            .enumerate()
        {
            let density = [0.02, 0.1, 0.5, 0.97][round % 4];
            let ties = round % 3 == 0;
            let w = values(n, ties, &mut rng);
            let g = values(n, round % 2 == 0, &mut rng);
            let mask: Vec<bool> = (0..n).map(|_| rng.random_bool(density)).collect();
            let active = mask.iter().filter(|&&m| m).count();
            for f in [0.0, 0.01, 0.3, 1.0] {
                let k = drop_count(f, active);
                let seed = rng.random();
                for grow in [Grow::ByScore(&g), Grow::Random(seed ^ 1)] {
                    let want = reference_drop_and_grow(&w, &mask, k, grow, seed);
                    let got = drop_and_grow_with(&mut scratch, &w, &mask, k, grow, seed);
                    assert_eq!(got, want, "n={n} density={density} ties={ties} k={k}");
                }
            }
        }
    }

    #[test]
    fn a_misleading_sample_falls_back_to_every_candidate() {
        // Every tenth weight (the sampled ones) is tiny, the rest large: the sample puts the
        // drop limit far too low, and the grow limit likewise for the gradient.
        let n = 40_960;
        let w: Vec<f32> = (0..n)
            .map(|i| {
                if i % 10 == 0 {
                    1e-6 * (1 + i) as f32
                } else {
                    1.0 + i as f32
                }
            })
            .collect();
        let g: Vec<f32> = (0..n)
            .map(|i| {
                if i % 10 == 0 {
                    1e3 + i as f32
                } else {
                    1e-3 * (1 + i % 7) as f32
                }
            })
            .collect();
        let mask: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
        for k in [1, 3000, 20_000] {
            let want = reference_drop_and_grow(&w, &mask, k, Grow::ByScore(&g), 5);
            assert_eq!(
                drop_and_grow(&w, &mask, k, Grow::ByScore(&g), 5),
                want,
                "k={k}"
            );
        }
    }

    #[test]
    fn the_result_does_not_depend_on_the_thread_count() {
        let mut rng = Pcg64::seed_from_u64(3);
        let n = 200_000;
        let (w, g) = (values(n, false, &mut rng), values(n, true, &mut rng));
        let mask: Vec<bool> = (0..n).map(|i| i % 11 == 0).collect();
        let k = drop_count(0.3, mask.iter().filter(|&&m| m).count());
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| drop_and_grow(&w, &mask, k, Grow::ByScore(&g), 9))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(
            one,
            reference_drop_and_grow(&w, &mask, k, Grow::ByScore(&g), 9)
        );
    }

    #[test]
    fn snip_and_pruning_match_a_full_sort() {
        let mut rng = Pcg64::seed_from_u64(8);
        let n = 50_000;
        let (w, g) = (values(n, true, &mut rng), values(n, false, &mut rng));
        let keys: Vec<Option<u32>> = (0..n).map(|i| Some(!magnitude_bits(w[i] * g[i]))).collect();
        let keep = reference_smallest(&keys, 4000, 6);
        let mask = snip_mask(&w, &g, 4000, 6);
        assert_eq!(
            (0..n as u32)
                .filter(|&i| mask[i as usize])
                .collect::<Vec<_>>(),
            keep
        );
        let keys: Vec<Option<u32>> = (0..n)
            .map(|i| mask[i].then(|| magnitude_bits(w[i])))
            .collect();
        assert_eq!(
            magnitude_prune(&w, &mask, 1000, 2),
            reference_smallest(&keys, 3000, 2)
        );
    }

    #[test]
    fn pruning_removes_the_smallest_active_weights_down_to_the_target() {
        // Active |w|: 0.5, 0.1, 0.3, 0.8; to keep 2, drop 0.1 (1) and 0.3 (3).
        assert_eq!(magnitude_prune(&W, &M, 2, 0), vec![1, 3]);
        assert!(magnitude_prune(&W, &M, 4, 0).is_empty());
        assert!(magnitude_prune(&W, &M, 9, 0).is_empty());
    }
}
