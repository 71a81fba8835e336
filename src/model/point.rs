//! Points in parameter space: every maskable layer's weights and biases, and the
//! arithmetic the landscapes move along (offsets on a plane, straight lines, masking).

/// A point in parameter space: every maskable layer's weights and biases.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub weights: Vec<Vec<f32>>,
    pub biases: Vec<Vec<f32>>,
}

impl Point {
    /// self + a * d + b * e (for a point on a plane through self).
    pub fn offset(&self, a: f64, d: &Point, b: f64, e: &Point) -> Point {
        self.offset_from(0, a, d, b, e)
    }

    /// `offset` of the layers from `first` on; the layers before it are left empty (a caller
    /// that computes them another way).
    pub fn offset_from(&self, first: usize, a: f64, d: &Point, b: f64, e: &Point) -> Point {
        let comb = |x: &[Vec<f32>], dx: &[Vec<f32>], ex: &[Vec<f32>]| {
            x.iter()
                .zip(dx)
                .zip(ex)
                .enumerate()
                .map(|(l, ((x, dx), ex))| {
                    if l < first {
                        return Vec::new();
                    }
                    x.iter()
                        .zip(dx)
                        .zip(ex)
                        .map(|((&x, &dx), &ex)| {
                            (f64::from(x) + a * f64::from(dx) + b * f64::from(ex)) as f32
                        })
                        .collect()
                })
                .collect()
        };
        Point {
            weights: comb(&self.weights, &d.weights, &e.weights),
            biases: comb(&self.biases, &d.biases, &e.biases),
        }
    }

    /// theta(c) = (1 - c) * a + c * b: c = 0 gives a, c = 1 gives b, exactly.
    pub fn lerp(a: &Point, b: &Point, c: f64) -> Point {
        let mix = |x: &[Vec<f32>], y: &[Vec<f32>]| {
            x.iter()
                .zip(y)
                .map(|(x, y)| {
                    x.iter()
                        .zip(y)
                        .map(|(&x, &y)| match c {
                            0.0 => x,
                            1.0 => y,
                            _ => ((1.0 - c) * f64::from(x) + c * f64::from(y)) as f32,
                        })
                        .collect()
                })
                .collect()
        };
        Point {
            weights: mix(&a.weights, &b.weights),
            biases: mix(&a.biases, &b.biases),
        }
    }

    /// The same point with the weights outside `masks` set to 0 (a sparse network's view).
    pub fn masked(&self, masks: &[Vec<bool>]) -> Point {
        let weights = self
            .weights
            .iter()
            .zip(masks)
            .map(|(w, m)| {
                w.iter()
                    .zip(m)
                    .map(|(&w, &on)| if on { w } else { 0.0 })
                    .collect()
            })
            .collect();
        Point {
            weights,
            biases: self.biases.clone(),
        }
    }
}
