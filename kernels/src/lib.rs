//! Small vector kernels with a deterministic summation order (fixed-width blocks,
//! independent accumulators). Their lane-wise steps are `lanes`: plain loops that the
//! compiler vectorises natively, simd128 instructions in the page's wasm.

mod lanes;
mod pool;

pub use pool::{max_pool_2x2, relu, route_max};

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
        // Not `#[inline]`: each kernel is compiled in this crate, at its optimisation level.
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
    let n = x.len().min(y.len());
    let mut yc = y[..n].chunks_exact_mut(LANES);
    let mut xc = x[..n].chunks_exact(LANES);
    for (y, x) in (&mut yc).zip(&mut xc) {
        lanes::add_mul::<LANES>(y.try_into().unwrap(), a, x.try_into().unwrap());
    }
    for (y, x) in yc.into_remainder().iter_mut().zip(xc.remainder()) {
        *y += a * x;
    }
}

dispatch!(
    /// `y += a * x`.
    pub fn axpy(a: f32, x: &[f32], y: &mut [f32]), axpy_avx2, axpy_impl
);

/// Valid output range [lo, hi) along one axis for a tap offset `d` in {-1, 0, 1}.
fn valid(d: isize, n: usize) -> (usize, usize) {
    ((-d).max(0) as usize, (n as isize - d.max(0)) as usize)
}

/// Rows of a plane that `shifted_axpy` adds in one pass.
const STRIP: usize = 16;

#[inline(always)]
fn shifted_axpy_impl(
    a: f32,
    src: &[f32],
    dst: &mut [f32],
    dy: isize,
    dx: isize,
    h: usize,
    w: usize,
) {
    assert!((-1..=1).contains(&dy) && (-1..=1).contains(&dx));
    let (y0, y1) = valid(dy, h);
    let (x0, x1) = valid(dx, w);
    if y0 >= y1 || x0 >= x1 {
        return;
    }
    let plane = h * w;
    let shift = dy * w as isize + dx;
    // The one column a shifted row leaves out (none without a horizontal shift).
    let gap = match dx {
        -1 => Some(0),
        1 => Some(w - 1),
        _ => None,
    };
    for (src, dst) in src.chunks_exact(plane).zip(dst.chunks_exact_mut(plane)) {
        // A strip of rows as one run from its first valid position to its last: the run
        // also covers the left-out column between two rows, whose values are kept aside and
        // put back, so every other position gets exactly its one multiply-add.
        let mut y = y0;
        while y < y1 {
            let ye = (y + STRIP).min(y1);
            let (s, e) = (y * w + x0, (ye - 1) * w + x1);
            let mut kept = [(0usize, 0f32); STRIP];
            let mut n_kept = 0;
            if let Some(gx) = gap {
                for r in y..ye {
                    let p = r * w + gx;
                    if p >= s && p < e {
                        kept[n_kept] = (p, dst[p]);
                        n_kept += 1;
                    }
                }
            }
            let from = (s as isize + shift) as usize;
            axpy_impl(a, &src[from..from + (e - s)], &mut dst[s..e]);
            for &(p, v) in &kept[..n_kept] {
                dst[p] = v;
            }
            y = ye;
        }
    }
}

dispatch!(
    /// `dst[p][y][x] += a * src[p][y + dy][x + dx]` over the positions where both are in the
    /// image, for each of the `h x w` planes p of `src` and `dst` (one call for a batch).
    pub fn shifted_axpy(a: f32, src: &[f32], dst: &mut [f32], dy: isize, dx: isize, h: usize, w: usize), shifted_axpy_avx2, shifted_axpy_impl
);

#[inline(always)]
fn dot_impl(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    let mut yc = y.chunks_exact(LANES);
    for (xb, yb) in (&mut xc).zip(&mut yc) {
        lanes::add_mul_lanes::<LANES>(&mut acc, xb.try_into().unwrap(), yb.try_into().unwrap());
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
fn sum_impl(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut xc = x.chunks_exact(LANES);
    for xb in &mut xc {
        lanes::add::<LANES>(&mut acc, xb.try_into().unwrap());
    }
    let mut tail = 0f32;
    for v in xc.remainder() {
        tail += v;
    }
    acc.iter().sum::<f32>() + tail
}

dispatch!(
    /// Sum with `LANES` independent partial sums, in the order of `dot`.
    pub fn sum(x: &[f32]) -> f32, sum_avx2, sum_impl
);

/// `gather_axpy` on the `W` outputs from `start`: they stay in registers while every term is
/// added.
#[inline(always)]
fn gather_axpy_block<const W: usize>(
    terms: &[(f32, u32)],
    x: &[f32],
    stride: usize,
    y: &mut [f32],
    start: usize,
) {
    let mut acc = [0f32; W];
    acc.copy_from_slice(&y[start..start + W]);
    for &(a, row) in terms {
        let base = row as usize * stride + start;
        let xs: &[f32; W] = x[base..base + W].try_into().expect("W floats");
        lanes::add_mul(&mut acc, a, xs);
    }
    y[start..start + W].copy_from_slice(&acc);
}

/// The body of `gather_axpy`, `B` outputs at a time (`B` a multiple of `LANES`). Each output
/// adds the terms in their order whatever `B` is, so every width gives the same bits: each
/// target takes the widest block its registers hold (8 accumulators of its vector width).
#[inline(always)]
fn gather_axpy_impl<const B: usize>(terms: &[(f32, u32)], x: &[f32], stride: usize, y: &mut [f32]) {
    let n = y.len();
    let mut start = 0;
    while start + B <= n {
        gather_axpy_block::<B>(terms, x, stride, y, start);
        start += B;
    }
    while start + LANES <= n {
        gather_axpy_block::<LANES>(terms, x, stride, y, start);
        start += LANES;
    }
    if start < n {
        for &(a, row) in terms {
            let base = row as usize * stride;
            axpy_impl(a, &x[base + start..base + n], &mut y[start..]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gather_axpy_avx512(terms: &[(f32, u32)], x: &[f32], stride: usize, y: &mut [f32]) {
    gather_axpy_impl::<{ 8 * LANES }>(terms, x, stride, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gather_axpy_avx2(terms: &[(f32, u32)], x: &[f32], stride: usize, y: &mut [f32]) {
    gather_axpy_impl::<{ 4 * LANES }>(terms, x, stride, y)
}

/// `y[j] += sum over (a, row) in terms of a * x[row * stride + j]` for j in 0..y.len(),
/// block by block so each block of `y` stays in registers while every term is added.
pub fn gather_axpy(terms: &[(f32, u32)], x: &[f32], stride: usize, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { gather_axpy_avx512(terms, x, stride, y) };
        }
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { gather_axpy_avx2(terms, x, stride, y) };
        }
    }
    gather_axpy_impl::<{ 2 * LANES }>(terms, x, stride, y)
}

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
            let xs: &[f32; LANES] = x[i * xs + b0..i * xs + b0 + LANES].try_into().unwrap();
            for r in 0..rows {
                lanes::add_mul(&mut acc[r], w[r * k + i], xs);
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
        let xs: &[f32; LANES] = x[b0..b0 + LANES].try_into().unwrap();
        for r in 0..rows {
            let ar = a[r * batch + b0..r * batch + b0 + LANES]
                .try_into()
                .unwrap();
            lanes::add_mul_lanes(&mut acc[r], ar, xs);
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
            let xs = xt[b * stride..b * stride + GRAD_COLS].try_into().unwrap();
            for r in 0..GRAD_ROWS {
                lanes::add_mul(&mut acc[r], dy[r * batch + b], xs);
            }
        }
        for r in 0..GRAD_ROWS {
            lanes::add(&mut sum[r], &acc[r]);
        }
    }
    // The same accumulation as above, written out: as a shared closure it is compiled
    // without the caller's AVX2 features (the dense gradient ran 2.5x slower).
    let mut tail = [[0f32; GRAD_COLS]; GRAD_ROWS];
    for b in full..batch {
        let xs = xt[b * stride..b * stride + GRAD_COLS].try_into().unwrap();
        for r in 0..GRAD_ROWS {
            lanes::add_mul(&mut tail[r], dy[r * batch + b], xs);
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

    /// Values with signed zeros and wide magnitudes.
    fn value(i: usize) -> f32 {
        match i % 11 {
            0 => 0.0,
            1 => -0.0,
            _ => (i as f32 * 0.731).sin() * 10f32.powi((i % 7) as i32 - 3),
        }
    }

    #[test]
    fn every_width_of_gather_axpy_gives_the_bits_of_one_term_at_a_time() {
        // Lengths below, at and between the blocks of every target; terms out of order.
        for n in [1, 15, 16, 33, 64, 127, 128, 129, 300] {
            let stride = n + 5;
            let x: Vec<f32> = (0..stride * 7).map(|i| value(3 * i + 2)).collect();
            let terms: Vec<(f32, u32)> = [6u32, 0, 3, 5, 1]
                .iter()
                .map(|&r| (value(r as usize * 13 + 4), r))
                .collect();
            let y0: Vec<f32> = (0..n).map(|j| value(7 * j + 1)).collect();
            let mut want = y0.clone();
            for &(a, r) in &terms {
                for (j, y) in want.iter_mut().enumerate() {
                    *y += a * x[r as usize * stride + j];
                }
            }
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            let mut ys = Vec::new();
            let mut y = y0.clone();
            gather_axpy(&terms, &x, stride, &mut y);
            ys.push(y);
            let mut y = y0.clone();
            gather_axpy_impl::<{ 2 * LANES }>(&terms, &x, stride, &mut y);
            ys.push(y);
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                let mut y = y0.clone();
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { gather_axpy_avx2(&terms, &x, stride, &mut y) };
                ys.push(y);
            }
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                let mut y = y0.clone();
                // SAFETY: the CPU supports AVX-512F (checked just above).
                unsafe { gather_axpy_avx512(&terms, &x, stride, &mut y) };
                ys.push(y);
            }
            for (k, y) in ys.iter().enumerate() {
                assert_eq!(bits(y), bits(&want), "n {n}, kernel {k}");
            }
        }
    }

    #[test]
    fn shifted_axpy_adds_each_valid_position_once_and_leaves_the_rest() {
        // Every tap offset; planes narrower and taller than a strip; several planes; values
        // that would spoil a left-out position (infinities, NaN) if one were touched.
        for (h, w) in [(1, 1), (3, 2), (5, 7), (14, 14), (40, 3)] {
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let plane = h * w;
                    let src: Vec<f32> = (0..3 * plane)
                        .map(|i| match i % 13 {
                            5 => f32::INFINITY,
                            9 => f32::NAN,
                            _ => value(3 * i + 2),
                        })
                        .collect();
                    let dst0: Vec<f32> = (0..3 * plane).map(|i| value(7 * i + 1)).collect();
                    let a = -1.75f32;
                    let mut want = dst0.clone();
                    for p in 0..3 {
                        for y in 0..h as isize {
                            for x in 0..w as isize {
                                let (sy, sx) = (y + dy, x + dx);
                                if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                    continue;
                                }
                                let d = p * plane + (y as usize) * w + x as usize;
                                want[d] += a * src[p * plane + sy as usize * w + sx as usize];
                            }
                        }
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    let mut got = dst0.clone();
                    shifted_axpy(a, &src, &mut got, dy, dx, h, w);
                    assert_eq!(bits(&got), bits(&want), "{h}x{w} shift ({dy}, {dx})");
                }
            }
        }
    }

    #[test]
    fn sum_adds_in_the_order_of_dot() {
        // Whole numbers (exact sums), then values whose sum depends on the order.
        let ints: Vec<f32> = (0..41).map(|i| i as f32).collect();
        assert_eq!(sum(&ints), 820.0);
        for n in [0, 1, 15, 16, 17, 129, 1000] {
            let x: Vec<f32> = (0..n).map(|i| value(5 * i + 3)).collect();
            let ones = vec![1f32; n];
            assert_eq!(sum(&x).to_bits(), dot(&x, &ones).to_bits(), "n {n}");
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
