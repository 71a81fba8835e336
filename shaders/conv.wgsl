// 3x3 convolution, stride 1, same (zero) padding (mirrors src/cpu/conv.rs) on activations
// [C][batch][H][W]; weight (o, c, ky, kx) at o * (C_in * 9) + c * 9 + ky * 3 + kx. Computed as
// implicit GEMMs (gemm.wgsl): column k = c * 9 + ky * 3 + kx of the unrolled input is read on
// the fly, never stored.

const CONV_FORWARD: u32 = 0u;
const CONV_BACKWARD_WEIGHTS: u32 = 1u;
const CONV_BACKWARD_INPUT: u32 = 2u;

// A column of B: an image position (b, y, x) (forward, input gradient), or a weight column
// c * 9 + tap (weight gradient), decomposed once per invocation.
struct Col {
    n: u32,
    b: u32,
    y: u32,
    x: u32,
}

fn gemm_col(op: u32, n: u32) -> Col {
    if op == CONV_BACKWARD_WEIGHTS {
        return Col(n, 0u, 0u, 0u);
    }
    let hw = dims.h * dims.w;
    let b = n / hw;
    let p = n % hw;
    return Col(n, b, p / dims.w, p % dims.w);
}

// Input pixel (c, b, y + ky - 1, x + kx - 1) for column k = c * 9 + ky * 3 + kx of the
// unrolled input; 0 in the padding. Negative coordinates wrap to huge unsigned values, so one
// comparison checks both ends.
fn im2col(k: u32, b: u32, y0: u32, x0: u32) -> f32 {
    let c = k / 9u;
    let t = k % 9u;
    let y = y0 + t / 3u - 1u;
    let x = x0 + t % 3u - 1u;
    if y >= dims.h || x >= dims.w {
        return 0.0;
    }
    return rhs[((c * dims.batch + b) * dims.h + y) * dims.w + x];
}

// dy pixel (o, b, y - ky + 1, x - kx + 1) for row k = o * 9 + ky * 3 + kx of the backward
// input product: the reverse shift of the forward pass.
fn col2im(k: u32, b: u32, y0: u32, x0: u32) -> f32 {
    let o = k / 9u;
    let t = k % 9u;
    let y = y0 + 1u - t / 3u;
    let x = x0 + 1u - t % 3u;
    if y >= dims.h || x >= dims.w {
        return 0.0;
    }
    return rhs[((o * dims.batch + b) * dims.h + y) * dims.w + x];
}

fn gemm_load_a(op: u32, m: u32, k: u32) -> f32 {
    if op == CONV_BACKWARD_INPUT {
        // m = input channel c, k = o * 9 + tap.
        return lhs[(k / 9u) * (dims.c_in * 9u) + m * 9u + k % 9u];
    }
    // W [c_out][c_in * 9] (forward) or dy [c_out][batch * H * W] (weights).
    return lhs[m * dims.k + k];
}

fn gemm_load_b(op: u32, k: u32, col: Col) -> f32 {
    switch op {
        case CONV_FORWARD: {
            return im2col(k, col.b, col.y, col.x);
        }
        case CONV_BACKWARD_WEIGHTS: {
            // k = position (b, y, x), col.n = column c * 9 + tap.
            let hw = dims.h * dims.w;
            let b = div_small(k, hw);
            let p = k - b * hw;
            let y = div_small(p, dims.w);
            return im2col(col.n, b, y, p - y * dims.w);
        }
        default: {
            return col2im(k, col.b, col.y, col.x);
        }
    }
}

fn gemm_store(op: u32, m: u32, n: u32, z: u32, v: f32) {
    let i = m * dims.n + n;
    switch op {
        case CONV_FORWARD: {
            out[i] = v + aux[m];
        }
        case CONV_BACKWARD_WEIGHTS: {
            // One partial sum per K split; conv_backward_weights_sum adds them.
            out[z * dims.m * dims.n + i] = v;
        }
        default: {
            out[i] = v;
        }
    }
}

// y = W * x + b: m = c_out, n = batch * H * W, k = c_in * 9.
@compute @workgroup_size(256)
fn conv_forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    gemm_run(CONV_FORWARD, group, local);
}

// Partial dW per K split: m = c_out, n = c_in * 9, k = batch * H * W (split by k_chunk).
@compute @workgroup_size(256)
fn conv_backward_weights(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    gemm_run(CONV_BACKWARD_WEIGHTS, group, local);
}

// Partial dW per K split when the layer has few weights (m * n = c_out * c_in * 9 up to a
// few thousand): a tile would be mostly padding. One invocation per weight (o, c, tap) sums
// dy[o][p] * x[c][p + tap] over the positions p of its chunk in order; all invocations walk
// the same positions, so (b, y, x) is stepped rather than divided out.
@compute @workgroup_size(256)
fn conv_backward_weights_small(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let total = dims.m * dims.n;
    let i = group.x * THREADS + local;
    if i >= total {
        return;
    }
    let o = i / dims.n;
    let c = (i % dims.n) / 9u;
    let t = i % 9u;
    let k_begin = group.z * dims.k_chunk;
    let k_end = min(k_begin + dims.k_chunk, dims.k);
    let hw = dims.h * dims.w;
    var b = div_small(k_begin, hw);
    var y = div_small(k_begin - b * hw, dims.w);
    var x = k_begin - b * hw - y * dims.w;
    var s = 0.0;
    for (var k = k_begin; k < k_end; k++) {
        let sy = y + t / 3u - 1u;
        let sx = x + t % 3u - 1u;
        if sy < dims.h && sx < dims.w {
            s += lhs[o * dims.k + k] * rhs[((c * dims.batch + b) * dims.h + sy) * dims.w + sx];
        }
        x += 1u;
        if x == dims.w {
            x = 0u;
            y += 1u;
            if y == dims.h {
                y = 0u;
                b += 1u;
            }
        }
    }
    out[group.z * total + i] = s;
}

// dW = sum of the partials (lhs), through the mask (aux) unless dense_grad. In a fixed order,
// so the result does not depend on scheduling.
@compute @workgroup_size(256)
fn conv_backward_weights_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let total = dims.m * dims.n;
    let splits = (dims.k + dims.k_chunk - 1u) / dims.k_chunk;
    for (var i = gid.x; i < total; i += groups.x * THREADS) {
        var s = 0.0;
        for (var z = 0u; z < splits; z++) {
            s += lhs[z * total + i];
        }
        out[i] = masked_grad(s, i);
    }
}

// dx = W^T * dy (reverse shifts): m = c_in, n = batch * H * W, k = c_out * 9.
@compute @workgroup_size(256)
fn conv_backward_input(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    gemm_run(CONV_BACKWARD_INPUT, group, local);
}

// db[o] = sum of dy[o] over batch * H * W: m = c_out rows of n = batch * H * W.
@compute @workgroup_size(256)
fn conv_backward_bias(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    row_sum(group.x, local);
}
