//! A network as both backends run it: the sequence of ops, the geometry of each, and the
//! activation size per sample between ops. Built from a `ModelSpec` alone, so the GPU
//! backend lays out its buffers without a CPU network.

use crate::data::ImageShape;
use crate::sparse::LayerShape;

use super::ModelSpec;

/// A 3x3 convolution, stride 1, same (zero) padding, on `c_in` planes of `h` x `w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvGeom {
    /// Pixels per plane.
    pub fn plane(&self) -> usize {
        self.h * self.w
    }
}

/// A 2x2 max-pool (stride 2, odd edges dropped) over `planes` (channels x batch) of h x w.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
}

impl PoolGeom {
    pub fn out_hw(&self) -> (usize, usize) {
        (self.h / 2, self.w / 2)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Fully connected layer with the parameters of layer i.
    Dense(usize),
    /// 3x3 convolution with the parameters of layer i.
    Conv(usize, ConvGeom),
    Relu,
    /// 2x2 max-pool over `c` planes of h x w per sample.
    Pool {
        c: usize,
        h: usize,
        w: usize,
    },
    /// `[C][batch][HW]` -> `[C*HW][batch]`.
    Flatten {
        c: usize,
        hw: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub spec: ModelSpec,
    pub input: ImageShape,
    pub classes: usize,
    pub ops: Vec<Op>,
    /// The maskable layers, in parameter order (`Op::Dense(i)` and `Op::Conv(i, _)` use
    /// layer i).
    pub layers: Vec<LayerShape>,
    /// Activation size per sample before op i (and after the last op at the end).
    sizes: Vec<usize>,
}

impl Graph {
    pub fn new(spec: &ModelSpec, input: ImageShape, classes: usize) -> Self {
        let layers = spec.layer_shapes(input, classes);
        let mut ops = Vec::new();
        let mut sizes = vec![input.len()];
        let mut push = |op, size| {
            ops.push(op);
            sizes.push(size);
        };
        match spec {
            ModelSpec::Mlp { .. } => {
                for (i, s) in layers.iter().enumerate() {
                    push(Op::Dense(i), s.n_out);
                    if i + 1 < layers.len() {
                        push(Op::Relu, s.n_out);
                    }
                }
            }
            ModelSpec::Cnn { .. } => {
                let (mut c, mut h, mut w) = (input.channels, input.height, input.width);
                for (i, shape) in layers.iter().enumerate().take(2) {
                    let g = ConvGeom {
                        c_in: c,
                        c_out: shape.n_out,
                        h,
                        w,
                    };
                    c = g.c_out;
                    push(Op::Conv(i, g), c * h * w);
                    push(Op::Relu, c * h * w);
                    push(Op::Pool { c, h, w }, c * (h / 2) * (w / 2));
                    (h, w) = (h / 2, w / 2);
                }
                push(Op::Flatten { c, hw: h * w }, c * h * w);
                push(Op::Dense(2), layers[2].n_out);
                push(Op::Relu, layers[2].n_out);
                push(Op::Dense(3), classes);
            }
        }
        Self {
            spec: spec.clone(),
            input,
            classes,
            ops,
            layers,
            sizes,
        }
    }

    /// Activation size per sample before op i (and after the last op at the end): both
    /// backends lay out the same buffers from it.
    pub fn activation_sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Whether the input is `[C][batch][H][W]` (CNN) rather than `[pixels][batch]` (MLP).
    pub fn planar_input(&self) -> bool {
        matches!(self.ops.first(), Some(Op::Conv(..)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cnn_pools_twice_and_flattens_into_its_dense_layers() {
        let g = Graph::new(&ModelSpec::default_cnn(), ImageShape::new(1, 28, 28), 10);
        let kinds: Vec<&str> = g
            .ops
            .iter()
            .map(|op| match op {
                Op::Dense(_) => "dense",
                Op::Conv(..) => "conv",
                Op::Relu => "relu",
                Op::Pool { .. } => "pool",
                Op::Flatten { .. } => "flatten",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "conv", "relu", "pool", "conv", "relu", "pool", "flatten", "dense", "relu", "dense"
            ]
        );
        assert_eq!(
            g.activation_sizes(),
            [
                784,
                16 * 784,
                16 * 784,
                16 * 196,
                32 * 196,
                32 * 196,
                32 * 49,
                32 * 49,
                128,
                128,
                10
            ]
        );
        assert!(g.planar_input());
        let mlp = Graph::new(&ModelSpec::default(), ImageShape::new(1, 28, 28), 10);
        assert_eq!(mlp.activation_sizes(), [784, 300, 300, 100, 100, 10]);
        assert!(!mlp.planar_input());
    }
}
