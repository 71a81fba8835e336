//! Compressed lists of active weights, rebuilt at each mask update, so that the sparse
//! kernels touch only active weights (RIGL.md: a real sparse implementation).

/// Active weights of an `rows x cols` weight matrix (flat index `r * cols + c`), listed by
/// row (CSR) and by column (CSC). Entries are flat weight indices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseIndex {
    pub rows: usize,
    pub cols: usize,
    pub row_ptr: Vec<u32>,
    pub by_row: Vec<u32>,
    pub col_ptr: Vec<u32>,
    pub by_col: Vec<u32>,
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
        let mut col_count = vec![0u32; cols + 1];
        for r in 0..rows {
            for (c, &m) in mask[r * cols..(r + 1) * cols].iter().enumerate() {
                if m {
                    self.by_row.push((r * cols + c) as u32);
                    col_count[c + 1] += 1;
                }
            }
            self.row_ptr.push(self.by_row.len() as u32);
        }
        for c in 0..cols {
            col_count[c + 1] += col_count[c];
        }
        self.col_ptr.clear();
        self.col_ptr.extend_from_slice(&col_count);
        self.by_col.clear();
        self.by_col.resize(self.by_row.len(), 0);
        let mut next = col_count;
        for &w in &self.by_row {
            let c = w as usize % cols;
            self.by_col[next[c] as usize] = w;
            next[c] += 1;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
