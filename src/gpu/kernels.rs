//! Every compute pipeline of the WGSL files in shaders/, created on first use, and the
//! bind-group layouts they share, named after what they bind.

use std::sync::{Arc, OnceLock};

use super::error::GpuError;

const PRELUDE: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/prelude.wgsl"));
const GEMM: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/gemm.wgsl"));
const DENSE: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/dense.wgsl"));
const CONV: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/conv.wgsl"));
const POOL: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/pool.wgsl"));
const RELU: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/relu.wgsl"));
const LOSS: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/loss.wgsl"));
const GATHER: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/gather.wgsl"));
const SGD: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/sgd.wgsl"));
const MASK: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/mask.wgsl"));
const SPARSE: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/sparse.wgsl"));
const LANDSCAPE: &str = include_str!(concat!(env!("OUT_DIR"), "/shaders/landscape.wgsl"));

/// Invocations per workgroup of every kernel (within WebGPU's default limit of 256) but the
/// sparse ones.
pub const THREADS: u32 = 256;
/// Samples per workgroup of sparse.wgsl's forward and input gradient (16 invocations of 8
/// samples there): a whole batch of 128 in one.
pub const SPARSE_SAMPLES: u32 = 128;
/// The largest K slice of a matrix-product tile (gemm.wgsl): K chunks are multiples of it.
pub const TILE_K: u32 = 16;
/// gemm.wgsl's ROWS (invocations along M) of each compiled variant, smallest tile first:
/// 16 x 256, 32 x 128 and 64 x 64 outputs.
const GEMM_ROWS: [u32; 3] = [4, 8, 16];
/// Workgroups of a grid-stride kernel: enough to fill any device, few enough to stay far
/// below the per-dimension limit.
const MAX_GRID: u32 = 4096;

#[derive(Clone, Copy)]
enum Slot {
    Uniform,
    Read,
    ReadWrite,
}

fn layout(device: &wgpu::Device, label: &str, slots: &[Slot]) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match s {
                    Slot::Uniform => wgpu::BufferBindingType::Uniform,
                    Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Slot::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

/// The bind-group layouts, by what they bind.
pub struct Layouts {
    /// dims, lhs, rhs, out, aux (bias or mask), step: every matrix product (dense and conv).
    pub gemm: wgpu::BindGroupLayout,
    /// shape, src, dst, aux (pool argmax or ReLU output): pool, ReLU, flatten.
    pub activation: wgpu::BindGroupLayout,
    /// shape, logits, labels, dlogits, losses, step, per-sample losses.
    pub loss: wgpu::BindGroupLayout,
    /// shape, indices, images, labels, x, batch labels, step, transforms.
    pub gather: wgpu::BindGroupLayout,
    /// step, grad, mask, weights, momentum, ema.
    pub sgd: wgpu::BindGroupLayout,
    /// resets, weights, momentum.
    pub mask_reset: wgpu::BindGroupLayout,
    /// dims, lists of active weights, lhs, rhs, out, bias, momentum, step: a sparse fully
    /// connected layer and its SGD.
    pub sparse: wgpu::BindGroupLayout,
    /// plane, z0, z1, z2, z: a landscape plane's first layer (landscape.wgsl).
    pub plane: wgpu::BindGroupLayout,
}

/// A compute pipeline, compiled the first time a step records it. On SwiftShader (a
/// browser's software adapter) a tiled matrix product takes about a second to compile and
/// every other kernel a few milliseconds; a model uses few of the products' variants, and a
/// sparse one none at all: compiling all of them up front made the first step take 17 s.
#[derive(Clone)]
pub struct Pipeline(Arc<LazyPipeline>);

struct LazyPipeline {
    device: wgpu::Device,
    module: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
    entry: &'static str,
    /// gemm.wgsl's ROWS, for a matrix product's variant.
    rows: Option<u32>,
    compiled: OnceLock<wgpu::ComputePipeline>,
}

impl Pipeline {
    // wgpu's handles are Send and Sync natively; on wasm (one thread) they are neither,
    // and the Arc is only shared within the thread.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    fn new(
        device: &wgpu::Device,
        module: &wgpu::ShaderModule,
        layout: &wgpu::BindGroupLayout,
        entry: &'static str,
        rows: Option<u32>,
    ) -> Self {
        Self(Arc::new(LazyPipeline {
            device: device.clone(),
            module: module.clone(),
            layout: layout.clone(),
            entry,
            rows,
            compiled: OnceLock::new(),
        }))
    }

    /// The compiled pipeline (compiled now if this is its first use).
    pub fn get(&self) -> &wgpu::ComputePipeline {
        let p = &self.0;
        p.compiled.get_or_init(|| {
            let layout = p
                .device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(p.entry),
                    bind_group_layouts: &[Some(&p.layout)],
                    immediate_size: 0,
                });
            let rows = p.rows.map(|r| ("ROWS", f64::from(r)));
            p.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(p.entry),
                    layout: Some(&layout),
                    module: &p.module,
                    entry_point: Some(p.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: rows.as_slice(),
                        // Every kernel writes its workgroup memory before reading it.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                })
        })
    }
}

/// A matrix-product entry point, one pipeline per tile shape.
pub struct Gemm {
    variants: [Pipeline; 3],
}

impl Gemm {
    /// The variant for an m x n product that computes the fewest padding outputs (a
    /// convolution has only 16 or 32 channels), 64 x 64 on ties; and its tile (rows, columns).
    fn pick(&self, m: usize, n: usize) -> (&Pipeline, u64, u64) {
        let tile = |r: u32| (4 * u64::from(r), 4 * u64::from(THREADS / r));
        let padded = |r: u32| {
            let (tm, tn) = tile(r);
            (m as u64).div_ceil(tm) * tm * (n as u64).div_ceil(tn) * tn
        };
        let v = (0..GEMM_ROWS.len())
            .rev()
            .min_by_key(|&v| padded(GEMM_ROWS[v]))
            .expect("variants");
        let (rows, cols) = tile(GEMM_ROWS[v]);
        (&self.variants[v], rows, cols)
    }
}

/// One compiled entry point of shaders/, named like the CPU function it mirrors.
pub struct Kernels {
    pub layouts: Layouts,
    pub dense_forward: Gemm,
    pub dense_backward_weights: Gemm,
    pub dense_backward_input: Gemm,
    pub dense_backward_bias: Pipeline,
    pub conv_forward: Gemm,
    pub conv_backward_weights: Gemm,
    pub conv_backward_weights_small: Pipeline,
    pub conv_backward_weights_sum: Pipeline,
    pub conv_backward_input: Gemm,
    pub conv_backward_bias: Pipeline,
    pub relu_forward: Pipeline,
    pub relu_backward: Pipeline,
    pub pool_forward: Pipeline,
    pub pool_backward: Pipeline,
    pub flatten_forward: Pipeline,
    pub flatten_backward: Pipeline,
    pub softmax_cross_entropy: Pipeline,
    pub softmax_cross_entropy_eval: Pipeline,
    pub softmax_cross_entropy_grad: Pipeline,
    pub loss_sum: Pipeline,
    pub loss_sum_eval: Pipeline,
    pub load_batch: Pipeline,
    pub sgd_step: Pipeline,
    pub sgd_step_bias: Pipeline,
    pub snfs_ema: Pipeline,
    pub set_mask: Pipeline,
    pub dense_forward_sparse: Pipeline,
    pub dense_backward_input_sparse: Pipeline,
    pub dense_backward_weights_sparse: Pipeline,
    pub dense_backward_weights_all: Pipeline,
    pub sgd_step_sparse: Pipeline,
    pub conv_forward_sparse: Pipeline,
    pub conv_backward_input_sparse: Pipeline,
    pub conv_backward_weights_sparse: Pipeline,
    pub conv_backward_weights_sparse_sum: Pipeline,
    pub plane_combine: Pipeline,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        use Slot::{Read as R, ReadWrite as W, Uniform as U};
        let layouts = Layouts {
            gemm: layout(device, "gemm", &[U, R, R, W, R, U]),
            activation: layout(device, "activation", &[U, R, W, W]),
            loss: layout(device, "loss", &[U, R, R, W, W, U, W]),
            gather: layout(device, "gather", &[U, R, R, R, W, W, U, R]),
            sgd: layout(device, "sgd", &[U, R, R, W, W, W]),
            mask_reset: layout(device, "mask_reset", &[R, W, W]),
            sparse: layout(device, "sparse", &[U, R, R, R, W, R, W, U]),
            plane: layout(device, "plane", &[U, R, R, R, W]),
        };
        // Every module starts with the shared structs of prelude.wgsl.
        let module = |label: &str, parts: &[&str]| {
            let source = std::iter::once(PRELUDE).chain(parts.iter().copied());
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.collect::<Vec<_>>().join("\n").into()),
            })
        };
        let dense = module("dense.wgsl", &[GEMM, DENSE]);
        let conv = module("conv.wgsl", &[GEMM, CONV]);
        let pool = module("pool.wgsl", &[POOL]);
        let relu = module("relu.wgsl", &[RELU]);
        let loss = module("loss.wgsl", &[LOSS]);
        let gather = module("gather.wgsl", &[GATHER]);
        let sgd = module("sgd.wgsl", &[SGD]);
        let mask = module("mask.wgsl", &[MASK]);
        let sparse = module("sparse.wgsl", &[SPARSE]);
        let landscape = module("landscape.wgsl", &[LANDSCAPE]);
        let pipeline =
            |module: &wgpu::ShaderModule, layout: &wgpu::BindGroupLayout, entry: &'static str| {
                Pipeline::new(device, module, layout, entry, None)
            };
        let l = &layouts;
        let gemm = |module: &wgpu::ShaderModule, entry: &'static str| Gemm {
            variants: GEMM_ROWS.map(|r| Pipeline::new(device, module, &l.gemm, entry, Some(r))),
        };
        Self {
            dense_forward: gemm(&dense, "dense_forward"),
            dense_backward_weights: gemm(&dense, "dense_backward_weights"),
            dense_backward_input: gemm(&dense, "dense_backward_input"),
            dense_backward_bias: pipeline(&dense, &l.gemm, "dense_backward_bias"),
            conv_forward: gemm(&conv, "conv_forward"),
            conv_backward_weights: gemm(&conv, "conv_backward_weights"),
            conv_backward_weights_small: pipeline(&conv, &l.gemm, "conv_backward_weights_small"),
            conv_backward_weights_sum: pipeline(&conv, &l.gemm, "conv_backward_weights_sum"),
            conv_backward_input: gemm(&conv, "conv_backward_input"),
            conv_backward_bias: pipeline(&conv, &l.gemm, "conv_backward_bias"),
            relu_forward: pipeline(&relu, &l.activation, "relu_forward"),
            relu_backward: pipeline(&relu, &l.activation, "relu_backward"),
            pool_forward: pipeline(&pool, &l.activation, "pool_forward"),
            pool_backward: pipeline(&pool, &l.activation, "pool_backward"),
            flatten_forward: pipeline(&pool, &l.activation, "flatten_forward"),
            flatten_backward: pipeline(&pool, &l.activation, "flatten_backward"),
            softmax_cross_entropy: pipeline(&loss, &l.loss, "softmax_cross_entropy"),
            softmax_cross_entropy_eval: pipeline(&loss, &l.loss, "softmax_cross_entropy_eval"),
            softmax_cross_entropy_grad: pipeline(&loss, &l.loss, "softmax_cross_entropy_grad"),
            loss_sum: pipeline(&loss, &l.loss, "loss_sum"),
            loss_sum_eval: pipeline(&loss, &l.loss, "loss_sum_eval"),
            load_batch: pipeline(&gather, &l.gather, "load_batch"),
            sgd_step: pipeline(&sgd, &l.sgd, "sgd_step"),
            sgd_step_bias: pipeline(&sgd, &l.sgd, "sgd_step_bias"),
            snfs_ema: pipeline(&sgd, &l.sgd, "snfs_ema"),
            set_mask: pipeline(&mask, &l.mask_reset, "set_mask"),
            dense_forward_sparse: pipeline(&sparse, &l.sparse, "dense_forward_sparse"),
            dense_backward_input_sparse: pipeline(
                &sparse,
                &l.sparse,
                "dense_backward_input_sparse",
            ),
            dense_backward_weights_sparse: pipeline(
                &sparse,
                &l.sparse,
                "dense_backward_weights_sparse",
            ),
            dense_backward_weights_all: pipeline(&sparse, &l.sparse, "dense_backward_weights_all"),
            sgd_step_sparse: pipeline(&sparse, &l.sparse, "sgd_step_sparse"),
            conv_forward_sparse: pipeline(&sparse, &l.sparse, "conv_forward_sparse"),
            conv_backward_input_sparse: pipeline(&sparse, &l.sparse, "conv_backward_input_sparse"),
            conv_backward_weights_sparse: pipeline(
                &sparse,
                &l.sparse,
                "conv_backward_weights_sparse",
            ),
            conv_backward_weights_sparse_sum: pipeline(
                &sparse,
                &l.sparse,
                "conv_backward_weights_sparse_sum",
            ),
            plane_combine: pipeline(&landscape, &l.plane, "plane_combine"),
            layouts,
        }
    }
}

/// A recorded dispatch: pipeline, its bind group, workgroup counts. Built once; replayed
/// every step (no allocation on the host beyond wgpu's own command recording).
#[derive(Clone)]
pub struct Dispatch {
    pub pipeline: Pipeline,
    pub bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
    /// The kernel's name, for per-kernel timings (native only: they block on the device).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub what: String,
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(self.pipeline.get());
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.groups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Records `dispatches` in order into one compute pass (wgpu orders dependent dispatches).
pub fn record_all<'a>(
    pass: &mut wgpu::ComputePass<'_>,
    dispatches: impl IntoIterator<Item = &'a Dispatch>,
) {
    for d in dispatches {
        d.record(pass);
    }
}

/// A new command encoder, filled by `encode`, submitted to `queue`.
pub fn submit(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    encode: impl FnOnce(&mut wgpu::CommandEncoder),
) {
    let mut encoder =
        device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
    encode(&mut encoder);
    queue.submit([encoder.finish()]);
}

/// One compute pass in `encoder`, filled by `record`.
pub fn pass(
    encoder: &mut wgpu::CommandEncoder,
    label: &str,
    record: impl FnOnce(&mut wgpu::ComputePass<'_>),
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: None,
    });
    record(&mut pass);
}

/// `submit` of one compute pass filled by `record`.
pub fn submit_pass(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    label: &str,
    record: impl FnOnce(&mut wgpu::ComputePass<'_>),
) {
    submit(device, queue, label, |e| pass(e, label, record));
}

/// Builds dispatches on one device, checking workgroup counts against its limits.
pub struct Builder<'a> {
    pub device: &'a wgpu::Device,
    pub kernels: &'a Kernels,
    max_groups: u32,
}

impl<'a> Builder<'a> {
    pub fn new(device: &'a wgpu::Device, kernels: &'a Kernels) -> Self {
        Self {
            device,
            kernels,
            max_groups: device.limits().max_compute_workgroups_per_dimension,
        }
    }

    pub fn bind(
        &self,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &entries,
        })
    }

    /// A matrix product with an m x n output and `splits` K chunks, on the tile shape that
    /// fits m.
    pub fn gemm(
        &self,
        what: &str,
        gemm: &Gemm,
        bind_group: wgpu::BindGroup,
        (m, n, splits): (usize, usize, usize),
    ) -> Result<Dispatch, GpuError> {
        let (pipeline, rows, cols) = gemm.pick(m, n);
        let groups = [
            (n as u64).div_ceil(cols),
            (m as u64).div_ceil(rows),
            splits as u64,
        ];
        self.dispatch(what, pipeline, bind_group, groups)
    }

    pub fn dispatch(
        &self,
        what: &str,
        pipeline: &Pipeline,
        bind_group: wgpu::BindGroup,
        groups: [u64; 3],
    ) -> Result<Dispatch, GpuError> {
        let mut g = [0u32; 3];
        for (out, &n) in g.iter_mut().zip(&groups) {
            if n > u64::from(self.max_groups) {
                return Err(GpuError::DispatchTooLarge {
                    what: what.into(),
                    groups: n,
                    limit: self.max_groups,
                });
            }
            *out = n.max(1) as u32;
        }
        Ok(Dispatch {
            pipeline: pipeline.clone(),
            bind_group,
            groups: g,
            what: what.into(),
        })
    }
}

/// Workgroups of a grid-stride kernel over `n` elements.
pub fn grid(n: usize) -> u64 {
    (n as u64)
        .div_ceil(u64::from(THREADS))
        .clamp(1, u64::from(MAX_GRID))
}
