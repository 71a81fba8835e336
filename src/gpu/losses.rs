//! Step losses without stalls: each step writes its mean loss into a slot of a ring buffer on
//! the GPU; the host copies finished slots into a staging buffer and maps it asynchronously,
//! and hands the losses out once the mapping has completed. A copy is queued behind the steps
//! it reads, so a slot may be reused as soon as its copy is submitted, not when it arrives.

use std::collections::VecDeque;

use super::buffers::{Alloc, map_read, poll, take_mapped, wait};
use super::error::GpuError;
use super::oneshot;

/// Slots in the ring: steps that may be recorded between two copies.
pub const RING: usize = 1024;

struct Readback {
    staging: wgpu::Buffer,
    count: usize,
    mapped: oneshot::Receiver<bool>,
}

pub struct LossRing {
    pub ring: wgpu::Buffer,
    /// Steps recorded, and steps whose slot has been copied out (both since creation).
    recorded: u64,
    copied: u64,
    in_flight: VecDeque<Readback>,
    /// Unmapped staging buffers, reused (a new one is made only when all are in flight).
    free: Vec<wgpu::Buffer>,
    /// Reused host copy of a mapped range.
    scratch: Vec<f32>,
}

impl LossRing {
    pub fn new(alloc: &Alloc) -> Result<Self, GpuError> {
        Ok(Self {
            ring: alloc.storage("loss ring", RING)?,
            recorded: 0,
            copied: 0,
            in_flight: VecDeque::new(),
            free: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Call before recording a step: makes room in the ring if it is full, and returns the
    /// slot the step writes.
    pub fn next_slot(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> u32 {
        if self.recorded - self.copied == RING as u64 {
            self.start_copy(device, queue);
        }
        (self.recorded % RING as u64) as u32
    }

    /// Call once a step's submission is queued.
    pub fn recorded_one(&mut self) {
        self.recorded += 1;
    }

    /// Copies the slots of every step recorded since the last copy and starts mapping them.
    fn start_copy(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) {
        let count = (self.recorded - self.copied) as usize;
        if count == 0 {
            return;
        }
        let staging = self
            .free
            .pop()
            .unwrap_or_else(|| Alloc::new(device).staging("loss read-back", 4 * RING as u64));
        let first = (self.copied % RING as u64) as usize;
        let head = count.min(RING - first);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("copy losses"),
        });
        encoder.copy_buffer_to_buffer(&self.ring, 4 * first as u64, &staging, 0, 4 * head as u64);
        if head < count {
            // The range wraps around the end of the ring.
            encoder.copy_buffer_to_buffer(
                &self.ring,
                0,
                &staging,
                4 * head as u64,
                4 * (count - head) as u64,
            );
        }
        queue.submit([encoder.finish()]);
        let mapped = map_read(&staging, 4 * count as u64);
        self.in_flight.push_back(Readback {
            staging,
            count,
            mapped,
        });
        self.copied = self.recorded;
    }

    /// Moves the losses of the oldest read-back out if it has completed; false if it has not.
    fn drain_front(&mut self, out: &mut Vec<f64>) -> bool {
        let Some(front) = self.in_flight.front_mut() else {
            return false;
        };
        let Some(ok) = front.mapped.try_take() else {
            return false;
        };
        let r = self.in_flight.pop_front().expect("a front read-back");
        self.finish(r, ok == Some(true), out);
        true
    }

    /// Hands out a completed read-back's losses and keeps its staging buffer for reuse. A
    /// failed mapping (device lost) drops both.
    fn finish(&mut self, r: Readback, ok: bool, out: &mut Vec<f64>) {
        if ok {
            self.scratch.clear();
            take_mapped(&r.staging, r.count, &mut self.scratch);
            out.extend(self.scratch.iter().map(|&l| f64::from(l)));
            self.free.push(r.staging);
        }
    }

    /// The losses whose read-back has completed, oldest first, without blocking; starts a
    /// read-back of the unread steps when none is in flight.
    pub fn take_ready(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> Vec<f64> {
        poll(device);
        let mut out = Vec::new();
        while self.drain_front(&mut out) {}
        if self.in_flight.is_empty() {
            self.start_copy(device, queue);
        }
        out
    }

    /// The losses of every recorded step, waiting for them.
    pub async fn take_all(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> Vec<f64> {
        self.start_copy(device, queue);
        let mut out = Vec::new();
        let lost = !wait(device);
        while let Some(front) = self.in_flight.front_mut() {
            if lost {
                self.in_flight.clear();
                break;
            }
            // Natively the wait above has run the callbacks; in a browser this yields to the
            // event loop until the mapping completes.
            let ok = (&mut front.mapped).await;
            let r = self.in_flight.pop_front().expect("a front read-back");
            self.finish(r, ok == Some(true), &mut out);
        }
        out
    }
}
