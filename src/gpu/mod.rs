//! The GPU backend: every layer of the engine as WGSL compute kernels (shaders/, one file per
//! kernel family, each entry point named like the CPU function it mirrors) run through wgpu:
//! natively on Vulkan (Mesa lavapipe where there is no GPU), in the browser on WebGPU.
//!
//! Masked weights are dense arrays with zeros: forward and backward use the zero-filled
//! weights (exact, since inactive weights are exactly 0), the weight gradient goes through
//! the mask unless a step asks for the dense gradient (RIGL.md "Grow"), and SGD moves active
//! weights only (src/cpu/sgd.rs).

mod backend;
mod buffers;
mod context;
mod error;
mod kernels;
mod losses;
mod oneshot;
mod ops;
mod program;
mod uniforms;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

pub use backend::GpuBackend;
#[cfg(not(target_arch = "wasm32"))]
pub use context::context_for_tests;
pub use context::{GpuContext, request_adapter, required_limits};
pub use error::GpuError;
