// Softmax cross-entropy on feature-major logits [classes][batch] (mirrors src/cpu/loss.rs).
// One workgroup; each invocation takes samples local, local + 256, ... and the per-sample
// losses are summed in workgroup memory.

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

// Mean loss into losses[loss_slot]; dL/dlogits of the MEAN loss, (softmax - onehot) / batch.
@compute @workgroup_size(256)
fn softmax_cross_entropy(@builtin(local_invocation_index) local: u32) {
    var total = 0.0;
    let scale = 1.0 / f32(shape.batch);
    for (var b = local; b < shape.batch; b += THREADS) {
        let m = max_logit(b).x;
        let s = sum_exp(b, m);
        let label = labels[b];
        total += log(s) - (z(label, b) - m);
        for (var k = 0u; k < shape.classes; k++) {
            let onehot = select(0.0, 1.0, k == label);
            dlogits[k * shape.batch + b] = (exp(z(k, b) - m) / s - onehot) / f32(shape.batch);
        }
    }
    loss_sums[local] = total;
    correct_sums[local] = 0u;
    reduce(local);
    if local == 0u {
        losses[step_info.loss_slot] = loss_sums[0] * scale;
    }
}

// Loss sum and correct count of the first `valid` samples (the last batch of an evaluation
// is padded) into losses[2 * loss_slot] and losses[2 * loss_slot + 1].
@compute @workgroup_size(256)
fn softmax_cross_entropy_eval(@builtin(local_invocation_index) local: u32) {
    var total = 0.0;
    var correct = 0u;
    for (var b = local; b < step_info.valid; b += THREADS) {
        let mb = max_logit(b);
        let s = sum_exp(b, mb.x);
        let label = labels[b];
        total += log(s) - (z(label, b) - mb.x);
        correct += select(0u, 1u, u32(mb.y) == label);
    }
    loss_sums[local] = total;
    correct_sums[local] = correct;
    reduce(local);
    if local == 0u {
        losses[2u * step_info.loss_slot] = loss_sums[0];
        losses[2u * step_info.loss_slot + 1u] = f32(correct_sums[0]);
    }
}
