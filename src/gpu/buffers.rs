//! Creating buffers (checked against the device's limits) and reading them back.

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::error::GpuError;
use super::oneshot;

/// Storage buffers are also copy sources (read-back) and destinations (uploads).
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Creates buffers on one device, refusing any larger than a storage binding may be.
pub struct Alloc<'a> {
    pub device: &'a wgpu::Device,
    limit: u64,
}

impl<'a> Alloc<'a> {
    pub fn new(device: &'a wgpu::Device) -> Self {
        let l = device.limits();
        Self {
            device,
            limit: l.max_storage_buffer_binding_size.min(l.max_buffer_size),
        }
    }

    fn check(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        if bytes > self.limit {
            return Err(GpuError::BufferTooLarge {
                what: what.into(),
                bytes,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// A zeroed storage buffer of `floats` 4-byte elements (at least one).
    pub fn storage(&self, what: &str, floats: usize) -> Result<wgpu::Buffer, GpuError> {
        let bytes = 4 * floats.max(1) as u64;
        self.check(what, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes,
            usage: STORAGE,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `contents` (padded to a multiple of 4 bytes).
    pub fn storage_init(&self, what: &str, contents: &[u8]) -> Result<wgpu::Buffer, GpuError> {
        self.check(what, contents.len() as u64)?;
        if contents.is_empty() {
            return self.storage(what, 1);
        }
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents,
                usage: STORAGE,
            }))
    }

    pub fn uniform<T: Pod>(&self, what: &str, value: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A host-readable buffer that read-backs copy into.
    pub fn staging(&self, what: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

/// Starts mapping `staging[..bytes]`; the receiver yields whether it worked.
pub fn map_read(staging: &wgpu::Buffer, bytes: u64) -> oneshot::Receiver<bool> {
    let (tx, rx) = oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, ..bytes, move |r| tx.send(r.is_ok()));
    rx
}

/// Natively, mapping callbacks run inside `device.poll`: waits for all submitted work. In a
/// browser the event loop polls the device and this returns at once.
pub fn wait(device: &wgpu::Device) -> bool {
    device.poll(wgpu::PollType::wait_indefinitely()).is_ok()
}

/// Natively, runs the callbacks of finished work without waiting.
pub fn poll(device: &wgpu::Device) {
    let _ = device.poll(wgpu::PollType::Poll);
}

/// Copies the first `len` floats of a mapped staging buffer out and unmaps it.
pub fn take_mapped(staging: &wgpu::Buffer, len: usize, out: &mut Vec<f32>) {
    if len > 0
        && let Ok(view) = staging.get_mapped_range(..4 * len as u64)
    {
        out.extend_from_slice(bytemuck::cast_slice(&view));
    }
    staging.unmap();
}

/// A host-readable buffer for read-backs, one at a time. It remembers whether it is mapped
/// or waiting for a mapping, so that a read whose future was dropped half-way (a page that
/// moved on) does not leave it unusable for the next.
pub struct Staging {
    buffer: wgpu::Buffer,
    busy: std::cell::Cell<bool>,
}

impl Staging {
    pub fn new(alloc: &Alloc, what: &str, bytes: u64) -> Self {
        Self {
            buffer: alloc.staging(what, bytes),
            busy: std::cell::Cell::new(false),
        }
    }

    /// Reads `len` floats of `src` after all submitted work. `None` when the read-back
    /// failed (device lost).
    pub async fn read_f32(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        src: &wgpu::Buffer,
        len: usize,
    ) -> Option<Vec<f32>> {
        if self.busy.replace(true) {
            // An earlier read never finished: abort its mapping (or drop its view).
            self.buffer.unmap();
        }
        let bytes = 4 * len.max(1) as u64;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("read back"),
        });
        encoder.copy_buffer_to_buffer(src, 0, &self.buffer, 0, bytes);
        queue.submit([encoder.finish()]);
        let mapped = map_read(&self.buffer, bytes);
        if !wait(device) || mapped.await != Some(true) {
            return None;
        }
        let mut out = Vec::with_capacity(len);
        take_mapped(&self.buffer, len, &mut out);
        self.busy.set(false);
        (out.len() == len).then_some(out)
    }
}
