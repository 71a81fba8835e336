//! The kernels' lane-wise steps on fixed-size arrays of floats: `acc[j] += a * x[j]` and its
//! kin, each lane one multiply and one add (never fused), in the same order on every target.
//!
//! Natively each is a plain loop that the compiler vectorises. In the page's wasm, which is
//! optimised for size, the compiler vectorises nothing, so these are written with the
//! simd128 instructions themselves (four lanes per instruction, the same operations lane by
//! lane: the same bits).

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    /// `acc[j] += a * x[j]`.
    #[inline(always)]
    pub fn add_mul<const N: usize>(acc: &mut [f32; N], a: f32, x: &[f32; N]) {
        for j in 0..N {
            acc[j] += a * x[j];
        }
    }

    /// `acc[j] += a[j] * x[j]`.
    #[inline(always)]
    pub fn add_mul_lanes<const N: usize>(acc: &mut [f32; N], a: &[f32; N], x: &[f32; N]) {
        for j in 0..N {
            acc[j] += a[j] * x[j];
        }
    }

    /// `acc[j] += x[j]`.
    #[inline(always)]
    pub fn add<const N: usize>(acc: &mut [f32; N], x: &[f32; N]) {
        for j in 0..N {
            acc[j] += x[j];
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, v128, v128_load, v128_store};

    /// Applies `f` to each group of four lanes of `acc` and `x` (N a multiple of 4).
    #[inline(always)]
    fn by_four<const N: usize>(
        acc: &mut [f32; N],
        x: &[f32; N],
        mut f: impl FnMut(usize, v128, v128) -> v128,
    ) {
        const {
            assert!(
                N.is_multiple_of(4),
                "the kernels' blocks are multiples of 4 floats"
            )
        };
        for c in 0..N / 4 {
            // SAFETY: floats 4c..4c+4 lie in both arrays (4c + 4 <= N); simd128 loads and
            // stores take any alignment.
            unsafe {
                let p = acc.as_mut_ptr().add(4 * c).cast::<v128>();
                let q = x.as_ptr().add(4 * c).cast::<v128>();
                v128_store(p, f(c, v128_load(p), v128_load(q)));
            }
        }
    }

    #[inline(always)]
    pub fn add_mul<const N: usize>(acc: &mut [f32; N], a: f32, x: &[f32; N]) {
        let a = f32x4_splat(a);
        by_four(acc, x, |_, s, x| f32x4_add(s, f32x4_mul(a, x)));
    }

    #[inline(always)]
    pub fn add_mul_lanes<const N: usize>(acc: &mut [f32; N], a: &[f32; N], x: &[f32; N]) {
        by_four(acc, x, |c, s, x| {
            // SAFETY: floats 4c..4c+4 lie in `a` too (same N).
            let a = unsafe { v128_load(a.as_ptr().add(4 * c).cast::<v128>()) };
            f32x4_add(s, f32x4_mul(a, x))
        });
    }

    #[inline(always)]
    pub fn add<const N: usize>(acc: &mut [f32; N], x: &[f32; N]) {
        by_four(acc, x, |_, s, x| f32x4_add(s, x));
    }
}

pub use imp::{add, add_mul, add_mul_lanes};
