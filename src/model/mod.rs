//! Networks: the model syntax, layer shapes and initialisation. The CPU backend (`cpu`)
//! holds the reference forward and backward passes.

pub mod init;
pub mod spec;

pub use spec::ModelSpec;
