//! Networks: the model syntax, layer shapes, the op list both backends run, initialisation,
//! and points in parameter space. The CPU backend (`cpu`) holds the reference forward and
//! backward passes.

pub mod graph;
pub mod init;
pub mod point;
pub mod spec;

pub use graph::{ConvGeom, Graph, Op, PoolGeom};
pub use point::Point;
pub use spec::ModelSpec;
