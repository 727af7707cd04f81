/// A schedule whose parameters are out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// A numeric field lies outside its valid range.
    #[error("`{field}` = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// The name of the offending field, as written in a recipe.
        field: &'static str,
        /// The value that was given.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// Two fields contradict each other.
    #[error("{0}")]
    Inconsistent(String),
}

/// Checks that `value` is a sparsity in `[0, 1)`.
pub(crate) fn check_sparsity(field: &'static str, value: f64) -> Result<(), ScheduleError> {
    if value.is_finite() && (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(ScheduleError::OutOfRange {
            field,
            value,
            expected: "a fraction in [0, 1)",
        })
    }
}

/// Checks that `value` is a finite, strictly positive number.
pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<(), ScheduleError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ScheduleError::OutOfRange {
            field,
            value,
            expected: "a finite number > 0",
        })
    }
}
