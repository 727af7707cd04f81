/// What can be wrong with a sparse matrix or a product's operands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// A buffer does not have the length its shape implies.
    #[error("{what} has {got} elements, expected {expected}")]
    Length {
        /// The buffer at fault.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the shape implies.
        expected: usize,
    },
    /// The parts of a sparse matrix contradict each other (out-of-range index, decreasing
    /// row starts, a group holding more than N non-zeros…).
    #[error("invalid sparse matrix: {0}")]
    Invalid(String),
}

/// Checks that `what` holds `expected` elements.
pub(crate) fn check_len(
    what: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), KernelError> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::Length {
            what,
            got,
            expected,
        })
    }
}
