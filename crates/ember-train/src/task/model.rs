//! A model wrapped for burn-train, transparent to burn's module machinery.

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use super::{Distillation, Task, distillation_loss, hidden_state_loss};

/// `T::Model` as burn-train trains it: a training step with its loss, and an inference step.
///
/// The wrapper adds no module level: it visits and maps the model's parameters under the
/// model's own paths (`layers.0.weight`, not `model.layers.0.weight`), so records, reports and
/// Ember's masks are the same as for the bare model.
///
/// With a teacher ([`TaskModel::with_teacher`]) the training loss is the distillation loss;
/// the teacher is held in evaluation mode (dropout off, no autodiff, no gradients), follows
/// the student to every device, and is neither visited nor saved.
pub struct TaskModel<T: Task> {
    /// The wrapped model.
    pub model: T::Model,
    teacher: Option<(T::Model, Distillation)>,
}

impl<T: Task> TaskModel<T> {
    /// Wraps `model`; its training loss is cross-entropy.
    pub fn new(model: T::Model) -> Self {
        Self {
            model,
            teacher: None,
        }
    }

    /// Trains against `teacher`'s logits with `settings` (the teacher is put in evaluation
    /// mode here).
    pub fn with_teacher(mut self, teacher: T::Model, settings: Distillation) -> Self {
        self.teacher = Some((teacher.valid(), settings));
        self
    }

    /// The wrapped model.
    pub fn into_inner(self) -> T::Model {
        self.model
    }

    /// Logits, loss and targets of a batch; `distill` chooses the training loss.
    fn classify(&self, batch: &T::Batch, distill: bool) -> ClassificationOutput {
        let targets = T::targets(batch);
        let (output, loss) = match (&self.teacher, distill) {
            (Some((teacher, settings)), true) => {
                let cut;
                let batch = if settings.token_cutoff > 0.0 {
                    // Once, before both models read it: the teacher's targets are for the
                    // sentences the student sees.
                    cut = T::cut_tokens(batch, settings.token_cutoff);
                    &cut
                } else {
                    batch
                };
                // Off autodiff, like the teacher: its logits and states are constants of the
                // loss.
                let plain = T::without_autodiff(batch);
                let (output, teacher_logits, layers) = if settings.hidden > 0.0 {
                    let (output, states) = T::logits_and_states(&self.model, batch);
                    let (teacher_logits, teacher_states) = T::logits_and_states(teacher, &plain);
                    let layers = hidden_state_loss(states, teacher_states);
                    (
                        output,
                        teacher_logits,
                        Some(layers.mul_scalar(settings.hidden)),
                    )
                } else {
                    (
                        T::logits(&self.model, batch),
                        T::logits(teacher, &plain),
                        None,
                    )
                };
                let soft =
                    distillation_loss(output.clone(), teacher_logits, targets.clone(), *settings);
                let loss = match layers {
                    Some(layers) => soft + layers,
                    None => soft,
                };
                (output, loss)
            }
            _ => {
                let output = T::logits(&self.model, batch);
                let loss = CrossEntropyLossConfig::new()
                    .init(&output.device())
                    .forward(output.clone(), targets.clone());
                (output, loss)
            }
        };
        ClassificationOutput {
            loss,
            output,
            targets,
        }
    }
}

impl<T: Task> Clone for TaskModel<T> {
    fn clone(&self) -> Self {
        Self {
            model: self.model.clone(),
            teacher: self.teacher.clone(),
        }
    }
}

impl<T: Task> core::fmt::Debug for TaskModel<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskModel")
            .field("model", &self.model)
            .field("distillation", &self.teacher.as_ref().map(|(_, s)| s))
            .finish()
    }
}

impl<T: Task> core::fmt::Display for TaskModel<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.model.fmt(f)
    }
}

impl<T: Task> Module for TaskModel<T> {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.model.collect_devices(devices)
    }

    fn fork(self, device: &Device) -> Self {
        Self {
            model: self.model.fork(device),
            teacher: self
                .teacher
                .map(|(teacher, s)| (teacher.fork(device).valid(), s)),
        }
    }

    fn to_device(self, device: &Device) -> Self {
        Self {
            model: self.model.to_device(device),
            teacher: self
                .teacher
                .map(|(teacher, s)| (teacher.to_device(device).valid(), s)),
        }
    }

    fn train(self) -> Self {
        Self {
            model: self.model.train(),
            teacher: self.teacher,
        }
    }

    fn valid(&self) -> Self {
        Self {
            model: self.model.valid(),
            teacher: self.teacher.clone(),
        }
    }

    fn materialize(self) -> Self {
        Self {
            model: self.model.materialize(),
            teacher: self.teacher.map(|(teacher, s)| (teacher.materialize(), s)),
        }
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.model.visit(visitor);
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        Self {
            model: self.model.map(mapper),
            teacher: self.teacher,
        }
    }
}

impl<T: Task> ModuleDisplayDefault for TaskModel<T> {
    fn content(&self, content: Content) -> Option<Content> {
        self.model.content(content)
    }
}

impl<T: Task> ModuleDisplay for TaskModel<T> {}

impl<T: Task> TrainStep for TaskModel<T> {
    type Input = T::Batch;
    type Output = ClassificationOutput;

    fn step(&self, batch: T::Batch) -> TrainOutput<ClassificationOutput> {
        let item = self.classify(&batch, true);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl<T: Task> InferenceStep for TaskModel<T> {
    type Input = T::Batch;
    type Output = ClassificationOutput;

    /// Validation reports plain cross-entropy, with or without a teacher, so that runs with
    /// and without distillation compare on one scale.
    fn step(&self, batch: T::Batch) -> ClassificationOutput {
        self.classify(&batch, false)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use ember_models::{Mlp, MlpConfig};
    use ember_sparsity::collect_params;

    use super::*;
    use crate::task::ImageClassification;

    type Wrapped = TaskModel<ImageClassification<Mlp>>;

    thread_local! {
        /// Whether each batch [`Probe::logits`] saw was on autodiff, in call order.
        static ON_AUTODIFF: std::cell::RefCell<Vec<bool>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Image classification that records whether its batches are on autodiff.
    struct Probe;

    impl Task for Probe {
        type Model = Mlp;
        type Batch = ember_data::ImageBatch;

        fn logits(model: &Mlp, batch: &Self::Batch) -> burn::tensor::Tensor<2> {
            ON_AUTODIFF.with(|seen| seen.borrow_mut().push(batch.images.is_autodiff()));
            ImageClassification::<Mlp>::logits(model, batch)
        }

        fn targets(batch: &Self::Batch) -> burn::tensor::Tensor<1, burn::tensor::Int> {
            ImageClassification::<Mlp>::targets(batch)
        }

        fn without_autodiff(batch: &Self::Batch) -> Self::Batch {
            ImageClassification::<Mlp>::without_autodiff(batch)
        }
    }

    #[test]
    fn the_teacher_sees_the_batch_off_autodiff_and_the_student_on_it() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let student = MlpConfig::new().init(&device);
        let teacher = MlpConfig::new().init(&device);
        let settings = Distillation::logits(1.0, 2.0);
        let model: TaskModel<Probe> = TaskModel::new(student).with_teacher(teacher, settings);
        let batch = ember_data::ImageBatch {
            images: burn::tensor::Tensor::ones([3, 1, 28, 28], &device),
            targets: burn::tensor::Tensor::from_data([1i64, 4, 7], &device),
        };
        let output = TrainStep::step(&model, batch);
        assert_eq!(ON_AUTODIFF.with(|seen| seen.take()), [true, false]);
        // The student still gets gradients through the distillation loss (its six
        // parameters; the teacher is not visited).
        assert_eq!(output.grads.len(), 6, "the student's gradients");
    }

    #[test]
    fn the_wrapper_adds_no_path_segment_and_keeps_the_parameters() {
        let device = Device::flex();
        let mlp = MlpConfig::new().init(&device);
        let bare: Vec<(String, Vec<usize>)> = collect_params(&mlp)
            .into_iter()
            .map(|p| (p.path, p.shape))
            .collect();
        let teacher = MlpConfig::new().init(&device);
        let settings = Distillation::logits(1.0, 2.0);
        let wrapped: Wrapped = TaskModel::new(mlp.clone()).with_teacher(teacher, settings);
        let paths: Vec<(String, Vec<usize>)> = collect_params(&wrapped)
            .into_iter()
            .map(|p| (p.path, p.shape))
            .collect();
        // The teacher is not visited: same parameters, same paths, same count.
        assert_eq!(paths, bare);
        assert_eq!(Module::num_params(&wrapped), Module::num_params(&mlp));
        // Records are built from the same visit: as many tensors as the bare model's.
        assert_eq!(wrapped.into_record().len(), mlp.into_record().len());
    }
}
