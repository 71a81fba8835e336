//! A run as a worker holds it: the trainer, what it has to report, and the messages of the
//! protocol it writes. Target-independent, so the tests drive it natively exactly as the
//! worker in the browser does (`web.rs` only moves its messages and keeps the time).

use super::protocol::{
    Command, DataSlots, Mark, MarkSlots, Message, Payload, PointSlots, Report, StepReport, Stopped,
    decode,
};
use crate::backend::{Backend, Tensor};
use crate::checkpoint;
use crate::config::Config;
use crate::data::Dataset;
use crate::experiment::Setup;
use crate::landscape::Point;
use crate::landscape::trajectory::Trajectory;
use crate::train::state::RunState;
use crate::train::{Event, Trainer, Watch};

/// Steps a GPU may run ahead of the losses read back (as on the page's thread, `driver.rs`).
pub const MAX_IN_FLIGHT: usize = 6;

pub struct Session<B: Backend> {
    pub trainer: Trainer<B>,
    config: Config,
    record_every: Option<usize>,
    events: Vec<Event>,
    steps: Vec<StepReport>,
    points: Vec<(usize, Point)>,
    marks: Option<(Mark, Mark)>,
}

/// What `Command::Configure` carries, decoded.
pub struct Configured {
    pub state: RunState,
    pub watch: Watch,
    /// The data sets' name, and the sets when they came along.
    pub data: String,
    pub sets: Option<(Dataset, Dataset)>,
    pub record_every: Option<usize>,
    /// The run trains on WebGPU (`Command::Configure`'s `gpu`).
    pub gpu: bool,
}

/// The `Configure` command of the run whose checkpoint (`checkpoint::to_bytes`) is `state`,
/// on the data sets named `data` (`sets`: sent along, for a worker that does not hold them),
/// on WebGPU when `gpu`.
pub fn configure(
    state: &[u8],
    watch: Watch,
    data: &str,
    sets: Option<(&Dataset, &Dataset)>,
    (record_every, gpu): (Option<usize>, bool),
) -> Message {
    let mut p = Payload::default();
    let state = p.bytes(state);
    let sets = sets.map(|(train, test)| {
        Box::new((
            DataSlots::pack(train, &mut p),
            DataSlots::pack(test, &mut p),
        ))
    });
    p.finish(&Command::Configure {
        state,
        watch,
        data: data.to_string(),
        sets,
        record_every,
        gpu,
    })
}

/// Reads a command; a `Configure` comes with its contents decoded.
pub fn read_command(m: &Message) -> Result<(Command, Option<Configured>), String> {
    let (cmd, u) = decode::<Command>(m)?;
    let configured = match &cmd {
        Command::Configure {
            state,
            watch,
            data,
            sets,
            record_every,
            gpu,
        } => Some(Configured {
            state: checkpoint::from_bytes(u.bytes(*state)?)?,
            watch: watch.clone(),
            data: data.clone(),
            sets: match sets.as_deref() {
                Some((train, test)) => Some((train.unpack(&u)?, test.unpack(&u)?)),
                None => None,
            },
            record_every: *record_every,
            gpu: *gpu,
        }),
        _ => None,
    };
    Ok((cmd, configured))
}

/// A message that carries no arrays.
pub fn plain<T: serde::Serialize>(header: &T) -> Message {
    Payload::default().finish(header)
}

impl<B: Backend> Session<B> {
    /// Takes over the run of `c` on the data sets `(train, test)`, on the backend that
    /// `backend` builds for its setup.
    pub fn start(
        c: Configured,
        (train, test): (Dataset, Dataset),
        backend: impl FnOnce(&Setup, Dataset, Dataset) -> Result<B, String>,
    ) -> Result<Self, String> {
        let config = c.state.config(None)?;
        let setup = c.state.setup(&config)?;
        let (train_len, test_len) = (train.len(), test.len());
        let b = backend(&setup, train, test)?;
        let mut trainer = c.state.resume(setup, b, train_len, test_len)?;
        trainer.set_watch(c.watch);
        Ok(Self {
            trainer,
            config,
            record_every: c.record_every,
            events: Vec::new(),
            steps: Vec::new(),
            points: Vec::new(),
            marks: None,
        })
    }

    /// `Report::Configured`.
    pub fn configured(&self, backend: &str) -> Message {
        plain(&Report::Configured {
            step: self.trainer.step,
            backend: backend.to_string(),
        })
    }

    pub fn done(&self) -> bool {
        self.trainer.done()
    }

    /// One training step, and what the page will want to know of it: as the page's own loop
    /// does (`driver.rs`), the parameters before and after a step that may change masks, and
    /// after each step whose events a path may record.
    pub async fn step(&mut self) {
        let t = &mut self.trainer;
        if t.in_flight() >= MAX_IN_FLIGHT {
            // Let a GPU catch up rather than queueing work without bound (its losses come
            // with this step's events).
            t.poll(true, &mut self.events).await;
        }
        let before = if t.may_change_masks_at(t.step) {
            Some(mark(t).await)
        } else {
            None
        };
        t.step(&mut self.events).await;
        let step = t.step;
        let events = std::mem::take(&mut self.events);
        if Trajectory::may_record(step, &events, self.record_every) {
            let point = t.backend.read_point().await;
            self.points.push((step, point));
        }
        let updated = events.iter().any(|e| matches!(e, Event::MaskUpdate(_)));
        if let (true, Some(before)) = (updated, before) {
            self.marks = Some((before, mark(t).await));
        }
        self.steps.push(StepReport { step, events });
    }

    /// `Report::Progress` of the steps since the last one, with the weights when asked.
    pub async fn progress(&mut self, with_weights: bool, steps_per_s: f64) -> Message {
        let mut p = Payload::default();
        let points = self
            .points
            .drain(..)
            .map(|(step, point)| PointSlots::pack(step, &point, &mut p))
            .collect();
        let marks = self
            .marks
            .take()
            .map(|(a, b)| (MarkSlots::pack(&a, &mut p), MarkSlots::pack(&b, &mut p)));
        let weights = if with_weights {
            let mut slots = Vec::new();
            for l in 0..self.trainer.layers().len() {
                slots.push(p.floats(&self.trainer.backend.read(l, Tensor::Weights).await));
            }
            Some(slots)
        } else {
            None
        };
        p.finish(&Report::Progress {
            steps: std::mem::take(&mut self.steps),
            points,
            marks,
            weights,
            steps_per_s,
        })
    }

    /// Whether a progress report has anything to say.
    pub fn has_progress(&self) -> bool {
        !self.steps.is_empty()
    }

    /// `Report::State`: the run's checkpoint now. Losses still on their way (a GPU's) come
    /// with the next progress report.
    pub async fn state(&mut self, stopped: Option<Stopped>) -> Result<Message, String> {
        let mut events = Vec::new();
        let state = self.trainer.snapshot(&self.config, &mut events).await;
        if !events.is_empty() {
            self.steps.push(StepReport {
                step: self.trainer.step,
                events,
            });
        }
        let mut p = Payload::default();
        let slot = p.bytes(&checkpoint::to_bytes(&state)?);
        Ok(p.finish(&Report::State {
            step: state.step,
            state: slot,
            watch: self.trainer.watch(),
            stopped,
        }))
    }
}

/// The trainer's parameters and masks now.
pub async fn mark<B: Backend>(t: &mut Trainer<B>) -> Mark {
    Mark {
        step: t.step,
        point: t.backend.read_point().await,
        masks: t.masks.clone(),
    }
}
