//! 3x3 convolution, stride 1, same (zero) padding, on activations laid out `[C][batch][H][W]`.
//! Weight `(o, c, ky, kx)` sits at `o * (C_in * 9) + c * 9 + ky * 3 + kx`.
//!
//! As matrix products over image columns (implicit GEMM): the N = batch * H * W output
//! positions are cut into fixed chunks of `CHUNK` columns; for each chunk the 9 C_in shifted
//! copies of the input ("im2col", K = 9 C_in rows) are built in a per-thread buffer and
//! multiplied by the weights with the register-blocked kernels of `riglab-kernels`. A masked
//! layer multiplies by its active weights only (`gather_axpy` over the same rows). Every
//! output sums its terms in one fixed order (k ascending; for the weight gradient, chunk by
//! chunk), whatever the thread count and the target.

use std::cell::RefCell;

use crate::par::*;

#[cfg(not(target_arch = "wasm32"))]
use super::fast;
use super::kernels::{ROWS, dot, dots, gather_axpy, gemm_rows, shifted_axpy, sum};
use super::param::Param;
use crate::model::ConvGeom;

/// Output positions (columns) per task; fixed, so results never depend on the thread count.
pub const CHUNK: usize = 2048;

thread_local! {
    /// Per-thread im2col buffer (K x CHUNK floats at most) and term list.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static TERMS: RefCell<Vec<(f32, u32)>> = const { RefCell::new(Vec::new()) };
    /// Per-thread list of the image-row pieces of a chunk (see `im2col`).
    static SEGMENTS: RefCell<Vec<(usize, usize, usize)>> = const { RefCell::new(Vec::new()) };
    /// The padded input of the convolution that this thread runs (see `pad`): taken for the
    /// call and set back after it (a call nested in it on this thread gets an empty one).
    static PADDED: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `x` (`planes` planes of `batch` images of h x w) with a border of zeros: `[planes *
/// batch][h + 2][w + 2]`, so that every tap of `im2col` is a plain copy.
fn pad(x: &[f32], planes: usize, batch: usize, (h, w): (usize, usize), out: &mut Vec<f32>) {
    let (ph, pw) = (h + 2, w + 2);
    out.resize(planes * batch * ph * pw, 0.0);
    let per = units_per_piece(ph * pw);
    each_chunk(out, per * ph * pw, |t, dst| {
        for (q, img) in dst.chunks_exact_mut(ph * pw).enumerate() {
            let src = &x[(t * per + q) * h * w..][..h * w];
            img[..pw].fill(0.0);
            img[(ph - 1) * pw..].fill(0.0);
            for (row, s) in img[pw..(ph - 1) * pw]
                .chunks_exact_mut(pw)
                .zip(src.chunks_exact(w))
            {
                row[0] = 0.0;
                row[1..=w].copy_from_slice(s);
                row[w + 1] = 0.0;
            }
        }
    });
}

/// `col[k][j]` (rows of `len`) for columns `n0..n0 + len` of the input, given `padded` by
/// `pad` (`c_in` planes of `batch` images of h x w): row k = c * 9 + ky * 3 + kx holds
/// x[c][b][y + ky - 1][x + kx - 1], or 0 outside the image. Only the rows that `needed` says
/// (all, without it) are written.
#[allow(clippy::too_many_arguments)]
fn im2col(
    padded: &[f32],
    c_in: usize,
    batch: usize,
    (h, w): (usize, usize),
    n0: usize,
    len: usize,
    needed: Option<&[bool]>,
    col: &mut [f32],
) {
    let (hw, ph, pw) = (h * w, h + 2, w + 2);
    SEGMENTS.with_borrow_mut(|segs| {
        // The chunk's pieces of image rows, found once for all rows of `col`: (offset in the
        // chunk, where the piece starts in a padded image, its length).
        segs.clear();
        let mut j = 0;
        while j < len {
            let n = n0 + j;
            let (b, p) = (n / hw, n % hw);
            let (yy, x0) = (p / w, p % w);
            let x1 = w.min(x0 + len - j);
            segs.push((j, b * ph * pw + yy * pw + x0, x1 - x0));
            j += x1 - x0;
        }
        for c in 0..c_in {
            let plane = &padded[c * batch * ph * pw..(c + 1) * batch * ph * pw];
            for tap in 0..9 {
                if needed.is_some_and(|n| !n[c * 9 + tap]) {
                    continue;
                }
                let shift = (tap / 3) * pw + tap % 3;
                let row = &mut col[(c * 9 + tap) * len..(c * 9 + tap + 1) * len];
                for &(j, at, n) in segs.iter() {
                    row[j..j + n].copy_from_slice(&plane[at + shift..at + shift + n]);
                }
            }
        }
    });
}

/// A matrix written by tasks in disjoint column ranges (each task its own chunk of columns
/// of every row).
struct Columns {
    ptr: *mut f32,
    stride: usize,
}

// SAFETY: tasks write disjoint column ranges (their chunk) of each row; see `row`.
unsafe impl Send for Columns {}
unsafe impl Sync for Columns {}

impl Columns {
    fn new(m: &mut [f32], stride: usize) -> Self {
        Self {
            ptr: m.as_mut_ptr(),
            stride,
        }
    }

    /// Where row `r`, column `n0` is.
    fn at(&self, r: usize, n0: usize) -> *mut f32 {
        self.ptr.wrapping_add(r * self.stride + n0)
    }

    /// Row `r`, columns `n0..n0 + len`.
    ///
    /// # Safety
    /// No two live slices overlap: each task asks only for its own chunk's columns, and the
    /// matrix outlives the tasks.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, r: usize, n0: usize, len: usize) -> &mut [f32] {
        // SAFETY: in bounds (the caller's chunk of row r) and unaliased (see above).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r * self.stride + n0), len) }
    }
}

/// Fills the terms (weight, column) of a matrix row.
type TermsOf<'a> = dyn Fn(usize, &mut Vec<(f32, u32)>) + Sync + 'a;

/// The chunks of N columns: (first column, length).
fn chunks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n.div_ceil(CHUNK)).map(move |c| (c * CHUNK, CHUNK.min(n - c * CHUNK)))
}

/// out[r][n] = init[r] + sum over k ascending of a[r][k] * col[k][n] for r < m rows of `a`
/// (dense, m x k), or over the terms of row r when `terms` is given (a masked layer), for
/// every chunk of the columns of `x` laid out as `src` planes (im2col'd with `flip`).
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
fn conv_gemm(
    exact: bool,
    a: &[f32],
    terms: Option<&TermsOf<'_>>,
    needed: Option<&[bool]>,
    init: &(dyn Fn(usize) -> f32 + Sync),
    m: usize,
    src: (&[f32], usize),
    g: ConvGeom,
    batch: usize,
    out: &mut [f32],
) {
    let (x, planes) = src;
    let k = planes * 9;
    let n = batch * g.plane();
    let cols = Columns::new(out, n);
    let tasks: Vec<(usize, usize)> = chunks(n).collect();
    let mut padded = PADDED.take();
    pad(x, planes, batch, (g.h, g.w), &mut padded);
    let px = &padded[..];
    let work = |&(n0, len): &(usize, usize)| {
        COLS.with_borrow_mut(|col| {
            col.resize(k * len, 0.0);
            im2col(px, planes, batch, (g.h, g.w), n0, len, needed, col);
            for r in 0..m {
                // SAFETY: this task alone writes columns n0..n0 + len.
                unsafe { cols.row(r, n0, len) }.fill(init(r));
            }
            match terms {
                #[cfg(not(target_arch = "wasm32"))]
                None if !exact && fast::worth_it(m, len, k) => {
                    let av = fast::View {
                        ptr: a.as_ptr(),
                        rs: k as isize,
                        cs: 1,
                    };
                    let cv = fast::View {
                        ptr: col.as_ptr(),
                        rs: len as isize,
                        cs: 1,
                    };
                    // SAFETY: this chunk's columns of all m rows, which this task alone writes.
                    unsafe { fast::matmul((m, len, k), cols.at(0, n0), n, true, av, cv) };
                }
                None => {
                    for r0 in (0..m).step_by(ROWS) {
                        let rows = ROWS.min(m - r0);
                        // SAFETY: rows r0.. of this chunk's columns, which this task alone
                        // writes (no slice of them is alive meanwhile).
                        unsafe {
                            gemm_rows(
                                &a[r0 * k..(r0 + rows) * k],
                                k,
                                col,
                                len,
                                cols.at(r0, n0),
                                n,
                                len,
                            )
                        };
                    }
                }
                Some(terms) => TERMS.with_borrow_mut(|t| {
                    for r in 0..m {
                        terms(r, t);
                        // SAFETY: as above.
                        gather_axpy(t, col, len, unsafe { cols.row(r, n0, len) });
                    }
                }),
            }
        });
    };
    tasks.par_iter().for_each(work);
    PADDED.set(padded);
}

pub fn conv_forward(p: &Param, g: ConvGeom, x: &[f32], y: &mut [f32], batch: usize) {
    let cols = p.cols();
    let init = |o: usize| p.bias[o];
    let terms = |o: usize, t: &mut Vec<(f32, u32)>| {
        t.clear();
        t.extend(
            p.index
                .row(o)
                .iter()
                .map(|&w| (p.weights[w as usize], w - (o * cols) as u32)),
        );
    };
    let terms: Option<&TermsOf<'_>> = (!p.all_active).then_some(&terms);
    let needed = (!p.all_active).then(|| used_columns(p));
    conv_gemm(
        p.exact,
        &p.weights,
        terms,
        needed.as_deref(),
        &init,
        g.c_out,
        (x, g.c_in),
        g,
        batch,
        y,
    );
}

/// Per column k of the weight matrix: whether some active weight uses it (its im2col row
/// is needed).
fn used_columns(p: &Param) -> Vec<bool> {
    (0..p.cols()).map(|k| !p.index.col(k).is_empty()).collect()
}

/// The weight gradient's partial sums of one chunk: `part[w] = dot(dy[o] chunk, col[k])` for
/// every weight w = o * cols + k (all of them, or the active ones).
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
fn weight_grad_chunk(
    exact: bool,
    p_index: Option<&crate::sparse::index::SparseIndex>,
    part: &mut [f32],
    dy: &[f32],
    n: usize,
    col: &[f32],
    len: usize,
    n0: usize,
    c_out: usize,
    cols: usize,
) {
    let dy_rows = |o: usize| &dy[o * n + n0..o * n + n0 + len];
    #[cfg(not(target_arch = "wasm32"))]
    if p_index.is_none() && !exact && fast::worth_it(c_out, cols, len) {
        // part = dY (this chunk's columns) col^T.
        let dyv = fast::View {
            ptr: dy[n0..].as_ptr(),
            rs: n as isize,
            cs: 1,
        };
        let cv = fast::View {
            ptr: col.as_ptr(),
            rs: 1,
            cs: len as isize,
        };
        // SAFETY: part holds c_out x cols floats, borrowed mutably here.
        unsafe { fast::matmul((c_out, cols, len), part.as_mut_ptr(), cols, false, dyv, cv) };
        return;
    }
    match p_index {
        None => {
            // ROWS output channels against one im2col row at a time, each as `dot`.
            let mut block = vec![0f32; ROWS * len];
            let mut out = [0f32; ROWS];
            for o0 in (0..c_out).step_by(ROWS) {
                let rows = ROWS.min(c_out - o0);
                for r in 0..rows {
                    block[r * len..(r + 1) * len].copy_from_slice(dy_rows(o0 + r));
                }
                for k in 0..cols {
                    dots(
                        &block[..rows * len],
                        rows,
                        len,
                        &col[k * len..(k + 1) * len],
                        &mut out,
                    );
                    for r in 0..rows {
                        part[(o0 + r) * cols + k] = out[r];
                    }
                }
            }
        }
        Some(index) => {
            for o in 0..c_out {
                for &w in index.row(o) {
                    let k = w as usize - o * cols;
                    part[w as usize] = dot(dy_rows(o), &col[k * len..(k + 1) * len]);
                }
            }
        }
    }
}

pub fn conv_backward(
    p: &mut Param,
    g: ConvGeom,
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    batch: usize,
    dense_grad: bool,
) {
    let (plane, cols) = (g.plane(), p.cols());
    let n = batch * plane;
    p.bias_grad
        .par_iter_mut()
        .enumerate()
        .for_each(|(o, b)| *b = sum(&dy[o * n..(o + 1) * n]));
    // dW[o][k] = sum over chunks in order of dot(dY[o], col[k]) over the chunk's columns: the
    // same for the dense gradient (every weight) and the masked one (active weights only).
    let all = dense_grad || p.all_active;
    let index = (!all).then_some(&p.index);
    let exact = p.exact;
    let needed = (!all).then(|| used_columns(p));
    let needed = needed.as_deref();
    let len_w = p.weights.len();
    let tasks: Vec<(usize, usize)> = chunks(n).collect();
    let parts = &mut p.inputs_t;
    parts.resize(tasks.len() * len_w, 0.0);
    let mut padded = PADDED.take();
    pad(x, g.c_in, batch, (g.h, g.w), &mut padded);
    let px = &padded[..];
    parts
        .par_chunks_mut(len_w)
        .zip(tasks.par_iter())
        .for_each(|(part, &(n0, len))| {
            COLS.with_borrow_mut(|col| {
                col.resize(cols * len, 0.0);
                im2col(px, g.c_in, batch, (g.h, g.w), n0, len, needed, col);
                weight_grad_chunk(exact, index, part, dy, n, col, len, n0, g.c_out, cols);
            });
        });
    PADDED.set(padded);
    let parts = &p.inputs_t;
    let index = &p.index;
    p.grad
        .par_chunks_exact_mut(cols)
        .enumerate()
        .for_each(|(o, g_row)| {
            let mut add = |k: usize| {
                let w = o * cols + k;
                let mut s = 0f32;
                for part in parts.chunks_exact(len_w) {
                    s += part[w];
                }
                g_row[k] = s;
            };
            if all {
                (0..cols).for_each(&mut add);
            } else {
                index
                    .row(o)
                    .iter()
                    .for_each(|&w| add(w as usize - o * cols));
            }
        });
    let Some(dx) = dx else { return };
    if !p.all_active {
        // A masked layer: each active weight adds its shifted, scaled dY to dX directly (an
        // im2col of dY would cost more than the few products).
        let (weights, index) = (&p.weights, &p.index);
        dx.par_chunks_exact_mut(n)
            .enumerate()
            .for_each(|(c, dx_c)| {
                dx_c.fill(0.0);
                for k in c * 9..c * 9 + 9 {
                    let (ty, tx) = ((k % 9 / 3) as isize - 1, (k % 3) as isize - 1);
                    for &w in index.col(k) {
                        let o = w as usize / cols;
                        // dx[c][b][y + ty][x + tx] += w * dy[o][b][y][x] for every image b:
                        // the reverse shift.
                        let src = &dy[o * n..(o + 1) * n];
                        shifted_axpy(weights[w as usize], src, dx_c, -ty, -tx, g.h, g.w);
                    }
                }
            });
        return;
    }
    // dX = the convolution of dY with the flipped, transposed kernel: row c of that kernel
    // has the weights (o, c, 2 - ky, 2 - kx) at column o * 9 + ky * 3 + kx.
    let k_t = g.c_out * 9;
    let flipped = &mut p.transposed;
    flipped.resize(g.c_in * k_t, 0.0);
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for tap in 0..9 {
                flipped[c * k_t + o * 9 + tap] = p.weights[o * cols + c * 9 + (8 - tap)];
            }
        }
    }
    let g_t = ConvGeom {
        c_in: g.c_out,
        c_out: g.c_in,
        ..g
    };
    conv_gemm(
        p.exact,
        &p.transposed,
        None,
        None,
        &|_| 0.0,
        g.c_in,
        (dy, g.c_out),
        g_t,
        batch,
        dx,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::LayerShape;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// The convolution as its definition says, with padding read as zeros, summing k
    /// ascending from the bias: what the blocked kernels must give bit for bit.
    fn reference_forward(p: &Param, g: ConvGeom, x: &[f32], batch: usize) -> Vec<f32> {
        let (h, w, hw) = (g.h, g.w, g.plane());
        let mut y = vec![0f32; g.c_out * batch * hw];
        for o in 0..g.c_out {
            for b in 0..batch {
                for yy in 0..h {
                    for xx in 0..w {
                        let mut s = p.bias[o];
                        for c in 0..g.c_in {
                            for tap in 0..9 {
                                let (sy, sx) = (
                                    yy as isize + tap as isize / 3 - 1,
                                    xx as isize + tap as isize % 3 - 1,
                                );
                                let wgt = p.weights[o * g.c_in * 9 + c * 9 + tap];
                                let v = if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize
                                {
                                    0.0
                                } else {
                                    x[(c * batch + b) * hw + sy as usize * w + sx as usize]
                                };
                                if p.mask[o * g.c_in * 9 + c * 9 + tap] {
                                    s += wgt * v;
                                }
                            }
                        }
                        y[(o * batch + b) * hw + yy * w + xx] = s;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn the_blocked_forward_is_the_definition_bit_for_bit() {
        let mut rng = Pcg64::seed_from_u64(3);
        // Odd sizes, several chunks (129 x 5 x 7 = 4515 columns), channels not a multiple of
        // ROWS; dense and masked.
        for (c_in, c_out, h, w, batch) in [(1, 3, 5, 7, 129), (3, 6, 4, 4, 1), (2, 5, 6, 3, 3)] {
            for density in [1.0, 0.4] {
                let g = ConvGeom { c_in, c_out, h, w };
                let mut p = Param::zeros(LayerShape::conv("c", c_in, c_out, 3, h * w));
                p.exact = true;
                p.weights
                    .iter_mut()
                    .for_each(|v| *v = rng.random_range(-1.0..1.0));
                p.bias
                    .iter_mut()
                    .for_each(|v| *v = rng.random_range(-1.0..1.0));
                let mask: Vec<bool> = (0..p.weights.len())
                    .map(|_| rng.random_bool(density))
                    .collect();
                p.set_mask(mask);
                let x: Vec<f32> = (0..c_in * batch * h * w)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect();
                let mut y = vec![f32::NAN; c_out * batch * h * w];
                conv_forward(&p, g, &x, &mut y, batch);
                let want = reference_forward(&p, g, &x, batch);
                assert!(
                    y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{g:?} batch {batch} density {density}"
                );
            }
        }
    }
}
