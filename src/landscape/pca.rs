//! The plane of a trajectory's first two principal components (Li et al. 2018, section 7):
//! the differences of the snapshots from one origin (the end of the run, or the point two
//! runs forked from) span the directions the run moved in; PCA picks the two that explain
//! most of that movement, and the loss is drawn on the plane they span with the path
//! projected onto it.
//!
//! A snapshot has as many numbers as the network (266k for LeNet-300-100) and there are a few
//! dozen snapshots, so PCA goes through the m x m Gram matrix G = X X^T of the differences
//! (X: one difference per row): if G v = lambda v then X^T v is a principal direction with
//! |X^T v|^2 = lambda. Everything here is f64 over f32 parameters, in one summation order,
//! so the page and the CLI get the same plane bit for bit.

use super::Point;

/// Every weight and bias slice of a point, in a fixed order (weights of each layer, then
/// biases of each layer): the flat vector PCA works on.
fn slices(p: &Point) -> impl Iterator<Item = &[f32]> {
    p.weights.iter().chain(&p.biases).map(Vec::as_slice)
}

/// <a - origin, b - origin>, in f64 (the difference of two f32 values is exact in f64),
/// summed in four interleaved lanes (independent additions run in parallel; the order is
/// fixed, so every target gets the same bits).
pub fn centered_dot(a: &Point, b: &Point, origin: &Point) -> f64 {
    let mut lanes = [0.0f64; 4];
    for ((a, b), o) in slices(a).zip(slices(b)).zip(slices(origin)) {
        let n = a.len().min(b.len()).min(o.len());
        let quads = n / 4 * 4;
        for i in (0..quads).step_by(4) {
            for (k, lane) in lanes.iter_mut().enumerate() {
                let o = f64::from(o[i + k]);
                *lane += (f64::from(a[i + k]) - o) * (f64::from(b[i + k]) - o);
            }
        }
        for i in quads..n {
            let o = f64::from(o[i]);
            lanes[0] += (f64::from(a[i]) - o) * (f64::from(b[i]) - o);
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// Row i of the Gram matrix up to the diagonal: G[i][j] = <X_i, X_j> for j <= i (the page
/// computes the same entries across animation frames); `gram_from_rows` completes it.
pub fn gram_row(points: &[&Point], origin: &Point, i: usize) -> Vec<f64> {
    (0..=i)
        .map(|j| centered_dot(points[i], points[j], origin))
        .collect()
}

/// The full symmetric Gram matrix from its lower rows (as `gram_row` returns them).
pub fn gram_from_rows(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let m = rows.len();
    (0..m)
        .map(|i| {
            (0..m)
                .map(|j| if j <= i { rows[i][j] } else { rows[j][i] })
                .collect()
        })
        .collect()
}

/// G[i][j] = <points[i] - origin, points[j] - origin>.
pub fn gram_matrix(points: &[&Point], origin: &Point) -> Vec<Vec<f64>> {
    let rows: Vec<Vec<f64>> = (0..points.len())
        .map(|i| gram_row(points, origin, i))
        .collect();
    gram_from_rows(&rows)
}

/// Eigenvalues (largest first) and unit eigenvectors (`vectors[k]` belongs to `values[k]`)
/// of a symmetric matrix, by cyclic Jacobi rotations: each rotation zeroes one off-diagonal
/// entry; sweeps repeat until the off-diagonal part is negligible. Small m only (O(m^3) per
/// sweep); no trigonometry, so every target rounds alike.
pub fn symmetric_eigen(matrix: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let m = matrix.len();
    let mut a: Vec<Vec<f64>> = matrix.to_vec();
    // v[r][k]: component r of eigenvector k.
    let mut v: Vec<Vec<f64>> = (0..m)
        .map(|r| (0..m).map(|k| if r == k { 1.0 } else { 0.0 }).collect())
        .collect();
    let total: f64 = a.iter().flatten().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|p| (0..m).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                if a[p][q] == 0.0 {
                    continue;
                }
                // tan of the rotation angle: the smaller root of t^2 + 2 theta t - 1 = 0.
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (upper, lower) = a.split_at_mut(q);
                for (x, y) in upper[p].iter_mut().zip(lower[0].iter_mut()) {
                    let (apk, aqk) = (*x, *y);
                    *x = c * apk - s * aqk;
                    *y = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
                // The rotation zeroes this pair (up to rounding, which would only linger).
                (a[p][q], a[q][p]) = (0.0, 0.0);
            }
        }
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]).then(i.cmp(&j)));
    let values = order.iter().map(|&k| a[k][k]).collect();
    let vectors = order
        .iter()
        .map(|&k| v.iter().map(|row| row[k]).collect())
        .collect();
    (values, vectors)
}

/// The plane of the first two principal components of some points around an origin.
#[derive(Clone, Debug, PartialEq)]
pub struct PcaPlane {
    /// The two unit directions, flat (in the order of `slices`), orthogonal.
    pub directions: [Vec<f64>; 2],
    /// Fraction of the points' squared distance from the origin along each direction:
    /// lambda_k / trace(G) (the variance about the origin that the component explains).
    pub explained: [f64; 2],
    /// Each point's coordinates on the plane: (<X_i, d_1>, <X_i, d_2>).
    pub coords: Vec<(f64, f64)>,
}

impl PcaPlane {
    /// The directions as points shaped like `like` (for `Point::offset`).
    pub fn direction_points(&self, like: &Point) -> [Point; 2] {
        self.directions.clone().map(|d| {
            let mut it = d.into_iter();
            let mut take = |x: &[Vec<f32>]| -> Vec<Vec<f32>> {
                x.iter()
                    .map(|s| s.iter().map(|_| it.next().unwrap_or(0.0) as f32).collect())
                    .collect()
            };
            let weights = take(&like.weights);
            let biases = take(&like.biases);
            Point { weights, biases }
        })
    }
}

/// PCA of `points` about `origin`, given their Gram matrix (`gram_matrix`). Each direction
/// is X^T v / sqrt(lambda); its sign makes the first point with a non-zero coordinate on it
/// negative (the start of a run lies left of / below its end). Fails when the points do not
/// span two dimensions.
pub fn pca_plane(points: &[&Point], origin: &Point, gram: &[Vec<f64>]) -> Result<PcaPlane, String> {
    let mut job = PcaJob::new(points.to_vec(), origin, gram)?;
    while job.step() {}
    Ok(job.finish())
}

/// `pca_plane` in steps of one point's work (the page spreads them over animation frames):
/// first each point's share of the two directions, then each point's projection.
pub struct PcaJob<'a> {
    points: Vec<&'a Point>,
    origin: &'a Point,
    /// The two largest eigenvalues, their eigenvectors, and trace(G).
    values: [f64; 2],
    vectors: [Vec<f64>; 2],
    trace: f64,
    directions: [Vec<f64>; 2],
    coords: Vec<(f64, f64)>,
    done: usize,
}

impl<'a> PcaJob<'a> {
    pub fn new(
        points: Vec<&'a Point>,
        origin: &'a Point,
        gram: &[Vec<f64>],
    ) -> Result<Self, String> {
        let (values, mut vectors) = symmetric_eigen(gram);
        let trace: f64 = (0..gram.len()).map(|i| gram[i][i]).sum();
        let spans_a_plane = values.len() >= 2 && values[1] > 1e-12 * values[0] && trace > 0.0;
        if !spans_a_plane {
            return Err("the trajectory does not span a plane yet: train further".into());
        }
        let len: usize = slices(origin).map(<[f32]>::len).sum();
        vectors.truncate(2);
        let v2 = vectors.pop().unwrap_or_default();
        let v1 = vectors.pop().unwrap_or_default();
        Ok(Self {
            coords: Vec::with_capacity(points.len()),
            points,
            origin,
            values: [values[0], values[1]],
            vectors: [v1, v2],
            trace,
            directions: [vec![0.0; len], vec![0.0; len]],
            done: 0,
        })
    }

    /// Does one point's work; false once everything is done.
    pub fn step(&mut self) -> bool {
        let m = self.points.len();
        if self.done < m {
            let p = self.points[self.done];
            for k in 0..2 {
                let w = self.vectors[k][self.done] / self.values[k].sqrt();
                let d = &mut self.directions[k];
                let mut i = 0;
                for (a, o) in slices(p).zip(slices(self.origin)) {
                    for (&a, &o) in a.iter().zip(o) {
                        d[i] += w * (f64::from(a) - f64::from(o));
                        i += 1;
                    }
                }
            }
        } else if self.done < 2 * m {
            let p = self.points[self.done - m];
            let project = |d: &[f64]| {
                let mut sum = 0.0;
                let mut i = 0;
                for (a, o) in slices(p).zip(slices(self.origin)) {
                    for (&a, &o) in a.iter().zip(o) {
                        sum += (f64::from(a) - f64::from(o)) * d[i];
                        i += 1;
                    }
                }
                sum
            };
            let c = (project(&self.directions[0]), project(&self.directions[1]));
            self.coords.push(c);
        }
        self.done = (self.done + 1).min(2 * m);
        self.done < 2 * m
    }

    /// The plane, once `step` has returned false.
    pub fn finish(self) -> PcaPlane {
        let (mut directions, mut coords) = (self.directions, self.coords);
        fn axis(c: &mut (f64, f64), k: usize) -> &mut f64 {
            if k == 0 { &mut c.0 } else { &mut c.1 }
        }
        for (k, d) in directions.iter_mut().enumerate() {
            let first = coords.iter_mut().map(|c| *axis(c, k)).find(|&x| x != 0.0);
            if first.is_some_and(|x| x > 0.0) {
                d.iter_mut().for_each(|x| *x = -*x);
                coords.iter_mut().for_each(|c| *axis(c, k) = -*axis(c, k));
            }
        }
        PcaPlane {
            directions,
            explained: [self.values[0] / self.trace, self.values[1] / self.trace],
            coords,
        }
    }
}

/// Grid coordinates along each axis of a trajectory plane: `n` points per axis covering the
/// projected path with a margin of `margin` times its extent on each side. An axis along which
/// the path hardly moves still spans a quarter of the other axis's extent, so the map stays
/// readable.
pub fn trajectory_axes(coords: &[(f64, f64)], n: usize, margin: f64) -> (Vec<f64>, Vec<f64>) {
    let n = n.max(2);
    let range = |get: &dyn Fn(&(f64, f64)) -> f64| {
        coords
            .iter()
            .map(get)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x0, x1) = range(&|c| c.0);
    let (y0, y1) = range(&|c| c.1);
    let biggest = (x1 - x0).max(y1 - y0);
    let biggest = if biggest > 0.0 { biggest } else { 1.0 };
    let axis = |lo: f64, hi: f64| {
        let extent = (hi - lo).max(biggest / 4.0);
        let (mid, half) = ((lo + hi) / 2.0, extent / 2.0 + margin * extent);
        (0..n)
            .map(|i| super::round9(mid - half + 2.0 * half * i as f64 / (n - 1) as f64))
            .collect::<Vec<f64>>()
    };
    (axis(x0, x1), axis(y0, y1))
}

/// Per layer, the weights that are non-zero in any of `points`: every point of their PCA
/// plane is zero elsewhere, so the loss there can be evaluated with this mask (the sparse
/// kernels) and equals the dense loss.
pub fn support_masks(points: &[&Point]) -> Vec<Vec<bool>> {
    let mut masks = no_support(points[0]);
    for p in points {
        add_support(&mut masks, p);
    }
    masks
}

/// Masks shaped like `p`'s weights with nothing in them.
pub fn no_support(p: &Point) -> Vec<Vec<bool>> {
    p.weights.iter().map(|w| vec![false; w.len()]).collect()
}

/// Adds the weights `p` has to `masks`.
pub fn add_support(masks: &mut [Vec<bool>], p: &Point) {
    for (m, w) in masks.iter_mut().zip(&p.weights) {
        for (m, &w) in m.iter_mut().zip(w) {
            *m |= w != 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point with one layer of 4 weights and 1 bias.
    fn pt(w: [f32; 4], b: f32) -> Point {
        Point {
            weights: vec![w.to_vec()],
            biases: vec![vec![b]],
        }
    }

    #[test]
    fn jacobi_finds_hand_computed_eigenpairs() {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1)/sqrt2 and (1, -1)/sqrt2.
        let (values, vectors) = symmetric_eigen(&[vec![2.0, 1.0], vec![1.0, 2.0]]);
        assert!((values[0] - 3.0).abs() < 1e-12 && (values[1] - 1.0).abs() < 1e-12);
        let h = 0.5f64.sqrt();
        assert!((vectors[0][0].abs() - h).abs() < 1e-12);
        assert!((vectors[0][0] - vectors[0][1]).abs() < 1e-12);
        assert!((vectors[1][0] + vectors[1][1]).abs() < 1e-12);
        // [[4, 1, 0], [1, 4, 0], [0, 0, 1]]: 5, 3, 1; the third eigenvector is e3.
        let (values, vectors) = symmetric_eigen(&[
            vec![4.0, 1.0, 0.0],
            vec![1.0, 4.0, 0.0],
            vec![0.0, 0.0, 1.0],
        ]);
        for (v, want) in values.iter().zip([5.0, 3.0, 1.0]) {
            assert!((v - want).abs() < 1e-12, "{values:?}");
        }
        assert!((vectors[2][2].abs() - 1.0).abs() < 1e-12);
        // A diagonal matrix needs no rotation: values sorted, vectors the unit axes.
        let (values, vectors) = symmetric_eigen(&[vec![1.0, 0.0], vec![0.0, 7.0]]);
        assert_eq!(values, [7.0, 1.0]);
        assert_eq!(vectors, [vec![0.0, 1.0], vec![1.0, 0.0]]);
    }

    #[test]
    fn the_gram_matrix_holds_centred_dot_products() {
        let o = pt([1.0, 1.0, 1.0, 1.0], 1.0);
        let a = pt([2.0, 1.0, 1.0, 1.0], 1.0); // X_a = e1
        let b = pt([3.0, 3.0, 1.0, 1.0], 0.0); // X_b = (2, 2, 0, 0, -1)
        let g = gram_matrix(&[&a, &b], &o);
        assert_eq!(g, [vec![1.0, 2.0], vec![2.0, 9.0]]);
        assert_eq!(gram_row(&[&a, &b], &o, 1), [2.0, 9.0]);
        // Slices whose length is not a multiple of the four lanes: 1*1 + ... + 7*7 = 140.
        let seven = Point {
            weights: vec![(1..=7).map(|x| x as f32).collect()],
            biases: vec![vec![]],
        };
        let zero = Point {
            weights: vec![vec![0.0; 7]],
            biases: vec![vec![]],
        };
        assert_eq!(centered_dot(&seven, &seven, &zero), 140.0);
    }

    #[test]
    fn pca_recovers_a_known_plane_and_its_coordinates() {
        // u = (1, 1, 1, 1)/2 and v = (1, -1, 1, -1)/2 (biases unchanged) are orthonormal and
        // exact in f32. Points at (a, b) = (-4, 0), (4, 0), (0, -2), (0, 2) about the origin:
        // second moments 32 along u and 8 along v, so PC1 = +-u (explains 0.8), PC2 = +-v (0.2).
        let o = pt([0.25, -0.5, 1.0, 2.0], 0.5);
        let at = |a: f32, b: f32| {
            let (u, v) = ([0.5f32; 4], [0.5f32, -0.5, 0.5, -0.5]);
            let mut w = [0f32; 4];
            for i in 0..4 {
                w[i] = o.weights[0][i] + a * u[i] + b * v[i];
            }
            pt(w, 0.5)
        };
        let pts = [at(-4.0, 0.0), at(4.0, 0.0), at(0.0, -2.0), at(0.0, 2.0)];
        let refs: Vec<&Point> = pts.iter().collect();
        let plane = pca_plane(&refs, &o, &gram_matrix(&refs, &o)).unwrap();
        assert!(
            (plane.explained[0] - 0.8).abs() < 1e-12,
            "{:?}",
            plane.explained
        );
        assert!((plane.explained[1] - 0.2).abs() < 1e-12);
        // The first point's coordinates come out negative: d1 = u, and d2 = v from (0, -2).
        let want = [(-4.0, 0.0), (4.0, 0.0), (0.0, -2.0), (0.0, 2.0)];
        for (c, w) in plane.coords.iter().zip(want) {
            assert!(
                (c.0 - w.0).abs() < 1e-9 && (c.1 - w.1).abs() < 1e-9,
                "{c:?} vs {w:?}"
            );
        }
        for (d, want) in plane.directions[0].iter().zip([0.5, 0.5, 0.5, 0.5, 0.0]) {
            assert!((d - want).abs() < 1e-12, "{:?}", plane.directions[0]);
        }
        let [d1, d2] = plane.direction_points(&o);
        assert_eq!(d2.weights[0], [0.5, -0.5, 0.5, -0.5]);
        assert_eq!(d1.biases[0], [0.0]);
    }

    #[test]
    fn projections_reproduce_points_of_a_tilted_plane() {
        // Points in span(u, v) with non-axis-aligned spread: the PCA axes are a rotation of
        // (u, v), and origin + x d1 + y d2 must give each point back (in f64) to 1e-9.
        let o = pt([0.0, 0.0, 0.0, 0.0], 0.0);
        let (u, v) = ([0.5f64; 5], [0.5f64, -0.5, 0.5, -0.5, 0.0]);
        let u = [u[0], u[1], u[2], u[3], 0.0];
        let ab = [
            (-3.0, -1.0),
            (-2.0, -1.5),
            (-1.0, 0.5),
            (1.0, 0.25),
            (0.0, 0.0),
        ];
        let pts: Vec<Point> = ab
            .iter()
            .map(|&(a, b)| {
                let w: Vec<f32> = (0..4).map(|i| (a * u[i] + b * v[i]) as f32).collect();
                pt([w[0], w[1], w[2], w[3]], 0.0)
            })
            .collect();
        let refs: Vec<&Point> = pts.iter().collect();
        let plane = pca_plane(&refs, &o, &gram_matrix(&refs, &o)).unwrap();
        assert!((plane.explained[0] + plane.explained[1] - 1.0).abs() < 1e-12);
        assert!(plane.explained[0] >= plane.explained[1]);
        let dot: f64 = plane.directions[0]
            .iter()
            .zip(&plane.directions[1])
            .map(|(a, b)| a * b)
            .sum();
        assert!(dot.abs() < 1e-12);
        for (p, &(x, y)) in pts.iter().zip(&plane.coords) {
            for i in 0..4 {
                let back = x * plane.directions[0][i] + y * plane.directions[1][i];
                assert!((back - f64::from(p.weights[0][i])).abs() < 1e-9);
            }
        }
        // The origin itself (the end of the run) projects to (0, 0); the start is at x < 0.
        assert_eq!(plane.coords[4], (0.0, 0.0));
        assert!(plane.coords[0].0 < 0.0 && plane.coords[0].1 < 0.0);
    }

    #[test]
    fn a_straight_path_is_not_a_plane() {
        let o = pt([0.0; 4], 0.0);
        let (a, b) = (pt([1.0, 0.0, 0.0, 0.0], 0.0), pt([2.0, 0.0, 0.0, 0.0], 0.0));
        let refs = [&a, &b];
        assert!(pca_plane(&refs, &o, &gram_matrix(&refs, &o)).is_err());
    }

    #[test]
    fn axes_cover_the_path_with_a_margin() {
        // x from -4 to 2 (mid -1, extent 6): half 3 + 0.25 * 6 = 4.5, so [-5.5, 3.5].
        // y from -1 to 1 (extent 2, at least 6 / 4): half 1 + 0.5 = 1.5.
        let (xs, ys) = trajectory_axes(&[(-4.0, -1.0), (0.0, 0.0), (2.0, 1.0)], 5, 0.25);
        assert_eq!(xs, [-5.5, -3.25, -1.0, 1.25, 3.5]);
        assert_eq!(ys, [-1.5, -0.75, 0.0, 0.75, 1.5]);
        // A flat path: y still spans a quarter of x's extent (8 / 4 = 2), plus the margin.
        let (_, ys) = trajectory_axes(&[(-8.0, 0.0), (0.0, 0.0)], 3, 0.25);
        assert_eq!(ys, [-1.5, 0.0, 1.5]);
    }

    #[test]
    fn the_support_is_where_any_point_has_a_weight() {
        let a = pt([1.0, 0.0, 0.0, 0.0], 0.0);
        let b = pt([0.0, 0.0, -2.0, 0.0], 3.0);
        assert_eq!(support_masks(&[&a, &b]), [vec![true, false, true, false]]);
    }
}
