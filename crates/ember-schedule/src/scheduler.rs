use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;

use crate::LrSchedule;

/// Adapts a pure [`LrSchedule`] to burn's [`LrScheduler`], so that burn-train's `Learner`
/// can drive it. The only state is the step counter, which is saved in the scheduler's record
/// so a resumed run continues on the same curve.
#[derive(Debug, Clone)]
pub struct ScheduledLr {
    schedule: LrSchedule,
    step: u64,
}

const STEP_KEY: &str = "step";

impl ScheduledLr {
    /// Starts `schedule` at step 0.
    pub fn new(schedule: LrSchedule) -> Self {
        Self { schedule, step: 0 }
    }

    /// The number of rates handed out so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }
}

impl LrScheduler for ScheduledLr {
    fn step(&mut self) -> LearningRate {
        let lr = self.schedule.lr(self.step);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar(STEP_KEY, self.step)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>(STEP_KEY) {
            self.step = step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_and_resumes_from_its_record() {
        let schedule = LrSchedule::Linear {
            init: 1.0,
            final_lr: 0.0,
            steps: 10,
        };
        let mut scheduler = ScheduledLr::new(schedule.clone());
        let first: Vec<f64> = (0..4).map(|_| scheduler.step()).collect();
        let expected: Vec<f64> = (0..4).map(|t| schedule.lr(t)).collect();
        assert_eq!(first, expected);
        assert_eq!(first[0], 1.0);
        let record = scheduler.to_record();
        let mut resumed = ScheduledLr::new(schedule.clone());
        resumed.load_record(record);
        assert_eq!(resumed.step_count(), 4);
        for t in 4..12 {
            assert_eq!(resumed.step(), schedule.lr(t));
        }
    }
}
