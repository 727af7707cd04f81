use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::module::{Module, Param, ParamId};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::store::{BurnpackStore, ModuleSnapshot, PathFilter};
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::modifier::Effect;
use crate::plan::BoundPlan;
use crate::state::{HostStep, PackMasks, ParamState, PathMap, UnpackMasks};
use crate::{SparsityError, SparsityPlan, collect_params};

mod apply;
mod factors;
mod in_place;
mod invariants;
mod update;

thread_local! {
    /// Every copy from a device to the host that the engine makes on this thread, counted:
    /// the tests that no ordinary step reads anything back check this counter. Per thread, so
    /// that tests running side by side do not see each other's reads.
    static HOST_READS: Cell<u64> = const { Cell::new(0) };
}

fn count_host_read() {
    HOST_READS.with(|reads| reads.set(reads.get() + 1));
}

/// The number of tensors Ember's sparsity engine has copied from a device to the host on the
/// calling thread. Only update steps (and reports, mask queries and loading a checkpoint)
/// copy; ordinary training steps never do.
pub fn host_reads() -> u64 {
    HOST_READS.with(Cell::get)
}

/// A float tensor's values on the host.
pub(crate) fn read_floats<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    count_host_read();
    tensor
        .inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// An integer tensor's values on the host.
pub(crate) fn read_ints<const D: usize>(tensor: Tensor<D, Int>) -> Vec<i64> {
    count_host_read();
    tensor.inner().into_data().iter::<i64>().collect()
}

/// How many elements of `flags` are true: summed on the device, one integer read back. For
/// reports and checks outside the training step, so it is not counted in [`host_reads`].
pub fn count_true<const D: usize>(flags: Tensor<D, Bool>) -> usize {
    flags
        .int()
        .sum()
        .into_data()
        .iter::<i64>()
        .next()
        .unwrap_or(0) as usize
}

/// A boolean parameter's values on the host.
pub(crate) fn host_flags(flags: &Param<Tensor<1, Bool>>) -> Vec<bool> {
    count_host_read();
    flags.val().inner().into_data().iter::<bool>().collect()
}

/// A model `M` together with its sparsity state: per parameter path, the keep-mask of a
/// pruned parameter, the freeze set and frozen values of a frozen one and a scorer's
/// accumulator; and the optimizer-step counter.
///
/// The state is module state: burn's checkpoints save it **keyed by parameter path**, and
/// `fork` / `to_device` move it. The step counter lives on the host (no device read per step)
/// and is saved in the record too. The bound plan (which parameters, which modifiers) is
/// derived from the recipe and the model and is rebuilt by [`Sparse::new`] rather than saved;
/// [`Sparse::load_checkpoint`] refuses a checkpoint whose state names other parameters.
///
/// Parameter paths are relative to `M`: the path of `model.fc1.weight` is `fc1.weight`.
/// The lifecycle and invariants are described in `docs/architecture.md`.
#[derive(Module, Debug)]
pub struct Sparse<M> {
    /// The wrapped model. Pruned weights are exact zeros in its parameters.
    pub model: M,
    state: PathMap<ParamState>,
    step: HostStep,
    #[module(skip)]
    plan: Arc<BoundPlan>,
    /// burn's parameter id → state entry, built at bind and load time so that ordinary steps
    /// find masks without building paths.
    #[module(skip)]
    lookup: Arc<HashMap<ParamId, usize>>,
    /// The first error of an update run inside burn-train (whose `optimize` cannot fail).
    #[module(skip)]
    failure: Arc<Mutex<Option<String>>>,
    /// Each entry's masks as the factors a step multiplies by, with the ids of the masks they
    /// came from; see `Sparse::with_fresh_masks`.
    #[module(skip)]
    factors: Arc<Vec<Option<apply::CachedFactors>>>,
    /// Input-feature norms by parameter path, for scorers that weigh by activations (Wanda).
    #[module(skip)]
    inputs: Arc<BTreeMap<String, Vec<f32>>>,
    /// Whether the caller vouched that the optimizer is element-wise; see
    /// [`Sparse::with_elementwise_optimizer`].
    #[module(skip)]
    elementwise: bool,
}

impl<M: Module> Sparse<M> {
    /// Binds `plan` to `model`: resolves and validates every modifier (see
    /// [`Modifier::bind`](crate::Modifier::bind)) and creates its state. All masks start full
    /// (nothing pruned, nothing frozen) except for whole-tensor freezers, which turn
    /// `require_grad` off here.
    pub fn new(model: M, plan: SparsityPlan) -> Result<Self, SparsityError> {
        let params = collect_params(&model);
        let plan = BoundPlan::bind(plan, &params)?;
        let device = model.devices()[0].clone();
        let flags = |value: bool, numel: usize| {
            let data = TensorData::new(vec![value; numel], [numel]);
            Param::initialized(ParamId::new(), Tensor::<1, Bool>::from_data(data, &device))
        };
        let floats = |numel: usize| {
            Param::initialized(ParamId::new(), Tensor::<1>::zeros([numel], &device))
                .set_require_grad(false)
        };
        let entries = plan
            .entries
            .iter()
            .map(|entry| {
                let numel = entry.info.numel();
                let accumulates = entry
                    .pruner
                    .is_some_and(|p| plan.modifiers[p].accumulates());
                let state = ParamState {
                    keep: entry.pruner.map(|_| flags(true, numel)),
                    frozen: entry.freezer.map(|_| flags(false, numel)),
                    frozen_values: entry.freezer.map(|_| floats(numel)),
                    score: accumulates.then(|| floats(numel)),
                };
                (entry.info.path.clone(), state)
            })
            .collect();
        let lookup = plan.lookup(&params);
        let sparse = Self {
            model,
            state: PathMap::new(entries),
            step: HostStep::new(&device),
            plan: Arc::new(plan),
            lookup: Arc::new(lookup),
            failure: Arc::new(Mutex::new(None)),
            factors: Arc::default(),
            inputs: Arc::default(),
            elementwise: false,
        };
        Ok(sparse.freeze_whole_tensors().with_fresh_masks())
    }
}

impl<M: Module + burn::module::ModuleDisplay> Sparse<M> {
    /// Writes the checkpoint of this module (model, sparsity state and step) to `path` in
    /// burn's burnpack format, keep-masks and freeze sets packed to one bit per element
    /// ([`PackMasks`]), so a pruned checkpoint is hardly larger than the dense weights.
    /// Overwrites `path`; callers that need atomicity write to a temporary name and rename.
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), SparsityError> {
        let mut store = BurnpackStore::from_file(path)
            .auto_extension(false)
            .overwrite(true)
            .with_to_adapter(PackMasks);
        self.save_into(&mut store)
            .map_err(|e| SparsityError::Checkpoint {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        // Checksums in the file's metadata: a damaged checkpoint is refused when read.
        crate::seal_burnpack(path)?;
        Ok(())
    }

    /// Loads a checkpoint written by [`Sparse::save_checkpoint`] (or by burn's `save_file`
    /// of a `Sparse`, masks one byte per element). The state is matched by parameter path, so
    /// a plan whose modifiers come in another order restores every mask to its tensor; a
    /// checkpoint whose state names other parameters (renamed, added or removed), holds
    /// tensors of other shapes or kinds, or cannot be read is an error naming them.
    pub fn load_checkpoint(mut self, path: &Path) -> Result<Self, SparsityError> {
        let error = |message: String| SparsityError::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        if !path.is_file() {
            return Err(error("no such file".into()));
        }
        // A sealed file (every one Ember writes) must match its checksums; a plain burn
        // record (`save_file` of a `Sparse`) has none to check.
        crate::verify_burnpack(path, false)?;
        // Only the sparsity state: collecting the model's weights too would draw every lazy
        // parameter's initial values (a model built only to be loaded into has not drawn
        // them yet), which the load then overwrites. That was 4% of a whole `ember eval
        // --engine sparse` of MiniLM.
        let state_only = PathFilter::new().with_regex(r"^state\.");
        let masks = self
            .collect(Some(state_only), None, false)
            .into_iter()
            .filter(|t| t.dtype.is_bool())
            .map(|t| (t.name, t.shape))
            .collect();
        // No validation and partial loading: the store then reports every problem in its
        // result instead of failing on the first, and the error below names them all.
        let mut store = BurnpackStore::from_file(path)
            .auto_extension(false)
            .with_from_adapter(UnpackMasks::new(masks))
            .validate(false)
            .allow_partial(true);
        let result = self
            .load_from(&mut store)
            .map_err(|e| error(e.to_string()))?;
        let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
        if !result.missing.is_empty() {
            let names: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
            problems.push(format!("missing tensors: {}", names.join(", ")));
        }
        if !result.unused.is_empty() {
            problems.push(format!(
                "tensors this model does not have: {}",
                result.unused.join(", ")
            ));
        }
        if !problems.is_empty() {
            return Err(error(format!(
                "{}; sparsity state is saved under `state.<parameter path>`, so these names \
                 are the parameters that differ between the checkpoint and this plan",
                problems.join("; ")
            )));
        }
        let loaded = self.relinked();
        // Masks and weights must agree: a pruned weight is exactly zero.
        if let Some((path, alive)) = loaded.masked_nonzero() {
            return Err(error(format!(
                "`{path}` has {alive} non-zero weight(s) where its keep-mask prunes them; a \
                 pruned model holds exact zeros there"
            )));
        }
        Ok(loaded)
    }
}

impl<M: Module> Sparse<M> {
    /// The same module with its parameter-id lookup rebuilt (loading a record gives
    /// parameters the ids saved in it).
    fn relinked(mut self) -> Self {
        self.lookup = Arc::new(self.plan.lookup(&collect_params(&self.model)));
        self.with_fresh_masks()
    }

    /// The number of optimizer steps taken so far (held on the host: no device read).
    pub fn step_count(&self) -> u64 {
        self.step.get()
    }

    /// The first error an update met while training under burn-train, whose
    /// `TrainStep::optimize` cannot return one. Training goes on without further mask updates;
    /// callers must check this after training and fail the run.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    fn paths_where(&self, keep: impl Fn(&crate::plan::Entry) -> bool) -> Vec<String> {
        self.plan
            .entries
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.info.path.clone())
            .collect()
    }

    /// The dotted paths of the pruned parameters, sorted.
    pub fn target_paths(&self) -> Vec<String> {
        self.paths_where(|e| e.pruner.is_some())
    }

    /// The dotted paths of the parameters frozen element by element, sorted.
    pub fn freeze_paths(&self) -> Vec<String> {
        self.paths_where(|e| e.freezer.is_some())
    }

    /// The freeze set of `path` on the host (`true` = frozen), if `path` is frozen element by
    /// element by the plan.
    pub fn frozen_mask(&self, path: &str) -> Option<Vec<bool>> {
        self.state.get(path)?.frozen.as_ref().map(host_flags)
    }

    /// The keep-mask of `path` on the host (`true` = kept), if `path` is pruned by the plan.
    pub fn keep_mask(&self, path: &str) -> Option<Vec<bool>> {
        self.state.get(path)?.keep.as_ref().map(host_flags)
    }

    /// The tensors frozen whole, with their sizes.
    pub fn whole_frozen(&self) -> Vec<(String, usize)> {
        self.plan
            .whole
            .iter()
            .map(|p| (p.path.clone(), p.numel()))
            .collect()
    }

    /// The sparsity the schedules demand at `step`, averaged over all pruned parameters
    /// (weighted by their sizes).
    pub fn scheduled_sparsity(&self, step: u64) -> f64 {
        let (mut pruned, mut total) = (0.0, 0.0);
        for entry in &self.plan.entries {
            if let Some(p) = entry.pruner {
                let numel = entry.info.numel() as f64;
                pruned += self.plan.modifiers[p].schedule().sparsity(step) * numel;
                total += numel;
            }
        }
        if total == 0.0 { 0.0 } else { pruned / total }
    }

    /// When the masks prune fewer weights than the pruners' schedules demand at `step`
    /// (beyond what each pruner's exact counting may round away,
    /// [`Modifier::rounding_slack`](crate::Modifier::rounding_slack)), what is missing, in
    /// words; `None` when the target is met. Frozen elements are never pruned, so freezing most of a tensor that is
    /// also pruned is the usual cause.
    pub fn shortfall(&self, step: u64) -> Option<String> {
        let (mut wanted, mut pruned, mut total, mut slack) = (0.0, 0usize, 0usize, 0usize);
        for entry in &self.plan.entries {
            let Some(p) = entry.pruner else { continue };
            let modifier = &self.plan.modifiers[p];
            let numel = entry.info.numel();
            wanted += modifier.schedule().sparsity(step) * numel as f64;
            pruned += self
                .keep_mask(&entry.info.path)
                .map_or(0, |m| m.iter().filter(|k| !**k).count());
            total += numel;
            slack += modifier.rounding_slack(&entry.info);
        }
        if total == 0 || (pruned + slack) as f64 >= wanted {
            return None;
        }
        Some(format!(
            "the schedules demand {:.0} pruned weights ({:.4} of {total}), the masks prune \
             {pruned} ({:.4}); frozen weights cannot be pruned, so a freeze covering the \
             pruned tensors is the usual cause",
            wanted,
            wanted / total as f64,
            pruned as f64 / total as f64
        ))
    }

    /// Every step at which some pruner selects masks, sorted and without repeats.
    pub fn update_steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = self
            .plan
            .modifiers
            .iter()
            .filter(|m| m.effect() == Effect::Prune)
            .flat_map(|m| m.schedule().update_steps())
            .collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// The same module with the L2 norm of every input feature of some parameters' layers
    /// (`path` → one norm per input feature), measured on calibration data; scorers that ask
    /// for them ([`Scorer::needs_inputs`](crate::Scorer::needs_inputs)) get them at updates.
    pub fn with_input_norms(mut self, norms: BTreeMap<String, Vec<f32>>) -> Self {
        self.inputs = Arc::new(norms);
        self
    }

    /// Declares whether the optimizer that steps this model is **element-wise**: it updates
    /// each element from that element's gradient and state alone, as SGD (with momentum and
    /// weight decay), Adam, AdamW, RMSProp, AdaGrad and Lion do, and LAMB, Adafactor, Muon and
    /// L-BFGS do not. Off by default.
    ///
    /// With such an optimizer the gradient of a pruned or frozen element cannot change any
    /// other weight, and the write-back after the step puts every pruned zero and frozen value
    /// back, so the optimizer steps skip zeroing those gradients: one elementwise pass less per
    /// masked tensor, and Adam's second moments of pruned elements are no longer held at exact
    /// zeros (libtorch's square root takes a slow path on zeros; docs/performance.md). Every
    /// weight comes out equal to what zeroed gradients give (a pruned zero may be -0.0 instead
    /// of +0.0 on backends that mask by multiplying); only the optimizer's state of pruned and
    /// frozen elements differs, and it is never used while they stay flagged.
    ///
    /// The gradients are still zeroed on steps where that would not hold: when the optimizer
    /// clips gradients (a norm over the whole tensor would count the masked elements), or
    /// while the plan has a modifier that gives elements back ([`Modifier::releases`]:
    /// RigL, SET), whose returning elements must find the state that masked gradients leave.
    ///
    /// [`Modifier::releases`]: crate::Modifier::releases
    pub fn with_elementwise_optimizer(mut self, elementwise: bool) -> Self {
        self.elementwise = elementwise;
        self
    }

    /// Whether a step with `optim` zeroes the gradients of pruned and frozen elements before
    /// the optimizer sees them; see [`Sparse::with_elementwise_optimizer`].
    pub fn zeroes_gradients(&self, optim: &ModuleOptimizer) -> bool {
        !self.elementwise
            || optim.has_gradient_clipping()
            || self.plan.modifiers.iter().any(|m| m.releases())
    }

    /// The gradients the optimizer gets: masked unless [`Sparse::zeroes_gradients`] says
    /// they need not be.
    fn gradients_for(&self, optim: &ModuleOptimizer, grads: GradientsParams) -> GradientsParams {
        if self.zeroes_gradients(optim) {
            self.mask_gradients(grads)
        } else {
            grads
        }
    }

    /// Unwraps the model (its pruned weights stay zero).
    pub fn into_inner(self) -> M {
        self.model
    }

    /// One hooked optimizer step, for hand-written training loops:
    ///
    /// 1. modifiers that accumulate fold this step's weights and gradients in (on the device);
    /// 2. if a modifier is due at this step, select and store new masks and freeze sets;
    /// 3. zero the gradients of pruned and frozen elements (unless the optimizer is
    ///    element-wise and nothing needs them zeroed: [`Sparse::with_elementwise_optimizer`]);
    /// 4. let `optim` update the model;
    /// 5. zero the pruned weights and write back the frozen values (Adam moments and weight
    ///    decay can neither revive a pruned weight nor move a frozen one);
    /// 6. advance the step counter (on the host).
    ///
    /// An update that fails (a scorer's wrong output, a missing gradient) is returned as the
    /// error; the model is lost with it, as the run cannot go on as asked.
    pub fn try_optimizer_step(
        self,
        optim: &mut ModuleOptimizer,
        lr: impl Into<ModuleLearningRate>,
        grads: GradientsParams,
    ) -> Result<Self, SparsityError> {
        let step = self.step.get();
        let mut sparse = self.observe(&grads).update_masks(step, Some(&grads))?;
        let grads = sparse.gradients_for(optim, grads);
        sparse.model = optim.step(lr, sparse.model, grads);
        Ok(sparse.apply_masks().advance())
    }

    /// [`Sparse::try_optimizer_step`] for burn-train, whose `optimize` cannot fail: a failed
    /// update is kept in [`Sparse::failure`] and training goes on with the masks unchanged.
    pub fn optimizer_step(
        self,
        optim: &mut ModuleOptimizer,
        lr: impl Into<ModuleLearningRate>,
        grads: GradientsParams,
    ) -> Self {
        let step = self.step.get();
        let sparse = self.observe(&grads);
        let mut sparse = sparse.update_or_record(step, Some(&grads));
        let grads = sparse.gradients_for(optim, grads);
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
        let step = self.step.get();
        let first = grads.grads.first().map(|(g, _)| g);
        let sparse = match first {
            Some(first) => self.observe(first),
            None => self,
        };
        let mut sparse = sparse.update_or_record(step, first);
        grads.grads = grads
            .grads
            .into_iter()
            .map(|(g, device)| (sparse.gradients_for(optim, g), device))
            .collect();
        sparse.model = optim.step_multi(lr, sparse.model, grads);
        sparse.apply_masks().advance()
    }

    /// Updates the masks, or records the failure and leaves them as they are.
    pub(crate) fn update_or_record(mut self, step: u64, grads: Option<&GradientsParams>) -> Self {
        if self.failure().is_some() || !self.any_due(step) {
            return self;
        }
        match self.updated_state(step, grads) {
            Ok(state) => {
                self.state = state;
                self = self.with_fresh_masks();
            }
            Err(error) => {
                if let Ok(mut slot) = self.failure.lock() {
                    *slot = Some(format!("step {step}: {error}"));
                }
            }
        }
        self
    }

    fn advance(mut self) -> Self {
        self.step = self.step.advanced();
        self
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod freeze_tests;

#[cfg(test)]
mod core_tests;

#[cfg(test)]
mod method_tests;

#[cfg(test)]
mod gradient_tests;
