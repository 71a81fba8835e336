// 2x2 max-pooling (stride 2, odd edges dropped) and flatten (mirrors src/cpu/pool.rs), on
// [C][batch][H][W] planes. Grid-stride loops: any size fits any number of workgroups.

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
// Index of each window's maximum: written forward, read backward.
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

const THREADS: u32 = 256u;

// y = max over each 2x2 window (the first maximum in row-major order wins, as on the CPU).
@compute @workgroup_size(256)
fn pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let oh = shape.h / 2u;
    let ow = shape.w / 2u;
    for (var o = gid.x; o < shape.n; o += groups.x * THREADS) {
        let p = o / (oh * ow);
        let r = o % (oh * ow);
        let base = p * shape.h * shape.w + 2u * (r / ow) * shape.w + 2u * (r % ow);
        var best = base;
        for (var t = 1u; t < 4u; t++) {
            let i = base + (t / 2u) * shape.w + t % 2u;
            if src[i] > src[best] {
                best = i;
            }
        }
        dst[o] = src[best];
        argmax[o] = best;
    }
}

// dx = dy routed to each window's maximum, 0 elsewhere. One invocation per input element
// (windows do not overlap, so each input has at most one window: no scatter, no atomics).
@compute @workgroup_size(256)
fn pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let oh = shape.h / 2u;
    let ow = shape.w / 2u;
    for (var i = gid.x; i < shape.n; i += groups.x * THREADS) {
        let p = i / (shape.h * shape.w);
        let r = i % (shape.h * shape.w);
        let oy = r / shape.w / 2u;
        let ox = r % shape.w / 2u;
        var v = 0.0;
        if oy < oh && ox < ow {
            let o = p * oh * ow + oy * ow + ox;
            if argmax[o] == i {
                v = src[o];
            }
        }
        dst[i] = v;
    }
}

// [C][batch][HW] -> [C * HW][batch] (the dense layer's feature-major input).
@compute @workgroup_size(256)
fn flatten_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var t = gid.x; t < shape.n; t += groups.x * THREADS) {
        let b = t % shape.batch;
        let f = t / shape.batch;
        let ch = f / shape.hw;
        let p = f % shape.hw;
        dst[t] = src[(ch * shape.batch + b) * shape.hw + p];
    }
}

@compute @workgroup_size(256)
fn flatten_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var t = gid.x; t < shape.n; t += groups.x * THREADS) {
        let p = t % shape.hw;
        let cb = t / shape.hw;
        let b = cb % shape.batch;
        let ch = cb / shape.batch;
        dst[t] = src[(ch * shape.hw + p) * shape.batch + b];
    }
}
