// Resets of a mask update (mirrors CpuBackend::set_mask in src/cpu/backend.rs): the listed
// weights get value 0 and momentum 0 (RIGL.md steps 4-5: grown weights start at 0 with their
// momentum reset; dropped weights are masked to 0). The new mask itself is uploaded directly.

// resets[0] = count, then the flat weight indices.
@group(0) @binding(0) var<storage, read> resets: array<u32>;
@group(0) @binding(1) var<storage, read_write> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentum: array<f32>;

const THREADS: u32 = 256u;

@compute @workgroup_size(256)
fn set_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var t = gid.x; t < resets[0]; t += groups.x * THREADS) {
        let i = resets[t + 1u];
        weights[i] = 0.0;
        momentum[i] = 0.0;
    }
}
