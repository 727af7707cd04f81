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

    /// The optimizer steps in one epoch of `items` examples in batches of `batch_size`, spread
    /// over `devices` data-parallel devices.
    ///
    /// burn-train gives each device a contiguous slice of the epoch (the last one takes the
    /// remainder) and makes one optimizer step per round of batches, so an epoch lasts as many
    /// steps as the largest slice has batches.
    pub fn data_parallel(items: usize, batch_size: usize, devices: usize) -> Self {
        let devices = devices.max(1);
        let largest_slice = items - (devices - 1) * (items / devices);
        Self::new(largest_slice.div_ceil(batch_size.max(1)) as u64)
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

#[cfg(test)]
mod tests {
    use super::Steps;

    #[test]
    fn one_device_counts_batches() {
        assert_eq!(Steps::data_parallel(4500, 64, 1).per_epoch(), 71);
        assert_eq!(Steps::data_parallel(1024, 64, 1).per_epoch(), 16);
        assert_eq!(Steps::data_parallel(0, 64, 1).per_epoch(), 1);
    }

    #[test]
    fn several_devices_count_the_largest_slice() {
        // 4,500 over two devices: 2,250 each, 36 batches of 64.
        assert_eq!(Steps::data_parallel(4500, 64, 2).per_epoch(), 36);
        // 1,000 over three: 333, 333 and 334; the last has 6 batches of 64.
        assert_eq!(Steps::data_parallel(1000, 64, 3).per_epoch(), 6);
        // 130 over two: 65 each, two batches (64 + 1).
        assert_eq!(Steps::data_parallel(130, 64, 2).per_epoch(), 2);
    }
}
