//! A run's whole state between two steps, so that it can stop and go on exactly where it
//! was: the configuration, the step, the masks, the parameters and optimiser state, where
//! the data order stands and the FLOPs counted so far. A checkpoint file holds one
//! (`checkpoint.rs`); a forked or restarted run starts from one.

use serde::{Deserialize, Serialize};

use super::{Event, Trainer};
use crate::backend::{Backend, State};
use crate::config::Config;
use crate::experiment::{DataOrder, Experiment, Setup};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The configuration (every parameter, as a query).
    pub query: String,
    /// Steps done.
    pub step: usize,
    pub masks: Vec<Vec<bool>>,
    pub params: State,
    pub data: DataOrder,
    /// Training FLOPs so far, and what dense training of the same steps would have cost.
    pub train_flops: f64,
    pub dense_train_flops: f64,
}

impl<B: Backend> Trainer<B> {
    /// The run's state now. Waits for the losses of recorded steps first (they go to
    /// `events`), so that the state is that after every step taken.
    pub async fn snapshot(&mut self, config: &Config, events: &mut Vec<Event>) -> RunState {
        self.wait_for_losses(events).await;
        RunState {
            query: config.to_query_full(),
            step: self.step,
            masks: self.masks.clone(),
            params: self.backend.read_state().await,
            data: self.data.clone(),
            train_flops: self.flops.total(),
            dense_train_flops: self.flops.dense_total(),
        }
    }
}

impl RunState {
    /// The configuration it was made under, with `steps` instead of its own when given
    /// (a resumed run may train longer or shorter; the schedules follow the new length).
    pub fn config(&self, steps: Option<usize>) -> Result<Config, String> {
        let mut c = Config::parse_strict(&self.query).map_err(|errors| {
            let e: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("its configuration is not valid here: {}", e.join("; "))
        })?;
        if let Some(s) = steps {
            c.steps = s;
            if let Some(e) = c.validate().first() {
                return Err(e.to_string());
            }
        }
        Ok(c)
    }

    /// The start of a run that goes on from here under `config`: the experiment with these
    /// masks (the weights are set by `resume`). Err says what does not fit.
    pub fn setup(&self, config: &Config) -> Result<Setup, String> {
        let exp = Experiment::new(config)?;
        let layers = exp.layers();
        if self.masks.len() != layers.len() {
            return Err(format!(
                "{} masks for a network of {} layers",
                self.masks.len(),
                layers.len()
            ));
        }
        for (m, l) in self.masks.iter().zip(layers) {
            if m.len() != l.num_weights() {
                return Err(format!(
                    "the mask of {} has {} entries, the layer {}",
                    l.name,
                    m.len(),
                    l.num_weights()
                ));
            }
        }
        let mut setup = Setup::of(exp);
        setup.masks = self.masks.clone();
        setup.weights = self.params.weights.clone();
        Ok(setup)
    }

    /// The run going on from this state on `backend` (built from `setup`, holding
    /// `train_len` training and `test_len` test images): its step, data order and FLOPs.
    pub fn resume<B: Backend>(
        &self,
        setup: Setup,
        backend: B,
        train_len: usize,
        test_len: usize,
    ) -> Result<Trainer<B>, String> {
        let mut t = Trainer::new(setup, backend, train_len, test_len);
        t.catch_up(self)?;
        Ok(t)
    }
}
