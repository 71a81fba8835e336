//! Networks: the model syntax, layer shapes, and (in the CPU backend) forward and backward.

pub mod spec;

pub use spec::ModelSpec;
