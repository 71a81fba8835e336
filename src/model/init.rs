//! Initial weights, drawn the same way for every backend and method.

use rand::Rng;
use rand_distr::{Distribution as _, Normal};

use crate::sparse::LayerShape;

/// He/Kaiming normal initialisation: N(0, 2 / fan_in) with fan_in = n_in * kh * kw, drawn
/// for every weight (active or not) so methods sharing a seed share their initial values.
pub fn he_normal<R: Rng + ?Sized>(shape: &LayerShape, rng: &mut R) -> Vec<f32> {
    let fan_in = (shape.n_in * shape.kh * shape.kw) as f32;
    let normal = Normal::new(0.0, (2.0 / fan_in).sqrt()).expect("a valid standard deviation");
    (0..shape.num_weights())
        .map(|_| normal.sample(rng))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn variance_is_two_over_fan_in() {
        let shape = LayerShape::dense("fc", 200, 300);
        let w = he_normal(&shape, &mut rand_pcg::Pcg64::seed_from_u64(1));
        let var = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64;
        // 2 / 200 = 0.01; 60,000 samples: within 3%.
        assert!((var - 0.01).abs() < 3e-4, "{var}");
    }
}
