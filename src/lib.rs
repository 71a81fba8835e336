//! riglab: RigL (Evci et al., "Rigging the Lottery", ICML 2020) as a live lab.
//!
//! The engine (data, and later config, sparse, model and backends) has no web dependency
//! and is tested natively; the page (`app`) exists only on wasm32, the CLI only natively.

pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod cpu;
pub mod data;
pub mod events;
pub mod experiment;
pub mod figures;
pub mod float_text;
pub mod gpu;
pub mod landscape;
pub mod model;
pub mod par;
pub mod share;
pub mod sparse;
pub mod train;
pub mod worker;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod prepare;

#[cfg(target_arch = "wasm32")]
pub mod app;
