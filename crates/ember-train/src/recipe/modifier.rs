use ember_schedule::SparsitySchedule;
use std::collections::BTreeMap;

use ember_sparsity::{
    DynamicSparse, FreezeRule, Freezer, MaskPruner, PatternRegistry, Pruner, Regrowth, Scope,
    ScorerRegistry, Selector, SparsityError,
};
use serde::{Deserialize, Serialize};

use super::LayerwiseSpec;
use super::Steps;
use super::custom::{BUILT_IN_MODIFIERS, CustomSpec};

/// One `[[modifiers]]` entry: a built-in kind, or one a [`ModifierRegistry`] resolves.
///
/// [`ModifierRegistry`]: super::ModifierRegistry
#[derive(Debug, Clone, PartialEq)]
pub enum ModifierSpec {
    /// Prune the selected parameters.
    Prune(PruneSpec),
    /// Freeze elements of the selected parameters.
    Freeze(FreezeSpec),
    /// RigL: constant sparsity, drop the smallest weights, regrow by gradient magnitude.
    Rigl(DynamicSpec),
    /// SET: constant sparsity, drop the smallest weights, regrow at random.
    Set(DynamicSpec),
    /// Prune exactly the elements a mask file lists (a lottery-ticket round's masks).
    Mask(MaskSpec),
    /// Prune one-shot, layer by layer, with calibration data (`ember prune`).
    Layerwise(LayerwiseSpec),
    /// A kind of one's own, built by its [`ModifierKind`](super::ModifierKind).
    Custom(CustomSpec),
}

/// The built-in kinds as they are written, for serde.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BuiltIn {
    Prune(PruneSpec),
    Freeze(FreezeSpec),
    Rigl(DynamicSpec),
    Set(DynamicSpec),
    Mask(MaskSpec),
    Layerwise(LayerwiseSpec),
}

/// [`BuiltIn`] by reference, for writing.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BuiltInRef<'a> {
    Prune(&'a PruneSpec),
    Freeze(&'a FreezeSpec),
    Rigl(&'a DynamicSpec),
    Set(&'a DynamicSpec),
    Mask(&'a MaskSpec),
    Layerwise(&'a LayerwiseSpec),
}

impl Serialize for ModifierSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Prune(spec) => BuiltInRef::Prune(spec).serialize(serializer),
            Self::Freeze(spec) => BuiltInRef::Freeze(spec).serialize(serializer),
            Self::Rigl(spec) => BuiltInRef::Rigl(spec).serialize(serializer),
            Self::Set(spec) => BuiltInRef::Set(spec).serialize(serializer),
            Self::Mask(spec) => BuiltInRef::Mask(spec).serialize(serializer),
            Self::Layerwise(spec) => BuiltInRef::Layerwise(spec).serialize(serializer),
            Self::Custom(spec) => spec.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ModifierSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(deserializer)?;
        let kind = match table.get("kind") {
            Some(toml::Value::String(kind)) => kind.clone(),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`kind` must be a string, not {other}"
                )));
            }
            None => return Err(D::Error::missing_field("kind")),
        };
        if !BUILT_IN_MODIFIERS.contains(&kind.as_str()) {
            let mut settings = table;
            settings.remove("kind");
            return Ok(Self::Custom(CustomSpec { kind, settings }));
        }
        let built_in: BuiltIn = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| D::Error::custom(e.message().trim_end()))?;
        Ok(match built_in {
            BuiltIn::Prune(spec) => Self::Prune(spec),
            BuiltIn::Freeze(spec) => Self::Freeze(spec),
            BuiltIn::Rigl(spec) => Self::Rigl(spec),
            BuiltIn::Set(spec) => Self::Set(spec),
            BuiltIn::Mask(spec) => Self::Mask(spec),
            BuiltIn::Layerwise(spec) => Self::Layerwise(spec),
        })
    }
}

/// A fixed-mask pruner (`kind = "mask"`) as a recipe writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSpec {
    /// A name for reports (default `mask<i>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameter patterns: every selected parameter must be listed in the file.
    pub params: Vec<String>,
    /// Patterns to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// A JSON file mapping parameter paths to their pruned flat indices.
    pub mask_file: std::path::PathBuf,
}

/// Checks a mask file against the `SHA256SUMS` of its folder when it lists it (the masks
/// `ember lottery` writes); a mask file of the user's is read as it is.
fn check_recorded(path: &std::path::Path) -> Result<(), SparsityError> {
    if !path.is_file() {
        // The reader names a missing file itself.
        return Ok(());
    }
    crate::read_recorded(path)
        .map(|_| ())
        .map_err(|e| SparsityError::MaskFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

impl MaskSpec {
    /// The pruner this spec describes, its file read now.
    pub fn to_pruner(&self, index: usize) -> Result<MaskPruner, SparsityError> {
        let name = self.name.clone().unwrap_or_else(|| format!("mask{index}"));
        check_recorded(&self.mask_file)?;
        MaskPruner::from_json(
            &name,
            selector(&self.params, &self.exclude, &[]),
            &self.mask_file,
        )
    }
}

impl ModifierSpec {
    /// The parameter patterns a built-in modifier selects (`None` for a kind of one's own,
    /// whose settings are its kind's to read).
    pub fn params(&self) -> Option<&[String]> {
        match self {
            Self::Prune(p) => Some(&p.params),
            Self::Freeze(f) => Some(&f.params),
            Self::Rigl(d) | Self::Set(d) => Some(&d.params),
            Self::Mask(m) => Some(&m.params),
            Self::Layerwise(l) => Some(&l.params),
            Self::Custom(_) => None,
        }
    }

    /// The kind as a recipe names it.
    pub fn kind(&self) -> &str {
        match self {
            Self::Prune(_) => "prune",
            Self::Freeze(_) => "freeze",
            Self::Rigl(_) => "rigl",
            Self::Set(_) => "set",
            Self::Mask(_) => "mask",
            Self::Layerwise(_) => "layerwise",
            Self::Custom(spec) => &spec.kind,
        }
    }
}

/// A dynamic sparse training modifier (`kind = "rigl"` or `"set"`) as a recipe writes it: the
/// sparsity is reached at `start_epoch` (by magnitude) and held while connections are rewired
/// every `every_epochs` until `end_epoch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicSpec {
    /// A name for reports (default `rigl<i>` or `set<i>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameter patterns, as for `prune`.
    pub params: Vec<String>,
    /// Patterns to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Owning module types to keep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_types: Vec<String>,
    /// The constant sparsity, in `[0, 1)`.
    pub sparsity: f64,
    /// How it is shared: `erk` (default) or `layer_wise`.
    #[serde(default = "default_distribution")]
    pub distribution: Scope,
    /// `α`, the fraction of active weights rewired at the first rewiring, decayed by a cosine
    /// to 0 at `end_epoch` (default 0.3).
    #[serde(default = "default_drop_fraction")]
    pub drop_fraction: f64,
    /// When the sparsity is reached (default: the start of the phase).
    #[serde(default)]
    pub start_epoch: f64,
    /// The last rewiring.
    pub end_epoch: f64,
    /// Epochs between rewirings.
    pub every_epochs: f64,
    /// Seed for SET's random regrowth (default: the recipe's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn default_distribution() -> Scope {
    Scope::Erk
}

fn default_drop_fraction() -> f64 {
    0.3
}

impl DynamicSpec {
    /// The schedule in epochs, for the range checks every modifier gets.
    pub fn schedule_spec(&self) -> ScheduleSpec {
        ScheduleSpec::Linear(RampSpec {
            init_sparsity: self.sparsity,
            final_sparsity: self.sparsity,
            start_epoch: self.start_epoch,
            end_epoch: self.end_epoch,
            every_epochs: self.every_epochs,
        })
    }

    /// The modifier this spec describes, with `regrowth` telling RigL from SET.
    pub fn to_modifier(
        &self,
        index: usize,
        steps: &Steps,
        regrowth: Regrowth,
        recipe_seed: u64,
    ) -> DynamicSparse {
        let kind = match regrowth {
            Regrowth::Gradient => "rigl",
            Regrowth::Random => "set",
        };
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("{kind}{index}"));
        let selector = selector(&self.params, &self.exclude, &self.layer_types);
        let (start, end) = (steps.at(self.start_epoch), steps.at(self.end_epoch));
        let every = steps.at(self.every_epochs).max(1);
        let modifier = match regrowth {
            Regrowth::Gradient => {
                DynamicSparse::rigl(&name, selector, self.sparsity, start, end, every)
            }
            Regrowth::Random => {
                DynamicSparse::set(&name, selector, self.sparsity, start, end, every)
            }
        };
        modifier
            .with_distribution(self.distribution)
            .with_drop_fraction(self.drop_fraction)
            .with_seed(self.seed.unwrap_or(recipe_seed))
    }
}

/// Which elements a freeze modifier freezes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeRuleKind {
    /// Whole tensors (`require_grad = false`); no schedule.
    All,
    /// The largest-magnitude fraction, on a schedule.
    TopMagnitude,
    /// FreezeNet: the fraction with the lowest `|w·g|` at the scheduled step (default: step 0).
    Freezenet,
    /// The elements listed in `mask_file`.
    Mask,
}

/// A freezing modifier as a recipe writes it. The schedule's values are frozen fractions
/// (`fraction`, `init_fraction`, `final_fraction` are accepted for the `*sparsity` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    /// A name for reports (default `freeze<i>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameter patterns, as for `prune`.
    pub params: Vec<String>,
    /// Patterns to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Owning module types to keep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_types: Vec<String>,
    /// Which elements.
    pub rule: FreezeRuleKind,
    /// `global` or `layer_wise` fractions.
    #[serde(default)]
    pub scope: Scope,
    /// When and how much (required for `top_magnitude` and `freezenet`; `mask` defaults to
    /// step 0; `all` takes none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// For `rule = "mask"`: a JSON file mapping parameter paths to frozen flat indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_file: Option<std::path::PathBuf>,
}

impl FreezeSpec {
    /// The schedule in steps (`all` and a schedule-less `mask` act at step 0).
    pub fn step_schedule(&self, steps: &Steps) -> SparsitySchedule {
        match &self.schedule {
            Some(schedule) => schedule.to_schedule(steps),
            None => SparsitySchedule::one_shot(0.0, 0),
        }
    }

    /// The freezer this spec describes.
    pub fn to_freezer(&self, index: usize, steps: &Steps) -> Result<Freezer, SparsityError> {
        let rule = match self.rule {
            FreezeRuleKind::All => FreezeRule::All,
            FreezeRuleKind::TopMagnitude => FreezeRule::TopMagnitude,
            FreezeRuleKind::Freezenet => FreezeRule::FreezeNet,
            FreezeRuleKind::Mask => {
                let path = self
                    .mask_file
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""));
                check_recorded(path)?;
                FreezeRule::mask_from_json(path)?
            }
        };
        let selector = selector(&self.params, &self.exclude, &self.layer_types);
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("freeze{index}"));
        Ok(Freezer::new(&name, selector, rule, self.step_schedule(steps)).with_scope(self.scope))
    }
}

/// A pruning modifier as a recipe writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneSpec {
    /// A name for reports (default `prune<i>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameter patterns: exact paths, or `re:` regexes matching the whole path.
    pub params: Vec<String>,
    /// Patterns to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Owning module types to keep (`Linear`, `Conv2d`); empty for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_types: Vec<String>,
    /// A scorer name from the registry (`magnitude`, `random`, `snip`, `snip_momentum`,
    /// `movement`, `lamp`).
    #[serde(default = "default_scorer")]
    pub scorer: String,
    /// `global`, `layer_wise` (alias `uniform`) or `erk`.
    #[serde(default)]
    pub scope: Scope,
    /// What is removed together: `unstructured`, `2:4` (any N:M), `block:4x4`,
    /// `output_units`, `input_units`, `heads:12`, or a registered name.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// Final sparsities of their own for some parameters (exact paths or `re:` patterns),
    /// pruned layer-wise and following the schedule in proportion.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, f64>,
    /// Under global scope, the most any one tensor (pattern unit) may lose, e.g. 0.98.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sparsity: Option<f64>,
    /// When and how much, in epochs.
    pub schedule: ScheduleSpec,
    /// Seed for random scorers (default: the recipe's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The selector both modifier kinds build from their `params`, `exclude` and `layer_types`.
fn selector(params: &[String], exclude: &[String], layer_types: &[String]) -> Selector {
    Selector {
        include: params.to_vec(),
        exclude: exclude.to_vec(),
        layer_types: layer_types.to_vec(),
    }
}

fn default_scorer() -> String {
    "magnitude".to_string()
}

fn default_pattern() -> String {
    "unstructured".to_string()
}

/// A sparsity schedule in epochs (fractions allowed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// Prune once at `at_epoch`.
    OneShot {
        /// The sparsity (or frozen fraction).
        #[serde(alias = "fraction")]
        sparsity: f64,
        /// When (default: the start of the phase).
        #[serde(default)]
        at_epoch: f64,
    },
    /// Linear ramp.
    Linear(RampSpec),
    /// Cubic ramp (Zhu & Gupta; GMP\*).
    Cubic(RampSpec),
    /// Polynomial ramp of any power.
    Polynomial(PolynomialSpec),
}

/// The fields shared by ramp schedules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampSpec {
    /// Sparsity of the first pruning step.
    #[serde(alias = "init_fraction")]
    pub init_sparsity: f64,
    /// Sparsity of the last pruning step.
    #[serde(alias = "final_fraction")]
    pub final_sparsity: f64,
    /// Epoch of the first pruning step.
    pub start_epoch: f64,
    /// Epoch of the last pruning step.
    pub end_epoch: f64,
    /// Epochs between pruning steps.
    pub every_epochs: f64,
}

/// A polynomial ramp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolynomialSpec {
    /// The exponent.
    pub power: f64,
    /// Sparsity of the first pruning step.
    pub init_sparsity: f64,
    /// Sparsity of the last pruning step.
    pub final_sparsity: f64,
    /// Epoch of the first pruning step.
    pub start_epoch: f64,
    /// Epoch of the last pruning step.
    pub end_epoch: f64,
    /// Epochs between pruning steps.
    pub every_epochs: f64,
}

impl ScheduleSpec {
    /// The schedule in optimizer steps.
    pub fn to_schedule(&self, steps: &Steps) -> SparsitySchedule {
        let ramp = |power: f64, r: &RampSpec| {
            SparsitySchedule::polynomial(
                power,
                r.init_sparsity,
                r.final_sparsity,
                steps.at(r.start_epoch),
                steps.at(r.end_epoch),
                steps.at(r.every_epochs).max(1),
            )
        };
        match self {
            Self::OneShot { sparsity, at_epoch } => {
                SparsitySchedule::one_shot(*sparsity, steps.at(*at_epoch))
            }
            Self::Linear(r) => ramp(1.0, r),
            Self::Cubic(r) => ramp(3.0, r),
            Self::Polynomial(p) => ramp(
                p.power,
                &RampSpec {
                    init_sparsity: p.init_sparsity,
                    final_sparsity: p.final_sparsity,
                    start_epoch: p.start_epoch,
                    end_epoch: p.end_epoch,
                    every_epochs: p.every_epochs,
                },
            ),
        }
    }

    /// The name a recipe uses for a field of the step schedule (`one_shot` has one
    /// `sparsity` where the step schedule has an initial and a final one).
    pub fn recipe_field(&self, field: &'static str) -> &'static str {
        match (self, field) {
            (Self::OneShot { .. }, "init_sparsity" | "final_sparsity") => "sparsity",
            _ => field,
        }
    }

    /// The initial and final sparsity of a ramp (`None` for one-shot).
    pub fn ramp_sparsities(&self) -> Option<(f64, f64)> {
        match self {
            Self::OneShot { .. } => None,
            Self::Linear(r) | Self::Cubic(r) => Some((r.init_sparsity, r.final_sparsity)),
            Self::Polynomial(p) => Some((p.init_sparsity, p.final_sparsity)),
        }
    }

    /// The epoch fields, by name, for range checks.
    pub fn epochs(&self) -> Vec<(&'static str, f64)> {
        match self {
            Self::OneShot { at_epoch, .. } => vec![("at_epoch", *at_epoch)],
            Self::Linear(r) | Self::Cubic(r) => vec![
                ("start_epoch", r.start_epoch),
                ("end_epoch", r.end_epoch),
                ("every_epochs", r.every_epochs),
            ],
            Self::Polynomial(p) => vec![
                ("start_epoch", p.start_epoch),
                ("end_epoch", p.end_epoch),
                ("every_epochs", p.every_epochs),
            ],
        }
    }
}

impl PruneSpec {
    /// The pruner this spec describes.
    pub fn to_pruner(
        &self,
        index: usize,
        steps: &Steps,
        scorers: &ScorerRegistry,
        patterns: &PatternRegistry,
        recipe_seed: u64,
    ) -> Result<Pruner, SparsityError> {
        Ok(Pruner {
            name: self.name.clone().unwrap_or_else(|| format!("prune{index}")),
            selector: selector(&self.params, &self.exclude, &self.layer_types),
            scorer: scorers.get(&self.scorer)?,
            scope: self.scope,
            pattern: patterns.get(&self.pattern)?,
            schedule: self.schedule.to_schedule(steps),
            seed: self.seed.unwrap_or(recipe_seed),
            overrides: self.overrides.clone().into_iter().collect(),
            max_sparsity: self.max_sparsity.unwrap_or(1.0),
        })
    }
}
