//! THE table of user-settable parameters (one row each, in page and URL order) and the
//! cross-field rules. Parsing, writing back, validating and the page's controls all read
//! these; adding a knob is one row here plus its field in `Config`.

use super::param::{Group, ParamKind, ParamSpec, Value};
use super::{Config, FirstUpdate, LrSchedule};
use crate::sparse::{Distribution, DropSchedule, Method};

// The choice names, in the order of each enum's ALL (the tests check both agree).
const METHOD_NAMES: &[&str] = &["dense", "static", "set", "snfs", "rigl", "snip", "prune"];
const DIST_NAMES: &[&str] = &["uniform", "er", "erk"];
const DROP_NAMES: &[&str] = &["cosine", "constant"];
const FIRST_UPDATE_NAMES: &[&str] = &["0", "dt"];
const LR_SCHEDULE_NAMES: &[&str] = &["constant", "step", "cosine"];

const fn closed(min: f64, max: f64) -> ParamKind {
    ParamKind::Float {
        min,
        max,
        min_exclusive: false,
    }
}

const fn open_closed(min: f64, max: f64) -> ParamKind {
    ParamKind::Float {
        min,
        max,
        min_exclusive: true,
    }
}

/// Every user-settable parameter. RIGL.md is the source of each rule named in `help`.
pub static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "data",
        label: "data set",
        group: Group::Data,
        kind: ParamKind::Data,
        default: "mnist",
        help: "image data set: MNIST, Fashion-MNIST, CIFAR-10, or your own (own:NAME:CxHxW:CLASSES, loaded in the page or prepared with riglab data --images)",
        read: |c| Value::Data(c.data.clone()),
        write: |c, v| v.into_data().map(|x| c.data = x),
    },
    ParamSpec {
        name: "model",
        label: "model",
        group: Group::Data,
        kind: ParamKind::Model,
        default: "mlp:300,100",
        help: "network: mlp:W1,W2 (hidden widths; mlp:300,100 is LeNet-300-100) or cnn:C1,C2,H",
        read: |c| Value::Model(c.model.clone()),
        write: |c, v| v.into_model().map(|m| c.model = m),
    },
    ParamSpec {
        name: "augment",
        label: "augment images",
        group: Group::Data,
        kind: ParamKind::Switch,
        default: "auto",
        help: "random crops of the training images padded by 4 (reflection) and horizontal flips, the official CIFAR-10 pipeline; auto: on CIFAR-10",
        read: |c| Value::Switch(c.augment),
        write: |c, v| v.switch().map(|s| c.augment = s),
    },
    ParamSpec {
        name: "method",
        label: "method",
        group: Group::Sparsity,
        kind: ParamKind::Choice(METHOD_NAMES),
        default: "rigl",
        help: "training method: dense, static mask, SET, SNFS, RigL, SNIP or gradual magnitude pruning",
        read: |c| Value::Choice(c.method.name()),
        write: |c, v| v.choice().and_then(Method::from_name).map(|x| c.method = x),
    },
    ParamSpec {
        name: "dist",
        label: "sparsity distribution",
        group: Group::Sparsity,
        kind: ParamKind::Choice(DIST_NAMES),
        default: "erk",
        help: "how the global sparsity is split over layers: uniform, Erdős-Rényi (ER) or Erdős-Rényi-Kernel (ERK)",
        read: |c| Value::Choice(c.dist.name()),
        write: |c, v| {
            v.choice()
                .and_then(Distribution::from_name)
                .map(|x| c.dist = x)
        },
    },
    ParamSpec {
        name: "sparsity",
        label: "sparsity S",
        group: Group::Sparsity,
        kind: closed(0.0, 0.999),
        default: "0.9",
        help: "global sparsity S: the fraction of weights that are zero",
        read: |c| Value::Float(c.sparsity),
        write: |c, v| v.float().map(|x| c.sparsity = x),
    },
    ParamSpec {
        name: "dense_first",
        label: "dense first layer",
        group: Group::Sparsity,
        kind: ParamKind::Switch,
        default: "auto",
        help: "keep the first layer dense (the paper's convention for CNNs); auto: for CNNs",
        read: |c| Value::Switch(c.dense_first),
        write: |c, v| v.switch().map(|s| c.dense_first = s),
    },
    ParamSpec {
        name: "dense_last",
        label: "dense last layer",
        group: Group::Sparsity,
        kind: ParamKind::Bool,
        default: "false",
        help: "keep the last (output) layer dense, as the official MNIST setup does",
        read: |c| Value::Bool(c.dense_last),
        write: |c, v| v.bool().map(|b| c.dense_last = b),
    },
    ParamSpec {
        name: "dt",
        label: "ΔT",
        group: Group::MaskUpdates,
        kind: ParamKind::Int {
            min: 1,
            max: 100_000,
        },
        default: "100",
        help: "steps between mask updates (ΔT)",
        read: |c| Value::Int(c.dt as u64),
        write: |c, v| v.usize().map(|n| c.dt = n),
    },
    ParamSpec {
        name: "alpha",
        label: "α",
        group: Group::MaskUpdates,
        kind: open_closed(0.0, 1.0),
        default: "0.3",
        help: "initial drop fraction α: the fraction of active weights dropped (and regrown) at the first update",
        read: |c| Value::Float(c.alpha),
        write: |c, v| v.float().map(|x| c.alpha = x),
    },
    ParamSpec {
        name: "tend",
        label: "T_end / T",
        group: Group::MaskUpdates,
        kind: open_closed(0.0, 1.0),
        default: "0.75",
        help: "last mask update T_end, as a fraction of the training steps T",
        read: |c| Value::Float(c.tend),
        write: |c, v| v.float().map(|x| c.tend = x),
    },
    ParamSpec {
        name: "drop_schedule",
        label: "drop schedule",
        group: Group::MaskUpdates,
        kind: ParamKind::Choice(DROP_NAMES),
        default: "cosine",
        help: "drop fraction over time: cosine α/2·(1 + cos(πt/T_end)) or constant α",
        read: |c| Value::Choice(c.drop_schedule.name()),
        write: |c, v| {
            v.choice()
                .and_then(DropSchedule::from_name)
                .map(|x| c.drop_schedule = x)
        },
    },
    ParamSpec {
        name: "first_update",
        label: "first update",
        group: Group::MaskUpdates,
        kind: ParamKind::Choice(FIRST_UPDATE_NAMES),
        default: "0",
        help: "first mask update at t = 0 (paper, official code) or at t = ΔT (rigl-torch)",
        read: |c| Value::Choice(c.first_update.name()),
        write: |c, v| {
            v.choice()
                .and_then(FirstUpdate::from_name)
                .map(|x| c.first_update = x)
        },
    },
    ParamSpec {
        name: "prune_start",
        label: "t0 / T",
        group: Group::Pruning,
        kind: closed(0.0, 1.0),
        default: "0.1",
        help: "gradual pruning starts at t0, as a fraction of the training steps",
        read: |c| Value::Float(c.prune_start),
        write: |c, v| v.float().map(|x| c.prune_start = x),
    },
    ParamSpec {
        name: "prune_end",
        label: "t1 / T",
        group: Group::Pruning,
        kind: closed(0.0, 1.0),
        default: "0.6",
        help: "gradual pruning reaches the target sparsity at t1, as a fraction of the training steps",
        read: |c| Value::Float(c.prune_end),
        write: |c, v| v.float().map(|x| c.prune_end = x),
    },
    ParamSpec {
        name: "prune_every",
        label: "prune every",
        group: Group::Pruning,
        kind: ParamKind::Int {
            min: 1,
            max: 100_000,
        },
        default: "100",
        help: "steps between pruning updates",
        read: |c| Value::Int(c.prune_every as u64),
        write: |c, v| v.usize().map(|n| c.prune_every = n),
    },
    ParamSpec {
        name: "lr",
        label: "learning rate",
        group: Group::Optimizer,
        kind: open_closed(0.0, 10.0),
        default: "0.1",
        help: "SGD learning rate",
        read: |c| Value::Float(c.lr),
        write: |c, v| v.float().map(|x| c.lr = x),
    },
    ParamSpec {
        name: "lr_schedule",
        label: "learning-rate schedule",
        group: Group::Optimizer,
        kind: ParamKind::Choice(LR_SCHEDULE_NAMES),
        default: "cosine",
        help: "learning rate over training: constant; step (×0.1 at 50% and again at 75% of the steps); cosine (down to 0 at the end)",
        read: |c| Value::Choice(c.lr_schedule.name()),
        write: |c, v| {
            v.choice()
                .and_then(LrSchedule::from_name)
                .map(|x| c.lr_schedule = x)
        },
    },
    ParamSpec {
        name: "momentum",
        label: "momentum",
        group: Group::Optimizer,
        kind: closed(0.0, 0.999),
        default: "0.9",
        help: "SGD momentum",
        read: |c| Value::Float(c.momentum),
        write: |c, v| v.float().map(|x| c.momentum = x),
    },
    ParamSpec {
        name: "wd",
        label: "weight decay",
        group: Group::Optimizer,
        kind: closed(0.0, 0.1),
        default: "0.0005",
        help: "weight decay (L2 penalty on the weights)",
        read: |c| Value::Float(c.wd),
        write: |c, v| v.float().map(|x| c.wd = x),
    },
    ParamSpec {
        name: "batch",
        label: "batch size",
        group: Group::Training,
        kind: ParamKind::Int { min: 1, max: 4096 },
        default: "128",
        help: "mini-batch size",
        read: |c| Value::Int(c.batch as u64),
        write: |c, v| v.usize().map(|n| c.batch = n),
    },
    ParamSpec {
        name: "steps",
        label: "steps T",
        group: Group::Training,
        kind: ParamKind::Int {
            min: 1,
            max: 10_000_000,
        },
        default: "3000",
        help: "training steps T",
        read: |c| Value::Int(c.steps as u64),
        write: |c, v| v.usize().map(|n| c.steps = n),
    },
    ParamSpec {
        name: "eval_every",
        label: "evaluate every",
        group: Group::Training,
        kind: ParamKind::Int {
            min: 1,
            max: 10_000_000,
        },
        default: "250",
        help: "steps between evaluations on the test set",
        read: |c| Value::Int(c.eval_every as u64),
        write: |c, v| v.usize().map(|n| c.eval_every = n),
    },
    ParamSpec {
        name: "seed",
        label: "seed",
        group: Group::Training,
        kind: ParamKind::Int {
            min: 0,
            max: u64::MAX,
        },
        default: "1",
        help: "random seed of the masks, the initial weights and the batches",
        read: |c| Value::Int(c.seed),
        write: |c, v| v.int().map(|n| c.seed = n),
    },
];

/// The row of the parameter named `name` (canonical name, exact match).
pub fn param(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name == name)
}

/// A rule that involves several parameters.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The parameters involved; the first is the one an error names.
    pub fields: &'static [&'static str],
    /// `Err` says what is wrong with the first field, e.g. "must be less than prune_end=0.5".
    pub check: fn(&Config) -> Result<(), String>,
}

/// Every cross-field rule.
pub static RULES: &[Rule] = &[
    Rule {
        // RIGL.md "Gradual magnitude pruning": s_t ramps over (t - t0) / (t1 - t0), so t0 < t1.
        fields: &["prune_start", "prune_end"],
        check: |c| {
            if c.prune_start < c.prune_end {
                Ok(())
            } else {
                Err(format!("must be less than prune_end={}", c.prune_end))
            }
        },
    },
    Rule {
        // A masked layer without a single active weight cuts the network in two: refused,
        // never trained.
        fields: &["sparsity", "dist", "dense_first", "dense_last"],
        check: every_masked_layer_keeps_a_weight,
    },
];

/// Err names the first layer that this configuration leaves with no active weight.
fn every_masked_layer_keeps_a_weight(c: &Config) -> Result<(), String> {
    use crate::sparse::Method;
    use crate::sparse::distribution::{DistOptions, empty_layer, layer_densities};
    // Fields out of range are reported by their own checks; this rule needs valid ones.
    if c.method == Method::Dense || PARAMS.iter().any(|p| p.check(c).is_err()) {
        return Ok(());
    }
    let (input, classes) = c.data.shape();
    let layers = c.model.layer_shapes(input, classes);
    let opts = DistOptions {
        dist: c.dist,
        sparsity: c.sparsity,
        dense_first: c.first_layer_dense(),
        dense_last: c.dense_last,
    };
    match empty_layer(&layers, &layer_densities(&layers, &opts)).map(|i| &layers[i]) {
        Some(l) => Err(format!(
            "leaves layer {} of {} without an active weight (dist={}, dense_first={}, dense_last={})",
            l.name,
            c.model,
            c.dist.name(),
            c.first_layer_dense(),
            c.dense_last
        )),
        None => Ok(()),
    }
}
