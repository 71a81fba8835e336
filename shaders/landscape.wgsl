// A landscape plane's first layer: its outputs at the point c + x d + y e of the plane are
// z0 + x z1 + y z2, where z0, z1 and z2 are its outputs (pre-activation) for the centre c and
// for the directions d and e alone: the layer is linear in its weights and bias,
// (W + x D + y E) X + (b + x d + y e) = (W X + b) + x (D X + d) + y (E X + e).
// So a plane evaluates the first layer three times, not once per point.

struct Plane {
    x: f32,
    y: f32,
    len: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> plane: Plane;
@group(0) @binding(1) var<storage, read> z0: array<f32>;
@group(0) @binding(2) var<storage, read> z1: array<f32>;
@group(0) @binding(3) var<storage, read> z2: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(256)
fn plane_combine(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    for (var i = id.x; i < plane.len; i += groups.x * 256u) {
        z[i] = z0[i] + plane.x * z1[i] + plane.y * z2[i];
    }
}
