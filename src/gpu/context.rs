//! The adapter, device and queue the backend runs on: requested here (CLI, tests), or handed
//! over by the page, which creates its own.

use super::error::GpuError;

/// A device and its queue, with the adapter they came from (for its name and limits).
#[derive(Clone, Debug)]
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

/// The first adapter the platform offers (natively: Vulkan, e.g. Mesa lavapipe on a machine
/// without a GPU, or GL with the `gl` feature and WGPU_BACKEND=gl; in a browser: WebGPU).
pub async fn request_adapter() -> Result<wgpu::Adapter, GpuError> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::NoAdapter(e.to_string()))
}

/// The limits to request: WebGPU's defaults (which the kernels are written for: at most 256
/// invocations and 16 KiB of workgroup memory, 8 storage buffers per stage), except the buffer
/// sizes, raised to what the adapter allows so whole data sets fit in one buffer. Each buffer
/// is checked against these when it is created (`GpuError::BufferTooLarge`).
pub fn required_limits(adapter: &wgpu::Adapter) -> wgpu::Limits {
    let a = adapter.limits();
    wgpu::Limits {
        max_storage_buffer_binding_size: a.max_storage_buffer_binding_size,
        max_buffer_size: a.max_buffer_size,
        ..wgpu::Limits::default()
    }
}

impl GpuContext {
    /// Requests an adapter and a device on it.
    pub async fn new() -> Result<Self, GpuError> {
        Self::from_adapter(request_adapter().await?).await
    }

    /// Requests a device with `required_limits` on `adapter`.
    pub async fn from_adapter(adapter: wgpu::Adapter) -> Result<Self, GpuError> {
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("riglab"),
                required_limits: required_limits(&adapter),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        Ok(Self {
            adapter,
            device,
            queue,
        })
    }

    /// "llvmpipe (LLVM 15.0.6, 256 bits), Vulkan, Cpu".
    pub fn describe(&self) -> String {
        let info = self.adapter.get_info();
        format!("{}, {:?}, {:?}", info.name, info.backend, info.device_type)
    }
}

/// For tests: a context, or, when none can be created, a failure that says how to get one,
/// unless RIGLAB_SKIP_GPU=1, in which case `None` after a one-line reason.
#[doc(hidden)]
#[cfg(not(target_arch = "wasm32"))]
pub fn context_for_tests() -> Option<GpuContext> {
    match pollster::block_on(GpuContext::new()) {
        Ok(c) => Some(c),
        Err(e) if std::env::var("RIGLAB_SKIP_GPU").is_ok_and(|v| v == "1") => {
            eprintln!("skipping a GPU test (RIGLAB_SKIP_GPU=1): {e}");
            None
        }
        Err(e) => panic!(
            "{e}. The GPU parity tests need a Vulkan driver: install Mesa's lavapipe \
             (apt-get install mesa-vulkan-drivers libvulkan1), or set RIGLAB_SKIP_GPU=1 to skip them"
        ),
    }
}
