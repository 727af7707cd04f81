//! Dynamic sparse training: SET and RigL rewire a fixed number of connections.

use ember_schedule::SparsitySchedule;
use serde::{Deserialize, Serialize};

use super::{Effect, Modifier, Scope, TargetView};
use crate::score::{Random, ScoreContext, Scorer};
use crate::select::budget::erk_sparsities;
use crate::{ParamInfo, Selector, SparsityError, prune_count, pruned_flags};

/// How a dynamic modifier chooses the connections it regrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regrowth {
    /// At random among the pruned connections: SET (Mocanu et al. 2018).
    Random,
    /// The pruned connections with the largest gradient magnitude `|∂L/∂w|` (the dense
    /// gradient of the update step): RigL (Evci et al. 2020).
    Gradient,
}

/// A dynamic sparse training modifier: the sparsity stays constant while connections move.
///
/// At its first update each tensor is pruned by magnitude to its share of the target (the
/// `distribution`: uniform or ERK). At every later update until the schedule's end, each
/// tensor drops the `k` active connections of smallest magnitude and regrows `k` of the
/// connections that were pruned before the drop, chosen by [`Regrowth`], with
///
/// ```text
/// k = round(f(t) · active),   f(t) = α/2 · (1 + cos(π · (t − start) / (end − start)))
/// ```
///
/// the cosine-decayed drop fraction of RigL. Regrown weights start at zero (a pruned weight
/// is zero) and Adam's moments for them have decayed while their gradient was masked. The
/// number of pruned elements of every tensor is the same after every update: exactly
/// `round(s_i · n_i)`. Frozen elements are neither dropped nor regrown.
#[derive(Debug, Clone)]
pub struct DynamicSparse {
    /// A name for reports and error messages.
    pub name: String,
    /// The parameters to rewire.
    pub selector: Selector,
    /// The constant sparsity (first update to the end), updating every `every` steps.
    pub schedule: SparsitySchedule,
    /// How the target is shared: [`Scope::LayerWise`] (uniform) or [`Scope::Erk`].
    pub distribution: Scope,
    /// How pruned connections are chosen to regrow.
    pub regrowth: Regrowth,
    /// `α`, the fraction of active connections rewired at the first rewiring update.
    pub drop_fraction: f64,
    /// Seed for SET's random regrowth.
    pub seed: u64,
}

impl DynamicSparse {
    /// RigL at `sparsity`, rewiring every `every` steps from `start` to `end`, with ERK
    /// distribution and `α = 0.3` (the paper's defaults).
    pub fn rigl(
        name: &str,
        selector: Selector,
        sparsity: f64,
        start: u64,
        end: u64,
        every: u64,
    ) -> Self {
        Self {
            name: name.to_string(),
            selector,
            schedule: SparsitySchedule::constant(sparsity, start, end, every),
            distribution: Scope::Erk,
            regrowth: Regrowth::Gradient,
            drop_fraction: 0.3,
            seed: 0,
        }
    }

    /// SET: the same with random regrowth.
    pub fn set(
        name: &str,
        selector: Selector,
        sparsity: f64,
        start: u64,
        end: u64,
        every: u64,
    ) -> Self {
        Self {
            regrowth: Regrowth::Random,
            ..Self::rigl(name, selector, sparsity, start, end, every)
        }
    }

    /// The same modifier with another distribution.
    pub fn with_distribution(mut self, distribution: Scope) -> Self {
        self.distribution = distribution;
        self
    }

    /// The same modifier with another initial drop fraction `α`.
    pub fn with_drop_fraction(mut self, drop_fraction: f64) -> Self {
        self.drop_fraction = drop_fraction;
        self
    }

    /// The same modifier with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The fraction of active connections rewired at `step`.
    pub fn drop_fraction_at(&self, step: u64) -> f64 {
        let SparsitySchedule { start, end, .. } = self.schedule;
        if end <= start {
            return self.drop_fraction;
        }
        let progress = (step.saturating_sub(start) as f64 / (end - start) as f64).min(1.0);
        self.drop_fraction / 2.0 * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    fn error(&self, message: String) -> SparsityError {
        SparsityError::modifier(&self.name, message)
    }

    /// Each target's sparsity.
    fn sparsities(&self, targets: &[TargetView<'_>]) -> Vec<f64> {
        let sparsity = self.schedule.final_sparsity;
        match self.distribution {
            Scope::Erk => {
                let shapes: Vec<Vec<usize>> =
                    targets.iter().map(|t| t.info.shape.clone()).collect();
                erk_sparsities(&shapes, sparsity)
            }
            _ => vec![sparsity; targets.len()],
        }
    }

    /// The scores regrowth ranks pruned connections by (higher regrows first).
    fn growth_scores(&self, step: u64, target: &TargetView<'_>) -> Vec<f32> {
        match (self.regrowth, target.gradient) {
            (Regrowth::Gradient, Some(gradient)) => gradient.iter().map(|g| g.abs()).collect(),
            // SET draws what the `random` scorer draws: seeded by seed, path and step.
            _ => Random.score(&ScoreContext {
                path: &target.info.path,
                shape: &target.info.shape,
                weights: target.weights,
                gradient: None,
                accumulated: None,
                inputs: None,
                step,
                seed: self.seed,
            }),
        }
    }

    /// The new pruned flags of one tensor whose target is `count` pruned elements.
    fn rewire(&self, step: u64, target: &TargetView<'_>, count: usize) -> Vec<bool> {
        let pruned_now = target.pruned.iter().filter(|&&p| p).count();
        let magnitude = |i: usize| {
            let w = target.weights[i].abs();
            if w.is_nan() { f32::INFINITY } else { w }
        };
        // Scores for the k lowest active connections; NaN (above everything in the
        // selection's total order) keeps pruned and frozen ones out.
        let active_scores: Vec<f32> = (0..target.weights.len())
            .map(|i| {
                if target.pruned[i] || target.frozen[i] {
                    f32::NAN
                } else {
                    magnitude(i)
                }
            })
            .collect();
        let active = active_scores.iter().filter(|s| !s.is_nan()).count();
        if pruned_now < count {
            // The first update (or a tensor below its share): prune by magnitude to the target.
            let more = (count - pruned_now).min(active);
            let dropped = pruned_flags(&active_scores, more);
            return or(&target.pruned, &dropped);
        }
        let growable = (0..target.weights.len())
            .filter(|&i| target.pruned[i] && !target.frozen[i])
            .count();
        let k = prune_count(self.drop_fraction_at(step), active).min(growable);
        if k == 0 {
            return target.pruned.clone();
        }
        let dropped = pruned_flags(&active_scores, k);
        // Only connections pruned before this drop may regrow, so a dropped one does not come
        // straight back; negated scores make the k highest the k lowest.
        let growth = self.growth_scores(step, target);
        let grow_scores: Vec<f32> = (0..target.weights.len())
            .map(|i| {
                if target.pruned[i] && !target.frozen[i] {
                    let g = growth[i];
                    if g.is_nan() { f32::INFINITY } else { -g }
                } else {
                    f32::NAN
                }
            })
            .collect();
        let grown = pruned_flags(&grow_scores, k);
        (0..target.weights.len())
            .map(|i| (target.pruned[i] && !grown[i]) || dropped[i])
            .collect()
    }
}

fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(a, b)| *a || *b).collect()
}

impl Modifier for DynamicSparse {
    fn name(&self) -> &str {
        &self.name
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

    fn bind(&self, _targets: &[ParamInfo]) -> Result<(), SparsityError> {
        if self.distribution == Scope::Global {
            return Err(self.error(
                "dynamic sparse training keeps each tensor's share fixed: use the \
                 `layer_wise` or `erk` distribution, not `global`"
                    .to_string(),
            ));
        }
        if !(0.0..=1.0).contains(&self.drop_fraction) {
            return Err(self.error(format!(
                "drop_fraction = {} is not in [0, 1]",
                self.drop_fraction
            )));
        }
        let s = self.schedule.final_sparsity;
        if !(0.0..1.0).contains(&s) {
            return Err(self.error(format!(
                "sparsity = {s} is not in [0, 1): a fully pruned tensor has nothing to rewire"
            )));
        }
        Ok(())
    }

    fn needs_gradient(&self) -> bool {
        self.regrowth == Regrowth::Gradient
    }

    fn update(
        &self,
        step: u64,
        targets: &[TargetView<'_>],
    ) -> Result<Vec<Vec<bool>>, SparsityError> {
        let sparsities = self.sparsities(targets);
        Ok(targets
            .iter()
            .zip(sparsities)
            .map(|(target, s)| self.rewire(step, target, prune_count(s, target.weights.len())))
            .collect())
    }
}
