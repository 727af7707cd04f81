/// Converts epochs (fractions allowed) to optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    per_epoch: u64,
}

impl Steps {
    /// `per_epoch` optimizer steps make one epoch (at least 1).
    pub fn new(per_epoch: u64) -> Self {
        Self {
            per_epoch: per_epoch.max(1),
        }
    }

    /// Steps in one epoch.
    pub fn per_epoch(&self) -> u64 {
        self.per_epoch
    }

    /// The first step of epoch `epochs` (rounded to the nearest step).
    pub fn at(&self, epochs: f64) -> u64 {
        (epochs * self.per_epoch as f64).round().max(0.0) as u64
    }
}
