//! When masks change: RigL/SET/SNFS mask updates with their drop fraction
//! (RIGL.md "Update schedule") and the cubic sparsity ramp of gradual magnitude pruning
//! (RIGL.md "Baselines", Zhu & Gupta 2017).

use std::f64::consts::PI;

use super::DropSchedule;

/// The mask-update schedule of the dynamic methods (RIGL.md "Update schedule").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateSchedule {
    /// dT, the mask-update period in steps (0: never update).
    pub dt: usize,
    /// T_end: no update at t >= T_end (paper default 0.75 * T).
    pub t_end: usize,
    /// First update at t = dT instead of t = 0 (rigl-torch's behaviour).
    pub first_at_dt: bool,
    /// alpha, the initial drop fraction (paper default 0.3).
    pub alpha: f64,
    pub drop_schedule: DropSchedule,
}

impl UpdateSchedule {
    /// RIGL.md "Update schedule": a mask update happens at step t when t mod dT == 0 and
    /// t < T_end (so the first is at t = 0); with `first_at_dt`, also t > 0.
    pub fn is_update_step(&self, t: usize) -> bool {
        self.dt > 0 && t.is_multiple_of(self.dt) && t < self.t_end && !(self.first_at_dt && t == 0)
    }

    /// RIGL.md "Update schedule": cosine f(t) = alpha/2 * (1 + cos(pi * t / T_end)), or
    /// constant f = alpha. Like the official code's `cosine_decay`, t is clamped to T_end,
    /// so the cosine is 0 from T_end on (and everywhere when T_end = 0).
    pub fn drop_fraction(&self, t: usize) -> f64 {
        match self.drop_schedule {
            DropSchedule::Constant => self.alpha,
            DropSchedule::Cosine => {
                let progress = if self.t_end == 0 {
                    1.0
                } else {
                    t.min(self.t_end) as f64 / self.t_end as f64
                };
                self.alpha / 2.0 * (1.0 + (PI * progress).cos())
            }
        }
    }

    /// The first update step >= t, or None if no update remains.
    pub fn next_update(&self, t: usize) -> Option<usize> {
        if self.dt == 0 {
            return None;
        }
        let from = if self.first_at_dt { t.max(1) } else { t };
        let next = from.div_ceil(self.dt).checked_mul(self.dt)?;
        (next < self.t_end).then_some(next)
    }

    /// Every update step, in order: 0, dT, 2 dT, ... below T_end (from dT with `first_at_dt`).
    pub fn update_steps(&self) -> impl Iterator<Item = usize> + use<> {
        let first = if self.first_at_dt { self.dt } else { 0 };
        let end = if self.dt == 0 { 0 } else { self.t_end };
        (first..end).step_by(self.dt.max(1))
    }
}

/// Gradual magnitude pruning's schedule (RIGL.md "Baselines", Zhu & Gupta 2017): prune
/// every `every` steps from t0 = `start` to t1 = `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneSchedule {
    pub start: usize,
    pub end: usize,
    /// `prune_every` (0 is taken as 1).
    pub every: usize,
}

impl PruneSchedule {
    /// Target sparsity at step t. RIGL.md "Baselines":
    /// s_t = S + (0 - S) * (1 - (t - t0)/(t1 - t0))^3 for t0 <= t <= t1; 0 before t0,
    /// S after t1. With t1 <= t0 it jumps from 0 to S at t0. The mask follows this target
    /// only at [`is_prune_step`](Self::is_prune_step)s.
    pub fn sparsity_at(&self, t: usize, final_sparsity: f64) -> f64 {
        if t < self.start {
            0.0
        } else if t >= self.end {
            final_sparsity
        } else {
            let progress = (t - self.start) as f64 / (self.end - self.start) as f64;
            final_sparsity + (0.0 - final_sparsity) * (1.0 - progress).powi(3)
        }
    }

    /// Whether the mask is pruned to [`sparsity_at`](Self::sparsity_at) at step t: every
    /// `every` steps from t0 to t1, and always at t1, so pruning reaches the final sparsity.
    pub fn is_prune_step(&self, t: usize) -> bool {
        (self.start..=self.end).contains(&t)
            && ((t - self.start).is_multiple_of(self.every.max(1)) || t == self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(first_at_dt: bool, drop_schedule: DropSchedule) -> UpdateSchedule {
        UpdateSchedule {
            dt: 100,
            t_end: 750,
            first_at_dt,
            alpha: 0.3,
            drop_schedule,
        }
    }

    #[test]
    fn update_steps_every_dt_below_t_end() {
        let s = sched(false, DropSchedule::Cosine);
        let steps: Vec<_> = s.update_steps().collect();
        assert_eq!(steps, [0, 100, 200, 300, 400, 500, 600, 700]);
        let by_rule: Vec<_> = (0..2000).filter(|&t| s.is_update_step(t)).collect();
        assert_eq!(by_rule, steps);
        assert!(!s.is_update_step(750) && !s.is_update_step(800) && !s.is_update_step(150));
    }

    #[test]
    fn first_at_dt_skips_step_zero() {
        let s = sched(true, DropSchedule::Cosine);
        let steps: Vec<_> = s.update_steps().collect();
        assert_eq!(steps, [100, 200, 300, 400, 500, 600, 700]);
        let by_rule: Vec<_> = (0..2000).filter(|&t| s.is_update_step(t)).collect();
        assert_eq!(by_rule, steps);
    }

    #[test]
    fn zero_period_never_updates() {
        let mut s = sched(false, DropSchedule::Cosine);
        s.dt = 0;
        assert!(!s.is_update_step(0));
        assert_eq!(s.update_steps().count(), 0);
        assert_eq!(s.next_update(0), None);
    }

    #[test]
    fn cosine_drop_fraction() {
        let s = sched(false, DropSchedule::Cosine);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(s.drop_fraction(0), 0.3)); // 0.15 * (1 + cos 0) = 0.3
        assert!(close(s.drop_fraction(375), 0.15)); // 0.15 * (1 + cos(pi/2)) = 0.15
        assert!(close(s.drop_fraction(250), 0.225)); // 0.15 * (1 + cos(pi/3)) = 0.15 * 1.5
        assert!(close(s.drop_fraction(500), 0.075)); // 0.15 * (1 + cos(2pi/3)) = 0.15 * 0.5
        assert!(close(s.drop_fraction(750), 0.0)); // 0.15 * (1 + cos pi) = 0
        assert!(close(s.drop_fraction(1000), 0.0)); // clamped to T_end
    }

    #[test]
    fn constant_drop_fraction() {
        let s = sched(false, DropSchedule::Constant);
        for t in [0, 100, 375, 750, 5000] {
            assert_eq!(s.drop_fraction(t), 0.3);
        }
    }

    #[test]
    fn next_update_at_between_and_past() {
        let s = sched(false, DropSchedule::Cosine);
        assert_eq!(s.next_update(0), Some(0)); // at an update step
        assert_eq!(s.next_update(100), Some(100));
        assert_eq!(s.next_update(1), Some(100)); // just after
        assert_eq!(s.next_update(150), Some(200)); // between
        assert_eq!(s.next_update(700), Some(700)); // the last one
        assert_eq!(s.next_update(701), None); // 800 >= T_end
        assert_eq!(s.next_update(10_000), None);
        let s = sched(true, DropSchedule::Cosine);
        assert_eq!(s.next_update(0), Some(100));
        assert_eq!(s.next_update(usize::MAX), None); // no overflow
    }

    fn prune() -> PruneSchedule {
        PruneSchedule {
            start: 1000,
            end: 3000,
            every: 100,
        }
    }

    #[test]
    fn prune_sparsity_is_cubic() {
        let p = prune();
        let s = 0.9;
        assert_eq!(p.sparsity_at(0, s), 0.0); // before t0
        assert_eq!(p.sparsity_at(999, s), 0.0);
        assert_eq!(p.sparsity_at(1000, s), 0.0); // 0.9 - 0.9 * 1^3
        // Middle: 0.9 - 0.9 * (1/2)^3 = 0.9 * 0.875 = 0.7875.
        assert!((p.sparsity_at(2000, s) - 0.7875).abs() < 1e-12);
        // A quarter in: 0.9 - 0.9 * (3/4)^3 = 0.9 * (1 - 27/64) = 0.5203125.
        assert!((p.sparsity_at(1500, s) - 0.5203125).abs() < 1e-12);
        assert_eq!(p.sparsity_at(3000, s), 0.9); // t1
        assert_eq!(p.sparsity_at(9000, s), 0.9); // after
    }

    #[test]
    fn prune_with_no_ramp_jumps_at_start() {
        let p = PruneSchedule {
            start: 500,
            end: 500,
            every: 10,
        };
        assert_eq!(p.sparsity_at(499, 0.8), 0.0);
        assert_eq!(p.sparsity_at(500, 0.8), 0.8);
        assert!(p.is_prune_step(500) && !p.is_prune_step(510));
    }

    #[test]
    fn prune_steps_on_the_grid_and_at_the_end() {
        let p = PruneSchedule {
            start: 10,
            end: 45,
            every: 10,
        };
        let steps: Vec<_> = (0..100).filter(|&t| p.is_prune_step(t)).collect();
        assert_eq!(steps, [10, 20, 30, 40, 45]); // 45 is off the grid but is t1
        let every_step = PruneSchedule { every: 0, ..p };
        assert_eq!(
            (0..100).filter(|&t| every_step.is_prune_step(t)).count(),
            36
        );
    }
}
