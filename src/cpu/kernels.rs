//! Small vector kernels written so the compiler vectorises them (fixed-width blocks,
//! independent accumulators), with a deterministic summation order.

/// Width of the accumulator blocks: 16 floats are two AVX or four SSE/simd128 registers.
pub const LANES: usize = 16;

// Each kernel is written once (`*_impl`, always inlined) and compiled twice on x86-64: for the
// baseline (SSE2) and with AVX2, picked at run time. Both do the same operations in the same
// order (no fused multiply-add), so results are bit-identical on every machine.

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident $(<$g:ident: $bound:path>)? ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?, $avx:ident, $imp:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            $imp($($arg),*)
        }

        $(#[$doc])*
        #[inline]
        pub fn $name $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { $avx($($arg),*) };
            }
            $imp($($arg),*)
        }
    };
}

#[inline(always)]
fn axpy_impl(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

dispatch!(
    /// `y += a * x`.
    pub fn axpy(a: f32, x: &[f32], y: &mut [f32]), axpy_avx2, axpy_impl
);

#[inline(always)]
fn dot_impl(x: &[f32], y: &[f32]) -> f32 {
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

dispatch!(
    /// Dot product with `LANES` independent partial sums (a fixed order: deterministic).
    pub fn dot(x: &[f32], y: &[f32]) -> f32, dot_avx2, dot_impl
);

#[inline(always)]
fn gather_axpy_impl(terms: &[(f32, u32)], x: &[f32], stride: usize, y: &mut [f32]) {
    let n = y.len();
    let mut start = 0;
    while start + 2 * LANES <= n {
        let mut acc = [0f32; 2 * LANES];
        acc.copy_from_slice(&y[start..start + 2 * LANES]);
        for &(a, row) in terms {
            let base = row as usize * stride + start;
            let xs = &x[base..base + 2 * LANES];
            for j in 0..2 * LANES {
                acc[j] += a * xs[j];
            }
        }
        y[start..start + 2 * LANES].copy_from_slice(&acc);
        start += 2 * LANES;
    }
    if start < n {
        for &(a, row) in terms {
            let base = row as usize * stride;
            axpy_impl(a, &x[base + start..base + n], &mut y[start..]);
        }
    }
}

dispatch!(
    /// `y[j] += sum over (a, row) in terms of a * x[row * stride + j]` for j in 0..y.len(),
    /// block by block so each block of `y` stays in registers while every term is added.
    pub fn gather_axpy(terms: &[(f32, u32)], x: &[f32], stride: usize, y: &mut [f32]), gather_axpy_avx2, gather_axpy_impl
);

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
        let stride = 50;
        let x: Vec<f32> = (0..stride * 3).map(|i| i as f32).collect();
        let mut y = vec![1f32; 45];
        let terms = [(2.0f32, 0u32), (-1.0, 2)];
        gather_axpy(&terms, &x, stride, &mut y);
        for (j, v) in y.iter().enumerate() {
            let want = 1.0 + 2.0 * x[j] - x[2 * stride + j];
            assert_eq!(*v, want, "j={j}");
        }
    }
}
