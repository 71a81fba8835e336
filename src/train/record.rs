//! Training while recording the path through parameter space (the trajectory plane and the
//! escape demo's map).

use super::{Event, Trainer};
use crate::backend::{Backend, block_on};
use crate::landscape::trajectory::Trajectory;

/// Trains `t` to its end, recording its trajectory (`tick` after every step).
pub fn train_recording<B: Backend>(
    t: &mut Trainer<B>,
    trajectory: &mut Trajectory,
    mut tick: impl FnMut(&[Event]),
) {
    let mut events = Vec::new();
    while !t.done() {
        block_on(t.step(&mut events));
        if let Some(ticket) = trajectory.offer(t.step, &events) {
            let point = block_on(t.backend.read_point());
            trajectory.push(ticket, t.step, point);
        }
        tick(&events);
        events.clear();
    }
}
