// The tiled matrix product shared by dense.wgsl and conv.wgsl (the host prepends this file
// to each). C[m][n] = sum over k of A[m][k] * B[k][n], where the including file says where A
// and B come from (`gemm_load_a`, `gemm_load_b`, switched on a constant `op`) and what
// happens to each result (`gemm_store`).
//
// A workgroup of 256 invocations computes a 64 x 64 tile of C; each invocation a 4 x 4 block.
// The K dimension is walked in slices of 16, staged in workgroup memory (2 x 4 KiB), so each
// loaded value is used 64 times. Workgroup z computes the K range
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

@group(0) @binding(0) var<uniform> dims: GemmDims;
@group(0) @binding(1) var<storage, read> lhs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// Bias (forward) or mask (weight gradient), by op.
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<uniform> step_info: StepInfo;

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;
const THREADS: u32 = 256u;

var<workgroup> tile_a: array<f32, 1024>; // [TILE_M][TILE_K]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE_N]
var<workgroup> partial_sums: array<f32, 256>;

// This invocation's 4 x 4 block of the tile at (m0, n0) over k in [k_begin, k_end).
fn gemm_tile(op: u32, m0: u32, n0: u32, k_begin: u32, k_end: u32, local: u32) -> array<vec4<f32>, 4> {
    let tx = local % 16u;
    let ty = local / 16u;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        for (var j = 0u; j < 4u; j++) {
            let e = local + j * THREADS;
            // A tile, k fastest (A is k-contiguous in most ops).
            let mm = e / TILE_K;
            let ka = k0 + e % TILE_K;
            var a = 0.0;
            if ka < k_end && m0 + mm < dims.m {
                a = gemm_load_a(op, m0 + mm, ka);
            }
            tile_a[e] = a;
            // B tile, n fastest.
            let kb = k0 + e / TILE_N;
            let nn = e % TILE_N;
            var b = 0.0;
            if kb < k_end && n0 + nn < dims.n {
                b = gemm_load_b(op, kb, n0 + nn);
            }
            tile_b[e] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let bo = kk * TILE_N + tx * 4u;
            let b = vec4<f32>(tile_b[bo], tile_b[bo + 1u], tile_b[bo + 2u], tile_b[bo + 3u]);
            for (var i = 0u; i < 4u; i++) {
                acc[i] += tile_a[(ty * 4u + i) * TILE_K + kk] * b;
            }
        }
        workgroupBarrier();
    }
    return acc;
}

// One workgroup's tile: dispatched as (ceil(n / 64), ceil(m / 64), splits of k).
fn gemm_run(op: u32, group: vec3<u32>, local: u32) {
    let m0 = group.y * TILE_M;
    let n0 = group.x * TILE_N;
    let k_begin = group.z * dims.k_chunk;
    let k_end = min(k_begin + dims.k_chunk, dims.k);
    let acc = gemm_tile(op, m0, n0, k_begin, k_end, local);
    let tx = local % 16u;
    let ty = local / 16u;
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + ty * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + tx * 4u + j;
            if m < dims.m && n < dims.n {
                gemm_store(op, m, n, group.z, acc[i][j]);
            }
        }
    }
}

// out[row] = sum of lhs[row * n .. (row + 1) * n]: a bias gradient (one workgroup per row).
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

// The weight gradient through the mask: inactive weights get 0 unless the step asks for the
// dense gradient (RIGL.md "Grow": RigL ranks the gradient of every weight).
fn masked_grad(v: f32, i: u32) -> f32 {
    return select(0.0, v, step_info.dense_grad != 0u || aux[i] != 0.0);
}
