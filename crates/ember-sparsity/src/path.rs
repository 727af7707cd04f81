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
