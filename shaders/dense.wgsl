// Fully connected layer (mirrors src/cpu/dense.rs) on feature-major activations: x is
// [n_in][batch], y is [n_out][batch], W is [n_out][n_in]. Every product is a gemm.wgsl tile.

const DENSE_FORWARD: u32 = 0u;
const DENSE_BACKWARD_WEIGHTS: u32 = 1u;
const DENSE_BACKWARD_INPUT: u32 = 2u;

fn gemm_load_a(op: u32, m: u32, k: u32) -> f32 {
    if op == DENSE_BACKWARD_INPUT {
        // A = W^T: m = input unit, k = output unit.
        return lhs[k * dims.m + m];
    }
    // W [n_out][n_in] (forward) or dy [n_out][batch] (weights).
    return lhs[m * dims.k + k];
}

// A column of B is just its index.
struct Col {
    n: u32,
}

fn gemm_col(op: u32, n: u32) -> Col {
    return Col(n);
}

fn gemm_load_b(op: u32, k: u32, col: Col) -> f32 {
    if op == DENSE_BACKWARD_WEIGHTS {
        // B = x^T: k = sample, n = input unit.
        return rhs[col.n * dims.k + k];
    }
    // x [n_in][batch] (forward) or dy [n_out][batch] (input).
    return rhs[k * dims.n + col.n];
}

fn gemm_store(op: u32, m: u32, n: u32, z: u32, v: f32) {
    let i = m * dims.n + n;
    switch op {
        case DENSE_FORWARD: {
            out[i] = v + aux[m];
        }
        case DENSE_BACKWARD_WEIGHTS: {
            out[i] = masked_grad(v, i);
        }
        default: {
            out[i] = v;
        }
    }
}

// y = W x + b: m = n_out, n = batch, k = n_in.
@compute @workgroup_size(256)
fn dense_forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    gemm_run(DENSE_FORWARD, group, local);
}

// dW = dy x^T (through the mask unless dense_grad): m = n_out, n = n_in, k = batch.
@compute @workgroup_size(256)
fn dense_backward_weights(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    gemm_run(DENSE_BACKWARD_WEIGHTS, group, local);
}

// dx = W^T dy: m = n_in, n = batch, k = n_out.
@compute @workgroup_size(256)
fn dense_backward_input(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    gemm_run(DENSE_BACKWARD_INPUT, group, local);
}

// db[o] = sum over the batch of dy[o]: m = n_out rows of n = batch. One invocation per row
// adds its samples in order, as the CPU does: a batch is short, and a workgroup reduction's
// barriers cost far more than the sum on an emulated GPU (SwiftShader, lavapipe).
@compute @workgroup_size(256)
fn dense_backward_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = gid.x;
    if o >= dims.m {
        return;
    }
    var s = 0.0;
    for (var b = 0u; b < dims.n; b++) {
        s += lhs[o * dims.n + b];
    }
    out[o] = s;
}
