//! What a configuration means before any training: per-layer densities, active counts and
//! FLOPs (RIGL.md "Sparsity distributions" and "FLOPs accounting").

use serde::Serialize;

use crate::config::{Config, DataSet};
use crate::data::ImageShape;
use crate::sparse::distribution::{DistOptions, active_counts, layer_densities};
use crate::sparse::flops::{
    dense_forward_flops, forward_flops, prune_train_flops_per_sample, train_flops_per_sample,
};
use crate::sparse::schedule::PruneSchedule;
use crate::sparse::{LayerShape, Method};

/// Image shape and class count of a data set (known without loading it).
pub fn data_shape(data: DataSet) -> (ImageShape, usize) {
    match data {
        DataSet::Mnist | DataSet::Fashion => (ImageShape::new(1, 28, 28), 10),
        DataSet::Cifar10 => (ImageShape::new(3, 32, 32), 10),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerPlan {
    pub name: String,
    /// [n_out, n_in] for dense layers, [n_out, n_in, k_h, k_w] for conv layers.
    pub shape: Vec<usize>,
    pub density: f64,
    pub active: usize,
    /// Forward FLOPs per sample of this layer's active weights.
    pub flops_fwd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    pub params: usize,
    pub active: usize,
    pub density: f64,
    pub flops_fwd_dense: f64,
    pub flops_fwd_sparse: f64,
    pub flops_train_per_sample: f64,
    pub flops_train_fraction: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub config: String,
    pub layers: Vec<LayerPlan>,
    pub totals: Totals,
}

/// Per-layer target densities of a configuration (1.0 everywhere for dense training).
pub fn densities(config: &Config, layers: &[LayerShape]) -> Vec<f64> {
    if config.method == Method::Dense {
        return vec![1.0; layers.len()];
    }
    let opts = DistOptions {
        dist: config.dist,
        sparsity: config.sparsity,
        dense_first: config.dense_first,
        dense_last: config.dense_last,
    };
    layer_densities(layers, &opts)
}

pub fn prune_schedule(config: &Config) -> PruneSchedule {
    PruneSchedule {
        start: config.prune_start_step(),
        end: config.prune_end_step(),
        every: config.prune_every,
    }
}

pub fn plan(config: &Config) -> Plan {
    let (input, classes) = data_shape(config.data);
    let layers = config.model.layer_shapes(input, classes);
    let densities = densities(config, &layers);
    let active = active_counts(&layers, &densities);
    let f_d = dense_forward_flops(&layers);
    let f_s = forward_flops(&layers, &active);
    let train = match config.method {
        Method::Prune => prune_train_flops_per_sample(
            f_d,
            &prune_schedule(config),
            config.sparsity,
            config.steps,
        ),
        m => train_flops_per_sample(m, f_s, f_d, config.dt),
    };
    let params: usize = layers.iter().map(|l| l.num_weights()).sum();
    let total_active: usize = active.iter().sum();
    Plan {
        config: config.to_query_full(),
        layers: layers
            .iter()
            .zip(&densities)
            .zip(&active)
            .map(|((l, &density), &active)| LayerPlan {
                name: l.name.clone(),
                shape: match l.kind {
                    crate::sparse::LayerKind::Dense => vec![l.n_out, l.n_in],
                    crate::sparse::LayerKind::Conv => vec![l.n_out, l.n_in, l.kh, l.kw],
                },
                density,
                active,
                flops_fwd: 2.0 * (active * l.positions) as f64,
            })
            .collect(),
        totals: Totals {
            params,
            active: total_active,
            density: total_active as f64 / params as f64,
            flops_fwd_dense: f_d,
            flops_fwd_sparse: f_s,
            flops_train_per_sample: train,
            flops_train_fraction: train / (3.0 * f_d),
        },
    }
}
