//! The selection engine behind the mask update rules (`update.rs`): the k smallest (or
//! largest) |value| among a layer's active (or inactive) weights, exactly as a full sort with
//! the seeded tie-break would order them, in about one pass over the layer.
//!
//! One branch-free pass (split over threads in fixed chunks) keeps the candidates within a
//! limit guessed from a sample of positions, so that a little more than k pass; only those
//! are ordered (by key, tie, index). A limit that lets fewer than k through is retried with
//! every candidate, so the result never depends on the guess or on the thread count.

use crate::par::*;

/// The seeded tie-break (RIGL.md step 2 allows any deterministic, seeded one): a hash of
/// (seed, index), so equal keys are ordered pseudo-randomly rather than by position.
pub(super) fn tie(seed: u64, i: u32) -> u32 {
    let mut z = seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

/// Order-preserving bits of |v| (NaN counts as 0). Branch-free, so that a selection pass
/// vectorises.
pub(super) fn magnitude_bits(v: f32) -> u32 {
    let bits = v.to_bits() & 0x7FFF_FFFF;
    if bits > 0x7F80_0000 { 0 } else { bits }
}

/// Reusable buffers of the selections below: a caller that keeps one across mask updates
/// allocates nothing for them after the first update.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// Per chunk of a layer, per scan: candidates `(key << 32) | index` within the limit.
    pub(super) parts: Vec<[Vec<u64>; 2]>,
    /// The candidates of the drop (or only) selection and of the grow selection, in
    /// ascending index order.
    pub(super) cands: [Vec<u64>; 2],
    /// Keys of a sample, then of the candidates.
    pub(super) keys: Vec<u32>,
    /// `(tie, index)` of the candidates whose key is the k-th smallest.
    pub(super) ties: Vec<(u32, u32)>,
    /// The weights the drop step picked, and the grown ones (sorted).
    pub(super) dropped: Vec<u32>,
    pub(super) grown: Vec<u32>,
}

/// Weights per chunk of a selection pass: chunks are fixed (the result never depends on the
/// thread count) and big enough that a thread's work dwarfs scheduling.
const CHUNK: usize = 1 << 15;
/// Positions sampled to guess a selection threshold.
const SAMPLE: usize = 4096;
/// Weights per block of a scan: the candidates of a block are found as one bit mask.
const BLOCK: usize = 32;

/// One selection's candidates and order: the weights whose `mask` entry is `active`, by
/// |value| ascending, or descending when `largest`.
#[derive(Clone, Copy)]
pub(super) struct Scan<'a> {
    pub(super) mask: &'a [bool],
    pub(super) active: bool,
    pub(super) values: &'a [f32],
    pub(super) largest: bool,
}

impl Scan<'_> {
    /// The sort key of weight i (smaller first).
    pub(super) fn key(&self, i: usize) -> u32 {
        magnitude_bits(self.values[i]) ^ if self.largest { u32::MAX } else { 0 }
    }

    fn candidate(&self, i: usize) -> bool {
        self.mask[i] == self.active
    }

    /// Appends `(key << 32) | i` for every candidate i in `lo..hi` whose key is at most
    /// `limit`, in ascending order of i. Branch-free per weight: a block's matches are
    /// found as a bit mask, and only the matches are visited.
    fn collect(&self, lo: usize, hi: usize, limit: u32, out: &mut Vec<u64>) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU supports AVX-512F and BW (checked just above).
            return unsafe { self.collect_avx512(lo, hi, limit, out) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { self.collect_avx2(lo, hi, limit, out) };
        }
        self.collect_impl(lo, hi, limit, out);
    }

    /// `collect` compiled with AVX2 (integer operations only: the same result).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn collect_avx2(&self, lo: usize, hi: usize, limit: u32, out: &mut Vec<u64>) {
        self.collect_impl(lo, hi, limit, out);
    }

    /// `collect` compiled with AVX-512 (a block's comparisons become one mask register).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn collect_avx512(&self, lo: usize, hi: usize, limit: u32, out: &mut Vec<u64>) {
        self.collect_impl(lo, hi, limit, out);
    }

    #[inline(always)]
    fn collect_impl(&self, lo: usize, hi: usize, limit: u32, out: &mut Vec<u64>) {
        let flip = if self.largest { u32::MAX } else { 0 };
        let (mask, values) = (&self.mask[lo..hi], &self.values[lo..hi]);
        let mut push_matches = |start: usize, mut bits: u32| {
            while bits != 0 {
                let i = start + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                out.push((u64::from(self.key(i)) << 32) | i as u64);
            }
        };
        let (mc, vc) = (mask.chunks_exact(BLOCK), values.chunks_exact(BLOCK));
        let (m_rest, v_rest) = (mc.remainder(), vc.remainder());
        for (b, (m, v)) in mc.zip(vc).enumerate() {
            let mut bits = 0u32;
            for j in 0..BLOCK {
                let hit = (m[j] == self.active) & ((magnitude_bits(v[j]) ^ flip) <= limit);
                bits |= u32::from(hit) << j;
            }
            push_matches(lo + b * BLOCK, bits);
        }
        let start = hi - m_rest.len();
        let mut bits = 0u32;
        for (j, (&m, &v)) in m_rest.iter().zip(v_rest).enumerate() {
            let hit = (m == self.active) & ((magnitude_bits(v) ^ flip) <= limit);
            bits |= u32::from(hit) << j;
        }
        push_matches(start, bits);
    }

    /// A key limit that about `k` (and, with high probability, at least `k`) candidates are
    /// at or below, from an evenly spaced sample of positions; `u32::MAX` (every candidate)
    /// when the sample cannot tell. Only speed depends on it: a limit that turns out too
    /// low is retried with every candidate, so results are exact either way.
    pub(super) fn limit(&self, k: usize, keys: &mut Vec<u32>) -> u32 {
        let n = self.mask.len();
        let m = n.min(SAMPLE);
        if m == n || k == 0 {
            return u32::MAX;
        }
        let stride = n / m;
        keys.clear();
        keys.extend(
            (0..m)
                .map(|j| j * stride)
                .filter(|&i| self.candidate(i))
                .map(|i| self.key(i)),
        );
        // Expected sampled candidates among the k smallest: about k / stride; add a margin of
        // about three standard deviations (binomial, so at most the square root of the mean)
        // and 8.
        let expected = k as f64 / stride as f64;
        let rank = (expected + 3.0 * expected.sqrt() + 8.0).ceil() as usize;
        if rank >= keys.len() {
            return u32::MAX;
        }
        *keys.select_nth_unstable(rank).1
    }
}

/// Collects into `scratch.cands[s]`, in ascending index order, the candidates of each given
/// scan s (0 and 1) within its limit, in one pass split over threads in fixed chunks.
pub(super) fn gather(scratch: &mut Scratch, n: usize, scans: [Option<(Scan<'_>, u32)>; 2]) {
    let chunks = n.div_ceil(CHUNK);
    if scratch.parts.len() < chunks {
        scratch.parts.resize_with(chunks, Default::default);
    }
    let collect = |c: usize, parts: &mut [Vec<u64>; 2]| {
        for (scan, part) in scans.iter().zip(parts) {
            part.clear();
            if let Some((scan, limit)) = scan {
                scan.collect(c * CHUNK, ((c + 1) * CHUNK).min(n), *limit, part);
            }
        }
    };
    if chunks > 1 {
        scratch.parts[..chunks]
            .par_iter_mut()
            .enumerate()
            .for_each(|(c, parts)| collect(c, parts));
    } else if chunks == 1 {
        collect(0, &mut scratch.parts[0]);
    }
    for (s, scan) in scans.iter().enumerate() {
        if scan.is_some() {
            let cands = &mut scratch.cands[s];
            cands.clear();
            for parts in &scratch.parts[..chunks] {
                cands.extend_from_slice(&parts[s]);
            }
        }
    }
}

/// The `k` smallest of `cands` (`(key << 32) | index`, ascending index order) by key, then
/// by `tie(seed, index)`, then by index, written to `out` in ascending index order.
pub(super) fn finish(
    cands: &[u64],
    k: usize,
    seed: u64,
    keys: &mut Vec<u32>,
    ties: &mut Vec<(u32, u32)>,
    out: &mut Vec<u32>,
) {
    out.clear();
    let k = k.min(cands.len());
    if k == 0 {
        return;
    }
    if k == cands.len() {
        out.extend(cands.iter().map(|&c| c as u32));
        return;
    }
    keys.clear();
    keys.extend(cands.iter().map(|&c| (c >> 32) as u32));
    let (before, &mut kth, _) = keys.select_nth_unstable(k - 1);
    // Every key below the k-th is among the k - 1 before it: those are taken; of the keys
    // equal to it, the `need` smallest by (tie, index).
    let need = k - before.iter().filter(|&&key| key < kth).count();
    ties.clear();
    ties.extend(
        cands
            .iter()
            .filter(|&&c| (c >> 32) as u32 == kth)
            .map(|&c| (tie(seed, c as u32), c as u32)),
    );
    let cut = if need < ties.len() {
        *ties.select_nth_unstable(need - 1).1
    } else {
        (u32::MAX, u32::MAX)
    };
    out.extend(cands.iter().filter_map(|&c| {
        let (key, i) = ((c >> 32) as u32, c as u32);
        (key < kth || (key == kth && (tie(seed, i), i) <= cut)).then_some(i)
    }));
}

/// The `k` smallest candidates of `scan` by key, ties broken by `tie(seed, i)` (then by
/// index), into `out` sorted by index.
///
/// A limit guessed from a sample keeps a little more than k candidates in one linear pass
/// (split over threads in fixed chunks: the result does not depend on the thread count);
/// only those are ordered. If fewer than k pass, every candidate is kept instead.
pub(super) fn smallest_k(
    scratch: &mut Scratch,
    scan: Scan<'_>,
    k: usize,
    seed: u64,
    out: &mut Vec<u32>,
) {
    out.clear();
    if k == 0 {
        return;
    }
    let n = scan.mask.len();
    let limit = scan.limit(k, &mut scratch.keys);
    gather(scratch, n, [Some((scan, limit)), None]);
    if scratch.cands[0].len() < k && limit < u32::MAX {
        gather(scratch, n, [Some((scan, u32::MAX)), None]);
    }
    finish(
        &scratch.cands[0],
        k,
        seed,
        &mut scratch.keys,
        &mut scratch.ties,
        out,
    );
}

/// `a` without the entries of `b` (both sorted ascending).
pub(super) fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Merges `extra` (ascending by index, the low 32 bits) into `cands` (likewise), with
/// `spare` as room.
pub(super) fn merge_into(
    cands: &mut Vec<u64>,
    extra: impl Iterator<Item = u64>,
    spare: &mut Vec<u64>,
) {
    spare.clear();
    spare.reserve(cands.len());
    let mut extra = extra.peekable();
    for &c in cands.iter() {
        while let Some(&e) = extra.peek() {
            if e as u32 >= c as u32 {
                break;
            }
            spare.push(e);
            extra.next();
        }
        spare.push(c);
    }
    spare.extend(extra);
    std::mem::swap(cands, spare);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    #[test]
    fn every_compiled_scan_collects_the_candidates_of_the_plain_loop() {
        let mut rng = Pcg64::seed_from_u64(7);
        // Lengths around the block size, values with ties, zeros of both signs and NaN.
        for n in [0, 1, 31, 32, 33, 95, 1000] {
            let mask: Vec<bool> = (0..n).map(|_| rng.random_bool(0.3)).collect();
            let values: Vec<f32> = (0..n)
                .map(|i| match i % 9 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    3 => 0.5,
                    _ => rng.random_range(-2.0..2.0),
                })
                .collect();
            for (active, largest) in [(true, false), (false, true)] {
                let scan = Scan {
                    mask: &mask,
                    active,
                    values: &values,
                    largest,
                };
                for limit in [0, magnitude_bits(0.5), u32::MAX / 2, u32::MAX] {
                    let want: Vec<u64> = (0..n)
                        .filter(|&i| scan.candidate(i) && scan.key(i) <= limit)
                        .map(|i| (u64::from(scan.key(i)) << 32) | i as u64)
                        .collect();
                    let (lo, hi) = (n / 3, n);
                    let tail: Vec<u64> = want
                        .iter()
                        .copied()
                        .filter(|&c| c as u32 as usize >= lo)
                        .collect();
                    let mut got = Vec::new();
                    scan.collect_impl(lo, hi, limit, &mut got);
                    assert_eq!(got, tail, "baseline, n {n}, limit {limit}");
                    #[cfg(target_arch = "x86_64")]
                    {
                        if std::is_x86_feature_detected!("avx2") {
                            got.clear();
                            // SAFETY: the CPU supports AVX2 (checked just above).
                            unsafe { scan.collect_avx2(lo, hi, limit, &mut got) };
                            assert_eq!(got, tail, "AVX2, n {n}, limit {limit}");
                        }
                        if std::is_x86_feature_detected!("avx512f")
                            && std::is_x86_feature_detected!("avx512bw")
                        {
                            got.clear();
                            // SAFETY: the CPU supports AVX-512F and BW (checked just above).
                            unsafe { scan.collect_avx512(lo, hi, limit, &mut got) };
                            assert_eq!(got, tail, "AVX-512, n {n}, limit {limit}");
                        }
                    }
                }
            }
        }
    }
}
