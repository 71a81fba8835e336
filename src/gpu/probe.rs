//! Losses at arbitrary points of parameter space on the GPU, apart from the training state
//! (the landscapes): a second set of weights and biases (the probe) with its own lists of
//! active weights, evaluated on the training images with the evaluation workspace; and, for
//! a plane whose network starts with a fully connected layer, that layer run once for the
//! origin and each direction and combined per point (shaders/landscape.wgsl).

use super::backend::{GpuBackend, pick};
use super::buffers::Alloc;
use super::error::GpuError;
use super::kernels::{Builder, Dispatch, grid, record_all, submit, submit_pass};
use super::ops::Common;
use super::program::{self, LayerBuffers, Workspace};
use super::sparse::{Planned, SparseLists};
use super::uniforms::{PlanePoint, StepInfo};
use crate::backend::PlaneRef;
use crate::model::{Graph, Op, Point};
use crate::sparse::LayerKind;

/// Evaluation batches whose sums one read-back returns: `losses_at` evaluates several points
/// per submission round and reads their sums at once (a landscape's row in one read-back).
pub const PROBE_SLOTS: usize = 64;

/// The probe: weights and biases of a point, the lists of its active weights (every fully
/// connected layer: a masked point computes with its active weights only, as training does),
/// and the forward pass over them.
pub struct Probe {
    params: Vec<(wgpu::Buffer, wgpu::Buffer)>,
    lists: Vec<Option<SparseLists>>,
    /// The mask the lists were last built from, per layer (all true: no mask).
    masks: Vec<Vec<bool>>,
    is_sparse: Vec<bool>,
    forward: Vec<Planned>,
    plane: Option<PlaneProgram>,
}

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

impl Probe {
    /// The probe's buffers and dispatches over the evaluation workspace `ws`.
    pub fn new(
        b: &Builder,
        alloc: &Alloc,
        queue: &wgpu::Queue,
        graph: &Graph,
        layers: &[LayerBuffers],
        ws: &Workspace,
        c: &Common,
    ) -> Result<Self, GpuError> {
        let params = layers
            .iter()
            .map(|l| {
                Ok((
                    alloc.storage("probe weights", l.len)?,
                    alloc.storage("probe bias", l.n_out)?,
                ))
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let masks: Vec<Vec<bool>> = layers.iter().map(|l| vec![true; l.len]).collect();
        let lists = graph
            .layers
            .iter()
            .enumerate()
            .map(|(l, s)| {
                (s.kind == LayerKind::Dense)
                    .then(|| {
                        let dims = (s.n_in, s.n_out);
                        let name = format!("probe {}", s.name);
                        SparseLists::new(alloc, &name, dims, queue, &masks[l])
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let is_sparse = lists
            .iter()
            .map(|l| l.as_ref().is_some_and(SparseLists::is_sparse))
            .collect();
        let refs: Vec<_> = params.iter().map(|(w, b)| (w, b)).collect();
        let forward = program::forward(b, alloc, graph, ws, &refs, &lists, c)?;
        let plane = match graph.ops.first() {
            Some(&Op::Dense(0)) if graph.ops.len() > 1 => {
                Some(PlaneProgram::new(b, alloc, graph, ws)?)
            }
            _ => None,
        };
        Ok(Self {
            params,
            lists,
            masks,
            is_sparse,
            forward,
            plane,
        })
    }
}

impl PlaneProgram {
    fn new(b: &Builder, alloc: &Alloc, graph: &Graph, ws: &Workspace) -> Result<Self, GpuError> {
        let len = graph.layers[0].n_out * ws.batch;
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
        let bind = b.bind(&b.kernels.layouts.plane, &[&point, o0, o1, o2, &ws.acts[1]]);
        let combine = b.dispatch(
            "plane_combine",
            &b.kernels.plane_combine,
            bind,
            [grid(len), 1, 1],
        )?;
        Ok(Self {
            outputs,
            input: ws.acts[1].clone(),
            point,
            combine,
            len,
            key: Vec::new(),
            key_mask: None,
            key_n: 0,
        })
    }
}

impl GpuBackend {
    /// `Backend::losses_at`: each point's evaluation is submitted after writing its
    /// parameters to the probe, and the sums of up to `PROBE_SLOTS` evaluation batches come
    /// back in one read-back (on a browser's software adapter a read-back waits for the next
    /// frame or more).
    pub(super) async fn probe_losses(
        &mut self,
        points: &[&Point],
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
            for (k, p) in chunk.iter().enumerate() {
                self.write_probe_layers(0..self.layers.len(), p, masks);
                let probe = &self.probe;
                let gather = &self.eval.gather_train;
                self.submit_eval(gather, &probe.forward, &probe.is_sparse, n, k * batches);
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

    /// `Backend::plane_losses`. When the network starts with a fully connected layer and `n`
    /// images fit one evaluation batch, that layer runs three times (origin, d1, d2) and each
    /// point combines its outputs (landscape.wgsl) before the later layers run; else as
    /// `probe_losses`.
    pub(super) async fn probe_plane_losses(
        &mut self,
        (origin, d1, d2): PlaneRef<'_>,
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        let n = n.min(self.train_len);
        let fits = n > 0 && n <= self.eval_batch;
        let Some(mut plane) = self.probe.plane.take_if(|_| fits) else {
            let points: Vec<Point> = coords
                .iter()
                .map(|&(x, y)| origin.offset(x, d1, y, d2))
                .collect();
            let refs: Vec<&Point> = points.iter().collect();
            return self.probe_losses(&refs, masks, n).await;
        };
        self.set_probe_masks(masks);
        let mut info = StepInfo {
            valid: n as u32,
            ..StepInfo::default()
        };
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        queue.write_buffer(&self.eval_info, 0, bytemuck::bytes_of(&info));
        // The images; the first layer's outputs for the origin and each direction, unless the
        // last call computed them for the same parameters (the previous row of the plane).
        submit_pass(device, queue, "plane images", |pass| {
            self.eval.gather_train.record(pass);
        });
        if !plane.holds([origin, d1, d2], masks.map(|m| &m[0][..]), n) {
            for (k, p) in [origin, d1, d2].into_iter().enumerate() {
                self.write_probe_layers(0..1, p, masks);
                let (device, queue) = (&self.ctx.device, &self.ctx.queue);
                let first = self.probe.forward[0].pick(&self.probe.is_sparse, false);
                submit(device, queue, "plane first layer", |encoder| {
                    super::kernels::pass(encoder, "plane first layer", |pass| {
                        first.record(pass);
                    });
                    let bytes = 4 * plane.len as u64;
                    encoder.copy_buffer_to_buffer(&plane.input, 0, &plane.outputs[k], 0, bytes);
                });
            }
        }
        let layers = self.layers.len();
        let mut out = Vec::with_capacity(coords.len());
        for chunk in coords.chunks(PROBE_SLOTS) {
            for (k, &(x, y)) in chunk.iter().enumerate() {
                // The later layers' parameters at this point (the first layer's are not used).
                let p = origin.offset_from(1, x, d1, y, d2);
                self.write_probe_layers(1..layers, &p, masks);
                let (device, queue) = (&self.ctx.device, &self.ctx.queue);
                let at = PlanePoint {
                    x: x as f32,
                    y: y as f32,
                    len: plane.len as u32,
                    _pad: 0,
                };
                queue.write_buffer(&plane.point, 0, bytemuck::bytes_of(&at));
                info.loss_slot = k as u32;
                queue.write_buffer(&self.eval_info, 0, bytemuck::bytes_of(&info));
                let probe = &self.probe;
                submit_pass(device, queue, "plane point", |pass| {
                    plane.combine.record(pass);
                    record_all(pass, pick(&probe.forward[1..], &probe.is_sparse, false));
                    self.eval.loss.iter().for_each(|d| d.record(pass));
                });
            }
            let sums = self.read_buffer(&self.eval_out, 2 * chunk.len()).await;
            out.extend(sums.chunks_exact(2).map(|s| f64::from(s[0]) / n as f64));
        }
        self.probe.plane = Some(plane);
        out
    }

    /// Rebuilds the probe's lists of active weights where `masks` (none: every weight)
    /// differs from the mask they were built from.
    fn set_probe_masks(&mut self, masks: Option<&[Vec<bool>]>) {
        let probe = &mut self.probe;
        for l in 0..self.layers.len() {
            let Some(lists) = probe.lists[l].as_mut() else {
                continue;
            };
            let last = &mut probe.masks[l];
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
                probe.is_sparse[l] = lists.is_sparse();
            }
        }
    }

    /// Writes the layers in `range` of point `p` to the probe (inactive weights zeroed by
    /// `masks`).
    fn write_probe_layers(
        &mut self,
        range: std::ops::Range<usize>,
        p: &Point,
        masks: Option<&[Vec<bool>]>,
    ) {
        let (weights, biases) = (&p.weights, &p.biases);
        assert_eq!(weights.len(), self.layers.len(), "weights of every layer");
        assert_eq!(biases.len(), self.layers.len(), "biases of every layer");
        let queue = &self.ctx.queue;
        for (l, (w, b)) in self.probe.params.iter().enumerate() {
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
