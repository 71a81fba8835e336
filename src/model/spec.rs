//! Model syntax of the `model=` parameter: `mlp:300,100` (hidden widths) and
//! `cnn:16,32,128` (conv3x3(16)-relu-maxpool2-conv3x3(32)-relu-maxpool2-dense(128)-relu-dense).

use std::fmt;

use crate::data::ImageShape;
use crate::sparse::LayerShape;

pub const MAX_WIDTH: usize = 4096;
pub const MAX_HIDDEN_LAYERS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelSpec {
    /// Fully connected: input -> hidden widths (each followed by ReLU) -> classes.
    Mlp { hidden: Vec<usize> },
    /// conv3x3(c1)-relu-pool-conv3x3(c2)-relu-pool-dense(hidden)-relu-dense(classes).
    Cnn { c1: usize, c2: usize, hidden: usize },
}

impl Default for ModelSpec {
    /// LeNet-300-100.
    fn default() -> Self {
        ModelSpec::Mlp {
            hidden: vec![300, 100],
        }
    }
}

impl ModelSpec {
    /// The default CNN, `cnn:16,32,128`.
    pub fn default_cnn() -> Self {
        ModelSpec::Cnn {
            c1: 16,
            c2: 32,
            hidden: 128,
        }
    }

    /// Parses `mlp:W1,W2,...` or `cnn:C1,C2,H`. The error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not a model: write mlp:300,100 or cnn:16,32,128"))?;
        let widths = rest
            .split(',')
            .map(|w| match w.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_WIDTH).contains(&n) => Ok(n),
                _ => Err(format!("'{w}' in '{s}' is not a width in [1, {MAX_WIDTH}]")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        match kind {
            "mlp" if (1..=MAX_HIDDEN_LAYERS).contains(&widths.len()) => {
                Ok(ModelSpec::Mlp { hidden: widths })
            }
            "mlp" => Err(format!(
                "mlp takes 1 to {MAX_HIDDEN_LAYERS} hidden widths, '{s}' has {}",
                widths.len()
            )),
            "cnn" if widths.len() == 3 => Ok(ModelSpec::Cnn {
                c1: widths[0],
                c2: widths[1],
                hidden: widths[2],
            }),
            "cnn" => Err(format!(
                "cnn takes 3 numbers (conv1 channels, conv2 channels, dense width), '{s}' has {}",
                widths.len()
            )),
            other => Err(format!("unknown model kind '{other}' (known: mlp, cnn)")),
        }
    }

    /// The maskable layers for images of `input` shape and `classes` outputs.
    pub fn layer_shapes(&self, input: ImageShape, classes: usize) -> Vec<LayerShape> {
        match self {
            ModelSpec::Mlp { hidden } => {
                let mut n_in = input.len();
                let mut layers = Vec::new();
                for (i, &w) in hidden.iter().chain(std::iter::once(&classes)).enumerate() {
                    layers.push(LayerShape::dense(&format!("fc{}", i + 1), n_in, w));
                    n_in = w;
                }
                layers
            }
            &ModelSpec::Cnn { c1, c2, hidden } => {
                let (h, w) = (input.height, input.width);
                let (h2, w2) = (h / 2, w / 2);
                let (h4, w4) = (h2 / 2, w2 / 2);
                vec![
                    LayerShape::conv("conv1", input.channels, c1, 3, h * w),
                    LayerShape::conv("conv2", c1, c2, 3, h2 * w2),
                    LayerShape::dense("fc1", c2 * h4 * w4, hidden),
                    LayerShape::dense("fc2", hidden, classes),
                ]
            }
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Mlp { hidden } => {
                let w: Vec<String> = hidden.iter().map(|w| w.to_string()).collect();
                write!(f, "mlp:{}", w.join(","))
            }
            ModelSpec::Cnn { c1, c2, hidden } => write!(f, "cnn:{c1},{c2},{hidden}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_kinds() {
        for s in ["mlp:300,100", "mlp:64", "cnn:16,32,128"] {
            assert_eq!(ModelSpec::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            ModelSpec::parse("mlp:300,100").unwrap(),
            ModelSpec::default()
        );
    }

    #[test]
    fn rejects_bad_models_with_a_reason() {
        for (s, why) in [
            ("mlp", "not a model"),
            ("mlp:", "not a width"),
            ("mlp:0", "not a width"),
            ("mlp:1,2,3,4,5", "1 to 4"),
            ("cnn:16,32", "3 numbers"),
            ("rnn:5", "unknown model kind"),
            ("mlp:99999", "not a width"),
        ] {
            let err = ModelSpec::parse(s).unwrap_err();
            assert!(err.contains(why), "{s}: {err}");
        }
    }

    #[test]
    fn lenet_300_100_shapes() {
        let l = ModelSpec::default().layer_shapes(ImageShape::new(1, 28, 28), 10);
        let dims: Vec<_> = l
            .iter()
            .map(|l| (l.name.as_str(), l.n_in, l.n_out))
            .collect();
        assert_eq!(
            dims,
            [("fc1", 784, 300), ("fc2", 300, 100), ("fc3", 100, 10)]
        );
        assert_eq!(l.iter().map(|l| l.num_weights()).sum::<usize>(), 266_200);
    }

    #[test]
    fn default_cnn_shapes_on_mnist_and_cifar() {
        let l = ModelSpec::default_cnn().layer_shapes(ImageShape::new(1, 28, 28), 10);
        assert_eq!((l[0].n_in, l[0].n_out, l[0].positions), (1, 16, 784));
        assert_eq!((l[1].n_in, l[1].positions), (16, 196));
        assert_eq!(l[2].n_in, 32 * 7 * 7);
        let c = ModelSpec::default_cnn().layer_shapes(ImageShape::new(3, 32, 32), 10);
        assert_eq!(c[0].num_weights(), 3 * 16 * 9);
        assert_eq!(c[2].n_in, 32 * 8 * 8);
    }
}
