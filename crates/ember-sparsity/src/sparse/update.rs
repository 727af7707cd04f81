//! The observe and update phases: accumulators at every step, new masks and freeze sets at
//! the steps where modifiers are due.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Tensor, TensorData};

use super::{Sparse, host_flags, read_floats};
use crate::SparsityError;
use crate::modifier::{Effect, TargetView};
use crate::state::{ParamState, PathMap};

/// Host copies of the weights and gradients of some state entries.
#[derive(Default)]
struct HostCopies {
    weights: HashMap<usize, Vec<f32>>,
    gradients: HashMap<usize, Vec<f32>>,
}

/// Copies the weights (and gradients) of the wanted entries to the host.
struct ReadEntries<'a> {
    lookup: &'a HashMap<burn::module::ParamId, usize>,
    wanted: &'a [usize],
    grads: Option<&'a GradientsParams>,
    copies: HostCopies,
}

impl ModuleVisitor for ReadEntries<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(&entry) = self.lookup.get(&param.id) else {
            return;
        };
        if !self.wanted.contains(&entry) {
            return;
        }
        self.copies.weights.insert(entry, read_floats(param.val()));
        if let Some(grad) = self.grads.and_then(|g| g.get::<D>(param.id)) {
            self.copies.gradients.insert(entry, read_floats(grad));
        }
    }
}

/// Folds one step into the accumulators, on the device.
struct Accumulate<'a, M> {
    sparse: &'a Sparse<M>,
    grads: &'a GradientsParams,
    updated: Vec<(usize, Tensor<1>)>,
}

impl<M: Module> ModuleVisitor for Accumulate<'_, M> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(&entry) = self.sparse.lookup.get(&param.id) else {
            return;
        };
        let state = self.sparse.state.at(entry);
        let (Some(accumulator), Some(pruner)) =
            (&state.score, self.sparse.plan.entries[entry].pruner)
        else {
            return;
        };
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return;
        };
        let numel = grad.shape().num_elements();
        let modifier = &self.sparse.plan.modifiers[pruner];
        let next = modifier.accumulate(
            accumulator.val().inner(),
            param.val().inner().reshape([numel]),
            grad.reshape([numel]),
        );
        self.updated.push((entry, next));
    }
}

fn bool_tensor(flags: Vec<bool>, like: &Tensor<1, Bool>) -> Tensor<1, Bool> {
    let numel = flags.len();
    Tensor::from_data(TensorData::new(flags, [numel]), &like.device())
}

/// Replaces a state parameter's value by `values` (a plain, non-autodiff tensor on its device).
fn set_floats(param: Param<Tensor<1>>, values: Tensor<1>) -> Param<Tensor<1>> {
    param.map(|old| {
        if old.is_autodiff() {
            Tensor::from_inner(values)
        } else {
            values
        }
    })
}

/// Replaces a state parameter's value by host `values`.
fn set_host_floats(param: Param<Tensor<1>>, values: Vec<f32>) -> Param<Tensor<1>> {
    let numel = values.len();
    param.map(|old| Tensor::from_data(TensorData::new(values, [numel]), &old.device()))
}

impl<M: Module> Sparse<M> {
    /// Whether any modifier updates at `step`.
    pub(crate) fn any_due(&self, step: u64) -> bool {
        self.plan
            .modifiers
            .iter()
            .any(|m| m.effect() != Effect::FreezeWhole && m.schedule().is_update_step(step))
    }

    /// The observe phase: every accumulating modifier folds this step's weights and gradients
    /// into its accumulators, on the device. Does nothing (and costs nothing) when no modifier
    /// accumulates.
    pub fn observe(mut self, grads: &GradientsParams) -> Self {
        if !self.plan.modifiers.iter().any(|m| m.accumulates()) {
            return self;
        }
        let mut visitor = Accumulate {
            sparse: &self,
            grads,
            updated: Vec::new(),
        };
        self.model.visit(&mut visitor);
        let updated = visitor.updated;
        for (entry, value) in updated {
            let state = self.state.at_mut(entry);
            state.score = state.score.take().map(|p| set_floats(p, value));
        }
        self
    }

    /// The update phase: every modifier due at `step` selects new masks or freeze sets from
    /// host copies of its targets. Does not touch the weights; the optimizer step writes the
    /// zeros and the frozen values after the optimizer's update.
    ///
    /// Pruners' masks only grow while their targets rise, and a frozen element is never pruned
    /// nor a pruned one frozen (see `docs/architecture.md`).
    pub fn update_masks(
        mut self,
        step: u64,
        grads: Option<&GradientsParams>,
    ) -> Result<Self, SparsityError> {
        if self.any_due(step) {
            self.state = self.updated_state(step, grads)?;
            self = self.with_fresh_masks();
        }
        Ok(self)
    }

    /// The state after the updates due at `step`, computed on a copy (tensor handles) so that
    /// a failed update leaves the current state as it was.
    pub(crate) fn updated_state(
        &self,
        step: u64,
        grads: Option<&GradientsParams>,
    ) -> Result<PathMap<ParamState>, SparsityError> {
        let mut state = self.state.clone();
        let plan = self.plan.clone();
        for (index, modifier) in plan.modifiers.iter().enumerate() {
            let effect = modifier.effect();
            if effect == Effect::FreezeWhole || !modifier.schedule().is_update_step(step) {
                continue;
            }
            let entries = &plan.targets[index];
            let grads = grads.filter(|_| modifier.needs_gradient());
            let mut reader = ReadEntries {
                lookup: &self.lookup,
                wanted: entries,
                grads,
                copies: HostCopies::default(),
            };
            self.model.visit(&mut reader);
            let copies = reader.copies;
            let mut accumulated = HashMap::new();
            let mut views = Vec::with_capacity(entries.len());
            for &entry in entries {
                let info = &plan.entries[entry].info;
                if modifier.needs_inputs() && !self.inputs.contains_key(&info.path) {
                    return Err(SparsityError::MissingInputs {
                        modifier: modifier.name().to_string(),
                        path: info.path.clone(),
                    });
                }
                if modifier.needs_gradient() && !copies.gradients.contains_key(&entry) {
                    return Err(SparsityError::MissingGradient {
                        modifier: modifier.name().to_string(),
                        path: info.path.clone(),
                        step,
                    });
                }
                let state = state.at(entry);
                if let Some(score) = &state.score {
                    accumulated.insert(entry, read_floats(score.val()));
                }
                let numel = info.numel();
                let pruned = state.keep.as_ref().map_or(vec![false; numel], |k| {
                    host_flags(k).into_iter().map(|k| !k).collect()
                });
                let frozen = state.frozen.as_ref().map_or(vec![false; numel], host_flags);
                views.push((entry, pruned, frozen));
            }
            let views: Vec<TargetView<'_>> = views
                .into_iter()
                .map(|(entry, pruned, frozen)| TargetView {
                    info: &plan.entries[entry].info,
                    weights: copies.weights.get(&entry).map_or(&[][..], Vec::as_slice),
                    gradient: copies.gradients.get(&entry).map(Vec::as_slice),
                    accumulated: accumulated.get(&entry).map(Vec::as_slice),
                    inputs: self
                        .inputs
                        .get(&plan.entries[entry].info.path)
                        .map(Vec::as_slice),
                    pruned,
                    frozen,
                })
                .collect();
            let flags = modifier.update(step, &views)?;
            if flags.len() != views.len()
                || flags
                    .iter()
                    .zip(&views)
                    .any(|(f, v)| f.len() != v.weights.len())
            {
                return Err(SparsityError::modifier(
                    modifier.name(),
                    "update returned flags that do not match its targets".to_string(),
                ));
            }
            for ((&entry, mut flags), view) in entries.iter().zip(flags).zip(&views) {
                // Whatever a modifier returns, a frozen element is never pruned and a pruned
                // element never frozen.
                let other = match effect {
                    Effect::Prune => &view.frozen,
                    _ => &view.pruned,
                };
                for (flag, &taken) in flags.iter_mut().zip(other) {
                    *flag &= !taken;
                }
                store(
                    state.at_mut(entry),
                    effect,
                    flags,
                    view.weights,
                    &view.frozen,
                );
            }
        }
        Ok(state)
    }
}

/// Stores one modifier's new flags for one entry.
fn store(
    state: &mut ParamState,
    effect: Effect,
    flags: Vec<bool>,
    weights: &[f32],
    was_frozen: &[bool],
) {
    match effect {
        Effect::Prune => {
            let keep: Vec<bool> = flags.into_iter().map(|p| !p).collect();
            state.keep = state
                .keep
                .take()
                .map(|m| m.map(|old| bool_tensor(keep, &old)));
            state.score = state
                .score
                .take()
                .map(|p| set_host_floats(p, vec![0.0; weights.len()]));
        }
        Effect::Freeze => {
            // Newly frozen elements keep the value they have now; older ones keep theirs.
            let old_values = state
                .frozen_values
                .as_ref()
                .map(|v| read_floats(v.val()))
                .unwrap_or_default();
            let values: Vec<f32> = was_frozen
                .iter()
                .zip(old_values.iter().zip(weights))
                .map(|(was, (old, now))| if *was { *old } else { *now })
                .collect();
            state.frozen_values = state
                .frozen_values
                .take()
                .map(|p| set_host_floats(p, values));
            state.frozen = state
                .frozen
                .take()
                .map(|m| m.map(|old| bool_tensor(flags, &old)));
        }
        Effect::FreezeWhole => {}
    }
}
