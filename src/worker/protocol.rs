//! The messages between the page and a worker that trains one run (DESIGN.md: "worker
//! (wasm, one per run): the engine behind a typed message protocol").
//!
//! A worker holds one run or several (more runs than cores share the workers, round-robin, a
//! step each in turn); every message names the run it is about. A message is a JSON header (a `Command` to the worker, a `Report` from it) and a payload
//! of bytes holding its large arrays (data sets, parameters, masks, checkpoints), which the
//! header points into with `Slot`s. In the browser the payload travels as a transferred
//! `ArrayBuffer`: moved, not copied. The page and the tests speak only these types. A header
//! is serde's JSON of the enum, externally tagged: `{"play": {"crash_at": null, ...}}`, a
//! variant without fields as its name alone (`"started"`), read in one pass.
//!
//! The conversation:
//! - worker -> `Report::Started` once its wasm is loaded;
//! - page -> `Command::Configure` (a run's state as a checkpoint, its watch, its data sets,
//!   how often its path records points) -> `Report::Configured`;
//! - page -> `Command::Play` -> a `Report::Progress` about every `PROGRESS_EVERY_MS` (each
//!   step's events, the points the run's path may record, the marks around the latest mask
//!   update, now and then the weights), and a `Report::State` (a checkpoint) at least every
//!   `STATE_EVERY_MS`, from which a run whose worker died starts again;
//! - page -> `Command::Snapshot` -> a `Report::State` at once (a page being hidden keeps it);
//! - page -> `Command::Pause`, or the run ends -> `Report::State` with `stopped` set; the
//!   page carries on from that state (checkpoints, single steps run there).
//! - a landscape of a paused run: page -> `Command::Configure` of its state under a run of
//!   its own, then `Command::Landscape` -> `Report::Landscape` as it fills in (the last one
//!   `finished`), after which the worker forgets that run.
//! - a run on WebGPU (`Configure { gpu: true }`) trains on the worker's own device; no
//!   WebGPU there -> `Report::NoGpu` (the run stays on the page); its device lost ->
//!   `Report::GpuLost` (the run goes on on the CPU from its last state);
//! - anything that fails -> `Report::Failed` with what went wrong.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, ImageShape};
use crate::events::EvalMetrics;
use crate::landscape::Point;
use crate::landscape::compute::{InterpRow, Plane, PlaneSpec};
use crate::landscape::map::PlaneMap;
use crate::train::{Event, Watch};

/// A worker sends progress about this often while it trains.
pub const PROGRESS_EVERY_MS: f64 = 50.0;
/// ... its weights (for the mask views) about this often ...
pub const WEIGHTS_EVERY_MS: f64 = 250.0;
/// ... and its whole state at least this often.
pub const STATE_EVERY_MS: f64 = 2000.0;

/// A worker keeps the data sets of this many `Configure`s (the most recent names); the page,
/// which knows what it sent, sends them again past that.
pub const DATA_KEPT: usize = 2;

/// Where an array lies in a message's payload: `len` bytes from `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub at: usize,
    pub len: usize,
}

/// A message as it travels: the run it is about (a worker may hold several), the header
/// (JSON) and the payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub run: u32,
    pub header: String,
    pub payload: Vec<u8>,
}

/// The payload of a message being written.
#[derive(Default)]
pub struct Payload {
    bytes: Vec<u8>,
}

impl Payload {
    pub fn bytes(&mut self, b: &[u8]) -> Slot {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(b);
        Slot { at, len: b.len() }
    }

    /// Floats, little-endian.
    pub fn floats(&mut self, f: &[f32]) -> Slot {
        let at = self.bytes.len();
        #[cfg(target_endian = "little")]
        self.bytes.extend_from_slice(bytemuck::cast_slice(f));
        #[cfg(not(target_endian = "little"))]
        for x in f {
            self.bytes.extend_from_slice(&x.to_le_bytes());
        }
        Slot {
            at,
            len: 4 * f.len(),
        }
    }

    /// One byte per flag.
    pub fn flags(&mut self, m: &[bool]) -> Slot {
        let at = self.bytes.len();
        self.bytes.extend(m.iter().map(|&b| u8::from(b)));
        Slot { at, len: m.len() }
    }

    /// The message of `header` with this payload (about run 0: `Message::to` readdresses it).
    pub fn finish<T: Serialize>(self, header: &T) -> Message {
        Message {
            run: 0,
            // A header is plain data: serialising it cannot fail.
            header: serde_json::to_string(header).unwrap_or_default(),
            payload: self.bytes,
        }
    }
}

impl Message {
    /// The same message, about run `run`.
    pub fn to(mut self, run: u32) -> Self {
        self.run = run;
        self
    }
}

/// The payload of a message received.
pub struct Unpack<'a> {
    payload: &'a [u8],
}

impl<'a> Unpack<'a> {
    pub fn bytes(&self, s: Slot) -> Result<&'a [u8], String> {
        s.at.checked_add(s.len)
            .and_then(|end| self.payload.get(s.at..end))
            .ok_or_else(|| {
                format!(
                    "the message's payload ({} bytes) has no bytes {}..{}",
                    self.payload.len(),
                    s.at,
                    s.at.saturating_add(s.len)
                )
            })
    }

    pub fn floats(&self, s: Slot) -> Result<Vec<f32>, String> {
        let b = self.bytes(s)?;
        if b.len() % 4 != 0 {
            return Err(format!(
                "{} bytes are not a whole number of floats",
                b.len()
            ));
        }
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    pub fn flags(&self, s: Slot) -> Result<Vec<bool>, String> {
        Ok(self.bytes(s)?.iter().map(|&b| b != 0).collect())
    }
}

/// The header of `m` and a reader of its payload; Err says what does not parse.
pub fn decode<T: DeserializeOwned>(m: &Message) -> Result<(T, Unpack<'_>), String> {
    let header = serde_json::from_str(&m.header)
        .map_err(|e| format!("a message that does not parse ({e})"))?;
    Ok((
        header,
        Unpack {
            payload: &m.payload,
        },
    ))
}

/// A data set in a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSlots {
    pub shape: (usize, usize, usize),
    pub classes: usize,
    pub images: Slot,
    pub labels: Slot,
}

impl DataSlots {
    pub fn pack(d: &Dataset, p: &mut Payload) -> Self {
        Self {
            shape: (d.shape.channels, d.shape.height, d.shape.width),
            classes: d.num_classes,
            images: p.bytes(&d.images),
            labels: p.bytes(&d.labels),
        }
    }

    pub fn unpack(&self, u: &Unpack) -> Result<Dataset, String> {
        let (c, h, w) = self.shape;
        Dataset::new(
            ImageShape::new(c, h, w),
            self.classes,
            u.bytes(self.images)?.to_vec(),
            u.bytes(self.labels)?.to_vec(),
        )
        .map_err(|e| e.to_string())
    }
}

/// A point in parameter space after `step` steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointSlots {
    pub step: usize,
    pub weights: Vec<Slot>,
    pub biases: Vec<Slot>,
}

impl PointSlots {
    pub fn pack(step: usize, point: &Point, p: &mut Payload) -> Self {
        Self {
            step,
            weights: point.weights.iter().map(|w| p.floats(w)).collect(),
            biases: point.biases.iter().map(|b| p.floats(b)).collect(),
        }
    }

    pub fn unpack(&self, u: &Unpack) -> Result<Point, String> {
        let all = |slots: &[Slot]| -> Result<Vec<Vec<f32>>, String> {
            slots.iter().map(|&s| u.floats(s)).collect()
        };
        Ok(Point {
            weights: all(&self.weights)?,
            biases: all(&self.biases)?,
        })
    }
}

/// Parameters and masks saved at a step (the line view's ends before and after a mask
/// update).
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub step: usize,
    pub point: Point,
    pub masks: Vec<Vec<bool>>,
}

/// A `Mark` in a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkSlots {
    pub point: PointSlots,
    pub masks: Vec<Slot>,
}

impl MarkSlots {
    pub fn pack(m: &Mark, p: &mut Payload) -> Self {
        Self {
            point: PointSlots::pack(m.step, &m.point, p),
            masks: m.masks.iter().map(|m| p.flags(m)).collect(),
        }
    }

    pub fn unpack(&self, u: &Unpack) -> Result<Mark, String> {
        Ok(Mark {
            step: self.point.step,
            point: self.point.unpack(u)?,
            masks: self
                .masks
                .iter()
                .map(|&s| u.flags(s))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A path of a trajectory map in a message: its name, and its points with their steps and
/// whether each was taken just after a mask update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathSlots {
    pub name: String,
    pub points: Vec<(bool, PointSlots)>,
}

/// A landscape to compute at the parameters and masks of the run as configured
/// (`worker::landscape::Job` is the same, in memory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LandscapeJob {
    /// The loss along the line from `a` to `b` with each one's mask and their union.
    Line {
        a: MarkSlots,
        b: MarkSlots,
        points: usize,
        samples: usize,
    },
    /// A random plane through the run's parameters.
    Plane { spec: PlaneSpec },
    /// The loss on the PCA plane of `paths` about `origin`. The points' and the origin's
    /// weights hold only the values where `support` (flags, per layer) is set: the weights
    /// that any of them has (all others are +0.0 in every one; a sparse run's paths are
    /// mostly those).
    Map {
        paths: Vec<PathSlots>,
        origin: PointSlots,
        support: Vec<Slot>,
        grid: usize,
        samples: usize,
    },
    /// Not a landscape: how long a training step of the run takes here (`Job::Time`).
    Time {
        budget_ms: f64,
        most: usize,
        #[serde(default)]
        give_up_ms: Option<f64>,
    },
    /// Not a landscape: the run's evaluation (`Trainer::evaluate`).
    Evaluate,
}

/// How far a landscape is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Piece {
    /// The line's points so far, of `total`.
    Line { rows: Vec<InterpRow>, total: usize },
    /// The plane's rows so far, of `total`.
    Plane { plane: Plane, total: usize },
    /// A map's principal components: entries of the Gram matrix (then steps of the PCA) done.
    Pca { done: usize, total: usize },
    /// A map's grid so far: points done, of `total`.
    Map {
        map: PlaneMap,
        done: usize,
        total: usize,
    },
    /// It cannot be computed (why); the worker is fine.
    Refused { message: String },
    /// `Job::Time`: milliseconds per step over `steps` steps.
    Timed { steps: usize, ms_per_step: f64 },
    /// `Job::Evaluate`: the evaluation.
    Evaluated { metrics: EvalMetrics },
}

/// What the page asks of a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Take over the run whose state is the checkpoint in `state` (`checkpoint::to_bytes`),
    /// on the data sets named `data`: sent along (`sets`: training, test) the first time a
    /// worker needs them, kept by the worker for the next runs and plays.
    Configure {
        state: Slot,
        watch: Watch,
        data: String,
        sets: Option<Box<(DataSlots, DataSlots)>>,
        /// The run's path records points every this many steps (besides evaluations and
        /// mask updates).
        record_every: Option<usize>,
        /// Train on WebGPU in the worker (its own device); without one there, the worker
        /// answers `Report::NoGpu` and holds nothing.
        #[serde(default)]
        gpu: bool,
    },
    /// Train until paused or done, or (`until`) until that many steps are done (a single step
    /// or "to the next mask update" of the page). `crash_at`: fail on purpose after that step
    /// (for the demonstration and test of a worker that dies; `crash_worker_at=N` on the page).
    Play {
        crash_at: Option<usize>,
        #[serde(default)]
        until: Option<usize>,
        /// Destroy the run's GPU device after that step (the test of a lost device;
        /// `lose_gpu_at=N` on the page).
        #[serde(default)]
        lose_gpu_at: Option<usize>,
    },
    /// Stop after the step in progress and send the state.
    Pause,
    /// Send the state now and go on (the page keeps it when it is hidden or closed).
    Snapshot,
    /// Compute a landscape of the run (configured, not playing), then forget the run.
    Landscape { job: LandscapeJob },
}

/// One step's events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: usize,
    pub events: Vec<Event>,
}

/// Why a worker stopped training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// The page paused it.
    Asked,
    /// The run took all its steps or diverged.
    Finished,
    /// It reached the step `Play` asked for.
    Reached,
}

/// What a worker tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// The worker's wasm is loaded; it waits for `Configure` (about no run in particular).
    Started,
    /// It holds the run now, at `step`, on `backend`.
    Configured { step: usize, backend: String },
    /// Steps taken since the last progress report, in order.
    Progress {
        steps: Vec<StepReport>,
        /// Parameters after the steps whose events a path may record
        /// (`Trajectory::may_record`).
        points: Vec<PointSlots>,
        /// Just before and after the latest mask update among these steps.
        marks: Option<(MarkSlots, MarkSlots)>,
        /// The weights now (not every report).
        weights: Option<Vec<Slot>>,
        /// Steps per second over the last second or so.
        steps_per_s: f64,
    },
    /// The run's whole state (a checkpoint) after `step` steps; `stopped` when it stopped
    /// training and waits.
    State {
        step: usize,
        state: Slot,
        watch: Watch,
        stopped: Option<Stopped>,
    },
    /// A landscape (`Command::Landscape`) so far; `finished` with its last piece.
    Landscape { piece: Piece, finished: bool },
    /// The run's WebGPU device was lost after `step` (`why`): the worker dropped the run, which
    /// goes on on the CPU from the last state it sent.
    GpuLost { step: usize, why: String },
    /// `Configure` asked for WebGPU and this worker has none (`why`): it holds nothing; the
    /// run stays on the page's thread.
    NoGpu { why: String },
    /// Something failed; the page takes the worker for dead (a panic leaves it unusable).
    Failed { message: String },
}
