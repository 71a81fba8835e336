// SGD with momentum and weight decay through the mask (mirrors src/cpu/sgd.rs), and SNFS's
// moving average of the dense gradient (RIGL.md "Baselines": SNFS).

@group(0) @binding(0) var<uniform> step_info: StepInfo;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> momentum: array<f32>;
@group(0) @binding(5) var<storage, read_write> ema: array<f32>;

const THREADS: u32 = 256u;

// m = momentum * m + (g + wd * w); w -= lr * m, for active weights only: inactive weights
// stay exactly 0 (RIGL.md: dropped weights are masked to 0).
@compute @workgroup_size(256)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var i = gid.x; i < arrayLength(&weights); i += groups.x * THREADS) {
        if mask[i] != 0.0 {
            let m = step_info.momentum * momentum[i] + grad[i] + step_info.wd * weights[i];
            momentum[i] = m;
            weights[i] = weights[i] - step_info.lr * m;
        }
    }
}

// Biases are dense and, as usual, not decayed.
@compute @workgroup_size(256)
fn sgd_step_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    for (var i = gid.x; i < arrayLength(&weights); i += groups.x * THREADS) {
        let m = step_info.momentum * momentum[i] + grad[i];
        momentum[i] = m;
        weights[i] = weights[i] - step_info.lr * m;
    }
}

// ema = d * ema + (1 - d) * g over every weight (g is the dense gradient on SNFS steps).
@compute @workgroup_size(256)
fn snfs_ema(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let d = step_info.snfs_decay;
    for (var i = gid.x; i < arrayLength(&ema); i += groups.x * THREADS) {
        ema[i] = d * ema[i] + (1.0 - d) * grad[i];
    }
}
