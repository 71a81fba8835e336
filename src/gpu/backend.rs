//! The GPU backend behind the `Backend` interface. Weights, masks, gradients, momentum, the
//! SNFS average and both data sets live on the GPU; a training step is one submission with no
//! read-back; losses come back asynchronously through a ring (losses.rs); reads of tensors
//! await a mapping, so a browser's main thread never blocks.

use std::sync::{Arc, Mutex};

use super::buffers::{Alloc, Staging};
use super::context::GpuContext;
use super::error::GpuError;
use super::kernels::{Builder, Dispatch, Kernels, grid, record_all, submit, submit_pass};
use super::losses::LossRing;
use super::ops::Common;
use super::probe::{PROBE_SLOTS, Probe};
use super::program::{self, DataBuffers, LayerBuffers, Workspace, mask_values};
use super::sparse::{Planned, SparseLists, has_lists};
use super::uniforms::StepInfo;
use crate::backend::{Backend, PlaneRef, Split, State, StepOptions, Tensor, check_data};
use crate::data::Dataset;
use crate::data::augment::Transform;
use crate::experiment::Setup;
use crate::model::{Op, Point};
use crate::sparse::LayerKind;

/// Images per evaluation batch: the landscape views evaluate 512 training images, one batch
/// (with 500, a second batch of 500 would carry 12 images; the kernels compute whole batches).
pub(super) const EVAL_BATCH: usize = 512;

/// gather, forward, loss, backward; then the SNFS average and SGD when a step asks for them.
pub(super) struct TrainProgram {
    pub(super) gather: Dispatch,
    pub(super) forward: Vec<Planned>,
    pub(super) loss: Vec<Dispatch>,
    pub(super) backward: Vec<Planned>,
    pub(super) snfs_ema: Vec<Dispatch>,
    pub(super) sgd: Vec<Planned>,
}

/// Forward-only passes over the evaluation workspace with the training parameters (the
/// probe, probe.rs, has its own forward pass over the same workspace).
pub(super) struct EvalProgram {
    pub(super) gather_train: Dispatch,
    gather_test: Dispatch,
    forward: Vec<Planned>,
    pub(super) loss: Vec<Dispatch>,
}

pub struct GpuBackend {
    pub(super) ctx: GpuContext,
    kernels: Kernels,
    pub(super) layers: Vec<LayerBuffers>,
    /// A host copy of each layer's mask (as last installed).
    masks: Vec<Vec<bool>>,
    /// Lists of active weights of the fully connected layers that may be masked or are small
    /// (`sparse::has_lists`).
    lists: Vec<Option<SparseLists>>,
    /// Per layer: computes with its active weights only (decided at each mask update).
    pub(super) is_sparse: Vec<bool>,
    /// Per layer: the gradient buffer may hold values of inactive weights (after a dense
    /// gradient or a mask update), which the sparse weight gradient does not overwrite: it is
    /// cleared before the next step that takes the sparse path, so that inactive entries
    /// read 0 as on the dense path.
    grad_stale: Vec<bool>,
    /// Points apart from the training state: the landscapes (probe.rs).
    pub(super) probe: Probe,
    step_info: wgpu::Buffer,
    pub(super) eval_info: wgpu::Buffer,
    indices: wgpu::Buffer,
    /// Each sample's packed image transform (`data::augment::Transform::pack`).
    transforms: wgpu::Buffer,
    /// A mask update's resets: count, then indices (mask.wgsl).
    resets: wgpu::Buffer,
    mask_reset: Vec<wgpu::BindGroup>,
    pub(super) train: TrainProgram,
    pub(super) eval: EvalProgram,
    /// (loss sum, correct) per evaluation batch.
    pub(super) eval_out: wgpu::Buffer,
    pub(super) eval_batch: usize,
    losses: LossRing,
    /// Read-back staging for tensors and evaluation sums.
    staging: Staging,
    pub(super) scratch_f32: Vec<f32>,
    scratch_u32: Vec<u32>,
    lost: Arc<Mutex<Option<String>>>,
    batch: usize,
    pub(super) train_len: usize,
    test_len: usize,
    name: String,
}

impl GpuBackend {
    /// Requests an adapter and a device, then uploads everything (see `with_context`).
    pub async fn new(setup: &Setup, train: Dataset, test: Dataset) -> Result<Self, GpuError> {
        Self::with_context(GpuContext::new().await?, setup, train, test)
    }

    /// Builds the backend on an existing device (the page creates its own): uploads the
    /// initial weights and masks of `setup` and both data sets (once), creates every buffer
    /// and records every dispatch.
    pub fn with_context(
        ctx: GpuContext,
        setup: &Setup,
        train: Dataset,
        test: Dataset,
    ) -> Result<Self, GpuError> {
        let e = &setup.exp;
        check_data(&train, &test, e.input(), e.classes(), e.batch)
            .map_err(|why| GpuError::InvalidSetup(format!("data={}: {why}", e.data.name())))?;
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        ctx.device.set_device_lost_callback(move |reason, message| {
            *flag.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{reason:?}: {message}"));
        });
        let device = &ctx.device;
        let net = &e.graph;
        let kernels = Kernels::new(device);
        let alloc = Alloc::new(device);
        let layers = e
            .layers()
            .iter()
            .enumerate()
            .map(|(l, s)| {
                // Inactive weights are exactly 0 (RIGL.md), whatever the caller passed.
                let w: Vec<f32> = setup.weights[l]
                    .iter()
                    .zip(&setup.masks[l])
                    .map(|(&w, &m)| if m { w } else { 0.0 })
                    .collect();
                LayerBuffers::new(&alloc, &s.name, &w, s.n_out, &setup.masks[l])
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Lists of active weights for fully connected layers that may be masked or are small,
        // and for masked convolutions.
        let conv_geom = |l: usize| {
            net.ops.iter().find_map(|op| match *op {
                Op::Conv(p, g) if p == l => Some(g),
                _ => None,
            })
        };
        let lists = e
            .layers()
            .iter()
            .enumerate()
            .map(|(l, s)| {
                let (queue, mask) = (&ctx.queue, &setup.masks[l]);
                match (s.kind, conv_geom(l)) {
                    (LayerKind::Dense, _) if has_lists(s.n_in * s.n_out, e.densities[l]) => {
                        let dims = (s.n_in, s.n_out);
                        SparseLists::new(&alloc, &s.name, dims, queue, mask).map(Some)
                    }
                    (LayerKind::Conv, Some(g)) if e.densities[l] < 1.0 => {
                        SparseLists::conv(&alloc, &s.name, g, queue, mask).map(Some)
                    }
                    _ => Ok(None),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let is_sparse: Vec<bool> = lists
            .iter()
            .map(|l| l.as_ref().is_some_and(SparseLists::is_sparse))
            .collect();
        let eval_batch = EVAL_BATCH.min(train.len()).min(test.len());
        let max_eval_batches = train
            .len()
            .max(test.len())
            .div_ceil(eval_batch)
            .max(PROBE_SLOTS);
        let train_data = DataBuffers::new(&alloc, "training", &train)?;
        let test_data = DataBuffers::new(&alloc, "test", &test)?;
        let dummy_read = alloc.storage("unused", 1)?;
        let dummy_write = alloc.storage("unused", 1)?;
        let step_info = alloc.uniform("step", &StepInfo::default());
        let eval_info = alloc.uniform("evaluation batch", &StepInfo::default());
        let indices = alloc.storage("batch indices", e.batch)?;
        let transforms = alloc.storage("batch image transforms", e.batch)?;
        let losses = LossRing::new(&alloc)?;
        let eval_out = alloc.storage("evaluation sums", 2 * max_eval_batches)?;
        let largest = layers.iter().map(|l| l.len).max().unwrap_or(1);
        let resets = alloc.storage("mask resets", 1 + largest)?;
        let staging = Staging::new(
            &alloc,
            "read-back",
            4 * largest.max(2 * max_eval_batches) as u64,
        );

        let b = Builder::new(device, &kernels);
        let train_ws = Workspace::new(&alloc, net, e.batch, true)?;
        let eval_ws = Workspace::new(&alloc, net, eval_batch, false)?;
        let params: Vec<_> = layers.iter().map(|l| (&l.weights, &l.bias)).collect();
        let tc = Common {
            step: &step_info,
            dummy_read: &dummy_read,
            dummy_write: &dummy_write,
        };
        let train_program = TrainProgram {
            gather: program::gather(
                &b,
                &alloc,
                net,
                &train_ws,
                &train_data,
                Some(&indices),
                e.augment.then_some(&transforms),
                &tc,
            )?,
            forward: program::forward(&b, &alloc, net, &train_ws, &params, &lists, &tc)?,
            loss: program::loss(&b, &alloc, net, &train_ws, &losses.ring, true, &tc)?,
            backward: program::backward(&b, &alloc, net, &train_ws, &layers, &lists, &tc)?,
            snfs_ema: program::snfs_ema(&b, &layers, &tc)?,
            sgd: program::sgd(&b, &alloc, &layers, &lists, &tc)?,
        };
        let ec = Common {
            step: &eval_info,
            ..tc
        };
        let eval_program = EvalProgram {
            gather_train: program::gather(&b, &alloc, net, &eval_ws, &train_data, None, None, &ec)?,
            gather_test: program::gather(&b, &alloc, net, &eval_ws, &test_data, None, None, &ec)?,
            forward: program::forward(&b, &alloc, net, &eval_ws, &params, &lists, &ec)?,
            loss: program::loss(&b, &alloc, net, &eval_ws, &eval_out, false, &ec)?,
        };
        let probe = Probe::new(&b, &alloc, &ctx.queue, net, &layers, &eval_ws, &ec)?;
        let mask_reset = layers
            .iter()
            .map(|l| {
                b.bind(
                    &kernels.layouts.mask_reset,
                    &[&resets, &l.weights, &l.momentum],
                )
            })
            .collect();
        Ok(Self {
            name: format!("GPU ({})", ctx.describe()),
            ctx,
            kernels,
            grad_stale: vec![false; layers.len()],
            layers,
            lists,
            is_sparse,
            probe,
            masks: setup.masks.clone(),
            step_info,
            eval_info,
            indices,
            transforms,
            resets,
            mask_reset,
            train: train_program,
            eval: eval_program,
            eval_out,
            eval_batch,
            losses,
            staging,
            scratch_f32: Vec::new(),
            scratch_u32: Vec::new(),
            lost,
            batch: e.batch,
            train_len: train.len(),
            test_len: test.len(),
        })
    }

    /// Whether layer `layer` currently computes with its active weights only (a fully
    /// connected layer below `SPARSE_BELOW_DENSITY`, or small: `SMALL_LAYER_WEIGHTS`; a masked
    /// convolution below `CONV_SPARSE_BELOW_DENSITY`), rather than with dense products.
    pub fn computes_sparse(&self, layer: usize) -> bool {
        self.is_sparse[layer]
    }

    /// Whether the device was lost (the page then falls back to the CPU).
    pub fn is_lost(&self) -> bool {
        self.lost_reason().is_some()
    }

    /// Why the device was lost, if it was.
    pub fn lost(&self) -> Option<GpuError> {
        self.lost_reason().map(GpuError::DeviceLost)
    }

    fn mark_lost(&self, why: &str) {
        let mut l = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        l.get_or_insert_with(|| why.into());
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// `len` floats of `src` after all submitted work; zeros (and `is_lost`) if the device
    /// is gone, so callers keep their shapes.
    pub(super) async fn read_buffer(&self, src: &wgpu::Buffer, len: usize) -> Vec<f32> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        match self.staging.read_f32(device, queue, src, len).await {
            Some(v) => v,
            None => {
                self.mark_lost("a read-back failed");
                vec![0.0; len]
            }
        }
    }

    /// Sums of (loss, correct) over the first `n` images that `gather` reads, in evaluation
    /// batches of one submission each.
    async fn run_eval(&self, gather: &Dispatch, forward: &[Planned], n: usize) -> (f64, f64) {
        if n == 0 {
            return (0.0, 0.0);
        }
        let batches = n.div_ceil(self.eval_batch);
        self.submit_eval(gather, forward, &self.is_sparse, n, 0);
        let sums = self.read_buffer(&self.eval_out, 2 * batches).await;
        sums.chunks_exact(2).fold((0.0, 0.0), |(l, c), s| {
            (l + f64::from(s[0]), c + f64::from(s[1]))
        })
    }

    /// Submits the evaluation of the first `n` images that `gather` reads, one submission
    /// per evaluation batch, their sums into `eval_out` from slot `first_slot` on.
    pub(super) fn submit_eval(
        &self,
        gather: &Dispatch,
        forward: &[Planned],
        is_sparse: &[bool],
        n: usize,
        first_slot: usize,
    ) {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        for j in 0..n.div_ceil(self.eval_batch) {
            let base = j * self.eval_batch;
            let info = StepInfo {
                loss_slot: (first_slot + j) as u32,
                base: base as u32,
                valid: (n - base).min(self.eval_batch) as u32,
                ..StepInfo::default()
            };
            queue.write_buffer(&self.eval_info, 0, bytemuck::bytes_of(&info));
            submit_pass(device, queue, "evaluate", |pass| {
                gather.record(pass);
                record_all(pass, pick(forward, is_sparse, false));
                self.eval.loss.iter().for_each(|d| d.record(pass));
            });
        }
    }
}

/// The dispatches a step records: each layer's dense or sparse twin (`Planned::pick`).
pub(super) fn pick<'a>(
    planned: &'a [Planned],
    is_sparse: &'a [bool],
    dense_grad: bool,
) -> impl Iterator<Item = &'a Dispatch> {
    planned.iter().map(move |p| p.pick(is_sparse, dense_grad))
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn set_mask(&mut self, layer: usize, mask: &[bool], reset: &[u32]) {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        let l = &self.layers[layer];
        assert_eq!(mask.len(), l.len, "layer {layer} mask");
        self.masks[layer].copy_from_slice(mask);
        mask_values(mask, &mut self.scratch_f32);
        queue.write_buffer(&l.mask, 0, bytemuck::cast_slice(&self.scratch_f32));
        if let Some(lists) = &mut self.lists[layer] {
            lists.upload(queue, mask);
            // Density changes only when pruning or SNIP: the layer may change path here.
            self.is_sparse[layer] = lists.is_sparse();
            self.grad_stale[layer] = true;
        }
        if reset.is_empty() {
            return;
        }
        self.scratch_u32.clear();
        self.scratch_u32.push(reset.len() as u32);
        self.scratch_u32.extend_from_slice(reset);
        // The resets buffer is shared by all layers: submit now, before another write.
        queue.write_buffer(&self.resets, 0, bytemuck::cast_slice(&self.scratch_u32));
        submit_pass(device, queue, "set_mask", |pass| {
            pass.set_pipeline(self.kernels.set_mask.get());
            pass.set_bind_group(0, &self.mask_reset[layer], &[]);
            pass.dispatch_workgroups(grid(reset.len()) as u32, 1, 1);
        });
    }

    fn train_step(&mut self, batch: &[u32], o: &StepOptions) {
        assert_eq!(batch.len(), self.batch, "a batch of the configured size");
        debug_assert!(batch.iter().all(|&i| (i as usize) < self.train_len));
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        let slot = self.losses.next_slot(device, queue);
        let info = StepInfo {
            lr: o.lr,
            momentum: o.momentum,
            wd: o.wd,
            snfs_decay: o.snfs_decay.unwrap_or(0.0),
            dense_grad: u32::from(o.dense_grad),
            loss_slot: slot,
            base: 0,
            valid: batch.len() as u32,
        };
        queue.write_buffer(&self.indices, 0, bytemuck::cast_slice(batch));
        if let Some(seed) = o.augment {
            self.scratch_u32.clear();
            self.scratch_u32
                .extend((0..batch.len()).map(|b| Transform::of(seed, b).pack()));
            queue.write_buffer(&self.transforms, 0, bytemuck::cast_slice(&self.scratch_u32));
        }
        queue.write_buffer(&self.step_info, 0, bytemuck::bytes_of(&info));
        let (layers, is_sparse, p) = (&self.layers, &self.is_sparse, &self.train);
        let stale = &mut self.grad_stale;
        submit(device, queue, "train step", |encoder| {
            for (l, stale) in stale.iter_mut().enumerate() {
                if o.dense_grad {
                    *stale = true;
                } else if *stale && is_sparse[l] {
                    // Once per mask update: the sparse weight gradient writes active entries
                    // only.
                    encoder.clear_buffer(&layers[l].grad, 0, None);
                    *stale = false;
                }
            }
            super::kernels::pass(encoder, "train step", |pass| {
                p.gather.record(pass);
                let dense_grad = o.dense_grad;
                record_all(pass, pick(&p.forward, is_sparse, dense_grad));
                p.loss.iter().for_each(|d| d.record(pass));
                record_all(pass, pick(&p.backward, is_sparse, dense_grad));
                if o.snfs_decay.is_some() {
                    record_all(pass, &p.snfs_ema);
                }
                if o.sgd {
                    record_all(pass, pick(&p.sgd, is_sparse, dense_grad));
                }
            });
        });
        self.losses.recorded_one();
    }

    async fn take_losses(&mut self, wait: bool) -> Vec<f64> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        if wait {
            self.losses.take_all(device, queue).await
        } else {
            self.losses.take_ready(device, queue)
        }
    }

    async fn read(&mut self, layer: usize, tensor: Tensor) -> Vec<f32> {
        let l = &self.layers[layer];
        let (src, len) = match tensor {
            Tensor::Weights => (&l.weights, l.len),
            Tensor::Grad => (&l.grad, l.len),
            Tensor::Momentum => (&l.momentum, l.len),
            Tensor::SnfsEma => (&l.ema, l.len),
            Tensor::Bias => (&l.bias, l.n_out),
            Tensor::BiasMomentum => (&l.bias_momentum, l.n_out),
        };
        self.read_buffer(src, len).await
    }

    async fn evaluate(&mut self, split: Split, n: usize) -> (f64, f64) {
        let (gather, len) = match split {
            Split::Train => (&self.eval.gather_train, self.train_len),
            Split::Test => (&self.eval.gather_test, self.test_len),
        };
        let n = n.min(len);
        let (loss, correct) = self.run_eval(gather, &self.eval.forward, n).await;
        let d = n.max(1) as f64;
        (loss / d, correct / d)
    }

    fn layer_count(&self) -> usize {
        self.layers.len()
    }

    fn load_state(&mut self, state: &State) -> Result<(), String> {
        let names: Vec<String> = (0..self.layers.len())
            .map(|l| format!("{}", l + 1))
            .collect();
        let lens: Vec<usize> = self.layers.iter().map(|l| l.len).collect();
        let outs: Vec<usize> = self.layers.iter().map(|l| l.n_out).collect();
        state.check_fits(&names, &lens, &outs)?;
        let queue = &self.ctx.queue;
        for (i, l) in self.layers.iter().enumerate() {
            // Under the installed mask: inactive weights and momentum become 0.
            let mask = &self.masks[i];
            let masked = |v: &[f32]| -> Vec<f32> {
                v.iter()
                    .zip(mask)
                    .map(|(&x, &on)| if on { x } else { 0.0 })
                    .collect()
            };
            queue.write_buffer(
                &l.weights,
                0,
                bytemuck::cast_slice(&masked(&state.weights[i])),
            );
            queue.write_buffer(
                &l.momentum,
                0,
                bytemuck::cast_slice(&masked(&state.momentum[i])),
            );
            queue.write_buffer(&l.ema, 0, bytemuck::cast_slice(&state.snfs_ema[i]));
            queue.write_buffer(&l.bias, 0, bytemuck::cast_slice(&state.biases[i]));
            queue.write_buffer(
                &l.bias_momentum,
                0,
                bytemuck::cast_slice(&state.bias_momentum[i]),
            );
        }
        Ok(())
    }

    fn lost_reason(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn losses_at(
        &mut self,
        points: &[&Point],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        self.probe_losses(points, masks, n).await
    }

    async fn plane_losses(
        &mut self,
        plane: PlaneRef<'_>,
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        self.probe_plane_losses(plane, coords, masks, n).await
    }
}
