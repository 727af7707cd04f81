//! Recipes: one TOML file describing the model, data, optimizer, phases and modifiers.
//!
//! ```toml
//! name = "quickstart"
//! seed = 1
//! epochs = 8                      # pruning phase
//!
//! [model]
//! kind = "mlp"                    # LeNet-300-100 by default
//!
//! [data]
//! source = "embedded"
//! batch_size = 64
//!
//! [optimizer]
//! kind = "adam"
//!
//! [dense]                         # optional dense baseline phase
//! epochs = 6
//! lr = { kind = "constant", lr = 1e-3 }
//!
//! [lr]                            # learning rate of the pruning phase
//! kind = "sawtooth"
//! init = 1e-3
//! final = 1e-4
//!
//! [[modifiers]]
//! kind = "prune"
//! params = ['re:layers\.\d+\.weight']
//! scope = "global"
//! schedule = { kind = "cubic", init_sparsity = 0.7, final_sparsity = 0.9, start_epoch = 0, end_epoch = 4, every_epochs = 1 }
//! ```
//!
//! [`Recipe::load`] layers the file, then `EMBER_RECIPE__*` environment variables, then `--set`
//! overrides (config-rs), and rejects unknown keys, wrong types and out-of-range values with
//! the field's path (and the line, for errors in the file).

mod checkpoint;
mod custom;
mod data;
mod layerwise;
mod lr;
mod model;
mod modifier;
mod optim;
mod steps;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use ember_sparsity::{Regrowth, SparsityPlan};
use serde::{Deserialize, Serialize};

pub use checkpoint::CheckpointSpec;
pub use custom::{BUILT_IN_MODIFIERS, CustomSpec, ModifierContext, ModifierKind, ModifierRegistry};
pub use data::{DataSpec, SourceKind, TextDataPlan};
pub use layerwise::LayerwiseSpec;
pub use lr::LrSpec;
pub use model::ModelSpec;
pub use modifier::{
    DynamicSpec, FreezeRuleKind, FreezeSpec, MaskSpec, ModifierSpec, PolynomialSpec, PruneSpec,
    RampSpec, ScheduleSpec,
};
pub use optim::OptimizerSpec;
pub use steps::Steps;

use crate::task::Distillation;
use crate::{Registries, TrainError};

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// A name for reports.
    #[serde(default)]
    pub name: String,
    /// Seeds the backend's initialisation, shuffling and random scorers.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Seeds the initial weights alone (default: `seed`), so that a control run can start from
    /// other weights with the same data order (the lottery ticket's re-initialised control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_seed: Option<u64>,
    /// Epochs of the pruning phase.
    pub epochs: usize,
    /// The model.
    pub model: ModelSpec,
    /// The data.
    pub data: DataSpec,
    /// The optimizer (Adam by default).
    #[serde(default)]
    pub optimizer: OptimizerSpec,
    /// The optional dense baseline phase that runs first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense: Option<DenseSpec>,
    /// The learning rate of the pruning phase.
    pub lr: LrSpec,
    /// Pruning modifiers of the pruning phase.
    #[serde(default)]
    pub modifiers: Vec<ModifierSpec>,
    /// Knowledge distillation from the dense model during the pruning phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<Distillation>,
    /// How often to checkpoint for `ember run --resume`.
    #[serde(default, skip_serializing_if = "CheckpointSpec::is_default")]
    pub checkpoint: CheckpointSpec,
}

/// Environment variables `EMBER_RECIPE__<KEY>[__<SUBKEY>]` override recipe keys.
pub const ENV_PREFIX: &str = "EMBER_RECIPE";

fn default_seed() -> u64 {
    42
}

/// `[dense]`: train (or load) the dense model before pruning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    /// Epochs of dense training (ignored when `load` is set).
    #[serde(default)]
    pub epochs: usize,
    /// Learning rate of the dense phase.
    #[serde(default = "default_dense_lr")]
    pub lr: LrSpec,
    /// Load these weights (`.bpk`, e.g. a previous run's `dense.bpk`) instead of training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<PathBuf>,
}

fn default_dense_lr() -> LrSpec {
    LrSpec::Constant { lr: 1e-3 }
}

/// The largest recipe file read, 1 MiB: a recipe is a page of TOML; a larger input (a
/// mistyped path to a data file, `/dev/zero`) is refused before it is read.
pub const MAX_RECIPE_BYTES: u64 = 1 << 20;

/// A recipe file's text: a regular file of at most [`MAX_RECIPE_BYTES`], checked against
/// its run's `SHA256SUMS` when it is a run's own `recipe.toml`.
fn read_recipe_text(path: &Path) -> Result<String, TrainError> {
    let refuse = |source: std::io::Error| TrainError::ReadRecipe {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(refuse)?;
    if !metadata.is_file() {
        return Err(refuse(std::io::Error::other(
            "not a regular file (a directory or a device?)",
        )));
    }
    if metadata.len() > MAX_RECIPE_BYTES {
        return Err(refuse(std::io::Error::other(format!(
            "{} bytes; a recipe is at most {MAX_RECIPE_BYTES} bytes",
            metadata.len()
        ))));
    }
    Ok(crate::read_recorded(path)?)
}

impl Recipe {
    /// Reads `path`, applies `EMBER_RECIPE__*` environment variables and the `key=value` overrides,
    /// and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let recipe = Self::load_unvalidated(path, overrides)?;
        recipe.validate()?;
        Ok(recipe)
    }

    /// [`Recipe::load`] without the range checks of [`Recipe::validate`]: the file and the
    /// overrides parse into a recipe (types, names, required keys), whose values may still be
    /// out of range.
    ///
    /// Relative paths in the file (`data.dir`, `model.dir`, `dense.load`, mask files) are
    /// relative to the file's directory, so a recipe works from any working directory;
    /// relative paths from overrides are relative to the working directory. Both are made
    /// absolute, so the `recipe.toml` a run writes is valid wherever it is read.
    pub fn load_unvalidated(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let text = read_recipe_text(path)?;
        let origin = path.display().to_string();
        let mut recipe = Self::parse(&text, &origin, overrides)?;
        let mut in_file: Recipe = toml::from_str(&text).map_err(|e| TrainError::Parse {
            origin,
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let from_file: std::collections::BTreeMap<String, PathBuf> = in_file
            .paths_mut_labelled()
            .into_iter()
            .map(|(label, p)| (label, p.clone()))
            .collect();
        for (label, value) in recipe.paths_mut_labelled() {
            let relative_to = if from_file.get(&label) == Some(value) {
                base
            } else {
                Path::new("")
            };
            if value.is_relative() {
                *value = std::path::absolute(relative_to.join(&*value)).unwrap_or(value.clone());
            }
        }
        Ok(recipe)
    }

    /// Every file or folder the recipe reads, labelled by its key.
    pub fn input_paths(&self) -> Vec<(String, PathBuf)> {
        self.clone()
            .paths_mut_labelled()
            .into_iter()
            .map(|(label, path)| (label, path.clone()))
            .collect()
    }

    /// Every path the recipe holds, labelled by its key.
    fn paths_mut_labelled(&mut self) -> Vec<(String, &mut PathBuf)> {
        let mut paths = Vec::new();
        if let Some(dir) = self.data.dir.as_mut() {
            paths.push(("data.dir".to_string(), dir));
        }
        if let Some(dir) = self.model.dir.as_mut() {
            paths.push(("model.dir".to_string(), dir));
        }
        if let Some(load) = self.dense.as_mut().and_then(|d| d.load.as_mut()) {
            paths.push(("dense.load".to_string(), load));
        }
        for (i, modifier) in self.modifiers.iter_mut().enumerate() {
            let file = match modifier {
                ModifierSpec::Mask(mask) => Some(&mut mask.mask_file),
                ModifierSpec::Freeze(freeze) => freeze.mask_file.as_mut(),
                _ => None,
            };
            if let Some(file) = file {
                paths.push((format!("modifiers[{i}].mask_file"), file));
            }
        }
        paths
    }

    /// Parses recipe text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str, overrides: &[String]) -> Result<Self, TrainError> {
        let recipe = Self::parse(text, origin, overrides)?;
        recipe.validate()?;
        Ok(recipe)
    }

    fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self, TrainError> {
        let parse_error = |message: String| TrainError::Parse {
            origin: origin.to_string(),
            message,
        };
        // The file alone first, so that errors in it carry a line and column.
        toml::from_str::<Recipe>(text).map_err(|e| parse_error(e.to_string()))?;
        let file: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;

        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(
                // A prefix no other tool uses: Ember.js sets `EMBER_ENV`, and Ember's own
                // settings (`EMBER_PAUSE_AT`) are not recipe keys.
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        for item in overrides {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| TrainError::Override(item.clone()))?;
            check_indices(key.trim(), &file)
                .map_err(|message| parse_error(format!("override `{item}`: {message}")))?;
            builder = builder
                .set_override(key.trim(), parse_override(value.trim()))
                .map_err(|e| parse_error(format!("override `{item}`: {e}")))?;
        }
        let recipe: Recipe = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| parse_error(with_layers(e.to_string())))?;
        Ok(recipe)
    }

    /// The index of the first `layerwise` modifier, if any: such a recipe is pruned one-shot,
    /// layer by layer ([`prune_layer_by_layer`](crate::layerwise::prune_layer_by_layer)).
    pub fn prunes_layer_by_layer(&self) -> Option<usize> {
        self.modifiers
            .iter()
            .position(|m| matches!(m, ModifierSpec::Layerwise(_)))
    }

    /// The seed of the initial weights: `init_seed`, or `seed`.
    pub fn weights_seed(&self) -> u64 {
        self.init_seed.unwrap_or(self.seed)
    }

    /// The recipe as TOML, with every default filled in.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a recipe always serialises")
    }

    /// Checks every range the types cannot express.
    pub fn validate(&self) -> Result<(), TrainError> {
        let invalid = |field: String, value: String, message: &str| TrainError::Invalid {
            field,
            value,
            message: message.to_string(),
        };
        // The name becomes a folder (a sweep's runs): a plain name, never a path (an empty
        // one stands for the file's stem).
        let plain = self.name.is_empty()
            || (!self.name.starts_with('.')
                && self.name.len() <= 128
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
        if !plain {
            return Err(invalid(
                "name".into(),
                format!("{:?}", self.name),
                "must be a plain name of letters, digits, `-`, `_` and `.` (not starting with \
                 `.`, at most 128 characters): sweeps use it as a folder name",
            ));
        }
        for (field, lr, epochs) in [("lr", &self.lr, self.epochs)]
            .into_iter()
            .chain(self.dense.iter().map(|d| ("dense.lr", &d.lr, d.epochs)))
        {
            if let LrSpec::Sawtooth { warmup_epochs, .. } = lr
                && *warmup_epochs > epochs as f64
                && epochs > 0
            {
                return Err(invalid(
                    format!("{field}.warmup_epochs"),
                    warmup_epochs.to_string(),
                    &format!("must be at most the phase's {epochs} epochs"),
                ));
            }
        }
        if self.epochs == 0 && !self.modifiers.is_empty() {
            return Err(invalid(
                "epochs".into(),
                "0".into(),
                "must be at least 1 when modifiers are given",
            ));
        }
        for (field, value, limit) in self.sizes() {
            if value == 0 {
                return Err(invalid(field, "0".into(), "must be at least 1"));
            }
            if value > limit {
                return Err(invalid(
                    field,
                    value.to_string(),
                    &format!("must be at most {limit}"),
                ));
            }
        }
        self.check_data()?;
        if let Err((field, value, message)) = self.checkpoint.validate() {
            return Err(invalid(field.into(), value, message));
        }
        if let Err((field, value, message)) = self.optimizer.validate() {
            return Err(invalid(field.into(), value, message));
        }
        check_lr("lr", &self.lr)?;
        if let Some(dense) = &self.dense {
            check_lr("dense.lr", &dense.lr)?;
        }
        for (index, modifier) in self.modifiers.iter().enumerate() {
            let prefix = format!("modifiers[{index}]");
            let Some(params) = modifier.params() else {
                // A kind of one's own checks its settings when it builds its modifier.
                continue;
            };
            let schedule = match modifier {
                ModifierSpec::Prune(prune) => Some(prune.schedule.clone()),
                ModifierSpec::Freeze(freeze) => {
                    self.check_freeze(&prefix, freeze)?;
                    freeze.schedule.clone()
                }
                ModifierSpec::Rigl(dynamic) | ModifierSpec::Set(dynamic) => {
                    check_dynamic(&prefix, dynamic)?;
                    Some(dynamic.schedule_spec())
                }
                ModifierSpec::Layerwise(layerwise) => {
                    layerwise.check(index)?;
                    None
                }
                ModifierSpec::Mask(_) | ModifierSpec::Custom(_) => None,
            };
            if params.is_empty() {
                return Err(invalid(
                    format!("{prefix}.params"),
                    "[]".into(),
                    "must list at least one pattern",
                ));
            }
            if let Some(schedule) = &schedule {
                self.check_schedule(&prefix, schedule)?;
            }
        }
        Ok(())
    }

    /// Every size the recipe names, with its bound: checked before anything is allocated, so
    /// that a typo is an error naming the field rather than an abort on a huge allocation.
    fn sizes(&self) -> Vec<(String, u64, u64)> {
        let mut sizes = vec![(
            "data.batch_size".to_string(),
            self.data.batch_size as u64,
            1 << 16,
        )];
        if self.epochs > 0 {
            sizes.push(("epochs".into(), self.epochs as u64, 100_000));
        }
        if let Some(dense) = &self.dense
            && dense.epochs > 0
        {
            sizes.push(("dense.epochs".into(), dense.epochs as u64, 100_000));
        }
        if let Some(max_len) = self.data.max_len {
            sizes.push(("data.max_len".into(), max_len as u64, 1 << 16));
        }
        sizes
    }

    fn check_data(&self) -> Result<(), TrainError> {
        let invalid = |field: &str, value: String, message: &str| TrainError::Invalid {
            field: field.to_string(),
            value,
            message: message.to_string(),
        };
        if self.data.source.is_corpus() {
            // The family reads the corpus (`ModelEntry::validate` checks `seqlen`).
            if self.data.source == SourceKind::Corpus && self.data.dir.is_none() {
                return Err(invalid(
                    "data.dir",
                    "(missing)".into(),
                    "a `corpus` needs its folder of train.txt, valid.txt and test.txt",
                ));
            }
            for (field, given) in [
                ("data.max_len", self.data.max_len.is_some()),
                ("data.test", self.data.test.is_some()),
                ("data.validation", self.data.validation.is_some()),
            ] {
                if given {
                    return Err(invalid(
                        field,
                        "(given)".into(),
                        "a corpus comes with its own splits and reads windows of data.seqlen",
                    ));
                }
            }
        } else if self.data.source.is_text() {
            // `dir` may still be filled in by `ember run`; everything else is checked now.
            let mut probe = self.data.clone();
            probe.dir.get_or_insert_with(|| PathBuf::from("."));
            probe
                .text_plan()
                .map_err(|(field, message)| invalid(field, "(given)".into(), &message))?;
        } else {
            if self.data.seqlen.is_some() {
                return Err(invalid(
                    "data.seqlen",
                    "(given)".into(),
                    "only a corpus (`kjv`, `corpus`) reads windows",
                ));
            }
            self.data
                .source()
                .map_err(|message| invalid("data.dir", "(missing)".into(), &message))?;
            let share = self.data.image_validation();
            if !(0.0..1.0).contains(&share) {
                return Err(invalid(
                    "data.validation",
                    share.to_string(),
                    "must lie in [0, 1): the rest of the training split trains",
                ));
            }
            if self.data.test.is_some() {
                return Err(invalid(
                    "data.test",
                    "(given)".into(),
                    "image data sets come with their own test split",
                ));
            }
        }
        if let Some(distill) = &self.distill {
            distill
                .validate()
                .map_err(|(field, message)| invalid(field, format!("{distill:?}"), &message))?;
            if self.dense.is_none() {
                return Err(invalid(
                    "distill",
                    "(given)".into(),
                    "needs a [dense] phase (trained or loaded): the teacher is the dense model",
                ));
            }
        }
        Ok(())
    }

    fn check_freeze(&self, prefix: &str, freeze: &FreezeSpec) -> Result<(), TrainError> {
        let invalid = |field: &str, value: &str, message: &str| TrainError::Invalid {
            field: format!("{prefix}.{field}"),
            value: value.to_string(),
            message: message.to_string(),
        };
        match (freeze.rule, &freeze.schedule, &freeze.mask_file) {
            (FreezeRuleKind::All, Some(_), _) => Err(invalid(
                "schedule",
                "(given)",
                "rule \"all\" freezes whole tensors from the start and takes no schedule",
            )),
            (FreezeRuleKind::TopMagnitude | FreezeRuleKind::Freezenet, None, _) => Err(invalid(
                "schedule",
                "(missing)",
                "this rule needs a schedule giving the frozen fraction",
            )),
            (FreezeRuleKind::Mask, _, None) => Err(invalid(
                "mask_file",
                "(missing)",
                "rule \"mask\" needs a JSON file of frozen indices",
            )),
            _ => Ok(()),
        }
    }

    fn check_schedule(&self, prefix: &str, schedule: &ScheduleSpec) -> Result<(), TrainError> {
        let invalid = |field: String, value: String, message: &str| TrainError::Invalid {
            field,
            value,
            message: message.to_string(),
        };
        if let Some((init, last)) = schedule.ramp_sparsities()
            && last < init
        {
            return Err(invalid(
                format!("{prefix}.schedule.final_sparsity"),
                last.to_string(),
                &format!(
                    "must be at least init_sparsity ({init}): masks only grow, so a decreasing \
                     schedule could never be followed"
                ),
            ));
        }
        for (name, epoch) in schedule.epochs() {
            let valid = if name == "every_epochs" {
                epoch.is_finite() && epoch > 0.0
            } else {
                epoch.is_finite() && epoch >= 0.0 && epoch < self.epochs as f64
            };
            if !valid {
                let expected = if name == "every_epochs" {
                    "must be > 0".to_string()
                } else {
                    format!(
                        "must lie in [0, epochs) = [0, {}): a step at or after the last epoch never runs",
                        self.epochs
                    )
                };
                return Err(invalid(
                    format!("{prefix}.schedule.{name}"),
                    epoch.to_string(),
                    &expected,
                ));
            }
        }
        schedule
            .to_schedule(&Steps::new(1))
            .validate()
            .map_err(|e| match e {
                ember_schedule::ScheduleError::OutOfRange {
                    field,
                    value,
                    expected,
                } => invalid(
                    format!("{prefix}.schedule.{}", schedule.recipe_field(field)),
                    value.to_string(),
                    &format!("expected {expected}"),
                ),
                other => invalid(
                    format!("{prefix}.schedule"),
                    String::new(),
                    &other.to_string(),
                ),
            })
    }

    /// The sparsity plan of the pruning phase, with epochs turned into steps.
    pub fn plan(&self, steps: &Steps, registries: &Registries) -> Result<SparsityPlan, TrainError> {
        (0..self.modifiers.len()).try_fold(SparsityPlan::default(), |plan, index| {
            self.add_modifier(plan, index, steps, registries)
        })
    }

    /// The plan of modifier `index` alone (named by its index in the recipe), for checking
    /// each modifier on its own.
    pub fn plan_of(
        &self,
        index: usize,
        steps: &Steps,
        registries: &Registries,
    ) -> Result<SparsityPlan, TrainError> {
        self.add_modifier(SparsityPlan::default(), index, steps, registries)
    }

    fn add_modifier(
        &self,
        plan: SparsityPlan,
        index: usize,
        steps: &Steps,
        registries: &Registries,
    ) -> Result<SparsityPlan, TrainError> {
        let (scorers, patterns) = (&registries.scorers, &registries.patterns);
        Ok(match &self.modifiers[index] {
            ModifierSpec::Prune(prune) => {
                plan.with_pruner(prune.to_pruner(index, steps, scorers, patterns, self.seed)?)
            }
            ModifierSpec::Freeze(freeze) => plan.with_freezer(freeze.to_freezer(index, steps)?),
            ModifierSpec::Rigl(dynamic) => plan.with_modifier(Arc::new(dynamic.to_modifier(
                index,
                steps,
                Regrowth::Gradient,
                self.seed,
            ))),
            ModifierSpec::Set(dynamic) => plan.with_modifier(Arc::new(dynamic.to_modifier(
                index,
                steps,
                Regrowth::Random,
                self.seed,
            ))),
            ModifierSpec::Mask(mask) => plan.with_modifier(Arc::new(mask.to_pruner(index)?)),
            // Run by `ember prune` layer by layer; in a plan it binds as what its `magnitude`
            // solver does, so that `ember check` finds what the selector and the pattern
            // cannot do on this model.
            ModifierSpec::Layerwise(spec) => {
                let structure = spec.check(index)?;
                registries
                    .solvers
                    .get(&spec.solver)
                    .map_err(|e| TrainError::Invalid {
                        field: format!("modifiers[{index}].solver"),
                        value: spec.solver.clone(),
                        message: e.to_string(),
                    })?;
                let pattern = match structure {
                    ember_oneshot::solve::Structure::Unstructured => "unstructured".to_string(),
                    ember_oneshot::solve::Structure::PerOutput => "per_output".to_string(),
                    ember_oneshot::solve::Structure::NM { n, m } => format!("{n}:{m}"),
                };
                let pruner = ember_sparsity::Pruner::magnitude(
                    &spec.name_at(index),
                    ember_sparsity::Selector::new(spec.params.clone())
                        .with_exclude(spec.exclude.clone()),
                    ember_schedule::SparsitySchedule::one_shot(spec.sparsity, 0),
                )
                .with_scope(ember_sparsity::Scope::LayerWise)
                .with_pattern(patterns.get(&pattern)?);
                plan.with_pruner(pruner)
            }
            ModifierSpec::Custom(spec) => {
                let context = ModifierContext {
                    index,
                    steps,
                    seed: self.seed,
                    epochs: self.epochs,
                    scorers,
                    patterns,
                };
                registries
                    .modifiers
                    .get(&spec.kind, index)?
                    .add(plan, spec, &context)?
            }
        })
    }
}

/// The largest list index an override may name. The configuration layer fills every entry
/// up to the index it is given, so `modifiers[100000000]` would allocate gigabytes before any
/// check could run; no recipe has lists this long.
const MAX_OVERRIDE_INDEX: usize = 1024;

/// Refuses list indices in an override key beyond [`MAX_OVERRIDE_INDEX`].
fn check_indices(key: &str, file: &toml::Table) -> Result<(), String> {
    // Walk the key through the file's values, so that an index past the end of an array is
    // named here (config-rs would pad the array and blame the padding's index instead).
    let mut at: Option<toml::Value> = Some(toml::Value::Table(file.clone()));
    let mut walked = String::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (digits, tail) = after
                .split_once(']')
                .ok_or_else(|| format!("`[` without `]` in key `{key}`"))?;
            let index = match digits.parse::<usize>() {
                Ok(index) if index <= MAX_OVERRIDE_INDEX => index,
                _ => {
                    return Err(format!(
                        "index `[{digits}]` must be a number of at most {MAX_OVERRIDE_INDEX}"
                    ));
                }
            };
            // An index into a table (`data[0]`) would make config-rs replace the whole
            // table with an array.
            if let Some(
                value @ (toml::Value::Table(_)
                | toml::Value::String(_)
                | toml::Value::Integer(_)
                | toml::Value::Float(_)
                | toml::Value::Boolean(_)
                | toml::Value::Datetime(_)),
            ) = &at
            {
                return Err(format!(
                    "`{walked}` is a {} in the recipe, not a list: `[{index}]` cannot index it",
                    value.type_str()
                ));
            }
            if let Some(toml::Value::Array(items)) = &at
                && index > items.len()
            {
                return Err(format!(
                    "`{walked}` has {} entries in the recipe, so `{walked}[{index}]` does not \
                     exist (an override may add one entry, `{walked}[{}]`)",
                    items.len(),
                    items.len()
                ));
            }
            at = match at {
                Some(toml::Value::Array(items)) => items.get(index).cloned(),
                _ => None,
            };
            walked = format!("{walked}[{index}]");
            rest = tail;
            if !(rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')) {
                return Err(format!(
                    "expected `.` or `[` after `{walked}` in key `{key}` (did you mean \
                     `{walked}.{rest}`?)"
                ));
            }
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            let name = &rest_trimmed[..end];
            if name.is_empty() {
                return Err(format!("empty key segment in `{key}`"));
            }
            walked = if walked.is_empty() {
                name.to_string()
            } else {
                format!("{walked}.{name}")
            };
            at = match at {
                Some(toml::Value::Table(table)) => table.get(name).cloned(),
                _ => None,
            };
            rest = &rest_trimmed[end..];
        }
    }
    Ok(())
}

/// The ranges of a RigL or SET entry that its schedule's checks do not cover.
fn check_dynamic(prefix: &str, dynamic: &DynamicSpec) -> Result<(), TrainError> {
    let invalid = |field: &str, value: f64, message: &str| TrainError::Invalid {
        field: format!("{prefix}.{field}"),
        value: value.to_string(),
        message: message.to_string(),
    };
    if !(0.0..1.0).contains(&dynamic.sparsity) {
        return Err(invalid(
            "sparsity",
            dynamic.sparsity,
            "must lie in [0, 1): a fully pruned tensor has nothing to rewire",
        ));
    }
    if !(0.0..=1.0).contains(&dynamic.drop_fraction) {
        return Err(invalid(
            "drop_fraction",
            dynamic.drop_fraction,
            "must lie in [0, 1]",
        ));
    }
    if dynamic.end_epoch < dynamic.start_epoch {
        return Err(invalid(
            "end_epoch",
            dynamic.end_epoch,
            "must not come before start_epoch",
        ));
    }
    if dynamic.distribution == ember_sparsity::Scope::Global {
        return Err(TrainError::Invalid {
            field: format!("{prefix}.distribution"),
            value: "global".into(),
            message: "dynamic sparse training keeps each tensor's share: use `erk` or \
                      `layer_wise`"
                .into(),
        });
    }
    Ok(())
}

fn check_lr(field: &str, lr: &LrSpec) -> Result<(), TrainError> {
    lr.to_schedule(&Steps::new(1), 1, &[])
        .validate()
        .map_err(|e| TrainError::Invalid {
            field: field.to_string(),
            value: format!("{lr:?}"),
            message: e.to_string(),
        })
}

/// Reads an override value as TOML (number, bool, array, string) and falls back to a string.
/// The file parsed alone, so an error after layering came from the environment or `--set`:
/// name the `EMBER_RECIPE__*` variables that were read, since any of them can be the culprit.
fn with_layers(message: String) -> String {
    let prefix = format!("{ENV_PREFIX}__");
    let mut variables: Vec<String> = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| key.starts_with(&prefix))
        .collect();
    if variables.is_empty() {
        return message;
    }
    variables.sort();
    format!(
        "{message} (after applying the environment variables {}: every \
         `EMBER_RECIPE__<KEY>` variable sets recipe key `<key>`)",
        variables.join(", ")
    )
}

fn parse_override(value: &str) -> config::Value {
    match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut table) => to_config_value(table.remove("v").expect("the key just written")),
        Err(_) => config::Value::from(value.to_string()),
    }
}

fn to_config_value(value: toml::Value) -> config::Value {
    match value {
        toml::Value::String(s) => s.into(),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => f.into(),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(items) => items
            .into_iter()
            .map(to_config_value)
            .collect::<Vec<_>>()
            .into(),
        toml::Value::Table(table) => table
            .into_iter()
            .map(|(k, v)| (k, to_config_value(v)))
            .collect::<std::collections::HashMap<_, _>>()
            .into(),
    }
}
