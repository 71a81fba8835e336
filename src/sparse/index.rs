//! Compressed lists of active weights, updated at each mask update, so that the sparse
//! kernels of both backends touch only active weights (RIGL.md: a real sparse implementation).

/// Active weights of an `rows x cols` weight matrix (flat index `r * cols + c`), listed by
/// row (CSR) and by column (CSC). Entries are flat weight indices, ascending in each list.
#[derive(Clone, Debug, Default)]
pub struct SparseIndex {
    pub rows: usize,
    pub cols: usize,
    pub row_ptr: Vec<u32>,
    pub by_row: Vec<u32>,
    pub col_ptr: Vec<u32>,
    pub by_col: Vec<u32>,
    /// Room for the next row list and the column scatter positions (no allocation per
    /// update once grown).
    spare: Vec<u32>,
    next: Vec<u32>,
}

impl SparseIndex {
    pub fn new(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            ..Self::default()
        }
    }

    /// Rebuilds both lists from the mask, reusing the allocations.
    pub fn rebuild(&mut self, mask: &[bool]) {
        let (rows, cols) = (self.rows, self.cols);
        debug_assert_eq!(mask.len(), rows * cols);
        self.row_ptr.clear();
        self.by_row.clear();
        self.row_ptr.push(0);
        for r in 0..rows {
            for (c, &m) in mask[r * cols..(r + 1) * cols].iter().enumerate() {
                if m {
                    self.by_row.push((r * cols + c) as u32);
                }
            }
            self.row_ptr.push(self.by_row.len() as u32);
        }
        self.columns_from_rows();
    }

    /// Updates both lists after the mask entries of the weights `toggled` (sorted
    /// ascending, no repeats) flipped: active ones turned off, inactive ones on. The result
    /// is what [`rebuild`](Self::rebuild) gives for the new mask, in time linear in the
    /// active weights, the rows and columns, and the changes, not in the layer's size.
    pub fn update(&mut self, toggled: &[u32]) {
        debug_assert!(toggled.is_sorted());
        // By row: the sorted flat indices of the active weights, as a symmetric difference
        // with the toggled ones (a toggled active weight leaves, a toggled inactive one
        // joins).
        let spare = &mut self.spare;
        spare.clear();
        spare.reserve(self.by_row.len() + toggled.len());
        let mut t = toggled.iter().peekable();
        for &w in &self.by_row {
            while let Some(&x) = t.next_if(|&&x| x < w) {
                spare.push(x);
            }
            if t.next_if_eq(&&w).is_none() {
                spare.push(w);
            }
        }
        spare.extend(t);
        std::mem::swap(&mut self.by_row, spare);
        // Row starts, by walking the new list.
        let cols = self.cols as u32;
        let mut end = cols;
        let mut r = 0;
        for (j, &w) in self.by_row.iter().enumerate() {
            while w >= end {
                r += 1;
                self.row_ptr[r] = j as u32;
                end += cols;
            }
        }
        self.row_ptr[r + 1..].fill(self.by_row.len() as u32);
        self.columns_from_rows();
    }

    /// The column lists from the row lists: counted, then scattered row by row (so each
    /// column lists its weights in ascending flat index).
    fn columns_from_rows(&mut self) {
        let cols = self.cols;
        self.col_ptr.clear();
        self.col_ptr.resize(cols + 1, 0);
        for r in 0..self.rows {
            for &w in &self.by_row[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize] {
                self.col_ptr[w as usize - r * cols + 1] += 1;
            }
        }
        for c in 0..cols {
            self.col_ptr[c + 1] += self.col_ptr[c];
        }
        self.next.clear();
        self.next.extend_from_slice(&self.col_ptr[..cols]);
        self.by_col.clear();
        self.by_col.resize(self.by_row.len(), 0);
        for r in 0..self.rows {
            for &w in &self.by_row[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize] {
                let c = w as usize - r * cols;
                self.by_col[self.next[c] as usize] = w;
                self.next[c] += 1;
            }
        }
    }

    pub fn row(&self, r: usize) -> &[u32] {
        &self.by_row[self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize]
    }

    pub fn col(&self, c: usize) -> &[u32] {
        &self.by_col[self.col_ptr[c] as usize..self.col_ptr[c + 1] as usize]
    }

    pub fn active(&self) -> usize {
        self.by_row.len()
    }

    /// Whether both lists agree with `other`'s (the spare room aside).
    pub fn same_lists(&self, other: &Self) -> bool {
        (self.rows, self.cols, &self.row_ptr, &self.by_row)
            == (other.rows, other.cols, &other.row_ptr, &other.by_row)
            && (&self.col_ptr, &self.by_col) == (&other.col_ptr, &other.by_col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    #[test]
    fn lists_by_row_and_by_column() {
        // 2 x 3 mask:  1 0 1
        //              0 1 1
        let mask = [true, false, true, false, true, true];
        let mut ix = SparseIndex::new(2, 3);
        ix.rebuild(&mask);
        assert_eq!(ix.row(0), &[0, 2]);
        assert_eq!(ix.row(1), &[4, 5]);
        assert_eq!(ix.col(0), &[0]);
        assert_eq!(ix.col(1), &[4]);
        assert_eq!(ix.col(2), &[2, 5]);
        assert_eq!(ix.active(), 4);
        ix.rebuild(&[false; 6]);
        assert_eq!((ix.active(), ix.row(1).len(), ix.col(2).len()), (0, 0, 0));
    }

    #[test]
    fn an_update_gives_the_lists_of_a_rebuild() {
        // Random masks of 7 x 13, then random changes (some rows emptied or filled, the
        // first and last weights included), each checked against a rebuild from scratch.
        let mut rng = Pcg64::seed_from_u64(5);
        let (rows, cols) = (7, 13);
        let mut mask: Vec<bool> = (0..rows * cols).map(|_| rng.random_bool(0.3)).collect();
        let mut ix = SparseIndex::new(rows, cols);
        ix.rebuild(&mask);
        for round in 0..200 {
            let p = [0.0, 0.05, 0.5, 1.0][round % 4];
            let mut toggled = Vec::new();
            for (i, m) in mask.iter_mut().enumerate() {
                if rng.random_bool(p) {
                    toggled.push(i as u32);
                    *m = !*m;
                }
            }
            ix.update(&toggled);
            let mut want = SparseIndex::new(rows, cols);
            want.rebuild(&mask);
            assert!(ix.same_lists(&want), "round {round}: {ix:?} vs {want:?}");
        }
    }
}
