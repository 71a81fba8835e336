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
