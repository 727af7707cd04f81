//! Iterative magnitude pruning and the lottery ticket hypothesis (Frankle & Carbin 2019).
//!
//! Round 0 trains the dense network from its initial weights. Every later round prunes a
//! fraction of the weights that remain (lowest magnitude of the previous round's trained
//! weights, per tensor or globally), then trains again with those masks fixed, starting from:
//!
//! - [`Rewind::Init`]: the initial weights, bit for bit (the same `init_seed`), the winning
//!   ticket of Frankle & Carbin;
//! - [`Rewind::Epoch`]: the weights after `k` epochs of dense training (late rewinding,
//!   Frankle et al. 2020), each round then training the remaining `epochs − k`;
//! - [`Rewind::LearningRate`]: the previous round's trained weights, with the learning-rate
//!   schedule started again (Renda et al. 2020).
//!
//! The control arm trains the same masks from other random weights (`init_seed` changed, the
//! data order kept): if tickets win, they beat it. Every round is an ordinary run directory
//! with its `masks.json`; finished rounds are skipped, so a killed experiment resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::ParamId;
pub use ember_report::lottery::{LotteryRound, LotterySummary, Rewind};
use ember_sparsity::select::select_lowest;
use ember_sparsity::{ParamInfo, Scope, Selector};

use crate::recipe::{MaskSpec, ModifierSpec};
use crate::sweep::finished_run;
use crate::{Recipe, RunReport, TrainError, checkpoint_tensors, write_recorded};

/// The seed offset of the control arm's initial weights.
const CONTROL_SEED_OFFSET: u64 = 1_000_003;

/// An iterative magnitude pruning experiment.
#[derive(Debug, Clone)]
pub struct Lottery {
    /// The recipe of one round: model, data, optimizer, learning rate and `epochs` per round.
    /// Its `[dense]`, `[distill]` and modifiers are not used.
    pub recipe: PathBuf,
    /// Overrides applied to the recipe.
    pub overrides: Vec<String>,
    /// Pruning rounds after the dense round 0.
    pub rounds: usize,
    /// The fraction of the remaining weights each round prunes, in (0, 1).
    pub rate: f64,
    /// Rates of their own for some tensors (exact paths), under layer-wise scope.
    pub rates: BTreeMap<String, f64>,
    /// The parameters pruned (patterns as in recipes; layer types are not available here).
    pub params: Vec<String>,
    /// Per tensor ([`Scope::LayerWise`]) or one ranking over all ([`Scope::Global`]).
    pub scope: Scope,
    /// Where rounds start.
    pub rewind: Rewind,
    /// Also train the re-initialised control.
    pub control: bool,
    /// The names the recipe may use (`ember_zoo::registries()` for Ember's own).
    pub registries: crate::Registries,
}

fn invalid(message: String) -> TrainError {
    TrainError::Lottery(message)
}

impl Lottery {
    fn check(&self) -> Result<(), TrainError> {
        if !(self.rate > 0.0 && self.rate < 1.0) {
            return Err(invalid(format!("--rate {} is not in (0, 1)", self.rate)));
        }
        if self.rounds == 0 || self.rounds > 100 {
            return Err(invalid(format!(
                "--rounds {} is not in [1, 100] (0.8^100 leaves 2e-10 of the weights)",
                self.rounds
            )));
        }
        if self.scope == Scope::Erk {
            return Err(invalid(
                "scope `erk` is not a lottery scope; use `layer_wise` or `global`".into(),
            ));
        }
        if self.scope == Scope::Global && !self.rates.is_empty() {
            return Err(invalid("per-tensor rates need layer-wise scope".into()));
        }
        for (path, rate) in &self.rates {
            if !(*rate > 0.0 && *rate < 1.0) {
                return Err(invalid(format!(
                    "the rate of `{path}`, {rate}, is not in (0, 1)"
                )));
            }
        }
        if self.params.is_empty() {
            return Err(invalid("no parameters to prune".into()));
        }
        Ok(())
    }

    /// Binds the rounds' pruning to the recipe's model built on the host, before the dense
    /// round trains: `--params` must select tensors and every `--rate-for` path must be among
    /// them (the check a later round would otherwise make only after the dense round).
    fn bind_to_model(&self, base: &Recipe) -> Result<(), TrainError> {
        let entry = self.registries.models.get(base.model.name())?;
        entry.validate(base)?;
        let mut pruner = ember_sparsity::Pruner::magnitude(
            "lottery",
            Selector::new(self.params.clone()),
            ember_schedule::SparsitySchedule::one_shot(self.rate, 0),
        )
        .with_scope(self.scope);
        for (path, rate) in &self.rates {
            pruner = pruner.with_override(path, *rate);
        }
        let plan = ember_sparsity::SparsityPlan::new(vec![pruner]);
        entry
            .bind(base, plan, &burn::tensor::Device::flex())
            .map(|_| ())
            .map_err(|e| match e {
                TrainError::Sparsity(e) => invalid(format!("--params / --rate-for: {e}")),
                other => other,
            })
    }

    /// The recipe of one round: `base` without dense phase, distillation or modifiers, plus
    /// the round's masks and rewinding.
    fn round_recipe(
        &self,
        base: &Recipe,
        masks: Option<&Path>,
        start_from: Option<&Path>,
        control: bool,
    ) -> Recipe {
        // `base` comes without dense phase, distillation or modifiers (see `run`).
        let mut recipe = base.clone();
        recipe.modifiers = masks
            .map(|file| {
                ModifierSpec::Mask(MaskSpec {
                    name: Some("lottery".into()),
                    params: self.params.clone(),
                    exclude: Vec::new(),
                    mask_file: file.to_path_buf(),
                })
            })
            .into_iter()
            .collect();
        if let Some(weights) = start_from {
            recipe.dense = Some(crate::recipe::DenseSpec {
                epochs: 0,
                lr: base.lr.clone(),
                load: Some(weights.to_path_buf()),
            });
        }
        if control {
            recipe.init_seed = Some(base.weights_seed() + CONTROL_SEED_OFFSET);
        }
        recipe
    }

    /// Runs every round not yet finished (through `run`, given the recipe and the run
    /// directory), writes `lottery.json`, `lottery.csv` and `lottery.md` into `out` and returns
    /// the summary. `progress` hears of every round before it starts (`true`: found done).
    pub fn run(
        &self,
        out: &Path,
        mut run: impl FnMut(&Recipe, &Path) -> Result<RunReport, TrainError>,
        mut progress: impl FnMut(&Path, bool),
    ) -> Result<LotterySummary, TrainError> {
        self.check()?;
        let mut base = Recipe::load_unvalidated(&self.recipe, &self.overrides)?;
        base.modifiers.clear();
        base.dense = None;
        base.distill = None;
        base.validate()?;
        self.bind_to_model(&base)?;
        let out = std::path::absolute(out).map_err(|e| TrainError::Write {
            path: out.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut once = |recipe: &Recipe, dir: &Path| -> Result<RunReport, TrainError> {
            if let Some(report) = finished_run(dir, recipe)? {
                progress(dir, true);
                return Ok(report);
            }
            progress(dir, false);
            run(recipe, dir)
        };
        let round_dir = |arm: &str, round: usize| out.join(arm).join(format!("round-{round:02}"));
        let mut rounds = Vec::new();
        let mut record = |arm: &str, round: usize, dir: &Path, report: &RunReport| {
            let selected = report.sparsity.selected_numel;
            let remaining = if selected == 0 {
                1.0
            } else {
                1.0 - report.sparsity.selected_zeros as f64 / selected as f64
            };
            rounds.push(LotteryRound {
                arm: arm.into(),
                round,
                remaining,
                accuracy: report.final_.accuracy,
                dir: dir.strip_prefix(&out).unwrap_or(dir).display().to_string(),
            });
        };
        // Late rewinding: the rewind point is a dense run of `k` epochs, and every pruned round
        // trains the epochs left from there.
        let (rewind_point, pruned_base) = match self.rewind {
            Rewind::Epoch(k) => {
                if k == 0 || k >= base.epochs {
                    return Err(invalid(format!(
                        "--rewind epoch:{k} must lie in [1, epochs) = [1, {})",
                        base.epochs
                    )));
                }
                let mut point = base.clone();
                point.epochs = k;
                let dir = out.join("ticket").join(format!("rewind-epoch-{k:02}"));
                once(&self.round_recipe(&point, None, None, false), &dir)?;
                let mut rest = base.clone();
                rest.epochs = base.epochs - k;
                (Some(dir.join("model.bpk")), rest)
            }
            _ => (None, base.clone()),
        };
        let dense_dir = round_dir("ticket", 0);
        let dense = once(&self.round_recipe(&base, None, None, false), &dense_dir)?;
        record("ticket", 0, &dense_dir, &dense);
        let mut masks: Option<BTreeMap<String, Vec<usize>>> = None;
        let mut mask_files = Vec::new();
        for round in 1..=self.rounds {
            let previous = round_dir("ticket", round - 1);
            let next = self.prune(&previous.join("model.bpk"), masks.as_ref())?;
            let dir = round_dir("ticket", round);
            let mask_file = dir.join("masks.json");
            let start_from = match self.rewind {
                Rewind::Init => None,
                Rewind::LearningRate => Some(previous.join("model.bpk")),
                Rewind::Epoch(_) => rewind_point.clone(),
            };
            let recipe =
                self.round_recipe(&pruned_base, Some(&mask_file), start_from.as_deref(), false);
            // A finished round keeps its masks; a new one gets them written first.
            if finished_run(&dir, &recipe)?.is_none() {
                let json = serde_json::to_string(&next).expect("masks always serialise");
                write_recorded(&mask_file, json.as_bytes())?;
            }
            let report = once(&recipe, &dir)?;
            record("ticket", round, &dir, &report);
            masks = Some(next);
            mask_files.push(mask_file);
        }
        if self.control {
            for (round, mask_file) in mask_files.iter().enumerate() {
                let round = round + 1;
                let dir = round_dir("reinit", round);
                let recipe = self.round_recipe(&base, Some(mask_file), None, true);
                let report = once(&recipe, &dir)?;
                record("reinit", round, &dir, &report);
            }
        }
        let summary = LotterySummary {
            rewind: self.rewind,
            rate: self.rate,
            rounds,
        };
        summary.write(&out)?;
        Ok(summary)
    }

    /// The masks of the next round: the previous masks plus `rate` of the remaining weights of
    /// `checkpoint` with the lowest magnitude.
    pub fn prune(
        &self,
        checkpoint: &Path,
        previous: Option<&BTreeMap<String, Vec<usize>>>,
    ) -> Result<BTreeMap<String, Vec<usize>>, TrainError> {
        let tensors = checkpoint_tensors(checkpoint)?;
        let infos: Vec<ParamInfo> = tensors
            .iter()
            .map(|t| ParamInfo {
                path: t.name.clone(),
                id: ParamId::new(),
                shape: t.shape.clone(),
                layer_type: String::new(),
            })
            .collect();
        let selected = Selector::new(self.params.clone()).resolve(&infos, "lottery")?;
        if let Some(path) = self
            .rates
            .keys()
            .find(|path| !selected.iter().any(|info| &info.path == *path))
        {
            return Err(invalid(format!(
                "--rate-for names `{path}`, which is not among the pruned parameters"
            )));
        }
        let mut scores = Vec::with_capacity(selected.len());
        let mut counts = Vec::with_capacity(selected.len());
        for info in &selected {
            let tensor = tensors
                .iter()
                .find(|t| t.name == info.path)
                .expect("selected from these tensors");
            let mut pruned = vec![false; tensor.values.len()];
            for &i in previous
                .and_then(|p| p.get(&info.path))
                .into_iter()
                .flatten()
            {
                pruned[i] = true;
            }
            // Pruned weights score NaN, above everything: never chosen again while a
            // remaining weight is left.
            let score: Vec<f32> = tensor
                .values
                .iter()
                .zip(&pruned)
                .map(|(w, p)| if *p { f32::NAN } else { w.abs() })
                .collect();
            let remaining = pruned.iter().filter(|p| !**p).count();
            let rate = self.rates.get(&info.path).copied().unwrap_or(self.rate);
            counts.push(ember_sparsity::prune_count(rate, remaining));
            scores.push((pruned, score));
        }
        let flags: Vec<Vec<bool>> = match self.scope {
            Scope::Global => {
                let remaining: usize = scores
                    .iter()
                    .map(|(p, _)| p.iter().filter(|p| !**p).count())
                    .sum();
                let parts: Vec<&[f32]> = scores.iter().map(|(_, s)| s.as_slice()).collect();
                select_lowest(&parts, ember_sparsity::prune_count(self.rate, remaining))
            }
            _ => scores
                .iter()
                .zip(&counts)
                .map(|((_, s), &k)| ember_sparsity::pruned_flags(s, k))
                .collect(),
        };
        Ok(selected
            .iter()
            .zip(scores.iter().zip(flags))
            .map(|(info, ((before, _), new))| {
                let indices = before
                    .iter()
                    .zip(&new)
                    .enumerate()
                    .filter(|(_, (b, n))| **b || **n)
                    .map(|(i, _)| i)
                    .collect();
                (info.path.clone(), indices)
            })
            .collect())
    }
}
