//! A loss map on the PCA plane of one or more paths (a run's trajectory; or the Static and
//! RigL continuations of the escape demo): the paths projected onto the plane, the grid
//! that covers them, and the CSV that the page exports and the CLI writes (the same bytes).
//! The losses themselves come from a backend, point by point (`Projection::grid_point`).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::Point;
pub use super::pca::gram_row;
use super::pca::{PcaJob, PcaPlane, add_support, gram_from_rows, no_support, trajectory_axes};

/// Margin around the projected paths, as a fraction of their extent on each side.
pub const MAP_MARGIN: f64 = 0.25;

/// A path's points on a plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectedPath {
    pub name: String,
    pub points: Vec<PathPoint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathPoint {
    pub step: usize,
    pub x: f64,
    pub y: f64,
    /// Taken just after a mask update.
    pub mask_update: bool,
}

/// A path to project: its name and its points (step, after a mask update, parameters).
pub type Path<'a> = (String, Vec<(usize, bool, &'a Point)>);

/// Every point of the paths, in order (the rows of the Gram matrix).
pub fn path_points<'a>(paths: &[Path<'a>]) -> Vec<&'a Point> {
    paths.iter().flat_map(|p| p.1.iter().map(|x| x.2)).collect()
}

/// The plane of the paths' first two principal components about `origin`, the paths on
/// it, and a `grid` x `grid` grid covering them.
#[derive(Clone, Debug)]
pub struct Projection {
    pub plane: PcaPlane,
    pub directions: [Point; 2],
    pub paths: Vec<ProjectedPath>,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// The weights any path point has: the loss on the plane is evaluated with this mask.
    pub masks: Vec<Vec<bool>>,
}

impl Projection {
    /// `rows`: `gram_row(&path_points(paths), origin, i)` for every i, in order (the page
    /// computes them across animation frames).
    pub fn new(
        paths: &[Path],
        origin: &Point,
        rows: &[Vec<f64>],
        grid: usize,
    ) -> Result<Projection, String> {
        let mut job = Projection::job(paths, origin, rows)?;
        while job.step() {}
        Ok(job.finish(paths, grid))
    }

    /// `new` in steps of one point's work (`ProjectionJob::step`).
    pub fn job<'a>(
        paths: &[Path<'a>],
        origin: &'a Point,
        rows: &[Vec<f64>],
    ) -> Result<ProjectionJob<'a>, String> {
        let points = path_points(paths);
        let pca = PcaJob::new(points.clone(), origin, &gram_from_rows(rows))?;
        Ok(ProjectionJob {
            pca,
            origin,
            masks: no_support(origin),
            support: points.into_iter().chain(std::iter::once(origin)).collect(),
        })
    }

    /// The parameters at grid row `r` (y = ys[r]), column `c` (x = xs[c]).
    pub fn grid_point(&self, origin: &Point, r: usize, c: usize) -> Point {
        let [d1, d2] = &self.directions;
        origin.offset(self.xs[c], d1, self.ys[r], d2)
    }
}

/// A projection being computed: the PCA, then the weights any point has.
pub struct ProjectionJob<'a> {
    pca: PcaJob<'a>,
    origin: &'a Point,
    masks: Vec<Vec<bool>>,
    /// Points whose weights are still to be added to `masks`.
    support: Vec<&'a Point>,
}

impl ProjectionJob<'_> {
    /// Does one point's work; false once everything is done.
    pub fn step(&mut self) -> bool {
        if self.pca.step() {
            return true;
        }
        match self.support.pop() {
            Some(p) => {
                add_support(&mut self.masks, p);
                !self.support.is_empty()
            }
            None => false,
        }
    }

    /// The projection of `paths` (those the job was made from) with a `grid` x `grid` grid.
    pub fn finish(self, paths: &[Path], grid: usize) -> Projection {
        let plane = self.pca.finish();
        let mut coords = plane.coords.iter();
        let projected: Vec<ProjectedPath> = paths
            .iter()
            .map(|(name, pts)| ProjectedPath {
                name: name.clone(),
                points: pts
                    .iter()
                    .zip(coords.by_ref())
                    .map(|(&(step, mask_update, _), &(x, y))| PathPoint {
                        step,
                        x,
                        y,
                        mask_update,
                    })
                    .collect(),
            })
            .collect();
        let (xs, ys) = trajectory_axes(&plane.coords, grid, MAP_MARGIN);
        Projection {
            directions: plane.direction_points(self.origin),
            masks: self.masks,
            paths: projected,
            xs,
            ys,
            plane,
        }
    }
}

/// The numbers behind a trajectory-plane map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaneMap {
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// losses[r][c] at (xs[c], ys[r]); rows fill in as they are computed.
    #[serde(with = "crate::float_text::grid")]
    pub losses: Vec<Vec<f64>>,
    /// Fraction of the movement explained by each of the two components.
    pub explained: [f64; 2],
    pub paths: Vec<ProjectedPath>,
}

impl PlaneMap {
    /// The map so far of a projection, with `losses` computed.
    pub fn of(p: &Projection, losses: Vec<Vec<f64>>) -> Self {
        PlaneMap {
            xs: p.xs.clone(),
            ys: p.ys.clone(),
            losses,
            explained: p.plane.explained,
            paths: p.paths.clone(),
        }
    }

    /// One CSV table: `explained` (x, y: the two components' fractions), then every `grid`
    /// point with its loss, then each path's points (kind = the path's name).
    pub fn csv(&self) -> String {
        let mut s = String::from("kind,step,x,y,loss,mask_update\n");
        let [e1, e2] = self.explained;
        // (+ 0.0 below: -0 prints as 0.)
        let _ = writeln!(s, "explained,,{e1:.6},{e2:.6},,");
        for (r, row) in self.losses.iter().enumerate() {
            for (c, l) in row.iter().enumerate() {
                let _ = writeln!(s, "grid,,{},{},{l:.6},", self.xs[c], self.ys[r]);
            }
        }
        for p in &self.paths {
            for q in &p.points {
                let _ = writeln!(
                    s,
                    "{},{},{:.6},{:.6},,{}",
                    p.name,
                    q.step,
                    q.x + 0.0,
                    q.y + 0.0,
                    u8::from(q.mask_update)
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(w: [f32; 2]) -> Point {
        Point {
            weights: vec![w.to_vec(), vec![0.0]],
            biases: vec![vec![0.0]],
        }
    }

    #[test]
    fn paths_are_projected_and_the_grid_points_lie_on_the_plane() {
        // Two paths from the origin (0, 0): one along the first weight through (-2, 0) to
        // (-4, 0), one along the second to (0, -2). Second moments: 4 + 16 = 20 along e1, 4
        // along e2, so PC1 = e1 explains 20/24 and PC2 = e2 4/24.
        let origin = pt([0.0, 0.0]);
        let (a1, a2, b1) = (pt([-2.0, 0.0]), pt([-4.0, 0.0]), pt([0.0, -2.0]));
        let paths: Vec<Path> = vec![
            (
                "static".into(),
                vec![(0, false, &origin), (50, false, &a1), (100, false, &a2)],
            ),
            ("rigl".into(), vec![(0, false, &origin), (100, true, &b1)]),
        ];
        let points = path_points(&paths);
        let rows: Vec<Vec<f64>> = (0..points.len())
            .map(|i| gram_row(&points, &origin, i))
            .collect();
        let p = Projection::new(&paths, &origin, &rows, 3).unwrap();
        assert!((p.plane.explained[0] - 20.0 / 24.0).abs() < 1e-12);
        assert!((p.plane.explained[1] - 4.0 / 24.0).abs() < 1e-12);
        let xy: Vec<(f64, f64, bool)> = p.paths[0]
            .points
            .iter()
            .chain(&p.paths[1].points)
            .map(|q| (q.x, q.y, q.mask_update))
            .collect();
        let want = [
            (0.0, 0.0, false),
            (-2.0, 0.0, false),
            (-4.0, 0.0, false),
            (0.0, 0.0, false),
            (0.0, -2.0, true),
        ];
        for (got, want) in xy.iter().zip(want) {
            assert!((got.0 - want.0).abs() < 1e-12 && (got.1 - want.1).abs() < 1e-12);
            assert_eq!(got.2, want.2);
        }
        // x from -4 to 0: mid -2, half 2 + 1 = 3; y from -2 to 0: mid -1, half 1 + 0.5.
        assert_eq!(
            (p.xs.clone(), p.ys.clone()),
            (vec![-5.0, -2.0, 1.0], vec![-2.5, -1.0, 0.5])
        );
        assert_eq!(p.grid_point(&origin, 0, 2).weights[0], [1.0, -2.5]);
        // Only the two weights that moved are evaluated; the last layer's never did.
        assert_eq!(p.masks, [vec![true, true], vec![false]]);
        let map = PlaneMap::of(&p, vec![vec![1.0, 2.0, 3.0]]);
        let csv = map.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "kind,step,x,y,loss,mask_update");
        assert_eq!(lines[1], "explained,,0.833333,0.166667,,");
        assert_eq!(lines[2], "grid,,-5,-2.5,1.000000,");
        assert_eq!(lines[9], "rigl,100,0.000000,-2.000000,,1");
        assert_eq!(lines.len(), 1 + 1 + 3 + 5);
    }
}
