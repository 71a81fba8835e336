//! Loss-landscape computations on a trained CPU run (the CLI's `riglab landscape`; the page
//! does the same on its backend): straight-line interpolation, 2D slices, and the loss on
//! the PCA plane of recorded trajectories.

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::Serialize;

use super::{Event, Trainer};
use crate::backend::block_on;
use crate::cpu::CpuBackend;
use crate::landscape::map::{Path, PlaneMap, Projection, gram_row, path_points};
use crate::landscape::trajectory::Trajectory;
use crate::landscape::{
    Point, filter_normalized_direction, grid_coords, interpolation_coefficients, union_masks,
};

/// One point of an interpolation: the loss along theta(c) = (1 - c) A + c B evaluated with
/// A's mask, B's mask and their union.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InterpRow {
    pub c: f64,
    pub mask_a: f64,
    pub mask_b: f64,
    pub union: f64,
}

/// Losses on the first `samples` training images along the line from `a` to `b`.
pub fn interpolate(
    backend: &mut CpuBackend,
    (a, mask_a): (&Point, &[Vec<bool>]),
    (b, mask_b): (&Point, &[Vec<bool>]),
    points: usize,
    samples: usize,
    mut progress: impl FnMut(usize, usize),
) -> Vec<InterpRow> {
    let union = union_masks(mask_a, mask_b);
    let coeffs = interpolation_coefficients(points);
    let mut rows = Vec::with_capacity(coeffs.len());
    for (i, &c) in coeffs.iter().enumerate() {
        let p = Point::lerp(a, b, c);
        let mut loss =
            |m: &[Vec<bool>]| block_on(backend.loss_at(&p.weights, &p.biases, Some(m), samples));
        rows.push(InterpRow {
            c,
            mask_a: loss(mask_a),
            mask_b: loss(mask_b),
            union: loss(&union),
        });
        progress(i + 1, coeffs.len());
    }
    rows
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plane {
    pub coords: Vec<f64>,
    /// losses[row][col]: row = second direction's coordinate, col = first's.
    pub losses: Vec<Vec<f64>>,
    pub center_loss: f64,
}

/// The loss over a grid on the plane through `center` spanned by two filter-normalised
/// random directions (restricted to the active weights unless `dense_directions`).
#[allow(clippy::too_many_arguments)]
pub fn plane(
    backend: &mut CpuBackend,
    center: &Point,
    masks: &[Vec<bool>],
    rows_per_layer: &[usize],
    grid: usize,
    span: f64,
    samples: usize,
    dense_directions: bool,
    seed: u64,
    mut progress: impl FnMut(usize, usize),
) -> Plane {
    let mut rng = Pcg64::seed_from_u64(seed);
    let restrict = (!dense_directions).then_some(masks);
    let d1 = filter_normalized_direction(center, rows_per_layer, restrict, &mut rng);
    let d2 = filter_normalized_direction(center, rows_per_layer, restrict, &mut rng);
    // Directions inside the sparse subspace keep the mask; dense ones leave it.
    let eval_masks = (!dense_directions).then_some(masks);
    let coords = grid_coords(grid, span);
    let mut losses = Vec::with_capacity(coords.len());
    for (r, &y) in coords.iter().enumerate() {
        let row = coords
            .iter()
            .map(|&x| {
                let p = center.offset(x, &d1, y, &d2);
                block_on(backend.loss_at(&p.weights, &p.biases, eval_masks, samples))
            })
            .collect();
        losses.push(row);
        progress(r + 1, coords.len());
    }
    let center_loss =
        block_on(backend.loss_at(&center.weights, &center.biases, eval_masks, samples));
    Plane {
        coords,
        losses,
        center_loss,
    }
}

/// Trains `t` to its end, recording its trajectory (`tick` after every step).
pub fn train_recording(
    t: &mut Trainer<CpuBackend>,
    trajectory: &mut Trajectory,
    mut tick: impl FnMut(&[Event]),
) {
    let mut events = Vec::new();
    while !t.done() {
        block_on(t.step(&mut events));
        if let Some(ticket) = trajectory.offer(t.step, &events) {
            trajectory.push(ticket, t.step, t.backend.point());
        }
        tick(&events);
        events.clear();
    }
}

/// The loss on a `grid` x `grid` grid over the PCA plane of `paths` about `origin` (the
/// page computes the same across animation frames).
pub fn trajectory_map(
    backend: &mut CpuBackend,
    paths: &[Path],
    origin: &Point,
    grid: usize,
    samples: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<PlaneMap, String> {
    let points = path_points(paths);
    let rows: Vec<Vec<f64>> = (0..points.len())
        .map(|i| gram_row(&points, origin, i))
        .collect();
    let p = Projection::new(paths, origin, &rows, grid)?;
    let mut losses = Vec::with_capacity(p.ys.len());
    for r in 0..p.ys.len() {
        let row = (0..p.xs.len())
            .map(|c| {
                let q = p.grid_point(origin, r, c);
                block_on(backend.loss_at(&q.weights, &q.biases, Some(&p.masks), samples))
            })
            .collect();
        losses.push(row);
        progress(r + 1, p.ys.len());
    }
    Ok(PlaneMap::of(&p, losses))
}
