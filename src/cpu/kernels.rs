//! Small vector kernels written so the compiler vectorises them (fixed-width blocks,
//! independent accumulators), with a deterministic summation order.

/// Width of the accumulator blocks: 16 floats are two AVX or four SSE/simd128 registers.
pub const LANES: usize = 16;

// Each kernel is written once (`*_impl`, always inlined) and compiled three times on x86-64:
// for the baseline (SSE2), with AVX2 and with AVX-512, picked at run time. All do the same
// operations in the same order (no fused multiply-add; the compiler only packs independent
// lanes into wider registers), so results are bit-identical on every machine.

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $($rest:tt)*) => {
        dispatch!(@emit [] $(#[$doc])* $($rest)*);
    };
    // A kernel with a contract of its own (raw pointers): its callers keep it, and every
    // compiled copy passes it on.
    ($(#[$doc:meta])* pub unsafe fn $($rest:tt)*) => {
        dispatch!(@emit [unsafe] $(#[$doc])* $($rest)*);
    };
    (@emit [$($unsafety:tt)*] $(#[$doc:meta])* $name:ident $(<$g:ident: $bound:path>)? ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?, $avx:ident, $imp:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        $($unsafety)* fn $avx $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            // SAFETY (of an unsafe kernel): as its caller promises.
            #[allow(unused_unsafe)]
            unsafe { $imp($($arg),*) }
        }

        $(#[$doc])*
        #[inline]
        pub $($unsafety)* fn $name $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                $($unsafety)* fn wide $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY (of an unsafe kernel): as its caller promises.
                    #[allow(unused_unsafe)]
                    unsafe { $imp($($arg),*) }
                }
                if has_avx512() {
                    // SAFETY: the CPU supports AVX-512F (checked just above); an unsafe
                    // kernel's contract as the caller promises.
                    return unsafe { wide($($arg),*) };
                }
            }
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU supports AVX2 (checked just above); an unsafe kernel's
                // contract as the caller promises.
                return unsafe { $avx($($arg),*) };
            }
            // SAFETY (of an unsafe kernel): as the caller promises.
            #[allow(unused_unsafe)]
            unsafe { $imp($($arg),*) }
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

/// Output rows computed together by the dense kernels (register blocking).
pub const ROWS: usize = 4;

/// The body of `gemm_rows`.
///
/// # Safety
/// As `gemm_rows`.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn gemm_rows_impl(
    w: &[f32],
    k: usize,
    x: &[f32],
    xs: usize,
    y: *mut f32,
    ys: usize,
    cols: usize,
) {
    // y[r][j] += sum over i of w[r][i] * x[i][j], for ROWS rows at once (fewer if w is
    // shorter), i ascending: the same order as `gather_axpy` over a full row, so a dense
    // layer gives the same result through either kernel.
    let rows = w.len() / k;
    assert!(rows <= ROWS && (k == 0 || x.len() >= (k - 1) * xs + cols));
    // SAFETY (of every access to y below): rows r < rows and columns j < cols, which the
    // caller lends us alone.
    let at = |r: usize, j: usize| unsafe { y.add(r * ys + j) };
    let mut b0 = 0;
    while b0 + LANES <= cols {
        let mut acc = [[0f32; LANES]; ROWS];
        for r in 0..rows {
            for j in 0..LANES {
                acc[r][j] = unsafe { *at(r, b0 + j) };
            }
        }
        for i in 0..k {
            let xs = &x[i * xs + b0..i * xs + b0 + LANES];
            for r in 0..rows {
                let a = w[r * k + i];
                for j in 0..LANES {
                    acc[r][j] += a * xs[j];
                }
            }
        }
        for r in 0..rows {
            for j in 0..LANES {
                unsafe { *at(r, b0 + j) = acc[r][j] };
            }
        }
        b0 += LANES;
    }
    for r in 0..rows {
        for b in b0..cols {
            let mut v = unsafe { *at(r, b) };
            for i in 0..k {
                v += w[r * k + i] * x[i * xs + b];
            }
            unsafe { *at(r, b) = v };
        }
    }
}

dispatch!(
    /// `y[r][j] += W[r] . x[.][j]` for up to `ROWS` consecutive rows of a dense matrix `w`
    /// (`rows x k`), on `x` with rows of stride `xs`, for columns j < cols; `y` row r starts
    /// at `y + r * ys`.
    ///
    /// # Safety
    /// `y` points to `rows` rows of `cols` floats at stride `ys` that the caller may write
    /// and that nothing else reads or writes meanwhile.
    pub unsafe fn gemm_rows(w: &[f32], k: usize, x: &[f32], xs: usize, y: *mut f32, ys: usize, cols: usize), gemm_rows_avx2, gemm_rows_impl
);

/// `y[r] += W[r] x` for up to `ROWS` consecutive rows of a dense weight matrix `w`
/// (`rows x n_in`) on feature-major `x` (`n_in x batch`).
pub fn dense_rows(w: &[f32], n_in: usize, x: &[f32], batch: usize, y: &mut [f32]) {
    let rows = w.len() / n_in;
    assert!(y.len() >= rows * batch);
    // SAFETY: y holds the rows x batch floats, borrowed mutably here.
    unsafe { gemm_rows(w, n_in, x, batch, y.as_mut_ptr(), batch, batch) }
}

#[inline(always)]
fn dots_impl(a: &[f32], rows: usize, batch: usize, x: &[f32], out: &mut [f32]) {
    // out[r] = dot(a[r], x) for up to ROWS rows of `a`, each with `dot`'s exact order.
    let mut acc = [[0f32; LANES]; ROWS];
    let full = batch / LANES * LANES;
    for b0 in (0..full).step_by(LANES) {
        let xs = &x[b0..b0 + LANES];
        for r in 0..rows {
            let ar = &a[r * batch + b0..r * batch + b0 + LANES];
            for j in 0..LANES {
                acc[r][j] += ar[j] * xs[j];
            }
        }
    }
    for r in 0..rows {
        let mut tail = 0f32;
        for b in full..batch {
            tail += a[r * batch + b] * x[b];
        }
        out[r] = acc[r].iter().sum::<f32>() + tail;
    }
}

dispatch!(
    /// `out[r] = dot(a[r], x)` for up to `ROWS` rows of `a` (`rows x batch`), bit-identical
    /// to `dot` row by row, reading `x` once.
    pub fn dots(a: &[f32], rows: usize, batch: usize, x: &[f32], out: &mut [f32]), dots_avx2, dots_impl
);

/// Output rows and columns of one weight-gradient tile (`weight_grad_tile`): 6 x 8
/// accumulators plus 6 x 8 partial sums fit the 16 AVX registers.
pub const GRAD_ROWS: usize = 6;
pub const GRAD_COLS: usize = 8;

#[inline(always)]
fn weight_grad_tile_impl(
    dy: &[f32],
    batch: usize,
    xt: &[f32],
    stride: usize,
    out: &mut [[f32; GRAD_COLS]; GRAD_ROWS],
) {
    // out[r][v] = dot(dy[r], x[v]) with `dot`'s exact order, where x[v][b] = xt[b * stride + v]:
    // lane j of `dot` sums the products of samples j, j + LANES, ... in order; the lanes are
    // then added in order (from -0.0, as `Iterator::sum` does), then the tail. Here the
    // columns are the vector lanes instead, so no horizontal sums are needed.
    let full = batch / LANES * LANES;
    let mut sum = [[-0.0f32; GRAD_COLS]; GRAD_ROWS];
    for j in 0..LANES {
        let mut acc = [[0f32; GRAD_COLS]; GRAD_ROWS];
        for b in (j..full).step_by(LANES) {
            let xs = &xt[b * stride..b * stride + GRAD_COLS];
            for r in 0..GRAD_ROWS {
                let d = dy[r * batch + b];
                for v in 0..GRAD_COLS {
                    acc[r][v] += d * xs[v];
                }
            }
        }
        for r in 0..GRAD_ROWS {
            for v in 0..GRAD_COLS {
                sum[r][v] += acc[r][v];
            }
        }
    }
    // The same accumulation as above, written out: as a shared closure it is compiled
    // without the caller's AVX2 features (the dense gradient ran 2.5x slower).
    let mut tail = [[0f32; GRAD_COLS]; GRAD_ROWS];
    for b in full..batch {
        let xs = &xt[b * stride..b * stride + GRAD_COLS];
        for r in 0..GRAD_ROWS {
            let d = dy[r * batch + b];
            for v in 0..GRAD_COLS {
                tail[r][v] += d * xs[v];
            }
        }
    }
    for r in 0..GRAD_ROWS {
        for v in 0..GRAD_COLS {
            out[r][v] = sum[r][v] + tail[r][v];
        }
    }
}

dispatch!(
    /// `out[r][v] = dot(dy[r], x[v])` for a tile of `GRAD_ROWS` rows of `dy` (`GRAD_ROWS x
    /// batch`) and `GRAD_COLS` inputs given transposed (`xt[b * stride + v]`), bit-identical
    /// to `dot` for each pair.
    pub fn weight_grad_tile(dy: &[f32], batch: usize, xt: &[f32], stride: usize, out: &mut [[f32; GRAD_COLS]; GRAD_ROWS]), weight_grad_tile_avx2, weight_grad_tile_impl
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
    fn blocked_dense_kernels_match_the_plain_ones_exactly() {
        let (n_in, batch) = (7, 37);
        let w: Vec<f32> = (0..3 * n_in).map(|i| (i as f32 * 0.37).sin()).collect();
        let x: Vec<f32> = (0..n_in * batch).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut y = vec![0.5f32; 3 * batch];
        dense_rows(&w, n_in, &x, batch, &mut y);
        for r in 0..3 {
            let mut want = vec![0.5f32; batch];
            let terms: Vec<(f32, u32)> = (0..n_in).map(|i| (w[r * n_in + i], i as u32)).collect();
            gather_axpy(&terms, &x, batch, &mut want);
            assert_eq!(&y[r * batch..(r + 1) * batch], &want[..], "row {r}");
        }
        let mut out = [0f32; 3];
        dots(
            &x[..3 * batch],
            3,
            batch,
            &w[..batch.min(w.len())]
                .iter()
                .chain(std::iter::repeat(&1.0))
                .take(batch)
                .copied()
                .collect::<Vec<_>>(),
            &mut out,
        );
        let other: Vec<f32> = w[..batch.min(w.len())]
            .iter()
            .chain(std::iter::repeat(&1.0))
            .take(batch)
            .copied()
            .collect();
        for r in 0..3 {
            assert_eq!(out[r], dot(&x[r * batch..(r + 1) * batch], &other));
        }
    }

    #[test]
    fn the_weight_gradient_tile_matches_dot_exactly() {
        // Batches with and without a tail; values with signed zeros and wide magnitudes.
        for batch in [1, 16, 37, 128] {
            let value = |i: usize| match i % 11 {
                0 => 0.0,
                1 => -0.0,
                _ => (i as f32 * 0.731).sin() * 10f32.powi((i % 7) as i32 - 3),
            };
            let dy: Vec<f32> = (0..GRAD_ROWS * batch).map(|i| value(3 * i + 1)).collect();
            let stride = GRAD_COLS + 3;
            let x: Vec<Vec<f32>> = (0..GRAD_COLS)
                .map(|v| (0..batch).map(|b| value(5 * (v * batch + b) + 2)).collect())
                .collect();
            let mut xt = vec![f32::NAN; batch * stride];
            for (v, row) in x.iter().enumerate() {
                for (b, &x) in row.iter().enumerate() {
                    xt[b * stride + v] = x;
                }
            }
            let mut out = [[0f32; GRAD_COLS]; GRAD_ROWS];
            weight_grad_tile(&dy, batch, &xt, stride, &mut out);
            for r in 0..GRAD_ROWS {
                for v in 0..GRAD_COLS {
                    let want = dot(&dy[r * batch..(r + 1) * batch], &x[v]);
                    assert_eq!(
                        out[r][v].to_bits(),
                        want.to_bits(),
                        "batch {batch} ({r}, {v})"
                    );
                }
            }
        }
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
