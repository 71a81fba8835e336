// Softmax cross-entropy on feature-major logits [classes][batch] (mirrors src/cpu/loss.rs),
// in passes over the samples (one invocation each, over as many workgroups as `grid` gives):
// each sample's loss (and, evaluating, whether it is correct) into `per_sample`; training,
// dL/dlogits in a pass of its own; then one workgroup sums the losses, invocation i taking
// samples i, i + 256, ..., then a tree in workgroup memory. (One workgroup doing it all, or
// the loss and dL/dlogits in one kernel, took 4-7 ms per dispatch on lavapipe whatever the
// batch; the passes take about 0.3 ms together.)

struct LossShape {
    classes: u32,
    batch: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> shape: LossShape;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
// Training: the ring of mean step losses. Evaluation: (loss sum, correct) per batch.
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;
@group(0) @binding(5) var<uniform> step_info: StepInfo;
// Per sample b: its loss at b; evaluating, 1.0 at batch + b if its top class is its label.
@group(0) @binding(6) var<storage, read_write> per_sample: array<f32>;

const THREADS: u32 = 256u;

var<workgroup> loss_sums: array<f32, 256>;
var<workgroup> correct_sums: array<u32, 256>;

fn z(k: u32, b: u32) -> f32 {
    return logits[k * shape.batch + b];
}

// The largest logit of sample b and its class (the first one on ties, as on the CPU).
fn max_logit(b: u32) -> vec2<f32> {
    var best = 0u;
    var m = z(0u, b);
    for (var k = 1u; k < shape.classes; k++) {
        if z(k, b) > m {
            best = k;
            m = z(k, b);
        }
    }
    return vec2<f32>(m, f32(best));
}

fn sum_exp(b: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var k = 0u; k < shape.classes; k++) {
        s += exp(z(k, b) - m);
    }
    return s;
}

fn reduce(local: u32) {
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
        if local < stride {
            loss_sums[local] += loss_sums[local + stride];
            correct_sums[local] += correct_sums[local + stride];
        }
        workgroupBarrier();
    }
}

// Each sample's loss.
@compute @workgroup_size(256)
fn softmax_cross_entropy(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    for (var b = gid.x; b < shape.batch; b += groups.x * THREADS) {
        let m = max_logit(b).x;
        let label = labels[b];
        per_sample[b] = log(sum_exp(b, m)) - (z(label, b) - m);
    }
}

// dL/dlogits of the MEAN loss, (softmax - onehot) / batch. (Apart from the loss: in one
// kernel with it, this took 4 ms on lavapipe, each alone 0.1 ms.)
@compute @workgroup_size(256)
fn softmax_cross_entropy_grad(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    for (var b = gid.x; b < shape.batch; b += groups.x * THREADS) {
        let m = max_logit(b).x;
        let s = sum_exp(b, m);
        let label = labels[b];
        for (var k = 0u; k < shape.classes; k++) {
            let onehot = select(0.0, 1.0, k == label);
            dlogits[k * shape.batch + b] = (exp(z(k, b) - m) / s - onehot) / f32(shape.batch);
        }
    }
}

// The mean of the samples' losses into losses[loss_slot].
@compute @workgroup_size(256)
fn loss_sum(@builtin(local_invocation_index) local: u32) {
    var total = 0.0;
    for (var b = local; b < shape.batch; b += THREADS) {
        total += per_sample[b];
    }
    loss_sums[local] = total;
    correct_sums[local] = 0u;
    reduce(local);
    if local == 0u {
        losses[step_info.loss_slot] = loss_sums[0] * (1.0 / f32(shape.batch));
    }
}

// Each of the first `valid` samples' loss and whether it is correct (the last batch of an
// evaluation is padded).
@compute @workgroup_size(256)
fn softmax_cross_entropy_eval(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    for (var b = gid.x; b < step_info.valid; b += groups.x * THREADS) {
        let mb = max_logit(b);
        let s = sum_exp(b, mb.x);
        let label = labels[b];
        per_sample[b] = log(s) - (z(label, b) - mb.x);
        per_sample[shape.batch + b] = select(0.0, 1.0, u32(mb.y) == label);
    }
}

// Loss sum and correct count of the first `valid` samples into losses[2 * loss_slot] and
// losses[2 * loss_slot + 1].
@compute @workgroup_size(256)
fn loss_sum_eval(@builtin(local_invocation_index) local: u32) {
    var total = 0.0;
    var correct = 0u;
    for (var b = local; b < step_info.valid; b += THREADS) {
        total += per_sample[b];
        correct += u32(per_sample[shape.batch + b]);
    }
    loss_sums[local] = total;
    correct_sums[local] = correct;
    reduce(local);
    if local == 0u {
        losses[2u * step_info.loss_slot] = loss_sums[0];
        losses[2u * step_info.loss_slot + 1u] = f32(correct_sums[0]);
    }
}
