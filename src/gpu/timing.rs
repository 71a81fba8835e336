//! Per-dispatch timings of a training step (`riglab bench --kernels`), natively: each
//! dispatch submitted alone and waited for.

use super::backend::{GpuBackend, pick};
use super::kernels::{Dispatch, submit_pass};
use crate::backend::StepOptions;

impl GpuBackend {
    /// Milliseconds of each dispatch that a training step with options `o` records, each
    /// submitted alone `runs` times after one warm-up run (`riglab bench --kernels`). Steps
    /// must have been recorded before, so the buffers hold real values; the training state
    /// changes as if a few more steps had run.
    pub fn time_step_dispatches(&self, o: &StepOptions, runs: usize) -> Vec<(String, f64)> {
        let (device, queue) = (&self.ctx.device, &self.ctx.queue);
        let p = &self.train;
        let mut all: Vec<&Dispatch> = vec![&p.gather];
        all.extend(pick(&p.forward, &self.is_sparse, o.dense_grad));
        all.extend(&p.loss);
        all.extend(pick(&p.backward, &self.is_sparse, o.dense_grad));
        if o.snfs_decay.is_some() {
            all.extend(&p.snfs_ema);
        }
        if o.sgd {
            all.extend(pick(&p.sgd, &self.is_sparse, o.dense_grad));
        }
        let run = |d: &Dispatch, n: usize| {
            for _ in 0..n {
                submit_pass(device, queue, &d.what, |pass| d.record(pass));
            }
            super::buffers::wait(device);
        };
        all.into_iter()
            .map(|d| {
                run(d, 1);
                let t = web_time::Instant::now();
                run(d, runs);
                (
                    d.what.clone(),
                    t.elapsed().as_secs_f64() * 1e3 / runs as f64,
                )
            })
            .collect()
    }
}
