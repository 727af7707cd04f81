use serde::{Deserialize, Serialize};

use crate::ScheduleError;
use crate::error::{check_positive, check_sparsity};

/// How sparsity moves from `init_sparsity` to `final_sparsity`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "curve", rename_all = "snake_case", deny_unknown_fields)]
pub enum Curve {
    /// `final_sparsity` at every update step (one-shot and constant schedules).
    Constant,
    /// Zhu & Gupta's ramp `s_f + (s_i - s_f)(1 - p)^power`, with `p` the fraction of the
    /// pruning window already elapsed. `power = 1` is linear, `power = 3` is the cubic
    /// schedule of GMP.
    Polynomial {
        /// The exponent of the ramp.
        power: f64,
    },
}

/// A sparsity schedule: which optimizer steps prune, and to what sparsity.
///
/// Pruning happens at the *update steps* `start, start + every, start + 2·every, …` that lie
/// before `end`, and at `end` itself. At an update step `t` the target is
///
/// ```text
/// s(t) = s_f + (s_i - s_f) · (1 - (t - start) / (end - start))^power
/// ```
///
/// so the first update jumps straight to `init_sparsity` (GMP\*'s large first step) and the
/// last reaches `final_sparsity`. Between updates the target holds; before `start` it is 0
/// (nothing is pruned) and after `end` it stays at `final_sparsity`. When `start == end`
/// there is one update, to `final_sparsity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparsitySchedule {
    /// The shape of the ramp.
    pub curve: Curve,
    /// Sparsity at the first update step.
    pub init_sparsity: f64,
    /// Sparsity from the last update step on.
    pub final_sparsity: f64,
    /// First update step.
    pub start: u64,
    /// Last update step.
    pub end: u64,
    /// Steps between updates (≥ 1).
    pub every: u64,
}

impl SparsitySchedule {
    /// Prunes once, at step `at`, to `sparsity`.
    pub fn one_shot(sparsity: f64, at: u64) -> Self {
        Self::constant(sparsity, at, at, 1)
    }

    /// Holds `sparsity` from `start` to `end`, selecting the mask again every `every` steps.
    pub fn constant(sparsity: f64, start: u64, end: u64, every: u64) -> Self {
        Self {
            curve: Curve::Constant,
            init_sparsity: sparsity,
            final_sparsity: sparsity,
            start,
            end,
            every,
        }
    }

    /// A polynomial ramp of the given `power` (see the type's documentation).
    pub fn polynomial(
        power: f64,
        init_sparsity: f64,
        final_sparsity: f64,
        start: u64,
        end: u64,
        every: u64,
    ) -> Self {
        Self {
            curve: Curve::Polynomial { power },
            init_sparsity,
            final_sparsity,
            start,
            end,
            every,
        }
    }

    /// The linear ramp (`power = 1`).
    pub fn linear(
        init_sparsity: f64,
        final_sparsity: f64,
        start: u64,
        end: u64,
        every: u64,
    ) -> Self {
        Self::polynomial(1.0, init_sparsity, final_sparsity, start, end, every)
    }

    /// The cubic ramp of Zhu & Gupta and GMP\* (`power = 3`).
    pub fn cubic(
        init_sparsity: f64,
        final_sparsity: f64,
        start: u64,
        end: u64,
        every: u64,
    ) -> Self {
        Self::polynomial(3.0, init_sparsity, final_sparsity, start, end, every)
    }

    /// Checks every field; the error names the field at fault.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        check_sparsity("init_sparsity", self.init_sparsity)?;
        check_sparsity("final_sparsity", self.final_sparsity)?;
        if let Curve::Polynomial { power } = self.curve {
            check_positive("power", power)?;
        }
        if self.every == 0 {
            return Err(ScheduleError::OutOfRange {
                field: "every",
                value: 0.0,
                expected: "at least 1 step",
            });
        }
        if self.end < self.start {
            return Err(ScheduleError::Inconsistent(format!(
                "`end` ({}) comes before `start` ({})",
                self.end, self.start
            )));
        }
        Ok(())
    }

    /// Whether the mask is selected again at `step`.
    pub fn is_update_step(&self, step: u64) -> bool {
        step == self.end
            || (step >= self.start
                && step < self.end
                && (step - self.start).is_multiple_of(self.every))
    }

    /// Every update step, in order.
    pub fn update_steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = (self.start..self.end)
            .step_by(self.every as usize)
            .collect();
        steps.push(self.end);
        steps
    }

    /// The last update step at or before `step`, if any.
    pub fn last_update_at_or_before(&self, step: u64) -> Option<u64> {
        if step < self.start {
            None
        } else if step >= self.end {
            Some(self.end)
        } else {
            Some(step - (step - self.start) % self.every)
        }
    }

    /// The target sparsity in force at `step`: 0 before the first update, then the value set by
    /// the most recent update step.
    pub fn sparsity(&self, step: u64) -> f64 {
        match self.last_update_at_or_before(step) {
            None => 0.0,
            Some(update) => self.sparsity_at_update(update),
        }
    }

    fn sparsity_at_update(&self, update: u64) -> f64 {
        match self.curve {
            Curve::Constant => self.final_sparsity,
            Curve::Polynomial { power } => {
                // The end points are exact, not the result of rounding through the formula.
                if update >= self.end {
                    return self.final_sparsity;
                }
                if update == self.start {
                    return self.init_sparsity;
                }
                let elapsed = (update - self.start) as f64 / (self.end - self.start) as f64;
                self.final_sparsity
                    + (self.init_sparsity - self.final_sparsity) * (1.0 - elapsed).powf(power)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cubic_matches_closed_form_at_every_update() {
        // GMP*-like: jump to 0.7 at step 100, reach 0.9 at step 1300, update every 200.
        let s = SparsitySchedule::cubic(0.7, 0.9, 100, 1300, 200);
        assert_eq!(s.update_steps(), vec![100, 300, 500, 700, 900, 1100, 1300]);
        for t in s.update_steps() {
            let p = (t - 100) as f64 / 1200.0;
            let expected = 0.9 + (0.7 - 0.9) * (1.0 - p).powi(3);
            assert!((s.sparsity(t) - expected).abs() < 1e-12, "step {t}");
        }
        assert_eq!(s.sparsity(100), 0.7);
        assert_eq!(s.sparsity(1300), 0.9);
    }

    #[test]
    fn edges_before_start_between_updates_and_after_end() {
        let s = SparsitySchedule::cubic(0.5, 0.9, 10, 50, 10);
        assert_eq!(s.sparsity(0), 0.0);
        assert_eq!(s.sparsity(9), 0.0);
        assert_eq!(s.sparsity(10), 0.5);
        assert_eq!(s.sparsity(19), 0.5);
        assert_eq!(s.sparsity(20), s.sparsity(29));
        assert_eq!(s.sparsity(50), 0.9);
        assert_eq!(s.sparsity(10_000), 0.9);
        assert!(!s.is_update_step(9));
        assert!(s.is_update_step(10));
        assert!(!s.is_update_step(11));
        assert!(s.is_update_step(50));
        assert!(!s.is_update_step(60));
    }

    #[test]
    fn end_off_the_grid_is_still_an_update() {
        let s = SparsitySchedule::linear(0.0, 0.8, 0, 25, 10);
        assert_eq!(s.update_steps(), vec![0, 10, 20, 25]);
        assert!((s.sparsity(20) - 0.8 * 20.0 / 25.0).abs() < 1e-12);
        assert_eq!(s.sparsity(25), 0.8);
    }

    #[test]
    fn one_shot_and_constant() {
        let s = SparsitySchedule::one_shot(0.9, 7);
        assert_eq!(s.update_steps(), vec![7]);
        assert_eq!(s.sparsity(6), 0.0);
        assert_eq!(s.sparsity(7), 0.9);
        assert_eq!(s.sparsity(1000), 0.9);
        let c = SparsitySchedule::constant(0.5, 0, 30, 10);
        assert_eq!(c.update_steps(), vec![0, 10, 20, 30]);
        assert!(c.update_steps().iter().all(|&t| c.sparsity(t) == 0.5));
    }

    #[test]
    fn validation_names_the_field() {
        let err = SparsitySchedule::cubic(0.5, 1.3, 0, 10, 1)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("final_sparsity"), "{err}");
        assert!(err.to_string().contains("1.3"), "{err}");
        let err = SparsitySchedule::cubic(-0.1, 0.5, 0, 10, 1)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("init_sparsity"), "{err}");
        let err = SparsitySchedule::cubic(0.1, 1.0, 0, 10, 1)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("final_sparsity"), "{err}");
        let err = SparsitySchedule::cubic(0.1, 0.5, 0, 10, 0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("every"), "{err}");
        let err = SparsitySchedule::cubic(0.1, 0.5, 20, 10, 1)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("end"), "{err}");
        assert!(
            SparsitySchedule::cubic(0.1, 0.5, 0, 10, 3)
                .validate()
                .is_ok()
        );
    }

    proptest! {
        #[test]
        fn monotone_ramp_from_init_to_final(
            si in 0.0f64..0.99, extra in 0.0f64..0.99, start in 0u64..1000,
            len in 0u64..5000, every in 1u64..500, power in 0.5f64..5.0
        ) {
            let sf = si + (0.99 - si) * extra;
            let s = SparsitySchedule::polynomial(power, si, sf, start, start + len, every);
            prop_assert!(s.validate().is_ok());
            let mut prev = 0.0;
            for t in 0..(start + len + 3) {
                let v = s.sparsity(t);
                prop_assert!(v + 1e-12 >= prev, "not monotone at {}", t);
                prop_assert!((0.0..1.0).contains(&v));
                prev = v;
            }
            prop_assert_eq!(s.sparsity(start + len), sf);
            if len > 0 { prop_assert_eq!(s.sparsity(start), si); }
            let updates = s.update_steps();
            prop_assert!(updates.iter().all(|&t| s.is_update_step(t)));
            let count = (0..(start + len + 3)).filter(|&t| s.is_update_step(t)).count();
            prop_assert_eq!(count, updates.len());
        }
    }
}
