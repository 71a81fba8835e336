//! Small vector kernels written so the compiler vectorises them (fixed-width blocks,
//! independent accumulators), with a deterministic summation order.

/// Width of the accumulator blocks: 16 floats are two AVX or four SSE/simd128 registers.
pub const LANES: usize = 16;

/// `y += a * x`.
#[inline]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Dot product with `LANES` independent partial sums (a fixed order: deterministic).
#[inline]
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    let mut yc = y.chunks_exact(LANES);
    for (xb, yb) in (&mut xc).zip(&mut yc) {
        for j in 0..LANES {
            acc[j] += xb[j] * yb[j];
        }
    }
    let mut tail = 0f32;
    for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
        tail += a * b;
    }
    acc.iter().sum::<f32>() + tail
}

/// `y[j] += sum over (a, row) in terms of a * x[row * stride + j]` for j in 0..y.len(),
/// computed block by block so each block of `y` stays in registers while every term is added.
/// `terms` yields (coefficient, row); `x` rows have length `stride` >= y.len().
#[inline]
pub fn gather_axpy<I>(terms: I, x: &[f32], stride: usize, y: &mut [f32])
where
    I: Iterator<Item = (f32, usize)> + Clone,
{
    let n = y.len();
    let mut start = 0;
    while start + LANES <= n {
        let mut acc = [0f32; LANES];
        acc.copy_from_slice(&y[start..start + LANES]);
        for (a, row) in terms.clone() {
            let xs = &x[row * stride + start..row * stride + start + LANES];
            for j in 0..LANES {
                acc[j] += a * xs[j];
            }
        }
        y[start..start + LANES].copy_from_slice(&acc);
        start += LANES;
    }
    if start < n {
        for (a, row) in terms {
            axpy(
                a,
                &x[row * stride + start..row * stride + n],
                &mut y[start..],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_the_plain_sums() {
        let x: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let y: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.25).collect();
        let plain: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((dot(&x, &y) - plain).abs() < 1e-3 * plain.abs().max(1.0));
        let mut z = y.clone();
        axpy(2.0, &x, &mut z);
        assert_eq!(z[3], y[3] + 2.0 * x[3]);
    }

    #[test]
    fn gather_axpy_adds_every_term_including_the_tail() {
        let stride = 21;
        let x: Vec<f32> = (0..stride * 3).map(|i| i as f32).collect();
        let mut y = vec![1f32; 19];
        let terms = [(2.0f32, 0usize), (-1.0, 2)];
        gather_axpy(terms.iter().copied(), &x, stride, &mut y);
        for (j, v) in y.iter().enumerate() {
            let want = 1.0 + 2.0 * x[j] - x[2 * stride + j];
            assert_eq!(*v, want, "j={j}");
        }
    }
}
