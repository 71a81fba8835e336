//! What one row of the parameter table is: a user-settable property, the values it takes
//! (kind, range, default), its help text, and how it is read from and written to a
//! [`Config`]. The kind does all checking, so a row only maps a field to a [`Value`].

use std::fmt;

use super::{Config, DataSet, OwnData};
use crate::model::ModelSpec;

/// Where a parameter's control sits on the page, in page order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Data,
    Sparsity,
    MaskUpdates,
    Pruning,
    Optimizer,
    Training,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Data,
        Group::Sparsity,
        Group::MaskUpdates,
        Group::Pruning,
        Group::Optimizer,
        Group::Training,
    ];

    /// A heading for the group's controls.
    pub fn title(self) -> &'static str {
        match self {
            Group::Data => "Data and model",
            Group::Sparsity => "Method and sparsity",
            Group::MaskUpdates => "Mask updates",
            Group::Pruning => "Gradual pruning",
            Group::Optimizer => "Optimizer",
            Group::Training => "Training",
        }
    }
}

/// The values a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamKind {
    /// A finite number in [min, max], or in (min, max] when `min_exclusive`.
    Float {
        min: f64,
        max: f64,
        min_exclusive: bool,
    },
    /// A whole number in [min, max].
    Int { min: u64, max: u64 },
    /// `true` or `false` (`1` and `0` are read too).
    Bool,
    /// `auto`, `true` or `false` (`1` and `0` are read too): auto leaves it to the model or
    /// the data set (see the parameter's help).
    Switch,
    /// One of the listed names.
    Choice(&'static [&'static str]),
    /// A network in the syntax of [`ModelSpec::parse`].
    Model,
    /// A data set: a prepared one by name or an own one (see [`DataSet::parse`]).
    Data,
}

/// A parameter's typed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Float(f64),
    Int(u64),
    Bool(bool),
    Switch(Switch),
    Choice(&'static str),
    Model(ModelSpec),
    Data(DataSet),
}

/// A setting that is on, off, or decided by the configuration (`auto`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Switch {
    #[default]
    Auto,
    On,
    Off,
}

impl Switch {
    /// On or off, with `auto` meaning `auto_value`.
    pub fn resolve(self, auto_value: bool) -> bool {
        match self {
            Switch::Auto => auto_value,
            Switch::On => true,
            Switch::Off => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Switch::Auto => "auto",
            Switch::On => "true",
            Switch::Off => "false",
        }
    }
}

impl Value {
    pub fn float(&self) -> Option<f64> {
        match *self {
            Value::Float(x) => Some(x),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<u64> {
        match *self {
            Value::Int(n) => Some(n),
            _ => None,
        }
    }

    /// A whole number that fits a `usize` on this target.
    pub fn usize(&self) -> Option<usize> {
        self.int().and_then(|n| usize::try_from(n).ok())
    }

    pub fn bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn switch(&self) -> Option<Switch> {
        match *self {
            Value::Switch(s) => Some(s),
            _ => None,
        }
    }

    pub fn choice(&self) -> Option<&'static str> {
        match *self {
            Value::Choice(s) => Some(s),
            _ => None,
        }
    }

    pub fn into_data(self) -> Option<DataSet> {
        match self {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    pub fn into_model(self) -> Option<ModelSpec> {
        match self {
            Value::Model(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// The canonical text: floats in the shortest form that reads back to the same f64.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(x) => write!(f, "{x}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Switch(s) => f.write_str(s.name()),
            Value::Choice(s) => f.write_str(s),
            Value::Model(m) => write!(f, "{m}"),
            Value::Data(d) => f.write_str(&d.name()),
        }
    }
}

impl ParamKind {
    /// Reads a value's text (surrounding blanks ignored). The error says what is wrong,
    /// e.g. "is outside [0, 0.999]" or "must be one of: uniform, er, erk".
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("has no value".into());
        }
        let value = match *self {
            ParamKind::Float { .. } => match text.parse::<f64>() {
                // `+ 0.0` turns -0 into 0, so that the value prints as it reads.
                Ok(x) if !x.is_nan() => Value::Float(x + 0.0),
                _ => return Err("is not a number".into()),
            },
            ParamKind::Int { .. } => match (text.parse::<u64>(), text.parse::<i128>()) {
                (Ok(n), _) => Value::Int(n),
                (Err(_), Ok(_)) => return Err(format!("is outside {}", self.allowed())),
                _ => return Err("is not a whole number".into()),
            },
            ParamKind::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(format!("must be {}", self.allowed())),
            },
            ParamKind::Switch => match text.to_ascii_lowercase().as_str() {
                "auto" => Value::Switch(Switch::Auto),
                "true" | "1" => Value::Switch(Switch::On),
                "false" | "0" => Value::Switch(Switch::Off),
                _ => return Err(format!("must be {}", self.allowed())),
            },
            ParamKind::Choice(names) => match names.iter().find(|n| n.eq_ignore_ascii_case(text)) {
                Some(name) => Value::Choice(name),
                None => return Err(format!("must be {}", self.allowed())),
            },
            ParamKind::Model => match ModelSpec::parse(text) {
                Ok(m) => Value::Model(m),
                Err(why) => return Err(format!("is not a model ({why})")),
            },
            ParamKind::Data => match DataSet::parse(text) {
                Ok(d) => Value::Data(d),
                Err(why) => return Err(why),
            },
        };
        self.check(&value)?;
        Ok(value)
    }

    /// Checks a value, read or built in code, against this kind.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let fits = match (*self, value) {
            (_, Value::Float(x)) if x.is_nan() => return Err("is not a number".into()),
            (
                ParamKind::Float {
                    min,
                    max,
                    min_exclusive,
                },
                &Value::Float(x),
            ) => (if min_exclusive { x > min } else { x >= min }) && x <= max,
            (ParamKind::Int { min, max }, &Value::Int(n)) => (min..=max).contains(&n),
            (ParamKind::Bool, Value::Bool(_)) => true,
            (ParamKind::Switch, Value::Switch(_)) => true,
            (ParamKind::Choice(names), Value::Choice(s)) => names.contains(s),
            (ParamKind::Model, Value::Model(m)) => {
                // A model built in code (e.g. no hidden layer) must still be one the
                // syntax allows.
                return ModelSpec::parse(&m.to_string())
                    .map(drop)
                    .map_err(|why| format!("is not a model ({why})"));
            }
            (ParamKind::Data, Value::Data(d)) => {
                return match d {
                    DataSet::Own(own) => OwnData::new(&own.name, own.shape, own.classes)
                        .map(drop)
                        .map_err(|why| format!("is not an own data set: {why}")),
                    _ => Ok(()),
                };
            }
            _ => return Err(format!("is not {}", self.allowed())),
        };
        if fits {
            Ok(())
        } else {
            Err(format!("is outside {}", self.allowed()))
        }
    }

    /// The allowed values in words: "[0, 0.999]", "(0, 1]", "true, false, 1 or 0",
    /// "one of: uniform, er, erk", "a model such as mlp:300,100 or cnn:16,32,128".
    pub fn allowed(&self) -> String {
        match *self {
            ParamKind::Float {
                min,
                max,
                min_exclusive,
            } => format!("{}{min}, {max}]", if min_exclusive { '(' } else { '[' }),
            ParamKind::Int { min, max } => format!("[{min}, {max}]"),
            ParamKind::Bool => "true, false, 1 or 0".into(),
            ParamKind::Switch => "auto, true, false, 1 or 0".into(),
            ParamKind::Choice(names) => format!("one of: {}", names.join(", ")),
            ParamKind::Model => "a model such as mlp:300,100 or cnn:16,32,128".into(),
            ParamKind::Data => {
                "one of: mnist, fashion, cifar10, or own:NAME:CxHxW:CLASSES for your own data"
                    .into()
            }
        }
    }
}

/// One user-settable property of a [`Config`]: one row of [`super::PARAMS`].
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The canonical URL name, e.g. `sparsity`.
    pub name: &'static str,
    /// A short label for the page's control, in the paper's notation, e.g. "sparsity S".
    pub label: &'static str,
    pub group: Group,
    pub kind: ParamKind,
    /// The default as canonical text (what [`ParamSpec::get`] gives for `Config::default()`).
    pub default: &'static str,
    /// One line in the paper's words.
    pub help: &'static str,
    /// Reads the field.
    pub read: fn(&Config) -> Value,
    /// Stores a value of this row's kind; `None` if the value is of another kind.
    pub write: fn(&mut Config, Value) -> Option<()>,
}

impl ParamSpec {
    /// The field's canonical text.
    pub fn get(&self, config: &Config) -> String {
        (self.read)(config).to_string()
    }

    /// Parses `text` and stores it; on error the field is unchanged and the message says
    /// what is wrong with the text.
    pub fn set(&self, config: &mut Config, text: &str) -> Result<(), String> {
        let value = self.kind.parse(text)?;
        (self.write)(config, value).ok_or_else(|| {
            format!(
                "does not fit parameter '{}' (a bug in its table row)",
                self.name
            )
        })
    }

    /// Sets the field back to its default.
    pub fn reset(&self, config: &mut Config) {
        // The table's tests check that every default parses.
        let _ = self.set(config, self.default);
    }

    pub fn is_default(&self, config: &Config) -> bool {
        self.get(config) == self.default
    }

    /// Checks the field's current value against the kind.
    pub fn check(&self, config: &Config) -> Result<(), String> {
        self.kind.check(&(self.read)(config))
    }
}
