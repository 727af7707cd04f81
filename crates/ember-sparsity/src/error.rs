use ember_schedule::ScheduleError;

/// Everything that can go wrong when a sparsity plan meets a model.
#[derive(Debug, thiserror::Error)]
pub enum SparsityError {
    /// An include pattern of a selector matched no parameter.
    #[error(
        "pattern `{pattern}` of modifier `{modifier}` matches no parameter; the model has: {available}"
    )]
    EmptySelection {
        /// The modifier whose selector is at fault.
        modifier: String,
        /// The pattern that matched nothing.
        pattern: String,
        /// Some of the parameter paths the model does have.
        available: String,
    },
    /// A selector's `layer_types` names no module type that owns a parameter the patterns
    /// match.
    #[error(
        "layer_types {wanted:?} of modifier `{modifier}` match no module owning the selected \
         parameters; their module types are: {available}"
    )]
    UnknownLayerType {
        /// The modifier whose selector is at fault.
        modifier: String,
        /// The layer types asked for.
        wanted: Vec<String>,
        /// The module types that own the parameters the patterns match.
        available: String,
    },
    /// A `re:` pattern is not a valid regular expression.
    #[error("pattern `{pattern}` of modifier `{modifier}` is not a valid regex: {message}")]
    BadPattern {
        /// The modifier whose selector is at fault.
        modifier: String,
        /// The pattern as written.
        pattern: String,
        /// What the regex parser said.
        message: String,
    },
    /// A schedule of a modifier is out of range.
    #[error("schedule of modifier `{modifier}`: {source}")]
    Schedule {
        /// The modifier whose schedule is at fault.
        modifier: String,
        /// What is wrong with it.
        source: ScheduleError,
    },
    /// Two pruning modifiers select the same parameter.
    #[error("parameter `{path}` is selected by both `{first}` and `{second}`")]
    Overlap {
        /// The parameter selected twice.
        path: String,
        /// The first modifier that selects it.
        first: String,
        /// The second modifier that selects it.
        second: String,
    },
    /// A scorer name that no registry entry answers to.
    #[error("unknown scorer `{name}`; known scorers: {known}")]
    UnknownScorer {
        /// The name asked for.
        name: String,
        /// The names the registry knows.
        known: String,
    },
    /// A scorer's arguments (`name:arguments`) do not parse.
    #[error("scorer `{spec}`: {message}")]
    BadScorerSpec {
        /// The scorer as written.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// A scorer returned the wrong number of scores.
    #[error("scorer `{scorer}` returned {got} scores for `{path}`, which has {expected} elements")]
    ScoreLength {
        /// The scorer at fault.
        scorer: String,
        /// The parameter being scored.
        path: String,
        /// Number of elements of the parameter.
        expected: usize,
        /// Number of scores returned.
        got: usize,
    },
    /// A freeze mask file cannot be read.
    #[error("cannot read freeze mask {path}: {message}")]
    MaskFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A freeze mask names a parameter or an index the model does not have.
    #[error("freeze mask of modifier `{modifier}`: {message}")]
    MaskMismatch {
        /// The freezer.
        modifier: String,
        /// What does not fit.
        message: String,
    },
    /// A pattern name that no registry entry answers to.
    #[error("unknown pattern `{name}`; known patterns: {known} (N:M is written `2:4`)")]
    UnknownPattern {
        /// The name asked for.
        name: String,
        /// The names the registry knows.
        known: String,
    },
    /// A pattern's arguments do not parse.
    #[error("pattern `{spec}`: {message}")]
    BadPatternSpec {
        /// The pattern as written.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// A modifier does not fit the parameters it selects (pattern, budget, gradients).
    #[error("modifier `{modifier}`: {message}")]
    Modifier {
        /// The modifier at fault.
        modifier: String,
        /// What does not fit.
        message: String,
    },
    /// A modifier that needs gradients was updated without one.
    #[error(
        "modifier `{modifier}` needs the gradient of `{path}` at step {step}, and none was \
         given (is the parameter trainable, and was the step called with gradients?)"
    )]
    MissingGradient {
        /// The modifier.
        modifier: String,
        /// The parameter without a gradient.
        path: String,
        /// The step of the update.
        step: u64,
    },
    /// A modifier that weighs by activations was updated without the input norms of a layer.
    #[error(
        "modifier `{modifier}` needs the input-feature norms of `{path}` from calibration \
         data, and none were measured: prune one-shot with `ember prune ... --calibration N` \
         on a model that exposes its linear inputs"
    )]
    MissingInputs {
        /// The modifier.
        modifier: String,
        /// The parameter without norms.
        path: String,
    },
    /// A checkpoint does not fit the bound plan: its sparsity state names other parameters.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What does not fit, naming the parameters.
        message: String,
    },
    /// A checkpoint's checksums do not match: the file was damaged after it was written.
    #[error(transparent)]
    Damaged(#[from] crate::ChecksumError),
}

impl SparsityError {
    /// [`SparsityError::Modifier`]: `modifier` does not fit its parameters, as `message` says.
    pub fn modifier(modifier: &str, message: String) -> Self {
        Self::Modifier {
            modifier: modifier.to_string(),
            message,
        }
    }
}
