//! What a configuration means before any training: per-layer densities, active counts and
//! FLOPs (RIGL.md "Sparsity distributions" and "FLOPs accounting").

use serde::Serialize;

use super::Experiment;
use crate::config::Config;
use crate::sparse::Method;
use crate::sparse::distribution::active_counts;
use crate::sparse::flops::{
    dense_forward_flops, forward_flops, prune_train_flops_per_sample, train_flops_per_sample,
};

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

/// What `config` means before any training (valid or not: the page shows the plan of what
/// it holds).
pub fn plan(config: &Config) -> Plan {
    let exp = Experiment::derive(config);
    let (layers, densities) = (exp.layers(), &exp.densities);
    let active = active_counts(layers, densities);
    let f_d = dense_forward_flops(layers);
    let f_s = forward_flops(layers, &active);
    let train = match config.method {
        Method::Prune => {
            prune_train_flops_per_sample(f_d, &exp.prune, config.sparsity, config.steps)
        }
        m => train_flops_per_sample(m, f_s, f_d, config.dt),
    };
    let params: usize = layers.iter().map(|l| l.num_weights()).sum();
    let total_active: usize = active.iter().sum();
    Plan {
        config: config.to_query_full(),
        layers: layers
            .iter()
            .zip(densities)
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
