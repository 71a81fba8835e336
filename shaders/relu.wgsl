// ReLU (mirrors relu_forward / relu_backward in src/cpu/pool.rs). Same bind-group layout as
// pool.wgsl; binding 3 holds the ReLU output y for the backward pass.

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const THREADS: u32 = 256u;

@compute @workgroup_size(256)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var i = gid.x; i < shape.n; i += groups.x * THREADS) {
        // x where x > 0, else +0 (NaN and -0 included), as the CPU.
        dst[i] = select(0.0, src[i], src[i] > 0.0);
    }
}

// dx = dy where the unit was active (y > 0), else 0; src is dy.
@compute @workgroup_size(256)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var i = gid.x; i < shape.n; i += groups.x * THREADS) {
        dst[i] = select(0.0, src[i], y[i] > 0.0);
    }
}
