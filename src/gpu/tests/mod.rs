//! Parity of every kernel with its CPU twin (src/cpu), on random inputs of odd sizes that are
//! not multiples of the tiles, on whatever adapter `context_for_tests` finds (Mesa lavapipe
//! in CI). Whole training steps and runs are compared in tests/gpu_parity.rs.

mod kernel_timings;
mod layers;
mod loss_sgd;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::buffers::{Alloc, Staging};
use super::context::{GpuContext, context_for_tests};
use super::kernels::{Builder, Dispatch, Kernels, record_all};
use super::ops::Common;
use super::uniforms::StepInfo;

/// Largest |gpu - cpu| over the largest |cpu| of the tensor: summation order differs
/// (tiles, tree reductions), so single elements near 0 may differ relatively more.
pub const TOLERANCE: f32 = 1e-4;

pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let scale = cpu.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    let (i, diff) = gpu
        .iter()
        .zip(cpu)
        .map(|(g, c)| (g - c).abs())
        .enumerate()
        .fold((0, 0f32), |best, (i, d)| {
            if d > best.1 || d.is_nan() {
                (i, d)
            } else {
                best
            }
        });
    assert!(
        diff / scale <= TOLERANCE,
        "{what}: relative error {} at {i}: gpu {} cpu {} (scale {scale})",
        diff / scale,
        gpu[i],
        cpu[i]
    );
}

pub fn rand_vec(rng: &mut Pcg64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

pub fn rng(seed: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed)
}

/// A device, the pipelines, and the shared buffers a dispatch binds.
pub struct Harness {
    pub ctx: GpuContext,
    pub kernels: Kernels,
    pub step: wgpu::Buffer,
    dummy_read: wgpu::Buffer,
    dummy_write: wgpu::Buffer,
    staging: Staging,
}

impl Harness {
    /// `None` (after a one-line reason) only when RIGLAB_SKIP_GPU=1 and no adapter exists.
    pub fn new() -> Option<Self> {
        let ctx = context_for_tests()?;
        let kernels = Kernels::new(&ctx.device);
        let a = Alloc::new(&ctx.device);
        Some(Self {
            step: a.uniform("step", &StepInfo::default()),
            dummy_read: a.storage("unused", 1).unwrap(),
            dummy_write: a.storage("unused", 1).unwrap(),
            staging: Staging::new(&a, "read-back", 1 << 24),
            kernels,
            ctx,
        })
    }

    pub fn alloc(&self) -> Alloc<'_> {
        Alloc::new(&self.ctx.device)
    }

    pub fn builder(&self) -> Builder<'_> {
        Builder::new(&self.ctx.device, &self.kernels)
    }

    pub fn common(&self) -> Common<'_> {
        Common {
            step: &self.step,
            dummy_read: &self.dummy_read,
            dummy_write: &self.dummy_write,
        }
    }

    pub fn upload(&self, v: &[f32]) -> wgpu::Buffer {
        self.alloc()
            .storage_init("input", bytemuck::cast_slice(v))
            .unwrap()
    }

    pub fn upload_u32(&self, v: &[u32]) -> wgpu::Buffer {
        self.alloc()
            .storage_init("input", bytemuck::cast_slice(v))
            .unwrap()
    }

    pub fn zeros(&self, n: usize) -> wgpu::Buffer {
        self.alloc().storage("output", n).unwrap()
    }

    pub fn set_step(&self, info: StepInfo) {
        self.ctx
            .queue
            .write_buffer(&self.step, 0, bytemuck::bytes_of(&info));
    }

    pub fn run(&self, dispatches: &[Dispatch]) {
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            record_all(&mut pass, dispatches);
        }
        self.ctx.queue.submit([encoder.finish()]);
    }

    pub fn run_refs(&self, dispatches: &[&Dispatch]) {
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            record_all(&mut pass, dispatches.iter().copied());
        }
        self.ctx.queue.submit([encoder.finish()]);
    }

    pub fn read(&self, b: &wgpu::Buffer, n: usize) -> Vec<f32> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        pollster::block_on(self.staging.read_f32(device, queue, b, n)).expect("a read-back")
    }

    pub fn read_u32(&self, b: &wgpu::Buffer, n: usize) -> Vec<u32> {
        self.read(b, n).into_iter().map(f32::to_bits).collect()
    }
}
