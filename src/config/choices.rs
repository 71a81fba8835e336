//! The choice-valued parameters that the sparse module does not already define: the data
//! set, when the first mask update happens and the learning-rate schedule. Each has the
//! same `ALL` / `name()` / `from_name()` shape as `sparse::Method`.

pub use crate::data::own::OwnData;

/// The image data set (`data=`): one of the prepared sets, or a user's own set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataSet {
    Mnist,
    Fashion,
    Cifar10,
    /// A set loaded into the page or prepared with `riglab data --images`. Its shape and
    /// class count are part of its name, so a configuration is checked before the images
    /// are at hand, and a shared link says what the receiver needs.
    Own(OwnData),
}

impl DataSet {
    /// The prepared sets (an own set is not among them).
    pub const ALL: [DataSet; 3] = [DataSet::Mnist, DataSet::Fashion, DataSet::Cifar10];

    /// The canonical `data=` text: `mnist`, `fashion`, `cifar10` or `own:NAME:CxHxW:K`. It
    /// also keys the page's loaded sets.
    pub fn name(&self) -> String {
        match self {
            DataSet::Own(own) => own.to_string(),
            builtin => builtin.builtin_name().expect("a prepared set").to_string(),
        }
    }

    /// The name of a prepared set; None for an own set.
    pub fn builtin_name(&self) -> Option<&'static str> {
        match self {
            DataSet::Mnist => Some("mnist"),
            DataSet::Fashion => Some("fashion"),
            DataSet::Cifar10 => Some("cifar10"),
            DataSet::Own(_) => None,
        }
    }

    /// Reads a `data=` value: a prepared set's name (any case) or `own:NAME:CxHxW:K`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(d) = Self::ALL
            .into_iter()
            .find(|d| d.builtin_name().is_some_and(|n| n.eq_ignore_ascii_case(s)))
        {
            return Ok(d);
        }
        if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("own:")) {
            return OwnData::parse(s).map(DataSet::Own);
        }
        Err(
            "must be one of: mnist, fashion, cifar10, or own:NAME:CxHxW:CLASSES for your own data"
                .into(),
        )
    }

    /// Image shape and class count (known without loading the set).
    pub fn shape(&self) -> (crate::data::ImageShape, usize) {
        use crate::data::ImageShape;
        match self {
            DataSet::Mnist | DataSet::Fashion => (ImageShape::new(1, 28, 28), 10),
            DataSet::Cifar10 => (ImageShape::new(3, 32, 32), 10),
            DataSet::Own(own) => (own.shape, own.classes),
        }
    }
}

/// The step of the first mask update (`first_update=`). RIGL.md "Update schedule": the
/// paper and the official code update at t = 0; rigl-torch first updates at t = ΔT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FirstUpdate {
    /// At t = 0 (paper, official code).
    Zero,
    /// At t = ΔT (rigl-torch).
    Dt,
}

impl FirstUpdate {
    pub const ALL: [FirstUpdate; 2] = [FirstUpdate::Zero, FirstUpdate::Dt];

    /// The canonical `first_update=` name.
    pub fn name(self) -> &'static str {
        match self {
            FirstUpdate::Zero => "0",
            FirstUpdate::Dt => "dt",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// The SGD learning rate over training (`lr_schedule=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LrSchedule {
    /// `lr` at every step.
    Constant,
    /// `lr`, times 0.1 from 50% of the steps, times 0.01 from 75%.
    Step,
    /// `lr * (1 + cos(pi * t / T)) / 2`: from `lr` down to 0 at the last step.
    Cosine,
}

impl LrSchedule {
    pub const ALL: [LrSchedule; 3] = [LrSchedule::Constant, LrSchedule::Step, LrSchedule::Cosine];

    /// The canonical `lr_schedule=` name.
    pub fn name(self) -> &'static str {
        match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Step => "step",
            LrSchedule::Cosine => "cosine",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }
}
