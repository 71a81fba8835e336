//! A landscape as a job: what the page asks (`Job`), the message that carries it
//! (`Command::Landscape`), and its computation on a trainer, reporting `Piece`s as it fills
//! in. The worker runs it on the run it was given; the page runs the same function itself
//! where the run is not in a worker (a GPU's, or `workers=0`). One job is no landscape: the
//! time a step takes, by which `backend=auto` chooses (`app/backend.rs`).

use super::protocol::{
    Command, LandscapeJob, Mark, MarkSlots, Message, PathSlots, Payload, Piece, PointSlots, decode,
};
use crate::backend::Backend;
use crate::landscape::Point;
use crate::landscape::compute::{self, MapProgress, PlaneSpec};
use crate::landscape::map::Path;
use crate::landscape::pca::no_support;
use crate::train::Trainer;

/// A landscape to compute at a trainer's parameters and masks.
pub enum Job<'a> {
    /// The loss along the line from `a` to `b` at `points` points, with A's mask, B's and
    /// their union.
    Line {
        a: &'a Mark,
        b: &'a Mark,
        points: usize,
        samples: usize,
    },
    /// A random plane through the trainer's parameters.
    Plane(PlaneSpec),
    /// The loss on a `grid` x `grid` grid over the PCA plane of `paths` about `origin`.
    Map {
        paths: &'a [Path<'a>],
        origin: &'a Point,
        grid: usize,
        samples: usize,
    },
    /// Milliseconds per training step of the trainer (which trains on: give it a copy),
    /// `time_steps` with these bounds (giving up never).
    /// Gives up (`Piece::Refused`) once a warm-up step ends `give_up_ms` after the start.
    Time {
        budget_ms: f64,
        most: usize,
        give_up_ms: Option<f64>,
    },
    /// The trainer's evaluation (`Trainer::evaluate`, which changes nothing).
    Evaluate,
}

/// Steps timed after this many steps not timed (a GPU compiles its pipelines at first use).
pub const WARM_UP_STEPS: usize = 2;

/// Milliseconds per training step of `t` (which trains on): `WARM_UP_STEPS` steps, then
/// steps until `budget_ms` have passed or `most` are done (at least one), with the work a
/// backend still has queued (a GPU's) finished within the time; `now` is a clock in ms.
/// Err(ms): a warm-up step alone ended `give_up_ms` or more after the start (a backend that
/// slow has lost already: not timed further).
pub async fn time_steps<B: Backend>(
    t: &mut Trainer<B>,
    (budget_ms, most): (f64, usize),
    give_up_ms: f64,
    now: &dyn Fn() -> f64,
) -> Result<(usize, f64), f64> {
    let mut events = Vec::new();
    let warm = now();
    for _ in 0..WARM_UP_STEPS {
        t.step(&mut events).await;
        t.poll(true, &mut events).await;
        let spent = now() - warm;
        if spent >= give_up_ms {
            return Err(spent);
        }
    }
    let start = now();
    let mut steps = 0;
    while steps < most.max(1) && (steps == 0 || now() - start < budget_ms) {
        t.step(&mut events).await;
        steps += 1;
    }
    t.poll(true, &mut events).await;
    Ok((steps, (now() - start) / steps as f64))
}

/// The `Command::Landscape` of `job`, packed at once (see `Packing`).
pub fn command(job: &Job) -> Message {
    let mut packing = Packing::new(job);
    while packing.advance() {}
    packing.finish()
}

/// The `Command::Landscape` of a job, packed a point at a time: a map's paths hold up to a
/// hundred points of a network's parameters, more than one slice of the page's frame can
/// scan and gather. Call `advance` until it returns false (yielding between calls as the
/// caller's frame allows), then `finish`.
pub struct Packing<'a> {
    job: &'a Job<'a>,
    p: Payload,
    /// A map's points (its paths' in order, then the origin), with their steps.
    points: Vec<(usize, &'a Point)>,
    /// Where any of the first `scanned` points has a weight.
    support: Vec<Vec<bool>>,
    scanned: usize,
    /// The points packed so far, in order.
    packed: Vec<PointSlots>,
    gathered: Vec<f32>,
}

impl<'a> Packing<'a> {
    pub fn new(job: &'a Job<'a>) -> Self {
        let points = match *job {
            Job::Map { paths, origin, .. } => paths
                .iter()
                .flat_map(|(_, points)| points.iter().map(|&(step, _, point)| (step, point)))
                .chain([(0, origin)])
                .collect(),
            _ => Vec::new(),
        };
        Packing {
            job,
            p: Payload::default(),
            support: points.first().map_or_else(Vec::new, |(_, p)| no_support(p)),
            points,
            scanned: 0,
            packed: Vec::new(),
            gathered: Vec::new(),
        }
    }

    /// Scans or packs the next point; false once there is nothing left to do.
    pub fn advance(&mut self) -> bool {
        if let Some(&(_, point)) = self.points.get(self.scanned) {
            add_support_bits(&mut self.support, point);
            self.scanned += 1;
            return true;
        }
        let Some(&(step, point)) = self.points.get(self.packed.len()) else {
            return false;
        };
        let p = &mut self.p;
        let gathered = &mut self.gathered;
        let slots = PointSlots {
            step,
            weights: point
                .weights
                .iter()
                .zip(&self.support)
                .map(|(w, s)| {
                    gathered.clear();
                    gathered.extend(w.iter().zip(s).filter(|x| *x.1).map(|x| *x.0));
                    p.floats(gathered)
                })
                .collect(),
            biases: point.biases.iter().map(|b| p.floats(b)).collect(),
        };
        self.packed.push(slots);
        true
    }

    /// The message (with what `advance` had not done yet done now).
    pub fn finish(mut self) -> Message {
        while self.advance() {}
        let mut p = self.p;
        let job = match *self.job {
            Job::Line {
                a,
                b,
                points,
                samples,
            } => LandscapeJob::Line {
                a: MarkSlots::pack(a, &mut p),
                b: MarkSlots::pack(b, &mut p),
                points,
                samples,
            },
            Job::Plane(spec) => LandscapeJob::Plane { spec },
            Job::Time {
                budget_ms,
                most,
                give_up_ms,
            } => LandscapeJob::Time {
                budget_ms,
                most,
                give_up_ms,
            },
            Job::Evaluate => LandscapeJob::Evaluate,
            Job::Map {
                paths,
                grid,
                samples,
                ..
            } => {
                let mut packed = self.packed.into_iter();
                let paths = paths
                    .iter()
                    .map(|(name, points)| PathSlots {
                        name: name.clone(),
                        points: points
                            .iter()
                            .zip(packed.by_ref())
                            .map(|(&(_, updated, _), slots)| (updated, slots))
                            .collect(),
                    })
                    .collect();
                LandscapeJob::Map {
                    paths,
                    // The last point packed.
                    origin: packed.next().unwrap_or_default(),
                    support: self.support.iter().map(|s| p.flags(s)).collect(),
                    grid,
                    samples,
                }
            }
        };
        p.finish(&Command::Landscape { job })
    }
}

/// Adds to `on` where `point` has a weight other than +0.0.
/// (Not `pca::add_support`, which leaves out -0.0 as well: the points must come back bit
/// for bit.)
fn add_support_bits(on: &mut [Vec<bool>], point: &Point) {
    for (s, w) in on.iter_mut().zip(&point.weights) {
        for (s, x) in s.iter_mut().zip(w) {
            *s |= x.to_bits() != 0;
        }
    }
}

/// The layer whose values where `on` is set are `values`, +0.0 elsewhere.
fn spread(values: &[f32], on: &[bool]) -> Result<Vec<f32>, String> {
    if values.len() != on.iter().filter(|&&b| b).count() {
        return Err("a path point's weights do not fit their support".into());
    }
    let mut it = values.iter();
    Ok(on
        .iter()
        .map(|&b| {
            if b {
                it.next().copied().unwrap_or(0.0)
            } else {
                0.0
            }
        })
        .collect())
}

/// A path as a received job holds it (`Path` borrows the points).
pub type OwnedPath = (String, Vec<(usize, bool, Point)>);

/// A job as a worker holds it, decoded from its message (`Received::job` lends it out).
pub enum Received {
    Line {
        a: Mark,
        b: Mark,
        points: usize,
        samples: usize,
    },
    Plane(PlaneSpec),
    Time {
        budget_ms: f64,
        most: usize,
        give_up_ms: Option<f64>,
    },
    Evaluate,
    Map {
        paths: Vec<OwnedPath>,
        origin: Point,
        grid: usize,
        samples: usize,
    },
}

/// The job of a `Command::Landscape` message; Err says what does not parse.
pub fn read(m: &Message) -> Result<Received, String> {
    let (cmd, u) = decode::<Command>(m)?;
    let Command::Landscape { job } = cmd else {
        return Err("not a landscape".into());
    };
    Ok(match job {
        LandscapeJob::Line {
            a,
            b,
            points,
            samples,
        } => Received::Line {
            a: a.unpack(&u)?,
            b: b.unpack(&u)?,
            points,
            samples,
        },
        LandscapeJob::Plane { spec } => Received::Plane(spec),
        LandscapeJob::Time {
            budget_ms,
            most,
            give_up_ms,
        } => Received::Time {
            budget_ms,
            most,
            give_up_ms,
        },
        LandscapeJob::Evaluate => Received::Evaluate,
        LandscapeJob::Map {
            paths,
            origin,
            support,
            grid,
            samples,
        } => {
            let support: Vec<Vec<bool>> = support
                .iter()
                .map(|&s| u.flags(s))
                .collect::<Result<_, _>>()?;
            let point = |s: &PointSlots| -> Result<Point, String> {
                let mut p = s.unpack(&u)?;
                if p.weights.len() != support.len() {
                    return Err("a path point of another network".into());
                }
                for (w, on) in p.weights.iter_mut().zip(&support) {
                    *w = spread(w, on)?;
                }
                Ok(p)
            };
            Received::Map {
                paths: paths
                    .iter()
                    .map(|p| {
                        let points = p
                            .points
                            .iter()
                            .map(|(updated, s)| Ok((s.step, *updated, point(s)?)))
                            .collect::<Result<_, String>>()?;
                        Ok((p.name.clone(), points))
                    })
                    .collect::<Result<_, String>>()?,
                origin: point(&origin)?,
                grid,
                samples,
            }
        }
    })
}

impl Received {
    /// Computes it on `t` (see `run`).
    pub async fn run<B: Backend>(
        &self,
        t: &mut Trainer<B>,
        report: impl AsyncFnMut(&Piece),
        now: &dyn Fn() -> f64,
    ) -> Piece {
        match self {
            Received::Line {
                a,
                b,
                points,
                samples,
            } => {
                let job = Job::Line {
                    a,
                    b,
                    points: *points,
                    samples: *samples,
                };
                run(t, &job, report, now).await
            }
            Received::Plane(spec) => run(t, &Job::Plane(*spec), report, now).await,
            Received::Time {
                budget_ms,
                most,
                give_up_ms,
            } => {
                let job = Job::Time {
                    budget_ms: *budget_ms,
                    most: *most,
                    give_up_ms: *give_up_ms,
                };
                run(t, &job, report, now).await
            }
            Received::Evaluate => run(t, &Job::Evaluate, report, now).await,
            Received::Map {
                paths,
                origin,
                grid,
                samples,
            } => {
                let paths: Vec<Path> = paths
                    .iter()
                    .map(|(name, points)| {
                        let points = points.iter().map(|(s, u, p)| (*s, *u, p)).collect();
                        (name.clone(), points)
                    })
                    .collect();
                let job = Job::Map {
                    paths: &paths,
                    origin,
                    grid: *grid,
                    samples: *samples,
                };
                run(t, &job, report, now).await
            }
        }
    }
}

/// Computes `job` at `t`'s parameters and masks; `report` hears of every piece of it as it is
/// done (a map: every entry of the Gram matrix, every step of the PCA, every grid row). The
/// last piece (also returned) is the whole landscape, or why it cannot be computed. `now`: a
/// clock in ms (for `Job::Time`).
pub async fn run<B: Backend>(
    t: &mut Trainer<B>,
    job: &Job<'_>,
    mut report: impl AsyncFnMut(&Piece),
    now: &dyn Fn() -> f64,
) -> Piece {
    match *job {
        Job::Evaluate => Piece::Evaluated {
            metrics: t.evaluate().await,
        },
        Job::Time {
            budget_ms,
            most,
            give_up_ms,
        } => {
            let give_up = give_up_ms.unwrap_or(f64::INFINITY);
            match time_steps(t, (budget_ms, most), give_up, now).await {
                Ok((steps, ms_per_step)) => Piece::Timed { steps, ms_per_step },
                Err(ms) => Piece::Refused {
                    message: format!("its warm-up took {:.1} s: not timed further", ms / 1000.0),
                },
            }
        }
        Job::Line {
            a,
            b,
            points,
            samples,
        } => {
            let a = (&a.point, &a.masks[..]);
            let b = (&b.point, &b.masks[..]);
            let show = async |rows: &[compute::InterpRow], total: usize| {
                let piece = Piece::Line {
                    rows: rows.to_vec(),
                    total,
                };
                report(&piece).await;
            };
            let rows = compute::line(&mut t.backend, a, b, points, samples, show).await;
            let total = rows.len();
            Piece::Line { rows, total }
        }
        Job::Plane(spec) => {
            let center = t.backend.read_point().await;
            let show = async |p: &compute::Plane, total: usize| {
                let piece = Piece::Plane {
                    plane: p.clone(),
                    total,
                };
                report(&piece).await;
            };
            let plane = compute::plane(&mut t.backend, &center, &t.masks, spec, show).await;
            let total = plane.coords.len();
            Piece::Plane { plane, total }
        }
        Job::Map {
            paths,
            origin,
            grid,
            samples,
        } => {
            let show = async |p: MapProgress<'_>| {
                let piece = match p {
                    MapProgress::Pca(done, total) => Piece::Pca { done, total },
                    MapProgress::Grid(map, done, total) => Piece::Map {
                        map: map.clone(),
                        done,
                        total,
                    },
                };
                report(&piece).await;
            };
            match compute::trajectory_map(&mut t.backend, paths, origin, grid, samples, show).await
            {
                Ok(map) => {
                    let total = map.xs.len() * map.ys.len();
                    Piece::Map {
                        map,
                        done: total,
                        total,
                    }
                }
                Err(message) => Piece::Refused { message },
            }
        }
    }
}
