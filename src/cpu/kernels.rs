//! The vector kernels live in their own crate (`kernels/`) so that the page compiles them
//! for speed while the rest of its wasm is compiled for size.
pub use riglab_kernels::*;
