// Gathers a batch of 8-bit images from the data set held on the GPU into the network input,
// scaled to [0, 1] (mirrors Net::load_batch in src/cpu/net.rs): [pixel][batch] for an MLP,
// [C][batch][H][W] for a CNN. Pixels are packed four to a u32, little-endian.

struct GatherShape {
    image_len: u32,
    plane: u32,
    batch: u32,
    // 1: [C][batch][H][W]; 0: [pixel][batch].
    planar: u32,
    // 1: images indices[b] (training); 0: images base + b, clamped to count - 1 (evaluation).
    use_indices: u32,
    count: u32,
    _pad0: u32,
    _pad1: u32,
}

struct StepInfo {
    lr: f32,
    momentum: f32,
    wd: f32,
    snfs_decay: f32,
    dense_grad: u32,
    loss_slot: u32,
    base: u32,
    valid: u32,
}

@group(0) @binding(0) var<uniform> shape: GatherShape;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> batch_labels: array<u32>;
@group(0) @binding(6) var<uniform> step_info: StepInfo;

const THREADS: u32 = 256u;

@compute @workgroup_size(256)
fn load_batch(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let total = shape.batch * shape.image_len;
    for (var t = gid.x; t < total; t += groups.x * THREADS) {
        var b: u32;
        var j: u32;
        if shape.planar != 0u {
            let cb = t / shape.plane;
            b = cb % shape.batch;
            j = (cb / shape.batch) * shape.plane + t % shape.plane;
        } else {
            b = t % shape.batch;
            j = t / shape.batch;
        }
        var image: u32;
        if shape.use_indices != 0u {
            image = indices[b];
        } else {
            image = min(step_info.base + b, shape.count - 1u);
        }
        let offset = image * shape.image_len + j;
        let byte = (images[offset / 4u] >> ((offset % 4u) * 8u)) & 0xffu;
        x[t] = f32(byte) / 255.0;
        if j == 0u {
            batch_labels[b] = labels[image];
        }
    }
}
