//! Everything a user can set, for the page (read leniently from the URL, written back to
//! it) and the CLI (read strictly). One declarative table, [`PARAMS`], names each
//! parameter with its kind, range, default and help; parsing, writing back, validation
//! and the page's controls all go through it. A bad value is reported as a [`ParamError`]
//! and replaced by the default, never carried on. Parameter meanings: ../shared/RIGL.md.

mod choices;
mod error;
mod param;
mod query;
mod table;

use std::collections::HashMap;

pub use choices::{DataSet, FirstUpdate, LrSchedule, OwnData};
pub use error::ParamError;
pub use param::{Group, ParamKind, ParamSpec, Switch, Value};
pub use table::{PARAMS, RULES, Rule, param};

use crate::model::ModelSpec;
use crate::sparse::{Distribution, DropSchedule, Method};

/// One run's settings. Field names are the URL names; see [`PARAMS`] for ranges and help.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub data: DataSet,
    pub model: ModelSpec,
    /// RIGL.md "Baselines" and "One mask update".
    pub method: Method,
    /// RIGL.md "Sparsity distributions".
    pub dist: Distribution,
    /// Global sparsity S.
    pub sparsity: f64,
    /// Keep the first layer dense (RIGL.md "Uniform"); auto: for CNNs (`first_layer_dense`).
    pub dense_first: Switch,
    /// Keep the output layer dense (RIGL.md "Uniform").
    pub dense_last: bool,
    /// Mask-update period ΔT (RIGL.md "Update schedule").
    pub dt: usize,
    /// Initial drop fraction α.
    pub alpha: f64,
    /// T_end as a fraction of `steps`.
    pub tend: f64,
    pub drop_schedule: DropSchedule,
    pub first_update: FirstUpdate,
    /// Gradual pruning start t0 as a fraction of `steps` (RIGL.md "Gradual magnitude pruning").
    pub prune_start: f64,
    /// Gradual pruning end t1 as a fraction of `steps`.
    pub prune_end: f64,
    pub prune_every: usize,
    pub lr: f64,
    pub lr_schedule: LrSchedule,
    pub momentum: f64,
    /// Weight decay.
    pub wd: f64,
    pub batch: usize,
    /// Training steps T.
    pub steps: usize,
    pub eval_every: usize,
    pub seed: u64,
    /// Random crops (reflection-padded by 4) and horizontal flips of the training images;
    /// auto: on CIFAR-10 (`augments`).
    pub augment: Switch,
}

impl Default for Config {
    /// RIGL.md "Defaults that are known to train well here": LeNet-300-100 on MNIST,
    /// RigL with ERK at 90%, ΔT = 100, α = 0.3 (cosine), T_end = 0.75 T, SGD 0.1 / 0.9 / 5e-4.
    fn default() -> Self {
        Self {
            data: DataSet::Mnist,
            model: ModelSpec::default(),
            method: Method::Rigl,
            dist: Distribution::Erk,
            sparsity: 0.9,
            dense_first: Switch::Auto,
            dense_last: false,
            dt: 100,
            alpha: 0.3,
            tend: 0.75,
            drop_schedule: DropSchedule::Cosine,
            first_update: FirstUpdate::Zero,
            prune_start: 0.1,
            prune_end: 0.6,
            prune_every: 100,
            lr: 0.1,
            lr_schedule: LrSchedule::Cosine,
            momentum: 0.9,
            wd: 5e-4,
            batch: 128,
            steps: 3000,
            eval_every: 250,
            seed: 1,
            augment: Switch::Auto,
        }
    }
}

impl Config {
    /// Whether the first layer is kept dense: as set, or (auto) for a CNN, whose first
    /// convolution has few weights (the paper's convention for CNNs; on CIFAR-10 a sparse one
    /// lost whole channels to RigL's first updates: docs/results.md).
    pub fn first_layer_dense(&self) -> bool {
        self.dense_first
            .resolve(matches!(self.model, ModelSpec::Cnn { .. }))
    }

    /// Whether the training images are augmented: as set, or (auto) on CIFAR-10, as the
    /// official input pipeline does.
    pub fn augments(&self) -> bool {
        self.augment.resolve(self.data == DataSet::Cifar10)
    }

    /// T_end: the step before which mask updates happen, floor(tend · steps).
    pub fn t_end_step(&self) -> usize {
        fraction_of_steps(self.tend, self.steps)
    }

    /// t0 of gradual pruning: floor(prune_start · steps).
    pub fn prune_start_step(&self) -> usize {
        fraction_of_steps(self.prune_start, self.steps)
    }

    /// t1 of gradual pruning: floor(prune_end · steps).
    pub fn prune_end_step(&self) -> usize {
        fraction_of_steps(self.prune_end, self.steps)
    }

    /// The canonical text of the parameter `name`, or `None` for an unknown name.
    pub fn get(&self, name: &str) -> Option<String> {
        param(name).map(|p| p.get(self))
    }

    /// Sets the parameter `name` from text; on error nothing changes. Cross-field rules
    /// are not checked here: see [`Config::validate`].
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), String> {
        match param(name) {
            Some(p) => p.set(self, text),
            None => Err(format!("unknown parameter '{name}'")),
        }
    }

    /// Reads a config leniently, for the page: from a bare query, a `?query`, a whole URL,
    /// or a URL whose fragment holds the query (when both hold parameters, the fragment's
    /// win). Unknown keys, bad values, repeated keys (the last one wins) and broken
    /// cross-field rules are reported; each affected field keeps its default. The result
    /// always passes [`Config::validate`].
    pub fn from_query(input: &str) -> (Config, Vec<ParamError>) {
        let mut config = Config::default();
        let mut errors = Vec::new();
        let (query, fragment) = query::query_and_fragment(input);
        let pairs = last_wins(query::pairs(query), query::pairs(fragment), &mut errors);
        for (key, value) in pairs {
            let Some(p) = param(&key) else {
                let message = if key.is_empty() {
                    "has no parameter name; ignored".to_string()
                } else {
                    format!("is ignored: unknown parameter '{key}'")
                };
                errors.push(ParamError::new(key, value, message));
                continue;
            };
            if let Err(why) = p.set(&mut config, &value) {
                let message = format!("{why}; using the default {}", p.default);
                errors.push(ParamError::new(key, value, message));
            }
        }
        for rule in RULES {
            if let Err(why) = (rule.check)(&config) {
                let fields: Vec<&ParamSpec> = rule.fields.iter().filter_map(|f| param(f)).collect();
                let defaults: Vec<String> = fields
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.default))
                    .collect();
                let message = format!("{why}; using the defaults {}", defaults.join(", "));
                errors.push(rule_error(rule, &config, message));
                fields.iter().for_each(|p| p.reset(&mut config));
            }
        }
        (config, errors)
    }

    /// Reads a config strictly, for the CLI: the input forms of [`Config::from_query`], but
    /// any problem is an error.
    pub fn parse_strict(input: &str) -> Result<Config, Vec<ParamError>> {
        match Config::from_query(input) {
            (config, errors) if errors.is_empty() => Ok(config),
            (_, errors) => Err(errors),
        }
    }

    /// The canonical query (no `?`): only the parameters that differ from their defaults,
    /// in table order. `Config::from_query(&c.to_query())` gives back `c` for a valid `c`.
    pub fn to_query(&self) -> String {
        self.query_of(PARAMS.iter().filter(|p| !p.is_default(self)))
    }

    /// The query of every parameter, in table order.
    pub fn to_query_full(&self) -> String {
        self.query_of(PARAMS.iter())
    }

    fn query_of<'a>(&self, params: impl Iterator<Item = &'a ParamSpec>) -> String {
        let pairs: Vec<String> = params
            .map(|p| format!("{}={}", p.name, query::encode(&p.get(self))))
            .collect();
        pairs.join("&")
    }

    /// Every field out of its range (a config built in code may hold one) and every broken
    /// cross-field rule. Empty for any config that [`Config::from_query`] returns.
    pub fn validate(&self) -> Vec<ParamError> {
        let fields = PARAMS.iter().filter_map(|p| {
            let why = p.check(self).err()?;
            Some(ParamError::new(p.name, p.get(self), why))
        });
        let rules = RULES.iter().filter_map(|rule| {
            let why = (rule.check)(self).err()?;
            Some(rule_error(rule, self, why))
        });
        fields.chain(rules).collect()
    }
}

/// floor(fraction · steps), where a product that is a whole number in decimal stays one
/// in binary too (0.29 · 100 is 28.999999999999996 in f64; this gives 29).
fn fraction_of_steps(fraction: f64, steps: usize) -> usize {
    let exact = fraction * steps as f64;
    let nearest = exact.round();
    let t = if (exact - nearest).abs() <= 1e-9 * nearest.max(1.0) {
        nearest
    } else {
        exact.floor()
    };
    t.clamp(0.0, steps as f64) as usize
}

/// A broken rule as an error naming its first field.
fn rule_error(rule: &Rule, config: &Config, message: String) -> ParamError {
    let key = rule.fields.first().copied().unwrap_or("");
    ParamError::new(key, config.get(key).unwrap_or_default(), message)
}

/// Merges the query's pairs and the fragment's (the fragment's win), keeping for each key
/// only its last value. A key repeated within the query, or within the fragment, is
/// reported when it names a parameter.
fn last_wins(
    query: Vec<(String, String)>,
    fragment: Vec<(String, String)>,
    errors: &mut Vec<ParamError>,
) -> Vec<(String, String)> {
    let all: Vec<(usize, String, String)> = (query.into_iter().map(|(k, v)| (0, k, v)))
        .chain(fragment.into_iter().map(|(k, v)| (1, k, v)))
        .collect();
    // key -> (index in `all` of its latest pair, which part it came from)
    let mut latest: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, (part, key, value)) in all.iter().enumerate() {
        if let Some((j, earlier_part)) = latest.insert(key, (i, *part))
            && earlier_part == *part
            && param(key).is_some()
        {
            let message = format!("is overridden by a later {key}={value}");
            errors.push(ParamError::new(key.clone(), all[j].2.clone(), message));
        }
    }
    let keep: Vec<bool> = (0..all.len())
        .map(|i| {
            latest
                .get(all[i].1.as_str())
                .is_some_and(|&(last, _)| last == i)
        })
        .collect();
    all.into_iter()
        .zip(keep)
        .filter(|(_, keep)| *keep)
        .map(|((_, k, v), _)| (k, v))
        .collect()
}

#[cfg(test)]
mod tests;
