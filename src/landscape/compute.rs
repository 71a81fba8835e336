//! The landscape computations, once, on any backend: the loss along a line between two
//! snapshots (each snapshot's mask and their union), on a plane through a point along two
//! filter-normalised random directions, and on the PCA plane of recorded paths. The page and
//! the CLI both call these; `progress` hears of each piece of work as it is done (the page
//! updates its view there and yields to the browser; the CLI moves a progress bar).

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::map::{Path, PlaneMap, path_points};
use super::pca::centered_dot;
use super::{
    Point, filter_normalized_direction, grid_coords, interpolation_coefficients, union_masks,
};
use crate::backend::Backend;
use crate::landscape::map::Projection;

/// One point of a line: the loss at theta(c) = (1 - c) A + c B evaluated with A's mask, B's
/// mask and their union.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterpRow {
    pub c: f64,
    #[serde(with = "crate::float_text")]
    pub mask_a: f64,
    #[serde(with = "crate::float_text")]
    pub mask_b: f64,
    #[serde(with = "crate::float_text")]
    pub union: f64,
}

/// Losses on the first `samples` training images at `points` coefficients from -0.2 to 1.2
/// along the line from `a` to `b`; `progress` gets the rows so far and the total.
pub async fn line<B: Backend>(
    backend: &mut B,
    (a, mask_a): (&Point, &[Vec<bool>]),
    (b, mask_b): (&Point, &[Vec<bool>]),
    points: usize,
    samples: usize,
    mut progress: impl AsyncFnMut(&[InterpRow], usize),
) -> Vec<InterpRow> {
    let union = union_masks(mask_a, mask_b);
    let coeffs = interpolation_coefficients(points);
    let mut rows = Vec::with_capacity(coeffs.len());
    for &c in &coeffs {
        let p = Point::lerp(a, b, c);
        rows.push(InterpRow {
            c,
            mask_a: backend.loss_at(&p, Some(mask_a), samples).await,
            mask_b: backend.loss_at(&p, Some(mask_b), samples).await,
            union: backend.loss_at(&p, Some(&union), samples).await,
        });
        progress(&rows, coeffs.len()).await;
    }
    rows
}

/// The losses on a plane: `losses[row][col]` at (coords[col], coords[row]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plane {
    pub coords: Vec<f64>,
    /// losses[row][col]: row = second direction's coordinate, col = first's.
    #[serde(with = "crate::float_text::grid")]
    pub losses: Vec<Vec<f64>>,
    #[serde(with = "crate::float_text")]
    pub center_loss: f64,
}

/// How a random plane is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaneSpec {
    /// Points per side.
    pub grid: usize,
    /// The plane spans [-span, span] times each direction.
    pub span: f64,
    /// Training images each loss is measured on.
    pub samples: usize,
    /// Directions over every weight rather than the active ones (and the loss without mask).
    pub dense_directions: bool,
    /// Seed of the directions (`direction_seed`).
    pub seed: u64,
}

/// The loss over a grid on the plane through `center` spanned by two filter-normalised
/// random directions (restricted to the active weights of `masks` unless the directions are
/// dense), row by row; `progress` gets the plane so far (rows done) and the row count.
pub async fn plane<B: Backend>(
    backend: &mut B,
    center: &Point,
    masks: &[Vec<bool>],
    spec: PlaneSpec,
    mut progress: impl AsyncFnMut(&Plane, usize),
) -> Plane {
    let mut rng = Pcg64::seed_from_u64(spec.seed);
    // The rows of each layer (an output unit's incoming weights): one bias per row.
    let rows: Vec<usize> = center.biases.iter().map(Vec::len).collect();
    let restrict = (!spec.dense_directions).then_some(masks);
    let d1 = filter_normalized_direction(center, &rows, restrict, &mut rng);
    let d2 = filter_normalized_direction(center, &rows, restrict, &mut rng);
    // Directions inside the sparse subspace keep the mask; dense ones leave it.
    let coords = grid_coords(spec.grid, spec.span);
    let mut plane = Plane {
        center_loss: backend.loss_at(center, restrict, spec.samples).await,
        losses: Vec::with_capacity(coords.len()),
        coords,
    };
    for r in 0..plane.coords.len() {
        let y = plane.coords[r];
        let row: Vec<(f64, f64)> = plane.coords.iter().map(|&x| (x, y)).collect();
        let losses = backend
            .plane_losses((center, &d1, &d2), &row, restrict, spec.samples)
            .await;
        plane.losses.push(losses);
        progress(&plane, plane.coords.len()).await;
    }
    plane
}

/// Where a trajectory map stands.
pub enum MapProgress<'a> {
    /// Entries of the Gram matrix (or steps of the PCA) done, of all.
    Pca(usize, usize),
    /// The map so far (rows of losses), grid points done, of all.
    Grid(&'a PlaneMap, usize, usize),
}

/// The loss on a `grid` x `grid` grid over the PCA plane of `paths` about `origin`, with the
/// weights any path point has (`Projection::masks`); `progress` hears of every entry of the
/// Gram matrix, every step of the PCA and every row of the grid.
pub async fn trajectory_map<B: Backend>(
    backend: &mut B,
    paths: &[Path<'_>],
    origin: &Point,
    grid: usize,
    samples: usize,
    mut progress: impl AsyncFnMut(MapProgress<'_>),
) -> Result<PlaneMap, String> {
    let points = path_points(paths);
    let m = points.len();
    // The Gram matrix one entry at a time (a late row of 40 snapshots of LeNet-300-100 is
    // too long for one of the page's frames).
    let mut rows = Vec::with_capacity(m);
    for i in 0..m {
        let mut row = Vec::with_capacity(i + 1);
        for j in 0..=i {
            row.push(centered_dot(points[i], points[j], origin));
            progress(MapProgress::Pca(i, m)).await;
        }
        rows.push(row);
    }
    let mut job = Projection::job(paths, origin, &rows)?;
    while job.step() {
        progress(MapProgress::Pca(m, m)).await;
    }
    let p = job.finish(paths, grid);
    let (nx, ny) = (p.xs.len(), p.ys.len());
    let mut map = PlaneMap::of(&p, Vec::with_capacity(ny));
    progress(MapProgress::Grid(&map, 0, nx * ny)).await;
    // A row at a time: the GPU evaluates it with one read-back.
    let [d1, d2] = &p.directions;
    for r in 0..ny {
        let row: Vec<(f64, f64)> = p.xs.iter().map(|&x| (x, p.ys[r])).collect();
        let losses = backend
            .plane_losses((origin, d1, d2), &row, Some(&p.masks), samples)
            .await;
        map.losses.push(losses);
        progress(MapProgress::Grid(&map, (r + 1) * nx, nx * ny)).await;
    }
    Ok(map)
}
