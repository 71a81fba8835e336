//! The GPU backend: every layer of the engine as WGSL compute kernels (shaders/, one file per
//! kernel family, each entry point named like the CPU function it mirrors) run through wgpu:
//! natively on Vulkan (Mesa lavapipe where there is no GPU), in the browser on WebGPU.
//!
//! Masked weights are dense arrays with zeros. A fully connected layer below a density
//! threshold (or a small one) and a masked convolution below its threshold compute with their
//! active weights only (sparse.rs, shaders/sparse.wgsl, like src/cpu/dense.rs and
//! src/cpu/conv.rs); other layers use the zero-filled weights in
//! tiled dense products (exact, since inactive weights are exactly 0). The weight gradient
//! covers active weights only unless a step asks for the dense gradient (RIGL.md "Grow");
//! SGD moves active weights only (src/cpu/sgd.rs). Pipelines are compiled on first use
//! (kernels.rs): a software adapter takes about a second per tiled product.

mod backend;
mod buffers;
mod context;
mod error;
mod kernels;
mod losses;
mod oneshot;
mod ops;
mod probe;
mod program;
mod sparse;
#[cfg(not(target_arch = "wasm32"))]
mod timing;
mod uniforms;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

pub use backend::GpuBackend;
#[cfg(not(target_arch = "wasm32"))]
pub use context::context_for_tests;
pub use context::{GpuContext, request_adapter, required_limits};
pub use error::GpuError;
pub use sparse::{CONV_SPARSE_BELOW_DENSITY, SMALL_LAYER_WEIGHTS, SPARSE_BELOW_DENSITY};
