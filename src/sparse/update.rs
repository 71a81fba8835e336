//! Mask update rules (RIGL.md "One mask update of layer l" and "Baselines"), on plain slices
//! so that every backend shares them: a backend hands over weights, scores and the mask; the
//! rule returns the change; `apply_change` edits weights, mask and momentum.

use std::cmp::Ordering;

use rand::SeedableRng;
use rand_pcg::Pcg64;
use rayon::prelude::*;

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

/// The seeded tie-break (RIGL.md step 2 allows any deterministic, seeded one): a hash of
/// (seed, index), so equal keys are ordered pseudo-randomly rather than by position.
fn tie(seed: u64, i: u32) -> u32 {
    let mut z = seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

/// Order-preserving bits of |v| (NaN counts as 0).
fn magnitude_bits(v: f32) -> u32 {
    if v.is_nan() { 0 } else { v.abs().to_bits() }
}

/// A candidate's full sort key (its key, then its tie-break) and its index.
type Keyed = (u64, u32);

/// Among indices `0..n` that pass `include`, the `k` with the smallest `key`, ties broken by
/// `tie(seed, i)`; sorted by index.
///
/// A one-level radix select: a histogram of the keys' top bits finds the bucket holding the
/// k-th key; candidates in lower buckets are taken outright and only that boundary bucket is
/// ordered exactly. Two linear passes, each split over threads in fixed chunks (the result
/// does not depend on the thread count), so a mask update costs about one training step.
fn smallest_k(
    n: usize,
    include: impl Fn(u32) -> bool + Sync,
    k: usize,
    key: impl Fn(u32) -> u32 + Sync,
    seed: u64,
) -> Vec<u32> {
    const SHIFT: u32 = 20;
    const CHUNK: usize = 1 << 14;
    if k == 0 {
        return Vec::new();
    }
    let chunks: Vec<std::ops::Range<u32>> = (0..n)
        .step_by(CHUNK)
        .map(|s| s as u32..(s + CHUNK).min(n) as u32)
        .collect();
    let hist = chunks
        .par_iter()
        .map(|r| {
            let mut h = vec![0usize; 1 << (32 - SHIFT)];
            for i in r.clone().filter(|&i| include(i)) {
                h[(key(i) >> SHIFT) as usize] += 1;
            }
            h
        })
        .reduce(
            || vec![0usize; 1 << (32 - SHIFT)],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let (mut below, mut bucket) = (0, hist.len());
    for (b, &count) in hist.iter().enumerate() {
        if below + count >= k {
            bucket = b;
            break;
        }
        below += count;
    }
    let parts: Vec<(Vec<u32>, Vec<Keyed>)> = chunks
        .par_iter()
        .map(|r| {
            let (mut taken, mut boundary) = (Vec::new(), Vec::new());
            for i in r.clone().filter(|&i| include(i)) {
                let key = key(i);
                match ((key >> SHIFT) as usize).cmp(&bucket) {
                    Ordering::Less => taken.push(i),
                    Ordering::Equal => {
                        boundary.push(((u64::from(key) << 32) | u64::from(tie(seed, i)), i))
                    }
                    Ordering::Greater => {}
                }
            }
            (taken, boundary)
        })
        .collect();
    let mut out: Vec<u32> = Vec::with_capacity(k);
    let mut boundary = Vec::new();
    for (t, b) in parts {
        out.extend(t);
        boundary.extend(b);
    }
    let rest = (k - out.len()).min(boundary.len());
    if rest < boundary.len() {
        boundary.select_nth_unstable(rest);
    }
    out.extend(boundary[..rest].iter().map(|&(_, i)| i));
    out.sort_unstable();
    out
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
    assert_eq!(weights.len(), mask.len());
    let n = mask.len();
    let drop = smallest_k(
        n,
        |i| mask[i as usize],
        k,
        |i| magnitude_bits(weights[i as usize]),
        tie_seed,
    );
    let mut kept = mask.to_vec();
    for &i in &drop {
        kept[i as usize] = false;
    }
    let candidate = |i: u32| !kept[i as usize];
    let grown = match grow {
        Grow::ByScore(score) => {
            assert_eq!(score.len(), mask.len());
            // Largest |score| first: complement the order-preserving bits.
            smallest_k(
                n,
                candidate,
                k,
                |i| !magnitude_bits(score[i as usize]),
                tie_seed.rotate_left(17),
            )
        }
        Grow::Random(seed) => {
            let candidates: Vec<u32> = (0..n as u32).filter(|&i| candidate(i)).collect();
            let mut rng = Pcg64::seed_from_u64(seed);
            let mut picked: Vec<u32> =
                rand::seq::index::sample(&mut rng, candidates.len(), k.min(candidates.len()))
                    .into_iter()
                    .map(|j| candidates[j])
                    .collect();
            picked.sort_unstable();
            picked
        }
    };
    MaskChange {
        dropped: drop
            .iter()
            .copied()
            .filter(|i| grown.binary_search(i).is_err())
            .collect(),
        grown: grown
            .iter()
            .copied()
            .filter(|i| drop.binary_search(i).is_err())
            .collect(),
    }
}

/// RIGL.md steps 4-5: dropped weights are masked to 0; newly grown weights start at exactly
/// 0 with their momentum reset to 0. Weights in neither list keep value and momentum.
pub fn apply_change(
    change: &MaskChange,
    mask: &mut [bool],
    weights: &mut [f32],
    momentum: &mut [f32],
) {
    for &i in change.dropped.iter().chain(&change.grown) {
        weights[i as usize] = 0.0;
        momentum[i as usize] = 0.0;
    }
    for &i in &change.dropped {
        mask[i as usize] = false;
    }
    for &i in &change.grown {
        mask[i as usize] = true;
    }
}

/// SNIP (RIGL.md "Baselines"): keep the `active` weights with the largest |g * w|, from the
/// gradient of the dense network on one mini-batch.
pub fn snip_mask(weights: &[f32], grads: &[f32], active: usize, tie_seed: u64) -> Vec<bool> {
    let keep = smallest_k(
        weights.len(),
        |_| true,
        active,
        |i| !magnitude_bits(weights[i as usize] * grads[i as usize]),
        tie_seed,
    );
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
    smallest_k(
        mask.len(),
        |i| mask[i as usize],
        k,
        |i| magnitude_bits(weights[i as usize]),
        tie_seed,
    )
}

#[cfg(test)]
mod tests {
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
        apply_change(&change, &mut mask, &mut w, &mut mom);
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

    #[test]
    fn pruning_removes_the_smallest_active_weights_down_to_the_target() {
        // Active |w|: 0.5, 0.1, 0.3, 0.8; to keep 2, drop 0.1 (1) and 0.3 (3).
        assert_eq!(magnitude_prune(&W, &M, 2, 0), vec![1, 3]);
        assert!(magnitude_prune(&W, &M, 4, 0).is_empty());
        assert!(magnitude_prune(&W, &M, 9, 0).is_empty());
    }
}
