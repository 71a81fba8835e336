//! The parameters and optimizer state of one maskable layer.

use crate::sparse::LayerShape;
use crate::sparse::index::SparseIndex;
use crate::sparse::update::apply_reset;

/// Weights `[n_out][n_in * kh * kw]` (flat; inactive weights hold exactly 0), the mask,
/// dense biases (RIGL.md: biases are always dense), gradients and momentum.
#[derive(Clone, Debug)]
pub struct Param {
    pub shape: LayerShape,
    pub weights: Vec<f32>,
    pub mask: Vec<bool>,
    pub bias: Vec<f32>,
    pub grad: Vec<f32>,
    pub bias_grad: Vec<f32>,
    pub momentum: Vec<f32>,
    pub bias_momentum: Vec<f32>,
    /// Active weights by output row and by input column, rebuilt when the mask changes.
    pub index: SparseIndex,
    /// True when every weight is active: the kernels then take their register-blocked path.
    pub all_active: bool,
    /// Scratch for the transposed weights of a fully active layer's input gradient.
    pub transposed: Vec<f32>,
    /// Scratch for the transposed inputs of a dense weight gradient.
    pub inputs_t: Vec<f32>,
    /// Dense products in the exact mode (the page's order) rather than the fast one
    /// (`cpu::fast`).
    pub exact: bool,
}

impl Param {
    /// A dense layer of zeros; see `Net::new` for initialisation.
    pub fn zeros(shape: LayerShape) -> Self {
        let n = shape.num_weights();
        let cols = n / shape.n_out;
        let mut p = Self {
            weights: vec![0.0; n],
            mask: vec![true; n],
            bias: vec![0.0; shape.n_out],
            grad: vec![0.0; n],
            bias_grad: vec![0.0; shape.n_out],
            momentum: vec![0.0; n],
            bias_momentum: vec![0.0; shape.n_out],
            index: SparseIndex::new(shape.n_out, cols),
            all_active: true,
            transposed: Vec::new(),
            inputs_t: Vec::new(),
            exact: super::fast::default_exact(),
            shape,
        };
        p.index.rebuild(&p.mask);
        p
    }

    /// Weights per output unit (row length): n_in * kh * kw.
    pub fn cols(&self) -> usize {
        self.index.cols
    }

    pub fn active(&self) -> usize {
        self.index.active()
    }

    /// Installs a mask: inactive weights and their momentum become exactly 0.
    pub fn set_mask(&mut self, mask: Vec<bool>) {
        assert_eq!(mask.len(), self.weights.len());
        self.mask = mask;
        for ((w, m), &on) in self
            .weights
            .iter_mut()
            .zip(&mut self.momentum)
            .zip(&self.mask)
        {
            if !on {
                *w = 0.0;
                *m = 0.0;
            }
        }
        self.mask_changed();
    }

    /// Flips the mask entries of `toggled` (sorted ascending, no repeats: dropped and newly
    /// grown weights), sets their weights and momentum to 0 (RIGL.md steps 4-5) and updates
    /// the index in place.
    pub fn toggle(&mut self, toggled: &[u32]) {
        apply_reset(
            toggled,
            &mut self.mask,
            &mut self.weights,
            &mut self.momentum,
        );
        self.index.update(toggled);
        self.all_active = self.index.active() == self.mask.len();
    }

    /// Rebuilds the index after the mask was edited in place.
    pub fn mask_changed(&mut self) {
        self.index.rebuild(&self.mask);
        self.all_active = self.index.active() == self.mask.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    #[test]
    fn toggling_gives_the_state_of_installing_the_new_mask() {
        let mut rng = Pcg64::seed_from_u64(1);
        let mut p = Param::zeros(LayerShape::conv("conv", 3, 5, 3, 16));
        let n = p.weights.len();
        p.weights
            .iter_mut()
            .for_each(|w| *w = rng.random_range(-1.0..1.0));
        p.momentum
            .iter_mut()
            .for_each(|m| *m = rng.random_range(-1.0..1.0));
        p.set_mask((0..n).map(|_| rng.random_bool(0.4)).collect());
        for _ in 0..20 {
            let toggled: Vec<u32> = (0..n as u32).filter(|_| rng.random_bool(0.1)).collect();
            let mut want = p.clone();
            let mut mask = want.mask.clone();
            for &i in &toggled {
                mask[i as usize] = !mask[i as usize];
                want.weights[i as usize] = 0.0;
                want.momentum[i as usize] = 0.0;
            }
            want.set_mask(mask);
            p.toggle(&toggled);
            assert_eq!(
                (&p.mask, &p.weights, &p.momentum, p.all_active),
                (&want.mask, &want.weights, &want.momentum, want.all_active)
            );
            assert!(p.index.same_lists(&want.index));
        }
    }
}
