// Fully connected layer on its active weights only (mirrors the sparse paths of
// src/cpu/dense.rs): x is [n_in][batch], y is [n_out][batch], W is [n_out][n_in] as on the
// dense path (inactive weights hold 0; SGD, read-back and the dense gradient share it).
// The active weights are listed by row and by column (src/cpu/index.rs `SparseIndex`,
// uploaded by src/gpu/sparse.rs at each mask update) in `lists`:
//   row_ptr [n_out + 1], col_ptr [n_in + 1]: where each row's (column's) list starts;
//   cols: the column of each active weight, row by row (CSR);
//   rows: the row of each active weight, column by column (CSC);
//   active_list: the flat index of each active weight, row by row (for SGD).
//
// Laid out for GPUs emulated on a CPU (SwiftShader, lavapipe), which run invocations as the
// SIMD lanes of a CPU vector: a workgroup owns one row (or column) of W, so list entries and
// weights are the same for all its invocations (uniform loads, no per-lane gather), and its
// invocations run along the batch, so activations are read contiguously. The forward pass
// and the input gradient add their terms in the CPU's order.

struct SparseDims {
    n_in: u32,
    n_out: u32,
    batch: u32,
    // Offsets of the four lists in `lists`.
    row_ptr: u32,
    col_ptr: u32,
    cols: u32,
    rows: u32,
    active_list: u32,
}

@group(0) @binding(0) var<uniform> dims: SparseDims;
@group(0) @binding(1) var<storage, read> lists: array<u32>;
@group(0) @binding(2) var<storage, read> lhs: array<f32>;
@group(0) @binding(3) var<storage, read> rhs: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// The bias (forward only).
@group(0) @binding(5) var<storage, read> bias: array<f32>;
// SGD only: the momentum, and the step's learning rate, momentum and weight decay.
@group(0) @binding(6) var<storage, read_write> momentum: array<f32>;
@group(0) @binding(7) var<uniform> step_info: StepInfo;

// Each invocation computes 8 samples of one row (forward) or column (input gradient), or
// the gradient of 8 consecutive weights of one row: on an emulated GPU every load (even one
// the same for all invocations) costs about the same, and this spreads the loads of a list
// entry and its weight, or of dy[o][b], over 8 multiply-adds (4 per invocation: 20% to 25%
// slower on SwiftShader and lavapipe). A workgroup of 16 covers 128 samples (or list
// entries); src/gpu/sparse.rs dispatches accordingly.
const THREADS: u32 = 16u;
const PER_INVOCATION: u32 = 8u;

// Samples (or list entries) base + (local, local + 16, ..., local + 112), as two vectors.
struct Eight {
    lo: vec4<u32>,
    hi: vec4<u32>,
}

fn eight(base: u32) -> Eight {
    let lo = base + vec4(0u, 1u, 2u, 3u) * THREADS;
    return Eight(lo, lo + 4u * THREADS);
}

// base, base + 1, ..., base + 7.
fn consecutive(base: u32) -> Eight {
    let lo = base + vec4(0u, 1u, 2u, 3u);
    return Eight(lo, lo + 4u);
}

// rhs[row + s] for the 8 samples s.
fn load8(row: u32, s: Eight) -> array<vec4<f32>, 2> {
    let a = row + s.lo;
    let b = row + s.hi;
    return array(vec4(rhs[a.x], rhs[a.y], rhs[a.z], rhs[a.w]), vec4(rhs[b.x], rhs[b.y], rhs[b.z], rhs[b.w]));
}

// out[row + b[k]] = v[k] for the samples within the batch.
fn store4(row: u32, b: vec4<u32>, v: vec4<f32>) {
    if b.x < dims.batch {
        out[row + b.x] = v.x;
    }
    if b.y < dims.batch {
        out[row + b.y] = v.y;
    }
    if b.z < dims.batch {
        out[row + b.z] = v.z;
    }
    if b.w < dims.batch {
        out[row + b.w] = v.w;
    }
}

// y[o][b] = bias[o] + sum over active w in row o of W[w] x[col(w)][b]: lhs = W, rhs = x.
// Workgroup (o, a block of 128 samples).
@compute @workgroup_size(16)
fn dense_forward_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let b = eight(group.y * THREADS * PER_INVOCATION + local);
    // Past the batch, read a valid sample and store nothing: no invocation diverges.
    let last = vec4(dims.batch - 1u);
    let s = Eight(min(b.lo, last), min(b.hi, last));
    let w_row = o * dims.n_in;
    var lo = vec4(bias[o]);
    var hi = lo;
    let end = lists[dims.row_ptr + o + 1u];
    for (var j = lists[dims.row_ptr + o]; j < end; j++) {
        let col = lists[dims.cols + j];
        let w = lhs[w_row + col];
        let x = load8(col * dims.batch, s);
        lo += w * x[0];
        hi += w * x[1];
    }
    store4(o * dims.batch, b.lo, lo);
    store4(o * dims.batch, b.hi, hi);
}

// dx[i][b] = sum over active w in column i of W[w] dy[row(w)][b]: lhs = W, rhs = dy.
// Workgroup (i, a block of 128 samples), as the forward pass.
@compute @workgroup_size(16)
fn dense_backward_input_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let i = group.x;
    let b = eight(group.y * THREADS * PER_INVOCATION + local);
    let last = vec4(dims.batch - 1u);
    let s = Eight(min(b.lo, last), min(b.hi, last));
    var lo = vec4(0.0);
    var hi = lo;
    let end = lists[dims.col_ptr + i + 1u];
    for (var j = lists[dims.col_ptr + i]; j < end; j++) {
        let row = lists[dims.rows + j];
        let w = lhs[row * dims.n_in + i];
        let dy = load8(row * dims.batch, s);
        lo += w * dy[0];
        hi += w * dy[1];
    }
    store4(i * dims.batch, b.lo, lo);
    store4(i * dims.batch, b.hi, hi);
}

// Sums over the batch of dy[o][b] x[col[k]][b] for 8 columns of row o: each dy load serves
// 8 weights. lhs = dy, rhs = x.
fn batch_dots(o: u32, col: Eight) -> array<vec4<f32>, 2> {
    let batch = dims.batch;
    let dy = o * batch;
    let a = col.lo * batch;
    let c = col.hi * batch;
    var lo = vec4(0.0);
    var hi = vec4(0.0);
    for (var b = 0u; b < batch; b++) {
        let d = lhs[dy + b];
        lo += d * vec4(rhs[a.x + b], rhs[a.y + b], rhs[a.z + b], rhs[a.w + b]);
        hi += d * vec4(rhs[c.x + b], rhs[c.y + b], rhs[c.z + b], rhs[c.w + b]);
    }
    return array(lo, hi);
}

// out[o][col[k]] = g[k] where valid[k].
fn store_weights4(o: u32, col: vec4<u32>, valid: vec4<bool>, g: vec4<f32>) {
    let row = o * dims.n_in;
    if valid.x {
        out[row + col.x] = g.x;
    }
    if valid.y {
        out[row + col.y] = g.y;
    }
    if valid.z {
        out[row + col.z] = g.z;
    }
    if valid.w {
        out[row + col.w] = g.w;
    }
}

// g[w] = sum over the batch of dy[row(w)][b] x[col(w)][b] for the active weights of row o
// (workgroup o). Invocation t takes list entries 8t .. 8t + 7 of each block of 128: a short
// row (60 entries at 8% of 784 columns) leaves whole invocations idle, which an emulated GPU
// skips, rather than every invocation half idle. Inactive entries of the gradient are left
// as they are (the host clears them when they may hold an older gradient).
@compute @workgroup_size(16)
fn dense_backward_weights_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let end = lists[dims.row_ptr + o + 1u];
    let step = THREADS * PER_INVOCATION;
    for (var j0 = lists[dims.row_ptr + o] + PER_INVOCATION * local; j0 < end; j0 += step) {
        let j = consecutive(j0);
        // Past the row's list, repeat its last entry and store nothing.
        let last = vec4(end - 1u);
        let e = Eight(min(j.lo, last), min(j.hi, last));
        let c = dims.cols;
        let col = Eight(
            vec4(lists[c + e.lo.x], lists[c + e.lo.y], lists[c + e.lo.z], lists[c + e.lo.w]),
            vec4(lists[c + e.hi.x], lists[c + e.hi.y], lists[c + e.hi.z], lists[c + e.hi.w]),
        );
        let g = batch_dots(o, col);
        store_weights4(o, col.lo, j.lo < vec4(end), g[0]);
        store_weights4(o, col.hi, j.hi < vec4(end), g[1]);
    }
}

// The gradient of every weight of row o, active or not (RIGL.md "Grow": the dense gradient
// of a RigL update step), with the same loop over all columns. A layer on the sparse path
// needs it once per mask update; unlike a tiled matrix product (gemm.wgsl), it compiles in
// milliseconds on SwiftShader.
@compute @workgroup_size(16)
fn dense_backward_weights_all(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let n = dims.n_in;
    for (var c0 = PER_INVOCATION * local; c0 < n; c0 += THREADS * PER_INVOCATION) {
        let c = consecutive(c0);
        let last = vec4(n - 1u);
        let col = Eight(min(c.lo, last), min(c.hi, last));
        let g = batch_dots(o, col);
        store_weights4(o, col.lo, c.lo < vec4(n), g[0]);
        store_weights4(o, col.hi, c.hi < vec4(n), g[1]);
    }
}

// SGD of the active weights only (src/cpu/sgd.rs `sgd_step` on a masked layer): lhs = the
// gradient, out = W. m = momentum * m + (g + wd * w); w -= lr * m. A grid-stride loop over
// the active list (its length is row_ptr[n_out]), so the dispatch, recorded once, fits any
// density.
@compute @workgroup_size(16)
fn sgd_step_sparse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let count = lists[dims.row_ptr + dims.n_out];
    for (var t = gid.x; t < count; t += groups.x * THREADS) {
        let i = lists[dims.active_list + t];
        let m = step_info.momentum * momentum[i] + lhs[i] + step_info.wd * out[i];
        momentum[i] = m;
        out[i] = out[i] - step_info.lr * m;
    }
}
