//! The page's state: a few signals at the top (the configuration, what the driver is doing,
//! view ticks) and the lab itself in a stored value. Components get a copy of `Ctx`.

use leptos::prelude::*;

use super::lab::{Lab, Mark};
use crate::config::Config;
use crate::data::Manifest;
use crate::gpu::GpuContext;
use crate::share::{BackendChoice, PageParams, Variant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Paused,
    Running,
    /// Run until every run has done this many steps, then pause.
    Until(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    Slow,
    Medium,
    Fast,
    Max,
}

impl Speed {
    pub const ALL: [Speed; 4] = [Speed::Slow, Speed::Medium, Speed::Fast, Speed::Max];

    pub fn steps_per_second(self) -> Option<f64> {
        match self {
            Speed::Slow => Some(5.0),
            Speed::Medium => Some(30.0),
            Speed::Fast => Some(200.0),
            Speed::Max => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Speed::Slow => "5 steps/s",
            Speed::Medium => "30 steps/s",
            Speed::Fast => "200 steps/s",
            Speed::Max => "as fast as possible",
        }
    }
}

/// What the page knows about WebGPU.
#[derive(Clone, Debug, PartialEq)]
pub enum GpuState {
    Probing,
    Ready {
        adapter: String,
        fallback_adapter: bool,
    },
    /// No WebGPU, or no usable device: why.
    Unavailable(String),
    /// The device was lost during a run: why.
    Lost(String),
}

/// Where the lab stands with its data and runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Starting,
    Downloading {
        set: String,
        loaded: u64,
        total: u64,
    },
    Ready,
    Error(String),
}

#[derive(Clone, Copy)]
pub struct Ctx {
    pub config: RwSignal<Config>,
    /// Runs beside the primary one, same seed and data order (URL `vs=`).
    pub versus: RwSignal<Vec<Variant>>,
    pub manifest: RwSignal<Option<Manifest>>,
    pub mode: RwSignal<Mode>,
    pub speed: RwSignal<Speed>,
    pub status: RwSignal<Status>,
    /// Problems found in the URL, shown until dismissed.
    pub notices: RwSignal<Vec<String>>,
    /// Bumped when the views should redraw from the lab.
    pub view_tick: RwSignal<u64>,
    pub steps_per_s: RwSignal<f64>,
    pub log_loss: RwSignal<bool>,
    /// Which run the mask, heatmap and density views show (0: the primary run).
    pub shown: RwSignal<usize>,
    /// Whether the training loop is running (at most one at a time).
    pub driving: RwSignal<bool>,
    pub lab: StoredValue<Lab, LocalStorage>,
    pub backend_choice: RwSignal<BackendChoice>,
    pub gpu_state: RwSignal<GpuState>,
    pub gpu: StoredValue<Option<GpuContext>, LocalStorage>,
    /// `backend=auto`: the time a step took on each backend, per configuration timed (None
    /// while it is being timed).
    pub measured: StoredValue<Vec<(String, Option<super::backend::Measured>)>>,
    /// ... and the configuration to time once the runs are built.
    pub to_time: StoredValue<Option<Config>>,
    /// Destroy the GPU device after this step (a demonstration of the CPU fallback).
    pub lose_gpu_at: Option<usize>,
    /// Train CPU runs on the page's thread rather than in workers (URL `workers=0`).
    pub no_workers: bool,
    /// The primary run's worker fails on purpose after this step, once (URL
    /// `crash_worker_at=N`); None once it has.
    pub crash_worker_at: StoredValue<Option<usize>>,
    /// The last landscape computed (or being computed).
    pub landscape: RwSignal<Option<super::landscape_state::Landscape>>,
    /// Snapshots kept beside the runs for the line view (the escape demo's solutions):
    /// key, label, parameters and masks.
    pub saved: StoredValue<Vec<(&'static str, String, Mark)>, LocalStorage>,
    /// Set when a run moved from the GPU to the CPU: what happened.
    pub fallback_note: RwSignal<Option<String>>,
    /// What the last save or open of a checkpoint did (until dismissed).
    pub note: RwSignal<Option<String>>,
    /// The runs went on from this browser's copy after a reload: at which step.
    pub resumed: RwSignal<Option<usize>>,
    /// The first reset of the page looks for kept runs of its link.
    pub restore_once: StoredValue<bool>,
    /// Keeping the runs failed once (reported once).
    pub storage_full: StoredValue<bool>,
    /// The mask views are being recorded as a video.
    pub recording: RwSignal<bool>,
    /// Presentation mode (URL `present=1`, key f): controls folded away, large type.
    pub present: RwSignal<bool>,
    /// Parameters whose controls a lesson hides (URL `hide=`).
    pub hidden: StoredValue<Vec<String>>,
    /// Inside an iframe (URL `embed=1`): no header or footer.
    pub embed: bool,
    /// Drop and grow in colour-blind-safe colours (URL `palette=cb`).
    pub colour_blind: RwSignal<bool>,
    /// The keyboard shortcuts' list is open (key ?).
    pub shortcuts: RwSignal<bool>,
    /// Own data sets this browser keeps (the picker lists them).
    pub own_sets: RwSignal<Vec<OwnEntry>>,
    /// The data card's message: (is an error, text).
    pub data_msg: RwSignal<Option<(bool, String)>>,
}

impl Ctx {
    pub fn new(config: Config, page: PageParams, notices: Vec<String>) -> Self {
        Self {
            config: RwSignal::new(config),
            versus: RwSignal::new(page.versus),
            backend_choice: RwSignal::new(page.backend),
            gpu_state: RwSignal::new(GpuState::Probing),
            gpu: StoredValue::new_local(None),
            measured: StoredValue::new(Vec::new()),
            to_time: StoredValue::new(None),
            lose_gpu_at: page.lose_gpu_at,
            no_workers: page.no_workers,
            crash_worker_at: StoredValue::new(page.crash_worker_at),
            present: RwSignal::new(page.present),
            hidden: StoredValue::new(page.hide),
            embed: page.embed,
            colour_blind: RwSignal::new(page.colour_blind),
            shortcuts: RwSignal::new(false),
            own_sets: RwSignal::new(Vec::new()),
            data_msg: RwSignal::new(None),
            fallback_note: RwSignal::new(None),
            note: RwSignal::new(None),
            resumed: RwSignal::new(None),
            restore_once: StoredValue::new(true),
            storage_full: StoredValue::new(false),
            recording: RwSignal::new(false),
            landscape: RwSignal::new(None),
            saved: StoredValue::new_local(Vec::new()),
            manifest: RwSignal::new(None),
            mode: RwSignal::new(Mode::Paused),
            speed: RwSignal::new(Speed::Max),
            status: RwSignal::new(Status::Starting),
            notices: RwSignal::new(notices),
            view_tick: RwSignal::new(0),
            steps_per_s: RwSignal::new(0.0),
            log_loss: RwSignal::new(false),
            shown: RwSignal::new(0),
            driving: RwSignal::new(false),
            lab: StoredValue::new_local(Lab::default()),
        }
    }

    /// `page_params`, outside the reactive graph.
    pub fn page_params_untracked(&self) -> PageParams {
        leptos::prelude::untrack(|| self.page_params())
    }

    /// The page's own URL parameters as they stand.
    pub fn page_params(&self) -> PageParams {
        PageParams {
            versus: self.versus.get(),
            backend: self.backend_choice.get(),
            lose_gpu_at: self.lose_gpu_at,
            no_workers: self.no_workers,
            crash_worker_at: None,
            present: self.present.get(),
            hide: self.hidden.get_value(),
            embed: self.embed,
            colour_blind: self.colour_blind.get(),
        }
    }

    /// Current step of the primary run.
    pub fn step(&self) -> usize {
        self.lab.with_value(|l| l.primary().map_or(0, |r| r.step()))
    }
}

/// What the picker shows of an own set (kept beside the set itself).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OwnEntry {
    /// The `data=` value.
    pub data: String,
    pub title: String,
    pub classes: Vec<String>,
    pub train: usize,
    pub test: usize,
}

impl OwnEntry {
    /// "pets: 2 classes, 1x28x28, 400 + 80 images".
    pub fn summary(&self) -> String {
        let (shape, _) = crate::config::DataSet::parse(&self.data)
            .map(|d| d.shape())
            .unwrap_or((crate::data::ImageShape::new(0, 0, 0), 0));
        crate::data::own::summary(
            &self.title,
            self.classes.len(),
            shape,
            (self.train, self.test),
        )
    }
}
