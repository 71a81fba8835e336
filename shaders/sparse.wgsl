// Fully connected layers and 3x3 convolutions on their active weights only (mirrors the
// sparse paths of src/cpu/dense.rs and src/cpu/conv.rs; the convolutions at the end): x is [n_in][batch], y is [n_out][batch], W is [n_out][n_in] as on the
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
    // A convolution's image height and width (0 for a fully connected layer; `batch` is then
    // its images), and the positions per partial sum of its weight gradient.
    h: u32,
    w: u32,
    k_chunk: u32,
    pad: u32,
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

// 3x3 convolutions, stride 1, same padding, on their active weights (src/cpu/conv.rs on a
// masked layer). W is [c_out][c_in * 9] (n_out = c_out rows of n_in = c_in * 9 columns,
// column k = c * 9 + ky * 3 + kx); activations are [C][batch][H][W], so that image position
// n = (b, y, x) of channel c sits at c * N + n (N = batch * H * W). As for the fully
// connected layers, a workgroup owns one output (input) channel and its invocations run along
// positions, 8 each: list entries and weights are the same for the whole workgroup.

fn positions() -> u32 {
    return dims.batch * dims.h * dims.w;
}

// Row y and column x of 4 positions.
struct Pos {
    n: vec4<u32>,
    y: vec4<u32>,
    x: vec4<u32>,
}

fn pos(n: vec4<u32>) -> Pos {
    let hw = dims.h * dims.w;
    let p = n % vec4(hw);
    let y = p / vec4(dims.w);
    return Pos(n, y, p - y * dims.w);
}

// rhs[base + the pixel at (y + dy - 1, x + dx - 1)] of the 4 positions' images, 0 outside
// them (dy, dx in 0..3). Unsigned arithmetic wraps, so -1 becomes huge and one comparison
// checks both ends; an index outside is replaced before the load.
fn tap4(base: u32, p: Pos, dy: u32, dx: u32) -> vec4<f32> {
    let sy = p.y + dy - 1u;
    let sx = p.x + dx - 1u;
    let ok = (sy < vec4(dims.h)) & (sx < vec4(dims.w));
    let i = select(vec4(0u), base + p.n + dy * dims.w + dx - dims.w - 1u, ok);
    let v = vec4(rhs[i.x], rhs[i.y], rhs[i.z], rhs[i.w]);
    return select(vec4(0.0), v, ok);
}

// out[row + n[k]] = v[k] for the positions within the batch's N.
fn store_positions4(row: u32, n: vec4<u32>, v: vec4<f32>) {
    let end = positions();
    if n.x < end {
        out[row + n.x] = v.x;
    }
    if n.y < end {
        out[row + n.y] = v.y;
    }
    if n.z < end {
        out[row + n.z] = v.z;
    }
    if n.w < end {
        out[row + n.w] = v.w;
    }
}

// The 8 positions of this invocation, and the same clamped to the last position.
fn conv_positions(group: u32, local: u32) -> array<Eight, 2> {
    let n = eight(group * THREADS * PER_INVOCATION + local);
    let last = vec4(positions() - 1u);
    return array(n, Eight(min(n.lo, last), min(n.hi, last)));
}

// y[o][n] = bias[o] + sum over the active weights (o, k) of W * x[c][n shifted by the tap],
// k ascending (the CPU's order): lhs = W, rhs = x. Workgroup (o, a block of 128 positions).
@compute @workgroup_size(16)
fn conv_forward_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let o = group.x;
    let n = conv_positions(group.y, local);
    let p_lo = pos(n[1].lo);
    let p_hi = pos(n[1].hi);
    let total = positions();
    var lo = vec4(bias[o]);
    var hi = lo;
    let w_row = o * dims.n_in;
    let end = lists[dims.row_ptr + o + 1u];
    for (var j = lists[dims.row_ptr + o]; j < end; j++) {
        let k = lists[dims.cols + j];
        let w = lhs[w_row + k];
        let c = k / 9u;
        let t = k - c * 9u;
        let dy = t / 3u;
        let dx = t - dy * 3u;
        lo += w * tap4(c * total, p_lo, dy, dx);
        hi += w * tap4(c * total, p_hi, dy, dx);
    }
    store_positions4(o * total, n[0].lo, lo);
    store_positions4(o * total, n[0].hi, hi);
}

// dx[c][n] = sum over the active weights (o, c, tap), taps ascending and within a tap by
// output channel, of W * dy[o][n shifted back by the tap] (the CPU's order): lhs = W,
// rhs = dy. Workgroup (c, a block of 128 positions).
@compute @workgroup_size(16)
fn conv_backward_input_sparse(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let c = group.x;
    let n = conv_positions(group.y, local);
    let p_lo = pos(n[1].lo);
    let p_hi = pos(n[1].hi);
    let total = positions();
    var lo = vec4(0.0);
    var hi = lo;
    for (var t = 0u; t < 9u; t++) {
        let k = c * 9u + t;
        let dy = 2u - t / 3u;
        let dx = 2u - t % 3u;
        let end = lists[dims.col_ptr + k + 1u];
        for (var j = lists[dims.col_ptr + k]; j < end; j++) {
            let o = lists[dims.rows + j];
            let w = lhs[o * dims.n_in + k];
            lo += w * tap4(o * total, p_lo, dy, dx);
            hi += w * tap4(o * total, p_hi, dy, dx);
        }
    }
    store_positions4(c * total, n[0].lo, lo);
    store_positions4(c * total, n[0].hi, hi);
}

// The weight gradient's partial sums over the positions of K chunk z (workgroup z) for the
// active weights, a grid-stride loop over the active list: out[z * n_out * n_in + w] =
// sum over n in the chunk of dy[o][n] x[c][n shifted by the tap]. lhs = dy, rhs = x. As in
// conv.wgsl's conv_backward_weights_small, (y, x) is stepped rather than divided out.
@compute @workgroup_size(16)
fn conv_backward_weights_sparse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let count = lists[dims.row_ptr + dims.n_out];
    let total = positions();
    let hw = dims.h * dims.w;
    let k_begin = gid.z * dims.k_chunk;
    let k_end = min(k_begin + dims.k_chunk, total);
    let weights = dims.n_out * dims.n_in;
    for (var e = gid.x; e < count; e += groups.x * THREADS) {
        let i = lists[dims.active_list + e];
        let o = i / dims.n_in;
        let k = i - o * dims.n_in;
        let c = k / 9u;
        let t = k - c * 9u;
        let ty = t / 3u;
        let tx = t - ty * 3u;
        let x_base = c * total;
        let dy_base = o * total;
        var y = (k_begin % hw) / dims.w;
        var x = k_begin % dims.w;
        var s = 0.0;
        for (var n = k_begin; n < k_end; n++) {
            let sy = y + ty - 1u;
            let sx = x + tx - 1u;
            if sy < dims.h && sx < dims.w {
                s += lhs[dy_base + n] * rhs[x_base + n + ty * dims.w + tx - dims.w - 1u];
            }
            x += 1u;
            if x == dims.w {
                x = 0u;
                y += 1u;
                if y == dims.h {
                    y = 0u;
                }
            }
        }
        out[gid.z * weights + i] = s;
    }
}

// The active weights' gradient: the sum of their partials (lhs) in chunk order; the other
// entries of `out` are left as they are (as dense_backward_weights_sparse does).
@compute @workgroup_size(16)
fn conv_backward_weights_sparse_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let count = lists[dims.row_ptr + dims.n_out];
    let weights = dims.n_out * dims.n_in;
    let splits = (positions() + dims.k_chunk - 1u) / dims.k_chunk;
    for (var e = gid.x; e < count; e += groups.x * THREADS) {
        let i = lists[dims.active_list + e];
        var s = 0.0;
        for (var z = 0u; z < splits; z++) {
            s += lhs[z * weights + i];
        }
        out[i] = s;
    }
}
