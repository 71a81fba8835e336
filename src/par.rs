//! Data parallelism over slices: rayon natively; on wasm32 (the page runs on one thread) the
//! same calls run in order on the calling thread, so the page carries no thread pool. Every
//! parallel loop splits its work into fixed chunks, so both give the same numbers.

#[cfg(not(target_arch = "wasm32"))]
pub use rayon::prelude::*;

/// Threads the parallel loops use.
#[cfg(not(target_arch = "wasm32"))]
pub fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(target_arch = "wasm32")]
pub use sequential::*;

/// Fewest elements worth handing to the thread pool: a shorter pass runs on the calling
/// thread (waking a pool thread costs more than, say, a ReLU over 40,000 floats).
pub const PAR_MIN: usize = 1 << 16;

/// Elements per task of an element-wise pass (ReLU, pooling, SGD, padding).
pub const PIECE: usize = 1 << 14;

/// Whole units (rows, images, planes) of `unit` elements per task, together at least
/// `PIECE` elements.
pub fn units_per_piece(unit: usize) -> usize {
    PIECE.div_ceil(unit.max(1)).max(1)
}

/// `f(i, chunk i)` for the chunks of `size` of `v`: in parallel natively, on the calling
/// thread when `v` is shorter than `PAR_MIN` (and always on wasm32). The same chunks
/// either way, so the same numbers.
pub fn each_chunk<T: Send>(v: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    #[cfg(not(target_arch = "wasm32"))]
    if v.len() >= PAR_MIN {
        v.par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
        return;
    }
    v.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c));
}

/// `each_chunk` over two slices in step: chunk i of `a` (chunks of `sa`) with chunk i of `b`
/// (chunks of `sb`), while both have one; in parallel when `a` is at least `PAR_MIN` long.
pub fn each_chunk2<A: Send, B: Send>(
    (a, sa): (&mut [A], usize),
    (b, sb): (&mut [B], usize),
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
) {
    #[cfg(not(target_arch = "wasm32"))]
    if a.len() >= PAR_MIN {
        a.par_chunks_mut(sa)
            .zip(b.par_chunks_mut(sb))
            .enumerate()
            .for_each(|(i, (a, b))| f(i, a, b));
        return;
    }
    a.chunks_mut(sa)
        .zip(b.chunks_mut(sb))
        .enumerate()
        .for_each(|(i, (a, b))| f(i, a, b));
}

#[cfg(target_arch = "wasm32")]
pub fn threads() -> usize {
    1
}

#[cfg(target_arch = "wasm32")]
mod sequential {
    use std::slice::{ChunksExactMut, ChunksMut, Iter, IterMut};

    /// rayon's `par_iter` on slices, as a plain iterator.
    pub trait ParallelSlice<T> {
        fn par_iter(&self) -> Iter<'_, T>;
    }

    impl<T> ParallelSlice<T> for [T] {
        fn par_iter(&self) -> Iter<'_, T> {
            self.iter()
        }
    }

    /// rayon's slice methods, as plain iterators.
    pub trait ParallelSliceMut<T> {
        fn par_iter_mut(&mut self) -> IterMut<'_, T>;
        fn par_chunks_mut(&mut self, size: usize) -> ChunksMut<'_, T>;
        fn par_chunks_exact_mut(&mut self, size: usize) -> ChunksExactMut<'_, T>;
    }

    impl<T> ParallelSliceMut<T> for [T] {
        fn par_iter_mut(&mut self) -> IterMut<'_, T> {
            self.iter_mut()
        }
        fn par_chunks_mut(&mut self, size: usize) -> ChunksMut<'_, T> {
            self.chunks_mut(size)
        }
        fn par_chunks_exact_mut(&mut self, size: usize) -> ChunksExactMut<'_, T> {
            self.chunks_exact_mut(size)
        }
    }

    /// rayon's task-size hint, which one thread ignores.
    pub trait WithMinLen: Sized {
        fn with_min_len(self, _min: usize) -> Self {
            self
        }
    }

    impl<I: Iterator> WithMinLen for I {}
}
