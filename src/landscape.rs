//! Loss landscapes (DESIGN.md; RIGL.md "What the paper found"): straight-line interpolation
//! between two points of parameter space, and 2D slices along filter-normalised random
//! directions (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"). This file
//! holds the pure geometry; `compute` evaluates lines and planes on any backend (the page's
//! and the CLI's one code path); `trajectory` records a run's path, `pca` finds the plane of
//! its first two principal components and `map` lays a grid and the projected paths on it.

pub mod compute;
pub mod map;
pub mod pca;
pub mod trajectory;

use rand::Rng;
use rand_distr::StandardNormal;

pub use crate::model::Point;

/// Training images every landscape loss is measured on (the page's views and the CLI's
/// defaults, so their numbers agree).
pub const LOSS_SAMPLES: usize = 512;

/// A random direction with filter normalisation: Gaussian entries, then each row of each
/// layer (an output unit's incoming weights, or a conv filter) rescaled to the norm of the
/// same row of `center`; biases 0. With `masks`, inactive weights get 0, so the direction
/// stays in the sparse subspace (its rows are normalised over the active entries).
pub fn filter_normalized_direction<R: Rng + ?Sized>(
    center: &Point,
    rows: &[usize],
    masks: Option<&[Vec<bool>]>,
    rng: &mut R,
) -> Point {
    let weights = center
        .weights
        .iter()
        .enumerate()
        .map(|(l, w)| {
            let cols = w.len() / rows[l];
            let mut d: Vec<f32> = (0..w.len())
                .map(|i| {
                    let v: f32 = rng.sample(StandardNormal);
                    if masks.is_some_and(|m| !m[l][i]) {
                        0.0
                    } else {
                        v
                    }
                })
                .collect();
            for (dr, wr) in d.chunks_exact_mut(cols).zip(w.chunks_exact(cols)) {
                let norm = |x: &[f32]| {
                    x.iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>()
                        .sqrt()
                };
                let (nd, nw) = (norm(dr), norm(wr));
                let scale = if nd > 0.0 { (nw / nd) as f32 } else { 0.0 };
                dr.iter_mut().for_each(|v| *v *= scale);
            }
            d
        })
        .collect();
    let biases = center.biases.iter().map(|b| vec![0.0; b.len()]).collect();
    Point { weights, biases }
}

/// The seed of a plane's random directions for a run at a step: the page and the CLI use the
/// same one, so they draw the same plane.
pub fn direction_seed(seed: u64, step: usize) -> u64 {
    seed ^ (step as u64).rotate_left(32)
}

/// Elementwise OR of two sets of masks (the wider space of an interpolation).
pub fn union_masks(a: &[Vec<bool>], b: &[Vec<bool>]) -> Vec<Vec<bool>> {
    a.iter()
        .zip(b)
        .map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| x || y).collect())
        .collect()
}

/// `points` coefficients from -0.2 to 1.2 (RIGL.md: interpolation from -0.2 to 1.2), with
/// 0 and 1 among them when the spacing allows (29 points: steps of 0.05).
pub fn interpolation_coefficients(points: usize) -> Vec<f64> {
    let n = points.max(2);
    (0..n)
        .map(|i| round9(-0.2 + 1.4 * i as f64 / (n - 1) as f64))
        .collect()
}

/// `n` coordinates spanning [-span, span], symmetric, with 0 exactly in the middle when n
/// is odd (so the grid's centre is the current parameters).
pub fn grid_coords(n: usize, span: f64) -> Vec<f64> {
    let n = n.max(2);
    (0..n)
        .map(|i| round9(span * (2.0 * i as f64 / (n - 1) as f64 - 1.0)))
        .collect()
}

/// Rounds away float noise (0.05 * 4 = 0.2, not 0.20000000000000004) and turns -0 into 0.
fn round9(x: f64) -> f64 {
    (x * 1e9).round() / 1e9 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn point() -> Point {
        // One layer of 2 rows x 3 columns, one of 1 x 2.
        Point {
            weights: vec![vec![3.0, 0.0, 4.0, 1.0, 2.0, 2.0], vec![0.5, -0.5]],
            biases: vec![vec![1.0, 2.0], vec![3.0]],
        }
    }

    #[test]
    fn filter_normalised_rows_have_the_weights_norms() {
        let p = point();
        let d =
            filter_normalized_direction(&p, &[2, 1], None, &mut rand_pcg::Pcg64::seed_from_u64(1));
        let norm = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt();
        // Row norms: |(3, 0, 4)| = 5, |(1, 2, 2)| = 3, |(0.5, -0.5)| = 0.7071.
        assert!((norm(&d.weights[0][..3]) - 5.0).abs() < 1e-5);
        assert!((norm(&d.weights[0][3..]) - 3.0).abs() < 1e-5);
        assert!((norm(&d.weights[1]) - 0.5f32.sqrt()).abs() < 1e-5);
        assert!(d.biases.iter().flatten().all(|&b| b == 0.0));
    }

    #[test]
    fn masked_directions_stay_in_the_sparse_subspace() {
        let p = point();
        let masks = vec![vec![true, false, true, true, true, false], vec![true, true]];
        let d = filter_normalized_direction(
            &p,
            &[2, 1],
            Some(&masks),
            &mut rand_pcg::Pcg64::seed_from_u64(2),
        );
        assert_eq!((d.weights[0][1], d.weights[0][5]), (0.0, 0.0));
        let norm = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm(&d.weights[0][..3]) - 5.0).abs() < 1e-5);
    }

    #[test]
    fn interpolation_endpoints_are_the_snapshots_exactly() {
        let a = point();
        let mut b = point();
        b.weights[0][0] = -7.25;
        b.biases[1][0] = 0.1;
        assert_eq!(Point::lerp(&a, &b, 0.0), a);
        assert_eq!(Point::lerp(&a, &b, 1.0), b);
        let mid = Point::lerp(&a, &b, 0.5);
        assert_eq!(mid.weights[0][0], (3.0 - 7.25) / 2.0);
        let c = interpolation_coefficients(29);
        assert_eq!(
            (c.len(), c[0], c[4], c[24], c[28]),
            (29, -0.2, 0.0, 1.0, 1.2)
        );
    }

    #[test]
    fn grids_are_centred_on_zero() {
        let g = grid_coords(21, 1.0);
        assert_eq!((g[0], g[10], g[20]), (-1.0, 0.0, 1.0));
        let p = point();
        assert_eq!(p.offset(g[10], &p, g[10], &p), p);
        assert_eq!(
            union_masks(&[vec![true, false]], &[vec![false, false]]),
            vec![vec![true, false]]
        );
    }
}
