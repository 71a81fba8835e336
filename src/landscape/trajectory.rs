//! A run's path through parameter space, for the trajectory plane: snapshots of the
//! parameters at evaluations (and, when asked, every few steps) and after each mask update,
//! at most `limit` of them (a LeNet-300-100 snapshot is about 1 MB). When the limit is
//! reached the snapshots are thinned evenly: every other one of the more numerous kind goes,
//! and from then on only every other candidate of that kind is kept.

use super::Point;
use crate::events::Event;

/// Snapshots a trajectory keeps at most (the page and the CLI use the same limit, so they
/// keep the same snapshots).
pub const TRAJECTORY_LIMIT: usize = 40;

/// The parameters after a step.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Steps done when taken (0: the initial parameters).
    pub step: usize,
    /// Taken just after a mask update.
    pub mask_update: bool,
    pub point: Point,
}

/// Permission to record one snapshot (from `Trajectory::offer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    mask_update: bool,
    ordinal: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    snapshots: Vec<Snapshot>,
    /// Per snapshot: its position among the candidates of its kind.
    ordinals: Vec<usize>,
    limit: usize,
    every_steps: Option<usize>,
    /// Per kind (0: regular, 1: mask update): candidates seen, and keep one in `stride`.
    offered: [usize; 2],
    stride: [usize; 2],
}

impl Trajectory {
    /// A trajectory starting at `start` (step 0) that records at evaluations, after mask
    /// updates, and every `every_steps` steps when given.
    pub fn new(start: Point, limit: usize, every_steps: Option<usize>) -> Self {
        Self {
            snapshots: vec![Snapshot {
                step: 0,
                mask_update: false,
                point: start,
            }],
            ordinals: vec![0],
            limit: limit.max(3),
            every_steps: every_steps.filter(|&e| e > 0),
            offered: [1, 0],
            stride: [1, 1],
        }
    }

    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// Called after every step with the step count and the step's events: a ticket when
    /// the parameters now are to be recorded (then read them and `push`).
    pub fn offer(&mut self, step: usize, events: &[Event]) -> Option<Ticket> {
        if !Self::may_record(step, events, self.every_steps) {
            return None;
        }
        let mask_update = events.iter().any(|e| matches!(e, Event::MaskUpdate(_)));
        let kind = usize::from(mask_update);
        let ordinal = self.offered[kind];
        self.offered[kind] += 1;
        ordinal.is_multiple_of(self.stride[kind]).then_some(Ticket {
            mask_update,
            ordinal,
        })
    }

    /// Whether a trajectory recording every `every_steps` steps may want the parameters after
    /// `step` with these events (a run training elsewhere sends those points to the page,
    /// which `offer`s them to its trajectory).
    pub fn may_record(step: usize, events: &[Event], every_steps: Option<usize>) -> bool {
        events
            .iter()
            .any(|e| matches!(e, Event::MaskUpdate(_) | Event::Eval(_)))
            || every_steps.is_some_and(|e| e > 0 && step.is_multiple_of(e))
    }

    /// Forgets the snapshots after `step` steps (a run gone back to an earlier state).
    pub fn forget_after(&mut self, step: usize) {
        let keep: Vec<bool> = self.snapshots.iter().map(|s| s.step <= step).collect();
        self.keep(&keep);
    }

    /// Keeps the snapshots (and their ordinals) whose flag is set.
    fn keep(&mut self, keep: &[bool]) {
        let mut it = keep.iter();
        self.snapshots.retain(|_| *it.next().unwrap_or(&true));
        let mut it = keep.iter();
        self.ordinals.retain(|_| *it.next().unwrap_or(&true));
    }

    /// How often it records besides evaluations and mask updates.
    pub fn every_steps(&self) -> Option<usize> {
        self.every_steps
    }

    /// Records the parameters `point` after `step` steps, thinning if over the limit.
    pub fn push(&mut self, ticket: Ticket, step: usize, point: Point) {
        self.snapshots.push(Snapshot {
            step,
            mask_update: ticket.mask_update,
            point,
        });
        self.ordinals.push(ticket.ordinal);
        while self.snapshots.len() > self.limit {
            let updates = self.snapshots.iter().filter(|s| s.mask_update).count();
            let thin_updates = updates > self.snapshots.len() - updates;
            let kind = usize::from(thin_updates);
            self.stride[kind] *= 2;
            let stride = self.stride[kind];
            let keep: Vec<bool> = self
                .snapshots
                .iter()
                .zip(&self.ordinals)
                .map(|(s, o)| s.mask_update != thin_updates || o.is_multiple_of(stride))
                .collect();
            self.keep(&keep);
        }
    }

    /// The path to the parameters `end` at `step`: the snapshots, then `end` unless the last
    /// snapshot was taken at that step (then it is `end`).
    pub fn path_to<'a>(&'a self, step: usize, end: &'a Point) -> Vec<(usize, bool, &'a Point)> {
        let mut path: Vec<(usize, bool, &Point)> = self
            .snapshots
            .iter()
            .filter(|s| s.step < step)
            .map(|s| (s.step, s.mask_update, &s.point))
            .collect();
        let last_is_update = self
            .snapshots
            .last()
            .is_some_and(|s| s.step == step && s.mask_update);
        path.push((step, last_is_update, end));
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EvalMetrics, MaskUpdate};

    fn p(x: f32) -> Point {
        Point {
            weights: vec![vec![x]],
            biases: vec![vec![0.0]],
        }
    }

    fn eval(step: usize) -> Event {
        Event::Eval(EvalMetrics {
            step,
            train_loss: 0.0,
            train_accuracy: 0.0,
            test_loss: 0.0,
            test_accuracy: 0.0,
        })
    }

    fn update(step: usize) -> Event {
        Event::MaskUpdate(MaskUpdate {
            step,
            layer: 0,
            layer_name: "fc1".into(),
            dropped: vec![],
            grown: vec![],
            k: 0,
            drop_fraction: 0.3,
            active: 1,
        })
    }

    /// Runs `steps` steps with an evaluation every `eval` steps and a mask update at every
    /// step that is a multiple of `dt` (reported by the step after it, like the trainer).
    fn run(t: &mut Trajectory, steps: usize, eval: usize, dt: usize) {
        for s in 1..=steps {
            let mut events = Vec::new();
            if (s - 1) % dt == 0 && s > 1 {
                events.push(update(s - 1));
            }
            if s % eval == 0 {
                events.push(self::eval(s));
            }
            if let Some(ticket) = t.offer(s, &events) {
                t.push(ticket, s, p(s as f32));
            }
        }
    }

    fn steps(t: &Trajectory) -> Vec<(usize, bool)> {
        t.snapshots()
            .iter()
            .map(|s| (s.step, s.mask_update))
            .collect()
    }

    #[test]
    fn records_evaluations_and_mask_updates() {
        let mut t = Trajectory::new(p(0.0), 40, None);
        run(&mut t, 10, 5, 4);
        // Updates at steps 4 and 8 are reported after steps 5 and 9.
        assert_eq!(steps(&t), [(0, false), (5, true), (9, true), (10, false)]);
        // An update and an evaluation after the same step give one snapshot, an update's.
        let mut t = Trajectory::new(p(0.0), 40, Some(3));
        let tk = t.offer(6, &[update(5), eval(6)]).unwrap();
        t.push(tk, 6, p(6.0));
        assert!(t.offer(7, &[]).is_none());
        assert_eq!(steps(&t), [(0, false), (6, true)]);
        // every_steps: every third step.
        let tk = t.offer(9, &[]).unwrap();
        t.push(tk, 9, p(9.0));
        assert_eq!(steps(&t).last(), Some(&(9, false)));
    }

    #[test]
    fn thinning_keeps_every_other_snapshot_of_the_larger_kind() {
        // Limit 5, evaluations every step, no updates: after steps 1..=5 there are 6
        // snapshots (0..=5); the odd ones go and from then on every second step is kept.
        let mut t = Trajectory::new(p(0.0), 5, None);
        run(&mut t, 5, 1, usize::MAX);
        assert_eq!(steps(&t), [(0, false), (2, false), (4, false)]);
        run_from(&mut t, 6, 9);
        // 6 and 8 kept; at 8 there are 5 (0, 2, 4, 6, 8): not over the limit.
        assert_eq!(
            steps(&t),
            [(0, false), (2, false), (4, false), (6, false), (8, false)]
        );
        run_from(&mut t, 10, 10);
        // Over the limit again: keep multiples of 4.
        assert_eq!(steps(&t), [(0, false), (4, false), (8, false)]);
    }

    fn run_from(t: &mut Trajectory, from: usize, to: usize) {
        for s in from..=to {
            if let Some(tk) = t.offer(s, &[eval(s)]) {
                t.push(tk, s, p(s as f32));
            }
        }
    }

    #[test]
    fn mask_updates_are_thinned_when_they_outnumber_the_rest() {
        // Limit 4: the start plus updates after steps 1, 2, 3, 4 (one each): at the fourth
        // update there are 5 snapshots, 4 of them updates (ordinals 0..=3): keep 0 and 2.
        let mut t = Trajectory::new(p(0.0), 4, None);
        for s in 1..=4 {
            if let Some(tk) = t.offer(s, &[update(s - 1)]) {
                t.push(tk, s, p(s as f32));
            }
        }
        assert_eq!(steps(&t), [(0, false), (1, true), (3, true)]);
    }

    #[test]
    fn the_path_ends_at_the_current_parameters() {
        let mut t = Trajectory::new(p(0.0), 40, None);
        run(&mut t, 10, 5, 100);
        let end = p(10.5);
        let path = t.path_to(10, &end);
        assert_eq!(path.len(), 3); // 0, 5, and the end instead of the snapshot at 10
        assert_eq!(path[2].2, &end);
        let path = t.path_to(12, &end);
        assert_eq!(path.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 5, 10, 12]);
    }

    #[test]
    fn a_run_gone_back_forgets_the_later_snapshots_and_records_them_again() {
        let mut t = Trajectory::new(p(0.0), 100, None);
        run(&mut t, 50, 10, 1000);
        let steps = |t: &Trajectory| t.snapshots().iter().map(|s| s.step).collect::<Vec<_>>();
        assert_eq!(steps(&t), [0, 10, 20, 30, 40, 50]);
        t.forget_after(25);
        assert_eq!(steps(&t), [0, 10, 20]);
        // The steps after 25 again (evaluations at 30, 40, 50): recorded once each.
        for s in 26..=50 {
            let events: Vec<Event> = if s % 10 == 0 { vec![eval(s)] } else { vec![] };
            if let Some(ticket) = t.offer(s, &events) {
                t.push(ticket, s, p(s as f32));
            }
        }
        assert_eq!(steps(&t), [0, 10, 20, 30, 40, 50]);
        // The rule a worker applies to decide which points to send.
        assert!(Trajectory::may_record(30, &[eval(30)], None));
        assert!(Trajectory::may_record(31, &[update(30)], None));
        assert!(!Trajectory::may_record(31, &[], Some(0)));
    }
}
