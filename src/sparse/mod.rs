//! The rules of sparse training, backend-independent and pure (no I/O): masks,
//! sparsity distributions, update schedules, drop/grow rules and FLOPs accounting.
//! Every rule cites ../shared/RIGL.md ("RIGL.md" below), the project's statement of the paper.

pub mod distribution;
pub mod flops;
pub mod index;
pub mod mask;
pub mod schedule;
mod select;
pub mod update;

/// The training methods of RIGL.md ("Baselines" and "One mask update").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Dense,
    Static,
    Set,
    Snfs,
    Rigl,
    Snip,
    Prune,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Dense,
        Method::Static,
        Method::Set,
        Method::Snfs,
        Method::Rigl,
        Method::Snip,
        Method::Prune,
    ];

    /// The canonical `method=` name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Dense => "dense",
            Method::Static => "static",
            Method::Set => "set",
            Method::Snfs => "snfs",
            Method::Rigl => "rigl",
            Method::Snip => "snip",
            Method::Prune => "prune",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Methods whose mask changes by drop and grow during training.
    pub fn is_dynamic(self) -> bool {
        matches!(self, Method::Set | Method::Snfs | Method::Rigl)
    }
}

/// How the global sparsity is split over layers (RIGL.md "Sparsity distributions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    Uniform,
    Er,
    Erk,
}

impl Distribution {
    pub const ALL: [Distribution; 3] = [Distribution::Uniform, Distribution::Er, Distribution::Erk];

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Er => "er",
            Distribution::Erk => "erk",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// Drop fraction over time (RIGL.md "Update schedule").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropSchedule {
    Cosine,
    Constant,
}

impl DropSchedule {
    pub const ALL: [DropSchedule; 2] = [DropSchedule::Cosine, DropSchedule::Constant];

    pub fn name(self) -> &'static str {
        match self {
            DropSchedule::Cosine => "cosine",
            DropSchedule::Constant => "constant",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// Kind of a maskable layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    Dense,
    Conv,
}

/// The shape of one maskable weight tensor, and how often each weight is used per sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// e.g. "fc1", "conv2".
    pub name: String,
    pub kind: LayerKind,
    pub n_in: usize,
    pub n_out: usize,
    /// Kernel height and width (1 for dense layers).
    pub kh: usize,
    pub kw: usize,
    /// Output positions per sample (H_out * W_out for conv, 1 for dense): each weight does
    /// one multiply-add per position in the forward pass.
    pub positions: usize,
}

impl LayerShape {
    pub fn dense(name: &str, n_in: usize, n_out: usize) -> Self {
        Self {
            name: name.into(),
            kind: LayerKind::Dense,
            n_in,
            n_out,
            kh: 1,
            kw: 1,
            positions: 1,
        }
    }

    pub fn conv(name: &str, n_in: usize, n_out: usize, k: usize, positions: usize) -> Self {
        Self {
            name: name.into(),
            kind: LayerKind::Conv,
            n_in,
            n_out,
            kh: k,
            kw: k,
            positions,
        }
    }

    /// N_l: number of weights.
    pub fn num_weights(&self) -> usize {
        self.n_in * self.n_out * self.kh * self.kw
    }

    /// The weight tensor's dimensions as the official code sees them (for ER/ERK scores):
    /// [k_h, k_w, n_in, n_out] for conv, [n_in, n_out] for dense.
    pub fn dims(&self) -> Vec<usize> {
        match self.kind {
            LayerKind::Dense => vec![self.n_in, self.n_out],
            LayerKind::Conv => vec![self.kh, self.kw, self.n_in, self.n_out],
        }
    }
}
