//! Checkpoints as safetensors files: per layer its weights, mask, momentum, biases and bias
//! momentum (and SNFS's moving average), in PyTorch's layouts ([out, in] and
//! [out, in, kh, kw]); the metadata holds the configuration query, the step, the riglab
//! version, the data order with its generator's state and the FLOPs so far. A resumed run
//! continues bit for bit as if it had never stopped (on the CPU).

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::backend::State;
use crate::experiment::{DataOrder, Experiment};
use crate::sparse::{LayerKind, LayerShape, Method};
use crate::train::state::RunState;

/// The `format` metadata entry of a riglab checkpoint.
pub const FORMAT: &str = "riglab-checkpoint-1";

fn shape_of(l: &LayerShape) -> Vec<usize> {
    match l.kind {
        LayerKind::Dense => vec![l.n_out, l.n_in],
        LayerKind::Conv => vec![l.n_out, l.n_in, l.kh, l.kw],
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The run state as a safetensors file.
pub fn to_bytes(s: &RunState) -> Result<Vec<u8>, String> {
    let config = s.config(None)?;
    let exp = Experiment::new(&config)?;
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let snfs = exp.method == Method::Snfs;
    for (l, layer) in exp.layers().iter().enumerate() {
        let (name, shape) = (&layer.name, shape_of(layer));
        let p = &s.params;
        owned.push((
            format!("{name}.weight"),
            Dtype::F32,
            shape.clone(),
            f32_bytes(&p.weights[l]),
        ));
        let mask: Vec<u8> = s.masks[l].iter().map(|&m| u8::from(m)).collect();
        owned.push((format!("{name}.mask"), Dtype::U8, shape.clone(), mask));
        owned.push((
            format!("{name}.momentum"),
            Dtype::F32,
            shape.clone(),
            f32_bytes(&p.momentum[l]),
        ));
        if snfs {
            owned.push((
                format!("{name}.snfs_average"),
                Dtype::F32,
                shape,
                f32_bytes(&p.snfs_ema[l]),
            ));
        }
        let n = vec![layer.n_out];
        owned.push((
            format!("{name}.bias"),
            Dtype::F32,
            n.clone(),
            f32_bytes(&p.biases[l]),
        ));
        owned.push((
            format!("{name}.bias_momentum"),
            Dtype::F32,
            n,
            f32_bytes(&p.bias_momentum[l]),
        ));
    }
    let views = owned
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let metadata: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("riglab_version", env!("CARGO_PKG_VERSION").to_string()),
        ("config", s.query.clone()),
        ("step", s.step.to_string()),
        ("train_flops", s.train_flops.to_string()),
        ("dense_train_flops", s.dense_train_flops.to_string()),
        (
            "data_order",
            serde_json::to_string(&s.data).map_err(|e| e.to_string())?,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())?;
    crate::data::own::canonical_header(&mut bytes);
    Ok(bytes)
}

/// A checkpoint read back; every problem is an error that says what is wrong: not a
/// safetensors file, not riglab's, truncated, or a tensor that does not fit its network.
pub fn from_bytes(bytes: &[u8]) -> Result<RunState, String> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a safetensors checkpoint ({e})"))?;
    let meta = header.metadata().clone().unwrap_or_default();
    match meta.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("a checkpoint of format {other}, not {FORMAT}")),
        None => {
            return Err("a safetensors file, but not a riglab checkpoint (no format entry)".into());
        }
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("a damaged checkpoint: {e}"))?;
    let field = |k: &str| {
        meta.get(k)
            .ok_or_else(|| format!("the checkpoint has no {k} entry"))
    };
    let query = field("config")?.clone();
    let number = |k: &str| -> Result<f64, String> {
        field(k)?
            .parse()
            .map_err(|_| format!("{k} in the checkpoint is not a number"))
    };
    let step: usize = field("step")?
        .parse()
        .map_err(|_| "step in the checkpoint is not a number".to_string())?;
    let data: DataOrder = serde_json::from_str(field("data_order")?)
        .map_err(|e| format!("the checkpoint's data order is damaged: {e}"))?;
    let mut state = RunState {
        query,
        step,
        masks: Vec::new(),
        params: State {
            weights: Vec::new(),
            biases: Vec::new(),
            momentum: Vec::new(),
            bias_momentum: Vec::new(),
            snfs_ema: Vec::new(),
        },
        data,
        train_flops: number("train_flops")?,
        dense_train_flops: number("dense_train_flops")?,
    };
    let config = state.config(None)?;
    let exp = Experiment::new(&config)?;
    let snfs = exp.method == Method::Snfs;
    for layer in exp.layers() {
        let name = &layer.name;
        let shape = shape_of(layer);
        let tensor = |suffix: &str, dtype: Dtype, want: &[usize]| {
            let key = format!("{name}.{suffix}");
            let t = st.tensor(&key).map_err(|_| {
                format!(
                    "the checkpoint has no {key} (it does not fit {})",
                    config.model
                )
            })?;
            if t.dtype() != dtype || t.shape() != want {
                return Err(format!(
                    "{key} is {:?} {:?}; {} needs {dtype:?} {want:?}",
                    t.dtype(),
                    t.shape(),
                    config.model
                ));
            }
            Ok(t.data().to_vec())
        };
        let floats = |suffix: &str, want: &[usize]| -> Result<Vec<f32>, String> {
            Ok(tensor(suffix, Dtype::F32, want)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let mask = tensor("mask", Dtype::U8, &shape)?;
        if let Some(v) = mask.iter().find(|&&m| m > 1) {
            return Err(format!("{name}.mask holds {v}: a mask is 0 or 1"));
        }
        state.masks.push(mask.iter().map(|&m| m == 1).collect());
        let p = &mut state.params;
        p.weights.push(floats("weight", &shape)?);
        p.momentum.push(floats("momentum", &shape)?);
        p.snfs_ema.push(if snfs {
            floats("snfs_average", &shape)?
        } else {
            vec![0.0; layer.num_weights()]
        });
        p.biases.push(floats("bias", &[layer.n_out])?);
        p.bias_momentum
            .push(floats("bias_momentum", &[layer.n_out])?);
    }
    if step > config.steps {
        return Err(format!(
            "it is at step {step}, beyond its run's {} steps",
            config.steps
        ));
    }
    Ok(state)
}
