// The tiled matrix product shared by dense.wgsl and conv.wgsl (the host prepends this file
// to each). C[m][n] = sum over k of A[m][k] * B[k][n], where the including file says where A
// and B come from (`gemm_load_a`, `gemm_load_b`, switched on a constant `op`) and what
// happens to each result (`gemm_store`). An invocation always loads the same column n of the
// B tile, so the including file decomposes it once (`gemm_col`, e.g. into an image position).
//
// A workgroup of 256 invocations, ROWS x (256 / ROWS), computes a tile of 4 ROWS x 1024 / ROWS
// outputs: 64 x 64, or 32 x 128 and 16 x 256 for products with few rows (a convolution's
// 16 or 32 channels), picked per pipeline with the override constant ROWS. Invocation
// (tx, ty) owns rows ty + ROWS i and columns tx + COLS j (i, j < 4): neighbouring invocations
// read neighbouring words of workgroup memory (no bank conflicts) and write neighbouring
// outputs. The K dimension is walked in slices of 1024 / max(tile rows, tile columns) (16, 8
// or 4), staged in workgroup memory (2 x 4 KiB). Workgroup z computes the K range
// [z * k_chunk, (z + 1) * k_chunk) ("split K", for long reductions such as a convolution's
// weight gradient over batch * H * W positions).

struct GemmDims {
    m: u32,
    n: u32,
    k: u32,
    k_chunk: u32,
    // Convolution geometry (conv.wgsl only).
    batch: u32,
    c_in: u32,
    h: u32,
    w: u32,
}

@group(0) @binding(0) var<uniform> dims: GemmDims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// Bias (forward) or mask (weight gradient), by op.
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<uniform> step_info: StepInfo;

const THREADS: u32 = 256u;
// Invocations along M: 16, 8 or 4 (src/gpu/kernels.rs makes one pipeline of each).
override ROWS: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [tile rows][tile k]
var<workgroup> tile_b: array<f32, 1024>; // [tile k][tile columns]

struct Tile {
    cols: u32,
    m: u32,
    n: u32,
    k: u32,
}

fn tile_shape() -> Tile {
    let cols = THREADS / ROWS;
    let m = 4u * ROWS;
    let n = 4u * cols;
    return Tile(cols, m, n, 1024u / max(m, n));
}
var<workgroup> partial_sums: array<f32, 256>;

// The 4 x 4 outputs of one invocation: row ty + 16 i in acc_i, its columns tx + 16 j in the
// components. Four named vectors rather than an indexed array, so that every compiler keeps
// them in registers (a software rasteriser such as lavapipe otherwise spills an indexed
// array to memory and gathers it lane by lane).
struct Block {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
}

// This invocation's block of the tile at (m0, n0) over k in [k_begin, k_end).
fn gemm_tile(op: u32, m0: u32, n0: u32, k_begin: u32, k_end: u32, local: u32) -> Block {
    let t = tile_shape();
    let tx = local % t.cols;
    let ty = local / t.cols;
    var acc = Block(vec4<f32>(), vec4<f32>(), vec4<f32>(), vec4<f32>());
    // Element e = local + j * THREADS of a tile: A row e / t.k at k offset e % t.k (k fastest:
    // A is k-contiguous in most ops); B column e % t.n = local % t.n (t.n divides THREADS, so
    // the same for every j) at k offset e / t.n.
    let n = n0 + local % t.n;
    let col = gemm_col(op, n);
    for (var k0 = k_begin; k0 < k_end; k0 += t.k) {
        for (var e = local; e < t.m * t.k; e += THREADS) {
            let mm = e / t.k;
            let ka = k0 + e % t.k;
            var a = 0.0;
            if ka < k_end && m0 + mm < dims.m {
                a = gemm_load_a(op, m0 + mm, ka);
            }
            tile_a[e] = a;
        }
        for (var e = local; e < t.k * t.n; e += THREADS) {
            let kb = k0 + e / t.n;
            var b = 0.0;
            if kb < k_end && n < dims.n {
                b = gemm_load_b(op, kb, col);
            }
            tile_b[e] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < t.k; kk++) {
            let bo = kk * t.n + tx;
            let b = vec4<f32>(tile_b[bo], tile_b[bo + t.cols], tile_b[bo + 2u * t.cols], tile_b[bo + 3u * t.cols]);
            let ao = ty * t.k + kk;
            acc.r0 += tile_a[ao] * b;
            acc.r1 += tile_a[ao + ROWS * t.k] * b;
            acc.r2 += tile_a[ao + 2u * ROWS * t.k] * b;
            acc.r3 += tile_a[ao + 3u * ROWS * t.k] * b;
        }
        workgroupBarrier();
    }
    return acc;
}

fn gemm_store_row(op: u32, m: u32, n0: u32, cols: u32, z: u32, v: vec4<f32>) {
    if m >= dims.m {
        return;
    }
    if n0 < dims.n {
        gemm_store(op, m, n0, z, v.x);
    }
    if n0 + cols < dims.n {
        gemm_store(op, m, n0 + cols, z, v.y);
    }
    if n0 + 2u * cols < dims.n {
        gemm_store(op, m, n0 + 2u * cols, z, v.z);
    }
    if n0 + 3u * cols < dims.n {
        gemm_store(op, m, n0 + 3u * cols, z, v.w);
    }
}

// One workgroup's tile: dispatched as (ceil(n / tile columns), ceil(m / tile rows), splits).
fn gemm_run(op: u32, group: vec3<u32>, local: u32) {
    let t = tile_shape();
    let k_begin = group.z * dims.k_chunk;
    let k_end = min(k_begin + dims.k_chunk, dims.k);
    let acc = gemm_tile(op, group.y * t.m, group.x * t.n, k_begin, k_end, local);
    let m = group.y * t.m + local / t.cols;
    let n = group.x * t.n + local % t.cols;
    gemm_store_row(op, m, n, t.cols, group.z, acc.r0);
    gemm_store_row(op, m + ROWS, n, t.cols, group.z, acc.r1);
    gemm_store_row(op, m + 2u * ROWS, n, t.cols, group.z, acc.r2);
    gemm_store_row(op, m + 3u * ROWS, n, t.cols, group.z, acc.r3);
}

// out[row] = sum of lhs[row * n .. (row + 1) * n]: a convolution's bias gradient, over rows of
// batch * H * W positions (one workgroup per row).
fn row_sum(row: u32, local: u32) {
    var s = 0.0;
    for (var i = local; i < dims.n; i += THREADS) {
        s += lhs[row * dims.n + i];
    }
    partial_sums[local] = s;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
        if local < stride {
            partial_sums[local] += partial_sums[local + stride];
        }
        workgroupBarrier();
    }
    if local == 0u {
        out[row] = partial_sums[0];
    }
}

// n / d for n < 2^24, without an integer division (a CPU emulating a GPU, such as lavapipe,
// cannot vectorise one): a float estimate, corrected by one either way.
fn div_small(n: u32, d: u32) -> u32 {
    var q = u32(f32(n) / f32(d));
    if q * d > n {
        q -= 1u;
    } else if (q + 1u) * d <= n {
        q += 1u;
    }
    return q;
}

// The weight gradient through the mask: inactive weights get 0 unless the step asks for the
// dense gradient (RIGL.md "Grow": RigL ranks the gradient of every weight).
fn masked_grad(v: f32, i: u32) -> f32 {
    return select(0.0, v, step_info.dense_grad != 0u || aux[i] != 0.0);
}
