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

// Per-step values written by the host (src/gpu/uniforms.rs `StepInfo`).
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

// Invocations per workgroup; each computes SAMPLES samples of one row (forward) or column
// (input gradient), or the gradient of SAMPLES consecutive weights of one row. On an
// emulated GPU every load (even one the same for all invocations) costs about the same, and
// this amortises the loads of a list entry and its weight over several multiply-adds.
// src/gpu/sparse.rs dispatches accordingly.
const THREADS: u32 = 32u;
const SAMPLES: u32 = 4u;

// y[o][b] = bias[o] + sum over active w in row o of W[w] x[col(w)][b]: lhs = W, rhs = x.
// Workgroup (o, a block of THREADS * SAMPLES samples); samples b + THREADS * s.
@compute @workgroup_size(32)
fn dense_forward_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let b = vec4(0u, 1u, 2u, 3u) * THREADS + group.y * THREADS * SAMPLES + local;
    // Past the batch, read a valid sample and store nothing: no invocation diverges.
    let sample = min(b, vec4(dims.batch - 1u));
    let w_row = o * dims.n_in;
    var acc = vec4(bias[o]);
    let end = lists[dims.row_ptr + o + 1u];
    for (var j = lists[dims.row_ptr + o]; j < end; j++) {
        let col = lists[dims.cols + j];
        let x = col * dims.batch + sample;
        acc += lhs[w_row + col] * vec4(rhs[x.x], rhs[x.y], rhs[x.z], rhs[x.w]);
    }
    store_samples(o * dims.batch, b, acc);
}

// out[row + b[s]] = v[s] for the samples within the batch.
fn store_samples(row: u32, b: vec4<u32>, v: vec4<f32>) {
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

// dx[i][b] = sum over active w in column i of W[w] dy[row(w)][b]: lhs = W, rhs = dy.
// Workgroup (i, a block of THREADS * SAMPLES samples), as the forward pass.
@compute @workgroup_size(32)
fn dense_backward_input_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let i = group.x;
    let b = vec4(0u, 1u, 2u, 3u) * THREADS + group.y * THREADS * SAMPLES + local;
    let sample = min(b, vec4(dims.batch - 1u));
    var acc = vec4(0.0);
    let end = lists[dims.col_ptr + i + 1u];
    for (var j = lists[dims.col_ptr + i]; j < end; j++) {
        let row = lists[dims.rows + j];
        let dy = row * dims.batch + sample;
        acc += lhs[row * dims.n_in + i] * vec4(rhs[dy.x], rhs[dy.y], rhs[dy.z], rhs[dy.w]);
    }
    store_samples(i * dims.batch, b, acc);
}

// Sums over the batch of dy[o][b] x[col[k]][b] for four columns of row o: each dy load
// serves four weights. lhs = dy, rhs = x.
fn batch_dots(o: u32, col: vec4<u32>) -> vec4<f32> {
    let batch = dims.batch;
    let dy = o * batch;
    let x = col * batch;
    var acc = vec4(0.0);
    for (var b = 0u; b < batch; b++) {
        acc += lhs[dy + b] * vec4(rhs[x.x + b], rhs[x.y + b], rhs[x.z + b], rhs[x.w + b]);
    }
    return acc;
}

// out[o][col[k]] = g[k] where valid[k] (the first is always valid).
fn store_weights(o: u32, col: vec4<u32>, valid: vec4<bool>, g: vec4<f32>) {
    let row = o * dims.n_in;
    out[row + col.x] = g.x;
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
// (workgroup o). Invocation t takes list entries SAMPLES * t + k (k < 4) of each block of
// THREADS * SAMPLES. Inactive entries of the gradient are left as they are (the host clears
// them when they may hold an older gradient).
@compute @workgroup_size(32)
fn dense_backward_weights_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let end = lists[dims.row_ptr + o + 1u];
    for (var j0 = lists[dims.row_ptr + o] + SAMPLES * local; j0 < end; j0 += THREADS * SAMPLES) {
        let j = j0 + vec4(0u, 1u, 2u, 3u);
        // Past the row's list, repeat its last entry and store nothing.
        let e = min(j, vec4(end - 1u));
        let col = vec4(lists[dims.cols + e.x], lists[dims.cols + e.y], lists[dims.cols + e.z], lists[dims.cols + e.w]);
        store_weights(o, col, j < vec4(end), batch_dots(o, col));
    }
}

// The gradient of every weight of row o, active or not (RIGL.md "Grow": the dense gradient
// of a RigL update step), with the same loop over all columns. A layer on the sparse path
// needs it once per mask update; unlike a tiled matrix product (gemm.wgsl), it compiles in
// milliseconds on SwiftShader.
@compute @workgroup_size(32)
fn dense_backward_weights_all(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let n = dims.n_in;
    for (var c0 = SAMPLES * local; c0 < n; c0 += THREADS * SAMPLES) {
        let c = c0 + vec4(0u, 1u, 2u, 3u);
        let col = min(c, vec4(n - 1u));
        store_weights(o, col, c < vec4(n), batch_dots(o, col));
    }
}

// SGD of the active weights only (src/cpu/sgd.rs `sgd_step` on a masked layer): lhs = the
// gradient, out = W. m = momentum * m + (g + wd * w); w -= lr * m. A grid-stride loop over
// the active list (its length is row_ptr[n_out]), so the dispatch, recorded once, fits any
// density.
@compute @workgroup_size(32)
fn sgd_step_sparse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let count = lists[dims.row_ptr + dims.n_out];
    for (var t = gid.x; t < count; t += groups.x * THREADS) {
        let i = lists[dims.active_list + t];
        let m = step_info.momentum * momentum[i] + lhs[i] + step_info.wd * out[i];
        momentum[i] = m;
        out[i] = out[i] - step_info.lr * m;
    }
}
