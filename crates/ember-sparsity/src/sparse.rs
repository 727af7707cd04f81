use std::sync::Arc;

use burn::module::{Module, Param, ParamId};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::plan::BoundPlan;
use crate::{SparsityError, SparsityPlan, collect_params};

mod apply;
mod update;

/// A boolean parameter's values on the host.
pub(crate) fn host_flags(flags: &Param<Tensor<1, Bool>>) -> Vec<bool> {
    flags.val().inner().into_data().iter::<bool>().collect()
}

/// A model `M` together with its sparsity state: one keep-mask per pruned parameter and the
/// optimizer-step counter.
///
/// The masks and the counter are module state (non-trainable `Param`s), so burn's checkpoints
/// save them, and `fork` / `to_device` move them. The bound plan (which parameters, which
/// scorer, which schedule) is derived from the recipe and the model, and is rebuilt by
/// [`Sparse::new`] rather than saved.
///
/// Parameter paths are relative to `M`: the path of `model.fc1.weight` is `fc1.weight`.
#[derive(Module, Debug)]
pub struct Sparse<M> {
    /// The wrapped model. Pruned weights are exact zeros in its parameters.
    pub model: M,
    keep_masks: Vec<Param<Tensor<1, Bool>>>,
    frozen_masks: Vec<Param<Tensor<1, Bool>>>,
    frozen_values: Vec<Param<Tensor<1>>>,
    step: Param<Tensor<1, Int>>,
    #[module(skip)]
    plan: Arc<BoundPlan>,
}

impl<M: Module> Sparse<M> {
    /// Binds `plan` to `model`. Every selector must match, every schedule must be valid, no
    /// parameter may be pruned by two pruners or frozen by two freezers, and a tensor frozen
    /// whole may not be pruned. All masks start full (nothing pruned, nothing frozen) except
    /// for whole-tensor freezers, which turn `require_grad` off here.
    pub fn new(model: M, plan: SparsityPlan) -> Result<Self, SparsityError> {
        let params = collect_params(&model);
        let plan = BoundPlan::bind(plan, &params)?;
        let device = model.devices()[0].clone();
        let flags = |value: bool, numel: usize| {
            let data = TensorData::new(vec![value; numel], [numel]);
            Param::initialized(ParamId::new(), Tensor::<1, Bool>::from_data(data, &device))
        };
        let keep_masks = plan
            .targets
            .iter()
            .map(|t| flags(true, t.info.numel()))
            .collect();
        let frozen_masks = plan
            .freeze_targets
            .iter()
            .map(|t| flags(false, t.info.numel()))
            .collect();
        let frozen_values = plan
            .freeze_targets
            .iter()
            .map(|t| {
                let values = Tensor::<1>::zeros([t.info.numel()], &device);
                Param::initialized(ParamId::new(), values).set_require_grad(false)
            })
            .collect();
        let step = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64], [1]), &device);
        let sparse = Self {
            model,
            keep_masks,
            frozen_masks,
            frozen_values,
            step: Param::initialized(ParamId::new(), step),
            plan: Arc::new(plan),
        };
        Ok(sparse.freeze_whole_tensors())
    }

    /// The number of optimizer steps taken so far (reads one value back from the device).
    pub fn step_count(&self) -> u64 {
        let data = self.step.val().inner().into_data();
        data.iter::<i64>().next().unwrap_or(0) as u64
    }

    /// The dotted paths of the pruned parameters, in plan order.
    pub fn target_paths(&self) -> Vec<String> {
        self.plan
            .targets
            .iter()
            .map(|t| t.info.path.clone())
            .collect()
    }

    /// The freeze set of `path` on the host (`true` = frozen), if `path` is frozen element by
    /// element by the plan.
    pub fn frozen_mask(&self, path: &str) -> Option<Vec<bool>> {
        let index = self.plan.freeze_index(path)?;
        Some(host_flags(&self.frozen_masks[index]))
    }

    /// The tensors frozen whole, with their sizes.
    pub fn whole_frozen(&self) -> Vec<(String, usize)> {
        self.plan
            .whole
            .iter()
            .map(|t| (t.info.path.clone(), t.info.numel()))
            .collect()
    }

    /// The dotted paths of the parameters frozen element by element, in plan order.
    pub fn freeze_paths(&self) -> Vec<String> {
        self.plan
            .freeze_targets
            .iter()
            .map(|t| t.info.path.clone())
            .collect()
    }

    /// The keep-mask of `path` on the host (`true` = kept), if `path` is pruned by the plan.
    pub fn keep_mask(&self, path: &str) -> Option<Vec<bool>> {
        let index = self.plan.target_index(path)?;
        Some(host_flags(&self.keep_masks[index]))
    }

    /// The sparsity the schedules demand at `step`, averaged over all pruned parameters
    /// (weighted by their sizes).
    pub fn scheduled_sparsity(&self, step: u64) -> f64 {
        let (mut pruned, mut total) = (0.0, 0.0);
        for target in &self.plan.targets {
            let numel = target.info.numel() as f64;
            pruned += self.plan.pruners[target.modifier].schedule.sparsity(step) * numel;
            total += numel;
        }
        if total == 0.0 { 0.0 } else { pruned / total }
    }

    /// Every step at which some pruner selects masks, sorted and without repeats.
    pub fn update_steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = self
            .plan
            .pruners
            .iter()
            .flat_map(|p| p.schedule.update_steps())
            .collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// Unwraps the model (its pruned weights stay zero).
    pub fn into_inner(self) -> M {
        self.model
    }

    /// One hooked optimizer step, for hand-written training loops:
    ///
    /// 1. if a modifier is due at this step, select and store new masks and freeze sets;
    /// 2. zero the gradients of pruned and frozen elements;
    /// 3. let `optim` update the model;
    /// 4. zero the pruned weights and write back the frozen values (Adam moments and weight
    ///    decay can neither revive a pruned weight nor move a frozen one);
    /// 5. advance the step counter.
    pub fn optimizer_step(
        self,
        optim: &mut ModuleOptimizer,
        lr: impl Into<ModuleLearningRate>,
        grads: GradientsParams,
    ) -> Self {
        let step = self.step_count();
        let mut sparse = self.update_masks(step, Some(&grads));
        let grads = sparse.mask_gradients(grads);
        sparse.model = optim.step(lr, sparse.model, grads);
        sparse.apply_masks().advance()
    }

    /// [`Sparse::optimizer_step`] for gradients gathered on several devices (burn-train's
    /// multi-device strategy). Masks are selected from the weights alone (and the first
    /// device's gradients), so every replica agrees without communicating.
    pub fn optimizer_step_multi(
        self,
        optim: &mut ModuleOptimizer,
        lr: impl Into<ModuleLearningRate>,
        mut grads: MultiGradientsParams,
    ) -> Self {
        let step = self.step_count();
        let mut sparse = self.update_masks(step, grads.grads.first().map(|(g, _)| g));
        grads.grads = grads
            .grads
            .into_iter()
            .map(|(g, device)| (sparse.mask_gradients(g), device))
            .collect();
        sparse.model = optim.step_multi(lr, sparse.model, grads);
        sparse.apply_masks().advance()
    }

    fn advance(mut self) -> Self {
        self.step = self.step.map(|counter| counter.add_scalar(1));
        self
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod freeze_tests;
