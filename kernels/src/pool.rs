//! 2x2 max pooling (stride 2, odd edges dropped) with the winner's index, and the gradient
//! routed back to the winners.
//!
//! Natively plain loops; in the page's wasm four windows at a time in simd128 instructions
//! (the same comparisons window by window, so the same values and indices).

/// max(v, 0), with NaN and -0 going to +0 (`f32::max` leaves the sign of a zero result to
/// the compiled code, which differs between a vector and a scalar loop).
#[inline(always)]
pub fn relu(v: f32) -> f32 {
    if v > 0.0 { v } else { 0.0 }
}

/// `relu(v)` where `relu`, `v` otherwise.
#[inline(always)]
fn clamp(relu: bool, v: f32) -> f32 {
    if relu { self::relu(v) } else { v }
}

/// The window whose top-left input is `x[i]` (rows `w` apart): its maximum and the index of
/// the first input holding it, in the order (0,0), (0,1), (1,0), (1,1).
#[inline(always)]
fn window(x: &[f32], i: usize, w: usize, relu: bool) -> (f32, usize) {
    let (mut best, mut at) = (clamp(relu, x[i]), i);
    for j in [i + 1, i + w, i + w + 1] {
        let v = clamp(relu, x[j]);
        if v > best {
            (best, at) = (v, j);
        }
    }
    (best, at)
}

/// Four windows side by side from `x[i]` (8 inputs of the top row, 8 of the bottom one):
/// their maxima to `y`, their indices plus `base` to `am`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn four_windows(
    x: &[f32],
    i: usize,
    w: usize,
    relu: bool,
    base: u32,
    y: &mut [f32; 4],
    am: &mut [u32; 4],
) {
    use core::arch::wasm32::*;
    let (top, bottom) = (&x[i..i + 8], &x[i + w..i + w + 8]);
    // SAFETY: each load reads 4 floats inside `top` or `bottom` (8 floats each, checked by
    // the slicing above); simd128 loads and stores take any alignment.
    unsafe {
        let load = |s: &[f32], at: usize| v128_load(s.as_ptr().add(at).cast::<v128>());
        let (t0, t1, b0, b1) = (load(top, 0), load(top, 4), load(bottom, 0), load(bottom, 4));
        let zero = f32x4_splat(0.0);
        // `clamp` lane by lane: a lane not above 0 (also NaN and -0) becomes +0.
        let clamp = |v: v128| {
            if relu {
                v128_and(v, f32x4_gt(v, zero))
            } else {
                v
            }
        };
        let tl = clamp(i32x4_shuffle::<0, 2, 4, 6>(t0, t1));
        let tr = clamp(i32x4_shuffle::<1, 3, 5, 7>(t0, t1));
        let bl = clamp(i32x4_shuffle::<0, 2, 4, 6>(b0, b1));
        let br = clamp(i32x4_shuffle::<1, 3, 5, 7>(b0, b1));
        let first = base + i as u32;
        let at0 = u32x4(first, first + 2, first + 4, first + 6);
        let (mut best, mut at) = (tl, at0);
        for (v, off) in [(tr, 1), (bl, w as u32), (br, w as u32 + 1)] {
            let m = f32x4_gt(v, best);
            best = v128_bitselect(v, best, m);
            at = v128_bitselect(u32x4_add(at0, u32x4_splat(off)), at, m);
        }
        v128_store(y.as_mut_ptr().cast::<v128>(), best);
        v128_store(am.as_mut_ptr().cast::<v128>(), at);
    }
}

/// For each of the planes of h x w in `x`: `y` = the maximum of each 2x2 window of
/// `max(x, 0)` where `relu` (NaN and -0 going to +0), of `x` otherwise; `am` = the index in `x`
/// plus `base` of the window's first input holding it (ties go to the first of (0,0), (0,1),
/// (1,0), (1,1)). `y` and `am` hold (h / 2) x (w / 2) outputs per plane; as many planes are
/// pooled as they have room for.
pub fn max_pool_2x2(
    x: &[f32],
    (h, w): (usize, usize),
    relu: bool,
    base: usize,
    y: &mut [f32],
    am: &mut [u32],
) {
    let (oh, ow) = (h / 2, w / 2);
    let (in_plane, out_plane) = (h * w, oh * ow);
    if out_plane == 0 {
        return;
    }
    assert!(base + x.len() <= u32::MAX as usize, "indices fit in u32");
    for (p, (y, am)) in y
        .chunks_exact_mut(out_plane)
        .zip(am.chunks_exact_mut(out_plane))
        .enumerate()
    {
        for oy in 0..oh {
            let r0 = p * in_plane + 2 * oy * w;
            let (y, am) = (&mut y[oy * ow..][..ow], &mut am[oy * ow..][..ow]);
            let mut ox = 0;
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            while 2 * ox + 8 <= w {
                let (yb, ab) = (&mut y[ox..ox + 4], &mut am[ox..ox + 4]);
                let (yb, ab) = (yb.try_into().unwrap(), ab.try_into().unwrap());
                four_windows(x, r0 + 2 * ox, w, relu, base as u32, yb, ab);
                ox += 4;
            }
            while ox < ow {
                let (best, at) = window(x, r0 + 2 * ox, w, relu);
                y[ox] = best;
                am[ox] = (base + at) as u32;
                ox += 1;
            }
        }
    }
}

/// `dx` = 0, then `dx[am[o] - base] += dy[o]` for each output o (where `gate[o] > 0`, given a
/// gate): the gradient of `max_pool_2x2` (and of the ReLU before it, with its output as gate).
pub fn route_max(dy: &[f32], am: &[u32], base: usize, gate: Option<&[f32]>, dx: &mut [f32]) {
    dx.fill(0.0);
    let n = dy.len().min(am.len());
    match gate {
        None => {
            for (&d, &a) in dy[..n].iter().zip(&am[..n]) {
                dx[a as usize - base] += d;
            }
        }
        Some(g) => {
            for ((&d, &a), &g) in dy[..n].iter().zip(&am[..n]).zip(&g[..n]) {
                if g > 0.0 {
                    dx[a as usize - base] += d;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_takes_the_first_maximum_of_each_window() {
        // Two planes of 4 x 5 (the last column dropped): ties, -0, NaN.
        #[rustfmt::skip]
        let x = [
            1.0, 3.0, 2.0, 2.0, 9.0,
            3.0, 0.0, 2.0, -1.0, 9.0,
            -0.0, -1.0, f32::NAN, 4.0, 9.0,
            -2.0, -3.0, 1.0, 5.0, 9.0,

            -1.0, -2.0, 0.0, 0.0, 0.0,
            -3.0, -4.0, 0.0, -0.0, 0.0,
            f32::NAN, -1.0, 7.0, 7.0, 0.0,
            -1.0, -1.0, 7.0, 7.0, 0.0,
        ];
        let (mut y, mut am) = ([0f32; 8], [0u32; 8]);
        max_pool_2x2(&x, (4, 5), false, 100, &mut y, &mut am);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        // A window starting with NaN keeps it (nothing compares above NaN).
        let want_y = [3.0, 2.0, -0.0, f32::NAN, -1.0, 0.0, f32::NAN, 7.0];
        assert_eq!(bits(&y), bits(&want_y));
        assert_eq!(
            am,
            [101, 102, 110, 112, 120, 122, 130, 132].map(|i| i as u32)
        );
        max_pool_2x2(&x, (4, 5), true, 0, &mut y, &mut am);
        let want_y = [3.0, 2.0, 0.0, 5.0, 0.0, 0.0, 0.0, 7.0];
        assert_eq!(bits(&y), bits(&want_y));
        assert_eq!(am, [1, 2, 10, 18, 20, 22, 30, 32]);
    }

    #[test]
    fn routing_adds_each_gradient_at_its_winner() {
        let am = [3u32, 4, 9];
        let dy = [1.5f32, -0.0, 2.0];
        let mut dx = [7f32; 8];
        route_max(&dy, &am, 2, None, &mut dx);
        assert_eq!(
            dx.map(f32::to_bits),
            [0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0].map(f32::to_bits)
        );
        route_max(&dy, &am, 2, Some(&[1.0, 1.0, 0.0]), &mut dx);
        assert_eq!(dx, [0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
