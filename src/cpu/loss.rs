//! Softmax cross-entropy on feature-major logits `[classes][batch]`. exp and ln come from
//! the `libm` crate, the same code on every target, so the page and the CLI agree bit for bit.

pub const MAX_CLASSES: usize = 256;

/// Returns (sum of per-sample losses, number correct) and, when `dlogits` is given, writes
/// dL/dlogits for the MEAN loss: (softmax - onehot) / batch.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u8],
    classes: usize,
    mut dlogits: Option<&mut [f32]>,
) -> (f64, usize) {
    let batch = labels.len();
    let (mut loss, mut correct) = (0f64, 0);
    assert!(classes <= MAX_CLASSES, "at most {MAX_CLASSES} classes");
    let mut p = [0f32; MAX_CLASSES];
    let p = &mut p[..classes];
    for (b, &label) in labels.iter().enumerate() {
        let z = |k: usize| logits[k * batch + b];
        let (mut best, mut max) = (0, f32::NEG_INFINITY);
        for k in 0..classes {
            if z(k) > max {
                (best, max) = (k, z(k));
            }
        }
        let mut sum = 0f32;
        for (k, pk) in p.iter_mut().enumerate() {
            *pk = libm::expf(z(k) - max);
            sum += *pk;
        }
        let label = usize::from(label);
        loss += f64::from(libm::logf(sum) - (z(label) - max));
        correct += usize::from(best == label);
        if let Some(d) = dlogits.as_deref_mut() {
            for (k, pk) in p.iter().enumerate() {
                let onehot = if k == label { 1.0 } else { 0.0 };
                d[k * batch + b] = (pk / sum - onehot) / batch as f32;
            }
        }
    }
    (loss, correct)
}
