//! What can go wrong when starting or running the GPU backend: each case names what failed,
//! so the page can say why it fell back to the CPU.

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("requesting a GPU device failed: {0}")]
    RequestDevice(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error("{what} needs a {bytes}-byte GPU buffer; this device allows {limit} bytes")]
    BufferTooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{what} needs {groups} workgroups along one axis; this device allows {limit}")]
    DispatchTooLarge {
        what: String,
        groups: u64,
        limit: u32,
    },
    #[error("{0}")]
    InvalidSetup(String),
}
