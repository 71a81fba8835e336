//! The CPU backend: the reference implementation of every layer (forward and backward side by
//! side), and a real sparse one: masked layers skip inactive weights.

pub mod backend;
pub mod conv;
pub mod dense;
pub mod fast;
pub mod kernels;
pub mod loss;
pub mod net;
pub mod param;
pub mod pool;
pub mod sgd;

#[cfg(test)]
mod gradcheck;

pub use backend::CpuBackend;
pub use net::{Net, Workspace};
pub use param::Param;
