use super::{Groups, Pattern, PatternInput};

/// Any element may be removed on its own (the pattern of GMP).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unstructured;

impl Pattern for Unstructured {
    fn name(&self) -> String {
        "unstructured".to_string()
    }

    fn check(&self, _param: &PatternInput<'_>) -> Result<(), String> {
        Ok(())
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        Groups::elements(param.path, param.numel())
    }
}
