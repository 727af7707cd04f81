use serde::{Deserialize, Serialize};

use crate::ScheduleError;
use crate::error::check_positive;

/// A learning-rate schedule: a pure function from optimizer step to learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate at every step.
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// Linear decay from `init` to `final_lr` over `steps` steps, then `final_lr`.
    Linear {
        /// Rate at step 0.
        init: f64,
        /// Rate from step `steps` on.
        final_lr: f64,
        /// Length of the decay.
        steps: u64,
    },
    /// Cosine annealing from `init` to `min` over `steps` steps, then `min`.
    Cosine {
        /// Rate at step 0.
        init: f64,
        /// Rate from step `steps` on.
        min: f64,
        /// Length of the annealing.
        steps: u64,
    },
    /// GMP\*'s sawtooth: an optional linear warm-up to `init` over `warmup_steps`, then linear
    /// decay from `init` toward `final_lr` that rewinds to `init` at every step listed in
    /// `rewinds` (the pruning steps), reaching `final_lr` at `end`.
    Sawtooth {
        /// The rate each tooth starts from.
        init: f64,
        /// The rate each tooth decays toward, and the rate from `end` on.
        final_lr: f64,
        /// Steps of linear warm-up from `init / warmup_steps` to `init` (0 for none).
        warmup_steps: u64,
        /// The steps where the rate jumps back to `init`.
        rewinds: Vec<u64>,
        /// The step where the last tooth reaches `final_lr`.
        end: u64,
    },
    /// A linear warm-up over `steps` steps to the starting rate of `then`, which then runs
    /// with its step count shifted by `steps`.
    WarmUp {
        /// Length of the warm-up.
        steps: u64,
        /// The schedule that follows.
        then: Box<LrSchedule>,
    },
}

impl LrSchedule {
    /// The learning rate at optimizer step `step` (counted from 0).
    pub fn lr(&self, step: u64) -> f64 {
        match self {
            Self::Constant { lr } => *lr,
            Self::Linear {
                init,
                final_lr,
                steps,
            } => interpolate(*init, *final_lr, step, *steps),
            Self::Cosine { init, min, steps } => {
                if *steps == 0 || step >= *steps {
                    return *min;
                }
                let progress = step as f64 / *steps as f64;
                min + (init - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Self::Sawtooth {
                init,
                final_lr,
                warmup_steps,
                rewinds,
                end,
            } => {
                if step < *warmup_steps {
                    return init * (step + 1) as f64 / *warmup_steps as f64;
                }
                if step >= *end {
                    return *final_lr;
                }
                let tooth_start = rewinds
                    .iter()
                    .copied()
                    .filter(|&r| r <= step && r >= *warmup_steps)
                    .max()
                    .unwrap_or(*warmup_steps);
                let tooth_end = rewinds
                    .iter()
                    .copied()
                    .filter(|&r| r > step && r < *end)
                    .min()
                    .unwrap_or(*end);
                interpolate(
                    *init,
                    *final_lr,
                    step - tooth_start,
                    tooth_end - tooth_start,
                )
            }
            Self::WarmUp { steps, then } => {
                if step < *steps {
                    then.lr(0) * (step + 1) as f64 / *steps as f64
                } else {
                    then.lr(step - steps)
                }
            }
        }
    }

    /// Checks that every rate is finite and positive (final rates may be 0) and that the
    /// step counts are consistent; the error names the field at fault.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Self::Constant { lr } => check_positive("lr", *lr),
            Self::Linear { init, final_lr, .. } => {
                check_positive("init", *init)?;
                check_non_negative("final_lr", *final_lr)
            }
            Self::Cosine { init, min, .. } => {
                check_positive("init", *init)?;
                check_non_negative("min", *min)
            }
            Self::Sawtooth {
                init,
                final_lr,
                warmup_steps,
                end,
                ..
            } => {
                check_positive("init", *init)?;
                check_non_negative("final_lr", *final_lr)?;
                if warmup_steps > end {
                    return Err(ScheduleError::Inconsistent(format!(
                        "`warmup_steps` ({warmup_steps}) is past `end` ({end})"
                    )));
                }
                Ok(())
            }
            Self::WarmUp { then, .. } => then.validate(),
        }
    }
}

/// Linear interpolation from `from` (offset 0) to `to` (offset `length` and beyond).
fn interpolate(from: f64, to: f64, offset: u64, length: u64) -> f64 {
    if length == 0 || offset >= length {
        return to;
    }
    from + (to - from) * offset as f64 / length as f64
}

fn check_non_negative(field: &'static str, value: f64) -> Result<(), ScheduleError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ScheduleError::OutOfRange {
            field,
            value,
            expected: "a finite number >= 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn sawtooth_rewinds_at_every_pruning_step() {
        // Warm-up of 10 steps, prune at 10, 30, 50, decay ends at 90.
        let s = LrSchedule::Sawtooth {
            init: 8e-5,
            final_lr: 8e-6,
            warmup_steps: 10,
            rewinds: vec![10, 30, 50],
            end: 90,
        };
        assert!(close(s.lr(0), 8e-6));
        assert!(close(s.lr(9), 8e-5));
        for tooth in [(10u64, 30u64), (30, 50), (50, 90)] {
            assert!(close(s.lr(tooth.0), 8e-5), "rewind at {}", tooth.0);
            for t in tooth.0..tooth.1 {
                let expected =
                    8e-5 + (8e-6 - 8e-5) * (t - tooth.0) as f64 / (tooth.1 - tooth.0) as f64;
                assert!(close(s.lr(t), expected), "step {t}");
            }
        }
        assert!(close(s.lr(90), 8e-6));
        assert!(close(s.lr(10_000), 8e-6));
    }

    #[test]
    fn linear_cosine_and_warmup_closed_forms() {
        let l = LrSchedule::Linear {
            init: 1.0,
            final_lr: 0.0,
            steps: 4,
        };
        let got: Vec<f64> = (0..6).map(|t| l.lr(t)).collect();
        assert_eq!(got, vec![1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
        let c = LrSchedule::Cosine {
            init: 1.0,
            min: 0.1,
            steps: 10,
        };
        assert!(close(c.lr(0), 1.0));
        assert!(close(c.lr(5), 0.55));
        assert!(close(c.lr(10), 0.1));
        assert!(close(c.lr(11), 0.1));
        let w = LrSchedule::WarmUp {
            steps: 4,
            then: Box::new(LrSchedule::Constant { lr: 0.4 }),
        };
        let got: Vec<f64> = (0..6).map(|t| w.lr(t)).collect();
        assert!(
            got.iter()
                .zip([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
                .all(|(a, b)| close(*a, b))
        );
    }

    #[test]
    fn validation_names_the_field() {
        let err = LrSchedule::Constant { lr: -1.0 }.validate().unwrap_err();
        assert!(err.to_string().contains("`lr`"), "{err}");
        let err = LrSchedule::Sawtooth {
            init: 1e-3,
            final_lr: f64::NAN,
            warmup_steps: 0,
            rewinds: vec![],
            end: 10,
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("final_lr"), "{err}");
    }

    proptest! {
        #[test]
        fn sawtooth_stays_between_final_and_init(
            warm in 0u64..50, gaps in proptest::collection::vec(1u64..100, 0..6), tail in 1u64..200
        ) {
            let mut rewinds = Vec::new();
            let mut at = warm;
            for g in &gaps { at += g; rewinds.push(at); }
            let end = at + tail;
            let s = LrSchedule::Sawtooth { init: 1e-3, final_lr: 1e-5, warmup_steps: warm, rewinds: rewinds.clone(), end };
            prop_assert!(s.validate().is_ok());
            for t in 0..end + 5 {
                let lr = s.lr(t);
                prop_assert!(lr > 0.0 && lr <= 1e-3 * (1.0 + 1e-12));
                if t >= warm && t < end { prop_assert!(lr >= 1e-5); }
            }
            for r in rewinds { prop_assert!(close(s.lr(r), 1e-3)); }
        }
    }
}
