//! Starting the runs over: from the current configuration (its data set loaded first), from
//! the runs this browser kept for the link, or from an opened checkpoint.

use leptos::prelude::*;

use super::ctx::{Ctx, GpuState, Status};
use super::{data, driver, frame, persist};

/// Rebuilds the runs from the current configuration (loading the data set if needed),
/// paused at step 0.
pub async fn reset(ctx: Ctx) {
    driver::pause(ctx).await;
    // Train where the first runs will: wait until WebGPU is probed.
    while ctx.gpu_state.get_untracked() == GpuState::Probing {
        frame::next_frame().await;
    }
    let config = ctx.config.get_untracked();
    let versus = ctx.versus.get_untracked();
    let restoring = ctx.restore_once.get_value();
    ctx.restore_once.set_value(false);
    ctx.resumed.set(None);
    let loaded = data::ensure(ctx, &config.data).await;
    let gpu = match loaded {
        Ok(()) => super::backend::gpu_for(ctx, &config),
        Err(_) => None,
    };
    if restoring && loaded.is_ok() {
        // Opening a link again: go on with the runs this browser kept for it.
        let data = ctx
            .lab
            .with_value(|l| l.data.get(&config.data.name()).cloned());
        if let Some((train, test)) = data
            && let Some(runs) = persist::restore(ctx, (&train, &test), gpu.as_ref()).await
        {
            let step = runs[0].step();
            ctx.lab.update_value(|l| {
                l.set_runs(runs);
                l.refresh_backend_name();
            });
            ctx.resumed.set(Some(step));
            ctx.status.set(Status::Ready);
            ctx.view_tick.update(|t| *t += 1);
            super::backend::start_timing(ctx);
            return;
        }
    }
    if !restoring {
        // Starting over: a reload should not bring back what was reset.
        persist::forget(ctx).await;
    }
    let result = match loaded {
        Ok(()) => ctx
            .lab
            .try_update_value(|l| {
                // A run opened from a checkpoint under this configuration, racing nothing.
                let opened = l.pending.as_ref().is_some_and(|r| r.config == config);
                match l.pending.take_if(|_| opened && versus.is_empty()) {
                    Some(run) => {
                        l.set_runs(vec![run]);
                        l.refresh_backend_name();
                        Ok(None)
                    }
                    None => l.reset(&config, &versus, gpu.as_ref()),
                }
            })
            .unwrap_or(Ok(None)),
        Err(e) => Err(e),
    };
    ctx.status.set(match result {
        Ok(why_not_gpu) => {
            if let Some(why) = why_not_gpu {
                ctx.fallback_note.set(Some(format!(
                    "These runs train on the CPU: the GPU backend could not start ({why})."
                )));
            }
            Status::Ready
        }
        Err(e) => Status::Error(e),
    });
    ctx.view_tick.update(|t| *t += 1);
    super::backend::start_timing(ctx);
}
