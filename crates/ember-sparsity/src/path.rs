use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// A float parameter of a module, named by its dotted path (`fc1.weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// The dotted path built from the field names (`encoder.layers.3.mha.query.weight`).
    pub path: String,
    /// burn's id of the parameter (what gradients and optimizer state are keyed by).
    pub id: ParamId,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// The type of the module that owns the parameter (`Linear`, `Conv2d`, …).
    pub layer_type: String,
}

impl ParamInfo {
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The field name, the last segment of the path (`weight`, `bias`).
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

/// Tracks the dotted path and owning module type during a visit or a map.
#[derive(Debug, Default)]
pub(crate) struct PathTracker {
    segments: Vec<String>,
    containers: Vec<String>,
}

impl PathTracker {
    pub(crate) fn enter(&mut self, name: &str, container_type: &str) {
        self.segments.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    pub(crate) fn exit(&mut self) {
        self.segments.pop();
        self.containers.pop();
    }

    pub(crate) fn path(&self) -> String {
        self.segments.join(".")
    }

    /// The owning module's type, without burn's `Struct:` / `Enum:` prefix.
    pub(crate) fn layer_type(&self) -> String {
        let raw = self.containers.last().map(String::as_str).unwrap_or("");
        raw.split_once(':')
            .map_or(raw, |(_, name)| name)
            .to_string()
    }
}

struct Collector {
    tracker: PathTracker,
    params: Vec<ParamInfo>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params.push(ParamInfo {
            path: self.tracker.path(),
            id: param.id,
            shape: param.lazy_shape().iter().copied().collect(),
            layer_type: self.tracker.layer_type(),
        });
    }
}

/// Lists the float parameters of `module` in visiting order, with their paths.
pub fn collect_params<M: Module>(module: &M) -> Vec<ParamInfo> {
    let mut collector = Collector {
        tracker: PathTracker::default(),
        params: Vec::new(),
    };
    module.visit(&mut collector);
    collector.params
}

struct Replace<'a> {
    tracker: PathTracker,
    values: &'a std::collections::BTreeMap<String, Vec<f32>>,
    replaced: Vec<String>,
    wrong_size: Option<(String, usize, usize)>,
}

impl burn::module::ModuleMapper for Replace<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.tracker.path();
        let Some(values) = self.values.get(&path) else {
            return param;
        };
        let shape: Vec<usize> = param.lazy_shape().iter().copied().collect();
        let numel: usize = shape.iter().product();
        if values.len() != numel {
            self.wrong_size = Some((path, values.len(), numel));
            return param;
        }
        self.replaced.push(path);
        param.map(|tensor| {
            let data = burn::tensor::TensorData::new(values.clone(), shape);
            Tensor::from_data(data, &tensor.device())
        })
    }
}

/// `module` with the float parameters named in `values` (flat, in the parameter's own
/// layout) replaced, on their devices and under their ids: how a one-shot solver's new
/// weights go back into the model. Every path must name a parameter of that many elements.
pub fn replace_values<M: Module>(
    module: M,
    values: &std::collections::BTreeMap<String, Vec<f32>>,
) -> Result<M, crate::SparsityError> {
    let mut mapper = Replace {
        tracker: PathTracker::default(),
        values,
        replaced: Vec::new(),
        wrong_size: None,
    };
    let module = module.map(&mut mapper);
    if let Some((path, given, numel)) = mapper.wrong_size {
        return Err(crate::SparsityError::modifier(
            "replace_values",
            format!("{given} values for `{path}`, which has {numel} elements"),
        ));
    }
    if let Some(missing) = values.keys().find(|path| !mapper.replaced.contains(path)) {
        return Err(crate::SparsityError::modifier(
            "replace_values",
            format!("the model has no float parameter `{missing}`"),
        ));
    }
    Ok(module)
}
