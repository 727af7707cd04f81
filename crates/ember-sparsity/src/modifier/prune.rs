//! The pruner: scorer + pattern + budget + schedule.

use std::borrow::Cow;
use std::sync::Arc;

use burn::tensor::Tensor;
use ember_schedule::SparsitySchedule;
use serde::{Deserialize, Serialize};

use super::{Effect, Modifier, TargetView};
use crate::pattern::{Pattern, PatternInput, Unstructured};
use crate::score::{Magnitude, ScoreContext, Scorer};
use crate::select::budget::{Budget, Candidate, choose, erk_sparsities};
use crate::select::selector::Matcher;
use crate::{ParamInfo, Selector, SparsityError};

/// How a pruner's target is shared among its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every tensor (every unit of the pattern) is pruned to the target on its own: the
    /// uniform distribution.
    #[serde(alias = "uniform")]
    LayerWise,
    /// One threshold across all selected tensors: the target holds for their union, and
    /// tensors with many low scores lose more (GMP\*'s global magnitude pruning).
    #[default]
    Global,
    /// Layer-wise, with per-tensor targets from the Erdős–Rényi–Kernel distribution (Evci
    /// et al. 2020) that meet the target overall: small tensors stay denser.
    Erk,
}

/// A pruning modifier: which parameters, how to score them, what is removed together, at
/// what scope and on what schedule.
#[derive(Debug, Clone)]
pub struct Pruner {
    /// A name for reports and error messages.
    pub name: String,
    /// The parameters to prune.
    pub selector: Selector,
    /// How elements are ranked.
    pub scorer: Arc<dyn Scorer>,
    /// How the target is shared among tensors.
    pub scope: Scope,
    /// What is removed together.
    pub pattern: Arc<dyn Pattern>,
    /// When and how much.
    pub schedule: SparsitySchedule,
    /// Seed for scorers that draw random numbers.
    pub seed: u64,
    /// Per-parameter final sparsities (`path` or `re:` patterns), pruned layer-wise on their
    /// own; at every step they follow the schedule in proportion
    /// (`override · s(step) / s_final`).
    pub overrides: Vec<(String, f64)>,
    /// Under global scope, the most any unit may lose (`1.0`: no cap).
    pub max_sparsity: f64,
}

impl Pruner {
    /// Global magnitude pruning of the parameters `selector` picks, on `schedule`: the GMP
    /// modifier.
    pub fn magnitude(name: &str, selector: Selector, schedule: SparsitySchedule) -> Self {
        Self {
            name: name.to_string(),
            selector,
            scorer: Arc::new(Magnitude),
            scope: Scope::Global,
            pattern: Arc::new(Unstructured),
            schedule,
            seed: 0,
            overrides: Vec::new(),
            max_sparsity: 1.0,
        }
    }

    /// The same pruner with another scorer.
    pub fn with_scorer(mut self, scorer: Arc<dyn Scorer>) -> Self {
        self.scorer = scorer;
        self
    }

    /// The same pruner at another scope.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// The same pruner with another pattern.
    pub fn with_pattern(mut self, pattern: Arc<dyn Pattern>) -> Self {
        self.pattern = pattern;
        self
    }

    /// The same pruner with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same pruner with a final sparsity of its own for the parameters `pattern` names.
    pub fn with_override(mut self, pattern: &str, sparsity: f64) -> Self {
        self.overrides.push((pattern.to_string(), sparsity));
        self
    }

    /// The same pruner with a per-unit cap under global scope.
    pub fn with_max_sparsity(mut self, cap: f64) -> Self {
        self.max_sparsity = cap;
        self
    }

    fn error(&self, message: String) -> SparsityError {
        SparsityError::modifier(&self.name, message)
    }

    /// Each target's own sparsity at `step` (`None`: part of the global pool).
    fn targets_at(&self, step: u64, params: &[&ParamInfo]) -> Vec<Option<f64>> {
        let now = self.schedule.sparsity(step);
        let last = self.schedule.final_sparsity;
        let scaled = |o: f64| if last > 0.0 { o * now / last } else { o };
        let erk = match self.scope {
            Scope::Erk => {
                let shapes: Vec<Vec<usize>> = params.iter().map(|p| p.shape.clone()).collect();
                Some(erk_sparsities(&shapes, now))
            }
            _ => None,
        };
        // Compiled once per update; `bind` has checked that every pattern compiles.
        let overrides: Vec<(Matcher, f64)> = self
            .overrides
            .iter()
            .filter_map(|(pattern, s)| Some((Matcher::new(pattern, &self.name).ok()?, *s)))
            .collect();
        // The first matching override wins.
        let override_of = |path: &str| {
            overrides
                .iter()
                .find_map(|(m, s)| m.matches(path).then_some(*s))
        };
        params
            .iter()
            .enumerate()
            .map(|(i, p)| match (override_of(&p.path), &erk, self.scope) {
                (Some(o), _, _) => Some(scaled(o)),
                (None, Some(erk), _) => Some(erk[i]),
                (None, None, Scope::LayerWise) => Some(now),
                _ => None,
            })
            .collect()
    }
}

fn input(info: &ParamInfo) -> PatternInput<'_> {
    PatternInput {
        path: &info.path,
        shape: &info.shape,
        layer_type: &info.layer_type,
    }
}

impl Modifier for Pruner {
    fn name(&self) -> &str {
        &self.name
    }

    fn releases(&self) -> bool {
        // Updates start from the current flags and only add to them.
        false
    }

    fn effect(&self) -> Effect {
        Effect::Prune
    }

    fn selector(&self) -> &Selector {
        &self.selector
    }

    fn schedule(&self) -> &SparsitySchedule {
        &self.schedule
    }

    fn rounding_slack(&self, info: &ParamInfo) -> usize {
        let groups = self.pattern.groups(&input(info));
        match (self.pattern.group_quota(), &groups.of_element) {
            (Some(_), _) => groups.count.max(1),
            (None, None) => 1,
            (None, Some(_)) => info.numel().div_ceil(groups.count.max(1)),
        }
    }

    fn bind(&self, targets: &[ParamInfo]) -> Result<(), SparsityError> {
        for info in targets {
            self.pattern.check(&input(info)).map_err(|message| {
                self.error(format!("pattern `{}`: {message}", self.pattern.name()))
            })?;
        }
        let max = self.pattern.max_sparsity();
        let asked = self
            .overrides
            .iter()
            .map(|(_, s)| *s)
            .chain([self.schedule.final_sparsity])
            .fold(0.0, f64::max);
        if asked > max + 1e-12 {
            return Err(self.error(format!(
                "pattern `{}` reaches at most sparsity {max}, but {asked} is asked for",
                self.pattern.name()
            )));
        }
        for (pattern, sparsity) in &self.overrides {
            let matcher = Matcher::new(pattern, &self.name)?;
            // 1.0 would remove a whole tensor: the same bound as every other target.
            if !(0.0..1.0).contains(sparsity) {
                return Err(self.error(format!(
                    "override `{pattern}` = {sparsity} is not in [0, 1)"
                )));
            }
            if !targets.iter().any(|t| matcher.matches(&t.path)) {
                return Err(self.error(format!(
                    "override `{pattern}` matches none of the pruned parameters"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.max_sparsity) || self.max_sparsity == 0.0 {
            return Err(self.error(format!(
                "max_sparsity = {} is not in (0, 1]",
                self.max_sparsity
            )));
        }
        Ok(())
    }

    fn needs_gradient(&self) -> bool {
        self.scorer.needs_gradient()
    }

    fn needs_inputs(&self) -> bool {
        self.scorer.needs_inputs()
    }

    fn accumulates(&self) -> bool {
        self.scorer.accumulates()
    }

    fn accumulate(
        &self,
        accumulator: Tensor<1>,
        weight: Tensor<1>,
        gradient: Tensor<1>,
    ) -> Tensor<1> {
        self.scorer.accumulate(accumulator, weight, gradient)
    }

    fn update(
        &self,
        step: u64,
        targets: &[TargetView<'_>],
    ) -> Result<Vec<Vec<bool>>, SparsityError> {
        let infos: Vec<&ParamInfo> = targets.iter().map(|t| t.info).collect();
        let own = self.targets_at(step, &infos);
        let mut candidates = Vec::with_capacity(targets.len());
        for (target, own) in targets.iter().zip(own) {
            let scores = self.scorer.score(&ScoreContext {
                path: &target.info.path,
                shape: &target.info.shape,
                weights: target.weights,
                gradient: target.gradient,
                accumulated: target.accumulated,
                inputs: target.inputs,
                step,
                seed: self.seed,
            });
            if scores.len() != target.weights.len() {
                return Err(SparsityError::ScoreLength {
                    scorer: self.scorer.name().to_string(),
                    path: target.info.path.clone(),
                    expected: target.weights.len(),
                    got: scores.len(),
                });
            }
            let groups = self.pattern.groups(&input(target.info));
            let numel = target.weights.len();
            if let Some(of_element) = &groups.of_element {
                let beyond = of_element.iter().find(|&&g| g as usize >= groups.count);
                if of_element.len() != numel || beyond.is_some() {
                    return Err(self.error(format!(
                        "pattern `{}` gave `{}` {} group indices for {numel} elements, \
                         with {} groups{}",
                        self.pattern.name(),
                        target.info.path,
                        of_element.len(),
                        groups.count,
                        beyond.map_or(String::new(), |g| format!(" (index {g} is out of range)"))
                    )));
                }
            }
            candidates.push(Candidate {
                groups,
                scores,
                pruned: Cow::Borrowed(&target.pruned),
                frozen: Cow::Borrowed(&target.frozen),
                target: own,
            });
        }
        let budget = Budget {
            global: self.schedule.sparsity(step),
            cap: self.max_sparsity,
            quota: self.pattern.group_quota(),
        };
        Ok(choose(candidates, budget))
    }
}
