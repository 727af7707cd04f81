//! What the image families (`mlp`, `lenet5`) share: MNIST-family data and one entry type over
//! any [`ImageClassifier`], trained as [`ImageClassification`].

use std::path::Path;

use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use ember_data::{DatasetSource, ImageBatch, ImageBatcher};
use ember_models::{Blocks, ImageClassifier};
use ember_sparsity::{Sparse, SparsityPlan};
use ember_train::layerwise::prune_layer_by_layer;
use ember_train::oneshot::PruneSource;
use ember_train::recipe::ModelSpec;
use ember_train::task::{ImageClassification, Task, TaskModel};
use ember_train::{
    Evaluation, ModelEntry, Recipe, Registries, RunOptions, RunReport, TaskData, TrainError,
    accuracy, init_on_host, load_run, prune_task, run_task,
};

use crate::mlp::SparseMlp;

/// The inputs of a model's linear layers on a batch of images, by layer path.
pub type LinearInputsOf<M> = fn(&M, Tensor<4>) -> Vec<(String, Tensor<2>)>;

/// A family of image classifiers on MNIST-family data: everything a [`ModelEntry`] does
/// (check, train, evaluate, prune one-shot), given how to read the family's settings and
/// build its model. `mlp` and `lenet5` are two; a family of one's own is
/// `ImageFamily::new(check, build)` and a registry line.
pub struct ImageFamily<M> {
    check: fn(&ModelSpec) -> Result<(), TrainError>,
    build: fn(&ModelSpec, &Device) -> Result<M, TrainError>,
    inputs: Option<LinearInputsOf<M>>,
    layer_by_layer: Option<LayerByLayer<M>>,
    sparse: Option<SparseEngineOf<M>>,
}

/// Builds the sparse engine of a finished run's model `M`.
type SparseEngineOf<M> = fn(&M) -> Result<SparseMlp, TrainError>;

/// One-shot pruning layer by layer of a model `M` that exposes its [`Blocks`].
type LayerByLayer<M> = fn(
    &Recipe,
    &RunOptions,
    M,
    TaskData<ImageBatch>,
    &Path,
    usize,
) -> Result<RunReport, TrainError>;

impl<M> ImageFamily<M> {
    /// A family whose `[model]` settings `check` reads and bounds (before anything is built),
    /// and whose model `build` makes on a device. One-shot pruning with a scorer that needs
    /// activations (Wanda) needs [`ImageFamily::with_linear_inputs`].
    pub fn new(
        check: fn(&ModelSpec) -> Result<(), TrainError>,
        build: fn(&ModelSpec, &Device) -> Result<M, TrainError>,
    ) -> Self {
        Self {
            check,
            build,
            inputs: None,
            layer_by_layer: None,
            sparse: None,
        }
    }

    /// The same family, with the inputs of its linear layers for scorers that need
    /// activations (`ember_models::LinearInputs` gives them for burn `Linear` layers).
    pub fn with_linear_inputs(mut self, inputs: LinearInputsOf<M>) -> Self {
        self.inputs = Some(inputs);
        self
    }

    /// The same family, pruned one-shot layer by layer (`layerwise` modifiers) through the
    /// model's [`Blocks`], which also give its linear layers' inputs for one-pass Wanda.
    pub fn with_blocks(mut self) -> Self
    where
        M: Blocks<Input = Tensor<4>>
            + ImageClassifier
            + Module
            + burn::module::ModuleDisplay
            + core::fmt::Display
            + 'static,
        ImageClassification<M>: Task<Model = M, Batch = ImageBatch>,
    {
        self.inputs = Some(|model, images| ember_models::blocks::linear_inputs_of(model, images));
        self.layer_by_layer = Some(|recipe, options, model, data, source, calibration| {
            prune_layer_by_layer::<ImageClassification<M>, _>(
                recipe,
                options,
                model,
                data,
                PruneSource::Checkpoint(source),
                calibration,
                |batch: &ImageBatch| batch.images.clone(),
            )
        });
        self
    }

    /// The same family, run under `--engine sparse` by the [`SparseMlp`] that `engine` builds
    /// from the run's model.
    pub(crate) fn with_sparse_engine(
        mut self,
        engine: fn(&M) -> Result<SparseMlp, TrainError>,
    ) -> Self {
        self.sparse = Some(engine);
        self
    }
}

fn image_source(recipe: &Recipe) -> Result<DatasetSource, TrainError> {
    recipe.data.source().map_err(|message| TrainError::Invalid {
        field: "data".into(),
        value: format!("{:?}", recipe.data.source),
        message,
    })
}

fn refuse_texts(recipe: &Recipe, texts: &[String]) -> Result<(), TrainError> {
    if texts.is_empty() {
        return Ok(());
    }
    Err(TrainError::Invalid {
        field: "--text".into(),
        value: format!("{} texts", texts.len()),
        message: format!(
            "the `{}` model classifies images, not text",
            recipe.model.name()
        ),
    })
}

/// The data of an image recipe: MNIST-family splits; `data.validation` of each class of the
/// training split held out (seeded by `data.split_seed`) for the per-epoch validation
/// metrics, the rest limited as `data.train_limit` says; the test split is touched only for
/// the report's final numbers.
fn image_data(recipe: &Recipe, options: &RunOptions) -> Result<TaskData<ImageBatch>, TrainError> {
    let splits = image_source(recipe)?.load()?;
    let invalid = |field: &str, value: String, message: String| TrainError::Invalid {
        field: field.into(),
        value,
        message,
    };
    // Ember's image models read MNIST's 28×28 images; another size is refused here rather
    // than found by a shape assertion inside the first forward pass.
    let (rows, cols) = (splits.train.rows(), splits.train.cols());
    if (rows, cols) != (28, 28) {
        return Err(invalid(
            "data",
            format!("{rows}×{cols} images"),
            format!(
                "the `{}` model takes 28×28 images (MNIST, Fashion-MNIST)",
                recipe.model.name()
            ),
        ));
    }
    // A split without examples would report an accuracy of nothing as 0%.
    for (split, len) in [
        ("training", splits.train.len()),
        ("test", splits.test.len()),
    ] {
        if len == 0 {
            return Err(invalid(
                "data",
                format!("{:?}", recipe.data.source),
                format!("its {split} split holds no images"),
            ));
        }
    }
    let (train, valid) = splits
        .train
        .split_validation(recipe.data.image_validation(), recipe.data.split_seed());
    let train = match recipe.data.train_limit {
        Some(limit) => train.evenly_spaced(limit),
        None => train,
    };
    Ok(TaskData::new(
        ImageBatcher,
        recipe.data.batch_size,
        recipe.seed,
        options.main_device()?,
        [train, valid, splits.test],
    ))
}

impl<M> ModelEntry for ImageFamily<M>
where
    M: ImageClassifier + Module + burn::module::ModuleDisplay + core::fmt::Display + 'static,
    ImageClassification<M>: Task<Model = M, Batch = ImageBatch>,
{
    fn validate(&self, recipe: &Recipe) -> Result<(), TrainError> {
        recipe.model.refuse_dir()?;
        (self.check)(&recipe.model)?;
        if recipe.data.source.is_text() {
            return Err(TrainError::Invalid {
                field: "data.source".into(),
                value: format!("{:?}", recipe.data.source),
                message: format!(
                    "the `{}` model reads images: a text data set needs a text model \
                     (`kind = \"bert\"`)",
                    recipe.model.name()
                ),
            });
        }
        Ok(())
    }

    fn bind(
        &self,
        recipe: &Recipe,
        plan: SparsityPlan,
        device: &Device,
    ) -> Result<bool, TrainError> {
        let model = (self.build)(&recipe.model, device)?;
        Sparse::new(model, plan)?;
        Ok(true)
    }

    fn prune(
        &self,
        recipe: &Recipe,
        options: &RunOptions,
        source: &Path,
        calibration: usize,
    ) -> Result<RunReport, TrainError> {
        let model = (self.build)(&recipe.model, options.main_device()?)?;
        let data = image_data(recipe, options)?;
        if let Some(index) = recipe.prunes_layer_by_layer() {
            let Some(layer_by_layer) = self.layer_by_layer else {
                return Err(TrainError::Invalid {
                    field: format!("modifiers[{index}].kind"),
                    value: "layerwise".into(),
                    message: format!(
                        "the `{}` family does not expose its blocks, which layer-by-layer \
                         pruning runs one at a time",
                        recipe.model.name()
                    ),
                });
            };
            return layer_by_layer(recipe, options, model, data, source, calibration);
        }
        let inputs = self
            .inputs
            .map(|inputs| move |model: &M, batch: &ImageBatch| inputs(model, batch.images.clone()));
        prune_task::<ImageClassification<M>>(
            recipe,
            options,
            model,
            data,
            PruneSource::Checkpoint(source),
            calibration,
            inputs
                .as_ref()
                .map(|f| f as &ember_train::oneshot::InputsOf<M, ImageBatch>),
        )
    }

    fn run(&self, recipe: &Recipe, options: &RunOptions) -> Result<RunReport, TrainError> {
        let device = options.main_device()?;
        // The initial weights are drawn on the host from the recipe seed, then moved: every
        // backend starts from identical weights.
        let mut built = Ok(());
        let model = init_on_host(recipe.weights_seed(), device, |host| {
            (self.build)(&recipe.model, host)
                .map_err(|error| built = Err(error))
                .ok()
        });
        built?;
        let model = model.expect("a model is built when its settings read");
        let data = image_data(recipe, options)?;
        run_task::<ImageClassification<M>>(recipe, options, model, data)
    }

    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        refuse_texts(recipe, texts)?;
        let model = (self.build)(&recipe.model, device)?;
        let model = load_run::<ImageClassification<M>>(run_dir, recipe, model, registries)?;
        let test = image_source(recipe)?.load()?.test;
        let examples = burn::data::dataset::Dataset::len(&test);
        if examples == 0 {
            return Err(TrainError::Invalid {
                field: "data".into(),
                value: format!("{:?}", recipe.data.source),
                message: "its test split holds no images: there is nothing to evaluate".into(),
            });
        }
        let data = TaskData::new(
            ImageBatcher,
            recipe.data.batch_size,
            recipe.seed,
            device,
            [test.clone(), test.clone(), test],
        );
        Ok(Evaluation::Accuracy {
            accuracy: accuracy(&TaskModel::<ImageClassification<M>>::new(model), &data.test),
            examples,
        })
    }

    fn evaluate_sparse(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let Some(engine) = self.sparse else {
            return Err(TrainError::Invalid {
                field: "--engine".into(),
                value: "sparse".into(),
                message: format!(
                    "the `{}` family has no sparse engine: it runs on the dense engine only",
                    recipe.model.name()
                ),
            });
        };
        refuse_texts(recipe, texts)?;
        // The run's model read back (checksums verified) on the host; the engine reads its
        // layers from the module itself.
        let model = (self.build)(&recipe.model, &Device::flex())?;
        let model = load_run::<ImageClassification<M>>(run_dir, recipe, model, registries)?;
        let model = engine(&model)?;
        let test = image_source(recipe)?.load()?.test;
        let items = (0..burn::data::dataset::Dataset::len(&test))
            .map(|i| burn::data::dataset::Dataset::get(&test, i))
            .collect::<Result<Vec<ember_data::ImageItem>, _>>()
            .map_err(|e| TrainError::Invalid {
                field: "data".into(),
                value: "test split".into(),
                message: e.to_string(),
            })?;
        Ok(Evaluation::Accuracy {
            accuracy: model.accuracy(&items, recipe.data.batch_size)?,
            examples: items.len(),
        })
    }
}
