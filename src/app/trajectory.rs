//! The loss on the PCA plane of recorded paths, computed on the page's backend without
//! freezing it: the Gram matrix entry by entry, then the grid point by point, each within an
//! animation frame's budget. The same engine functions as `riglab landscape --plane pca`
//! and `riglab escape`, so the numbers agree.

use super::any::AnyBackend;
use super::driver::{FRAME_BUDGET_MS, next_frame, now_ms};
use crate::landscape::map::{Path, PlaneMap, Projection, path_points};
use crate::landscape::pca::centered_dot;
use crate::landscape::{LOSS_SAMPLES, Point};
use crate::train::Trainer;

/// Where a map computation stands.
pub enum Progress<'a> {
    /// Gram matrix rows done, of all.
    Pca(usize, usize),
    /// The map so far (rows of losses), grid points done, of all.
    Grid(&'a PlaneMap, usize, usize),
}

/// The loss on a `grid` x `grid` grid over the PCA plane of `paths` about `origin`, on
/// `t`'s backend; `show` hears of the progress at each frame.
pub async fn compute_map(
    t: &mut Trainer<AnyBackend>,
    paths: &[Path<'_>],
    origin: &Point,
    grid: usize,
    mut show: impl FnMut(Progress),
) -> Result<PlaneMap, String> {
    let points = path_points(paths);
    let m = points.len();
    // The Gram matrix one entry at a time (`gram_row`'s entries, so the same numbers): a
    // late row of 40 snapshots of LeNet-300-100 is too long for one frame.
    let mut rows = Vec::with_capacity(m);
    let mut frame = now_ms();
    for i in 0..m {
        let mut row = Vec::with_capacity(i + 1);
        for j in 0..=i {
            row.push(centered_dot(points[i], points[j], origin));
            if now_ms() - frame > FRAME_BUDGET_MS {
                show(Progress::Pca(i, m));
                next_frame().await;
                frame = now_ms();
            }
        }
        rows.push(row);
    }
    let mut job = Projection::job(paths, origin, &rows)?;
    while job.step() {
        if now_ms() - frame > FRAME_BUDGET_MS {
            show(Progress::Pca(m, m));
            next_frame().await;
            frame = now_ms();
        }
    }
    let p = job.finish(paths, grid);
    let (nx, ny) = (p.xs.len(), p.ys.len());
    let mut map = PlaneMap::of(&p, Vec::with_capacity(ny));
    show(Progress::Grid(&map, 0, nx * ny));
    next_frame().await;
    // A row at a time: the GPU evaluates it with one read-back; the CPU yields to the page
    // every ~30 ms (`AnyBackend::plane_losses`).
    let [d1, d2] = &p.directions;
    for r in 0..ny {
        let row: Vec<(f64, f64)> = p.xs.iter().map(|&x| (x, p.ys[r])).collect();
        map.losses.push(
            t.backend
                .plane_losses((origin, d1, d2), &row, Some(&p.masks), LOSS_SAMPLES)
                .await,
        );
        show(Progress::Grid(&map, (r + 1) * nx, nx * ny));
        next_frame().await;
    }
    show(Progress::Grid(&map, nx * ny, nx * ny));
    Ok(map)
}
