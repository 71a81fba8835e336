//! The GPU backend behind the `Backend` interface. Weights, masks, gradients, momentum, the
//! SNFS average and both data sets live on the GPU; a training step is one submission with no
//! read-back; losses come back asynchronously through a ring (losses.rs); reads of tensors
//! await a mapping, so a browser's main thread never blocks.

use std::sync::{Arc, Mutex};

use super::buffers::{Alloc, Staging};
use super::context::GpuContext;
use super::error::GpuError;
use super::kernels::{Builder, Dispatch, Kernels, grid, record_all};
use super::losses::LossRing;
use super::ops::Common;
use super::program::{self, DataBuffers, LayerBuffers, Workspace, mask_values};
use super::sparse::{Planned, SparseLists, has_lists};
use super::uniforms::{PlanePoint, StepInfo};
use crate::backend::{Backend, Split, StepOptions, Tensor, check_data};
use crate::config::Config;
use crate::cpu::{Net, Op};
use crate::data::Dataset;
use crate::landscape::Point;
use crate::sparse::LayerKind;
use crate::train::{Setup, Trainer};

/// Images per evaluation batch: the landscape views evaluate 512 training images, one batch
/// (with 500, a second batch of 500 would carry 12 images; the kernels compute whole batches).
const EVAL_BATCH: usize = 512;

/// Evaluation batches whose sums one read-back returns: `losses_at` evaluates several points
/// per submission round and reads their sums at once (a landscape's row in one read-back).
const PROBE_SLOTS: usize = 64;

/// A point of parameter space: the weights and the biases of every layer.
pub type PointRef<'a> = (&'a [Vec<f32>], &'a [Vec<f32>]);

/// A landscape plane over a network whose first operation is a fully connected layer: that
/// layer's outputs for the plane's origin and its two directions (landscape.wgsl), combined
/// for each point on the GPU, so only the later layers run per point.
struct PlaneProgram {
    outputs: [wgpu::Buffer; 3],
    /// The evaluation workspace's first-layer output, which `combine` writes.
    input: wgpu::Buffer,
    point: wgpu::Buffer,
    combine: Dispatch,
    len: usize,
    /// What `outputs` were computed from: the first layer's weights and biases of the origin
    /// and both directions, one after the other, its mask (if any) and the image count. A
    /// plane is evaluated a row per call; the rows after the first reuse the outputs.
    key: Vec<f32>,
    key_mask: Option<Vec<bool>>,
    key_n: usize,
}

impl PlaneProgram {
    /// Whether `outputs` hold the first layer's outputs for these parameters; if not,
    /// remembers them as what the outputs are about to be computed from.
    fn holds(&mut self, points: [&Point; 3], mask: Option<&[bool]>, n: usize) -> bool {
        let parts = || points.iter().flat_map(|p| [&p.weights[0], &p.biases[0]]);
        let same = self.key_n == n
            && self.key_mask.as_deref() == mask
            && self.key.len() == parts().map(|v| v.len()).sum::<usize>()
            && parts()
                .flat_map(|v| v.iter())
                .zip(&self.key)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if !same {
            self.key.clear();
            self.key.extend(parts().flat_map(|v| v.iter().copied()));
            self.key_mask = mask.map(<[bool]>::to_vec);
            self.key_n = n;
        }
        same
    }
}

/// gather, forward, loss, backward; then the SNFS average and SGD when a step asks for them.
struct TrainProgram {
    gather: Dispatch,
    forward: Vec<Planned>,
    loss: Dispatch,
    backward: Vec<Planned>,
    snfs_ema: Vec<Dispatch>,
    sgd: Vec<Planned>,
}

/// Forward-only passes over the evaluation workspace: with the training parameters, or with
/// the probe parameters of `loss_at`.
struct EvalProgram {
    gather_train: Dispatch,
    gather_test: Dispatch,
    forward: Vec<Planned>,
    forward_probe: Vec<Planned>,
    loss: Dispatch,
}

pub struct GpuBackend {
    ctx: GpuContext,
    kernels: Kernels,
    layers: Vec<LayerBuffers>,
    /// Lists of active weights of the fully connected layers that may be masked or are small
    /// (`sparse::has_lists`).
    lists: Vec<Option<SparseLists>>,
    /// Per layer: computes with its active weights only (decided at each mask update).
    is_sparse: Vec<bool>,
    /// Per layer: the gradient buffer may hold values of inactive weights (after a dense
    /// gradient or a mask update), which the sparse weight gradient does not overwrite: it is
    /// cleared before the next step that takes the sparse path, so that inactive entries
    /// read 0 as on the dense path.
    grad_stale: Vec<bool>,
    /// Weights and biases for `loss_at`, apart from the training state.
    probe: Vec<(wgpu::Buffer, wgpu::Buffer)>,
    /// Lists of the probe's active weights (every fully connected layer): a masked point
    /// computes with its active weights only, as training does.
    probe_lists: Vec<Option<SparseLists>>,
    /// The mask the probe's lists were last built from, per layer (all true: no mask).
    probe_masks: Vec<Vec<bool>>,
    probe_is_sparse: Vec<bool>,
    plane: Option<PlaneProgram>,
    step_info: wgpu::Buffer,
    eval_info: wgpu::Buffer,
    indices: wgpu::Buffer,
    /// A mask update's resets: count, then indices (mask.wgsl).
    resets: wgpu::Buffer,
    mask_reset: Vec<wgpu::BindGroup>,
    train: TrainProgram,
    eval: EvalProgram,
    /// (loss sum, correct) per evaluation batch.
    eval_out: wgpu::Buffer,
    eval_batch: usize,
    losses: LossRing,
    /// Read-back staging for tensors and evaluation sums.
    staging: Staging,
    scratch_f32: Vec<f32>,
    scratch_u32: Vec<u32>,
    lost: Arc<Mutex<Option<String>>>,
    batch: usize,
    train_len: usize,
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
        let c = &setup.config;
        check_data(&train, &test, setup.input, setup.classes, c.batch)
            .map_err(|e| GpuError::InvalidSetup(format!("data={}: {e}", c.data.name())))?;
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        ctx.device.set_device_lost_callback(move |reason, message| {
            *flag.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{reason:?}: {message}"));
        });
        let device = &ctx.device;
        let net = Net::new(&c.model, setup.input, setup.classes);
        let kernels = Kernels::new(device);
        let alloc = Alloc::new(device);
        let layers = setup
            .layers
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
        let lists = setup
            .layers
            .iter()
            .enumerate()
            .map(|(l, s)| {
                (s.kind == LayerKind::Dense && has_lists(s.n_in * s.n_out, setup.densities[l]))
                    .then(|| {
                        let dims = (s.n_in, s.n_out);
                        SparseLists::new(&alloc, &s.name, dims, &ctx.queue, &setup.masks[l])
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let is_sparse: Vec<bool> = lists
            .iter()
            .map(|l| l.as_ref().is_some_and(SparseLists::is_sparse))
            .collect();
        let probe = layers
            .iter()
            .map(|l| {
                Ok((
                    alloc.storage("probe weights", l.len)?,
                    alloc.storage("probe bias", l.n_out)?,
                ))
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let probe_masks: Vec<Vec<bool>> = layers.iter().map(|l| vec![true; l.len]).collect();
        let probe_lists = setup
            .layers
            .iter()
            .enumerate()
            .map(|(l, s)| {
                (s.kind == LayerKind::Dense)
                    .then(|| {
                        let dims = (s.n_in, s.n_out);
                        let name = format!("probe {}", s.name);
                        SparseLists::new(&alloc, &name, dims, &ctx.queue, &probe_masks[l])
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let probe_is_sparse = probe_lists
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
        let indices = alloc.storage("batch indices", c.batch)?;
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
        let train_ws = Workspace::new(&alloc, &net, c.batch, true)?;
        let eval_ws = Workspace::new(&alloc, &net, eval_batch, false)?;
        let params: Vec<_> = layers.iter().map(|l| (&l.weights, &l.bias)).collect();
        let probe_params: Vec<_> = probe.iter().map(|(w, b)| (w, b)).collect();
        let tc = Common {
            step: &step_info,
            dummy_read: &dummy_read,
            dummy_write: &dummy_write,
        };
        let train_program = TrainProgram {
            gather: program::gather(
                &b,
                &alloc,
                &net,
                &train_ws,
                &train_data,
                Some(&indices),
                &tc,
            )?,
            forward: program::forward(&b, &alloc, &net, &train_ws, &params, &lists, &tc)?,
            loss: program::loss(&b, &alloc, &net, &train_ws, &losses.ring, true, &tc)?,
            backward: program::backward(&b, &alloc, &net, &train_ws, &layers, &lists, &tc)?,
            snfs_ema: program::snfs_ema(&b, &layers, &tc)?,
            sgd: program::sgd(&b, &alloc, &layers, &lists, &tc)?,
        };
        let ec = Common {
            step: &eval_info,
            ..tc
        };
        let eval_program = EvalProgram {
            gather_train: program::gather(&b, &alloc, &net, &eval_ws, &train_data, None, &ec)?,
            gather_test: program::gather(&b, &alloc, &net, &eval_ws, &test_data, None, &ec)?,
            forward: program::forward(&b, &alloc, &net, &eval_ws, &params, &lists, &ec)?,
            forward_probe: program::forward(
                &b,
                &alloc,
                &net,
                &eval_ws,
                &probe_params,
                &probe_lists,
                &ec,
            )?,
            loss: program::loss(&b, &alloc, &net, &eval_ws, &eval_out, false, &ec)?,
        };
        let plane = match net.ops.first() {
            Some(&Op::Dense(0)) if net.ops.len() > 1 => {
                let len = setup.layers[0].n_out * eval_batch;
                let outputs = [
                    alloc.storage("plane origin outputs", len)?,
                    alloc.storage("plane direction 1 outputs", len)?,
                    alloc.storage("plane direction 2 outputs", len)?,
                ];
                let point = alloc.uniform(
                    "plane point",
                    &PlanePoint {
                        len: len as u32,
                        ..PlanePoint::default()
                    },
                );
                let [o0, o1, o2] = &outputs;
                let bind = b.bind(
                    &kernels.layouts.plane,
                    &[&point, o0, o1, o2, &eval_ws.acts[1]],
                );
                let combine = b.dispatch(
                    "plane_combine",
                    &kernels.plane_combine,
                    bind,
                    [grid(len), 1, 1],
                )?;
                Some(PlaneProgram {
                    outputs,
                    input: eval_ws.acts[1].clone(),
                    point,
                    combine,
                    len,
                    key: Vec::new(),
                    key_mask: None,
                    key_n: 0,
                })
            }
            _ => None,
        };
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
            probe_lists,
            probe_masks,
            probe_is_sparse,
            plane,
            step_info,
            eval_info,
            indices,
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
            batch: c.batch,
            train_len: train.len(),
            test_len: test.len(),
        })
    }

    /// Whether layer `layer` currently computes with its active weights only (a fully
    /// connected layer below `SPARSE_BELOW_DENSITY`, or small: `SMALL_LAYER_WEIGHTS`), rather
    /// than with dense products.
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

    pub fn lost_reason(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    async fn read_buffer(&self, src: &wgpu::Buffer, len: usize) -> Vec<f32> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        match self.staging.read_f32(device, queue, src, len).await {
            Some(v) => v,
            None => {
                self.mark_lost("a read-back failed");
                vec![0.0; len]
            }
        }
    }

    /// Layer `layer`'s biases (not a `Tensor`: the mask rules never need them; tests do).
    pub async fn read_bias(&mut self, layer: usize) -> Vec<f32> {
        let l = &self.layers[layer];
        self.read_buffer(&l.bias, l.n_out).await
    }

    /// Layer `layer`'s bias momentum (a copy of the state the CPU carries on from).
    pub async fn read_bias_momentum(&mut self, layer: usize) -> Vec<f32> {
        let l = &self.layers[layer];
        self.read_buffer(&l.bias_momentum, l.n_out).await
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
    fn submit_eval(
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
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("evaluate"),
            });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("evaluate"),
                    timestamp_writes: None,
                });
                gather.record(&mut pass);
                record_all(&mut pass, pick(forward, is_sparse, false));
                self.eval.loss.record(&mut pass);
            }
            queue.submit([encoder.finish()]);
        }
    }

    /// Mean loss on the first `n` training images at the given parameters (inactive weights
    /// zeroed by `masks` when given), without touching the training state: the loss
    /// landscape and interpolation views (DESIGN.md).
    pub async fn loss_at(
        &mut self,
        weights: &[Vec<f32>],
        biases: &[Vec<f32>],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> f64 {
        self.losses_at(&[(weights, biases)], masks, n).await[0]
    }

    /// `loss_at` of several points (weights, biases) with the same masks: each point's
    /// evaluation is submitted after writing its parameters, and the sums of up to
    /// `PROBE_SLOTS` evaluation batches come back in one read-back (on a browser's
    /// software adapter a read-back waits for the next frame or more).
    pub async fn losses_at(
        &mut self,
        points: &[PointRef<'_>],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        let n = n.min(self.train_len);
        if n == 0 {
            return vec![0.0; points.len()];
        }
        self.set_probe_masks(masks);
        let batches = n.div_ceil(self.eval_batch);
        let per_read = (PROBE_SLOTS / batches).max(1);
        let mut out = Vec::with_capacity(points.len());
        for chunk in points.chunks(per_read) {
            for (k, (weights, biases)) in chunk.iter().enumerate() {
                self.write_probe(weights, biases, masks);
                self.submit_eval(
                    &self.eval.gather_train,
                    &self.eval.forward_probe,
                    &self.probe_is_sparse,
                    n,
                    k * batches,
                );
            }
            let sums = self
                .read_buffer(&self.eval_out, 2 * batches * chunk.len())
                .await;
            out.extend(
                sums.chunks_exact(2 * batches)
                    .map(|s| s.iter().step_by(2).map(|&l| f64::from(l)).sum::<f64>() / n as f64),
            );
        }
        out
    }

    /// `loss_at` of the points `origin + x d1 + y d2` for each (x, y) of `coords`, with the
    /// same masks. When the network starts with a fully connected layer and `n` images fit
    /// one evaluation batch, that layer runs three times (origin, d1, d2) and each point
    /// combines its outputs (landscape.wgsl) before the later layers run; else as `losses_at`.
    pub async fn plane_losses(
        &mut self,
        (origin, d1, d2): (&Point, &Point, &Point),
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        let n = n.min(self.train_len);
        let Some(mut plane) = self.plane.take().filter(|_| n > 0 && n <= self.eval_batch) else {
            let points: Vec<Point> = coords
                .iter()
                .map(|&(x, y)| origin.offset(x, d1, y, d2))
                .collect();
            let refs: Vec<PointRef> = points
                .iter()
                .map(|p| (p.weights.as_slice(), p.biases.as_slice()))
                .collect();
            return self.losses_at(&refs, masks, n).await;
        };
        self.set_probe_masks(masks);
        let mut info = StepInfo {
            valid: n as u32,
            ..StepInfo::default()
        };
        self.ctx
            .queue
            .write_buffer(&self.eval_info, 0, bytemuck::bytes_of(&info));
        // The images; the first layer's outputs for the origin and each direction, unless the
        // last call computed them for the same parameters (the previous row of the plane).
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            self.eval.gather_train.record(&mut pass);
        }
        self.ctx.queue.submit([encoder.finish()]);
        if !plane.holds([origin, d1, d2], masks.map(|m| &m[0][..]), n) {
            for (k, p) in [origin, d1, d2].into_iter().enumerate() {
                self.write_probe_layers(0..1, &p.weights, &p.biases, masks);
                let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    self.eval.forward_probe[0]
                        .pick(&self.probe_is_sparse, false)
                        .record(&mut pass);
                }
                let bytes = 4 * plane.len as u64;
                encoder.copy_buffer_to_buffer(&plane.input, 0, &plane.outputs[k], 0, bytes);
                self.ctx.queue.submit([encoder.finish()]);
            }
        }
        let layers = self.layers.len();
        let mut out = Vec::with_capacity(coords.len());
        for chunk in coords.chunks(PROBE_SLOTS) {
            for (k, &(x, y)) in chunk.iter().enumerate() {
                // The later layers' parameters at this point (the first layer's are not used).
                let p = origin.offset_from(1, x, d1, y, d2);
                self.write_probe_layers(1..layers, &p.weights, &p.biases, masks);
                let queue = &self.ctx.queue;
                let at = PlanePoint {
                    x: x as f32,
                    y: y as f32,
                    len: plane.len as u32,
                    _pad: 0,
                };
                queue.write_buffer(&plane.point, 0, bytemuck::bytes_of(&at));
                info.loss_slot = k as u32;
                queue.write_buffer(&self.eval_info, 0, bytemuck::bytes_of(&info));
                let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    plane.combine.record(&mut pass);
                    record_all(
                        &mut pass,
                        pick(&self.eval.forward_probe[1..], &self.probe_is_sparse, false),
                    );
                    self.eval.loss.record(&mut pass);
                }
                queue.submit([encoder.finish()]);
            }
            let sums = self.read_buffer(&self.eval_out, 2 * chunk.len()).await;
            out.extend(sums.chunks_exact(2).map(|s| f64::from(s[0]) / n as f64));
        }
        self.plane = Some(plane);
        out
    }

    /// Rebuilds the probe's lists of active weights where `masks` (none: every weight)
    /// differs from the mask they were built from.
    fn set_probe_masks(&mut self, masks: Option<&[Vec<bool>]>) {
        for l in 0..self.layers.len() {
            let Some(lists) = self.probe_lists[l].as_mut() else {
                continue;
            };
            let last = &mut self.probe_masks[l];
            let same = match masks {
                Some(m) => m[l] == *last,
                None => last.iter().all(|&on| on),
            };
            if !same {
                match masks {
                    Some(m) => last.clone_from(&m[l]),
                    None => last.fill(true),
                }
                lists.upload(&self.ctx.queue, last);
                self.probe_is_sparse[l] = lists.is_sparse();
            }
        }
    }

    /// Writes one point's parameters to the probe (inactive weights zeroed by `masks`).
    fn write_probe(
        &mut self,
        weights: &[Vec<f32>],
        biases: &[Vec<f32>],
        masks: Option<&[Vec<bool>]>,
    ) {
        self.write_probe_layers(0..self.layers.len(), weights, biases, masks);
    }

    /// `write_probe` for the layers in `range` only.
    fn write_probe_layers(
        &mut self,
        range: std::ops::Range<usize>,
        weights: &[Vec<f32>],
        biases: &[Vec<f32>],
        masks: Option<&[Vec<bool>]>,
    ) {
        assert_eq!(weights.len(), self.layers.len(), "weights of every layer");
        assert_eq!(biases.len(), self.layers.len(), "biases of every layer");
        let queue = &self.ctx.queue;
        for (l, (w, b)) in self.probe.iter().enumerate() {
            if !range.contains(&l) {
                continue;
            }
            assert_eq!(weights[l].len(), self.layers[l].len, "layer {l} weights");
            assert_eq!(biases[l].len(), self.layers[l].n_out, "layer {l} biases");
            let values: &[f32] = match masks {
                Some(m) => {
                    self.scratch_f32.clear();
                    self.scratch_f32.extend(
                        weights[l]
                            .iter()
                            .zip(&m[l])
                            .map(|(&w, &on)| if on { w } else { 0.0 }),
                    );
                    &self.scratch_f32
                }
                None => &weights[l],
            };
            queue.write_buffer(w, 0, bytemuck::cast_slice(values));
            queue.write_buffer(b, 0, bytemuck::cast_slice(&biases[l]));
        }
    }
}

impl GpuBackend {
    /// Milliseconds of each dispatch that a training step with options `o` records, each
    /// submitted alone `runs` times after one warm-up run (`riglab bench --kernels`). Steps
    /// must have been recorded before, so the buffers hold real values; the training state
    /// changes as if a few more steps had run.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_step_dispatches(&self, o: &StepOptions, runs: usize) -> Vec<(String, f64)> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        let p = &self.train;
        let mut all: Vec<&Dispatch> = vec![&p.gather];
        all.extend(pick(&p.forward, &self.is_sparse, o.dense_grad));
        all.push(&p.loss);
        all.extend(pick(&p.backward, &self.is_sparse, o.dense_grad));
        if o.snfs_decay.is_some() {
            all.extend(&p.snfs_ema);
        }
        if o.sgd {
            all.extend(pick(&p.sgd, &self.is_sparse, o.dense_grad));
        }
        let run = |d: &Dispatch, n: usize| {
            for _ in 0..n {
                let mut encoder = device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    d.record(&mut pass);
                }
                queue.submit([encoder.finish()]);
            }
            super::buffers::wait(device);
        };
        all.into_iter()
            .map(|d| {
                run(d, 1);
                let t = web_time::Instant::now();
                run(d, runs);
                (
                    d.what.clone(),
                    t.elapsed().as_secs_f64() * 1e3 / runs as f64,
                )
            })
            .collect()
    }
}

/// The dispatches a step records: each layer's dense or sparse twin (`Planned::pick`).
fn pick<'a>(
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
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("set_mask"),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("set_mask"),
                timestamp_writes: None,
            });
            pass.set_pipeline(self.kernels.set_mask.get());
            pass.set_bind_group(0, &self.mask_reset[layer], &[]);
            pass.dispatch_workgroups(grid(reset.len()) as u32, 1, 1);
        }
        queue.submit([encoder.finish()]);
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
        queue.write_buffer(&self.step_info, 0, bytemuck::bytes_of(&info));
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("train step"),
        });
        for (l, stale) in self.grad_stale.iter_mut().enumerate() {
            if o.dense_grad {
                *stale = true;
            } else if *stale && self.is_sparse[l] {
                // Once per mask update: the sparse weight gradient writes active entries only.
                encoder.clear_buffer(&self.layers[l].grad, 0, None);
                *stale = false;
            }
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("train step"),
                timestamp_writes: None,
            });
            let p = &self.train;
            p.gather.record(&mut pass);
            let dense_grad = o.dense_grad;
            record_all(&mut pass, pick(&p.forward, &self.is_sparse, dense_grad));
            p.loss.record(&mut pass);
            record_all(&mut pass, pick(&p.backward, &self.is_sparse, dense_grad));
            if o.snfs_decay.is_some() {
                record_all(&mut pass, &p.snfs_ema);
            }
            if o.sgd {
                record_all(&mut pass, pick(&p.sgd, &self.is_sparse, dense_grad));
            }
        }
        queue.submit([encoder.finish()]);
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
        let src = match tensor {
            Tensor::Weights => &l.weights,
            Tensor::Grad => &l.grad,
            Tensor::Momentum => &l.momentum,
            Tensor::SnfsEma => &l.ema,
        };
        self.read_buffer(src, l.len).await
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
}

impl Trainer<GpuBackend> {
    /// A run on a GPU backend on `ctx` (or on a newly requested device).
    pub async fn gpu(
        config: &Config,
        train: Dataset,
        test: Dataset,
        ctx: Option<GpuContext>,
    ) -> Result<Self, GpuError> {
        let setup = Setup::new(config).map_err(GpuError::InvalidSetup)?;
        let (train_len, test_len) = (train.len(), test.len());
        let ctx = match ctx {
            Some(c) => c,
            None => GpuContext::new().await?,
        };
        let backend = GpuBackend::with_context(ctx, &setup, train, test)?;
        Ok(Trainer::new(setup, backend, train_len, test_len))
    }
}
