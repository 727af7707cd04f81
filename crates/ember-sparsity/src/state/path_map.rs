//! Module state keyed by parameter path.

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::tensor::Device;

/// Module state keyed by parameter path, sorted by path.
///
/// Each entry is visited under its path as module name, so burn's ordinary records key the
/// state by parameter path (`state.layers.0.weight.keep`) rather than by position. A
/// checkpoint therefore restores every mask to the tensor it belongs to whatever the order of
/// the modifiers, and a checkpoint whose paths differ from the plan's fails to load with
/// burn's missing / unused tensor lists, which name the paths.
#[derive(Debug, Clone, Default)]
pub struct PathMap<T> {
    entries: Vec<(String, T)>,
}

impl<T> PathMap<T> {
    /// A map of the given entries (sorted here; paths must be distinct).
    pub fn new(mut entries: Vec<(String, T)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Self { entries }
    }

    /// The index of `path`.
    pub fn index_of(&self, path: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|(p, _)| p.as_str().cmp(path))
            .ok()
    }

    /// The entry of `path`.
    pub fn get(&self, path: &str) -> Option<&T> {
        self.index_of(path).map(|i| &self.entries[i].1)
    }

    /// The entry at `index`.
    pub fn at(&self, index: usize) -> &T {
        &self.entries[index].1
    }

    /// The entry at `index`, mutably.
    pub fn at_mut(&mut self, index: usize) -> &mut T {
        &mut self.entries[index].1
    }

    /// The entries, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().map(|(p, t)| (p.as_str(), t))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn map_values(self, f: impl Fn(T) -> T) -> Self {
        Self {
            entries: self.entries.into_iter().map(|(p, t)| (p, f(t))).collect(),
        }
    }
}

impl<T: Module> Module for PathMap<T> {
    fn collect_devices(&self, mut devices: Devices) -> Devices {
        for (_, entry) in &self.entries {
            devices = entry.collect_devices(devices);
        }
        devices
    }

    fn fork(self, device: &Device) -> Self {
        self.map_values(|t| t.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        self.map_values(|t| t.to_device(device))
    }

    fn train(self) -> Self {
        self.map_values(Module::train)
    }

    fn valid(&self) -> Self {
        self.clone().map_values(|t| t.valid())
    }

    fn materialize(self) -> Self {
        self.map_values(Module::materialize)
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        for (path, entry) in &self.entries {
            visitor.enter_module(path, "PathMap");
            entry.visit(visitor);
            visitor.exit_module(path, "PathMap");
        }
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        let entries = self
            .entries
            .into_iter()
            .map(|(path, entry)| {
                mapper.enter_module(&path, "PathMap");
                let entry = entry.map(mapper);
                mapper.exit_module(&path, "PathMap");
                (path, entry)
            })
            .collect();
        Self { entries }
    }
}

impl<T: ModuleDisplay> ModuleDisplayDefault for PathMap<T> {
    fn content(&self, content: Content) -> Option<Content> {
        self.entries
            .iter()
            .fold(content, |acc, (path, entry)| acc.add(path, entry))
            .set_top_level_type(&format!("PathMap<{}>", self.entries.len()))
            .optional()
    }
}

impl<T: ModuleDisplay> ModuleDisplay for PathMap<T> {}
