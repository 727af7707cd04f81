//! The optimizer-step counter, kept on the host and saved in the module's record.

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
    Param, ParamId,
};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::sparse::read_ints;

/// The number of optimizer steps taken, on the host.
///
/// Schedules are decided on the host at every step, so the counter must not live on the
/// device: reading it back would stall a GPU queue every step. It is still module state:
/// visiting it (what burn's records do when saving) presents it as a one-element integer
/// parameter named `step`, and mapping it (what loading a record does) reads the loaded
/// value back to the host once.
#[derive(Debug, Clone)]
pub struct HostStep {
    value: u64,
    id: ParamId,
    device: Device,
}

impl HostStep {
    /// A counter at zero whose saved form lives on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            value: 0,
            id: ParamId::new(),
            device: device.clone(),
        }
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value
    }

    /// The counter one step later.
    pub fn advanced(mut self) -> Self {
        self.value += 1;
        self
    }

    fn as_param(&self) -> Param<Tensor<1, Int>> {
        let data = TensorData::new(vec![self.value as i64], [1]);
        Param::initialized(self.id, Tensor::from_data(data, &self.device))
    }
}

impl Module for HostStep {
    fn collect_devices(&self, devices: Devices) -> Devices {
        devices
    }

    fn fork(mut self, device: &Device) -> Self {
        self.device = device.clone();
        self
    }

    fn to_device(mut self, device: &Device) -> Self {
        self.device = device.clone();
        self
    }

    fn train(self) -> Self {
        self
    }

    fn valid(&self) -> Self {
        self.clone()
    }

    fn materialize(self) -> Self {
        self
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        visitor.visit_int(&self.as_param());
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        let param = mapper.map_int(self.as_param());
        let value = read_ints(param.val()).first().copied().unwrap_or(0).max(0) as u64;
        Self {
            value,
            id: param.id,
            device: self.device,
        }
    }
}

impl ModuleDisplayDefault for HostStep {
    fn content(&self, content: Content) -> Option<Content> {
        content.add_formatted(&self.value).optional()
    }
}

impl ModuleDisplay for HostStep {}
