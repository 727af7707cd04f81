//! Naming burn devices: `flex`, `ndarray`, `wgpu`, `tch`, `cuda:1`, …
//!
//! Ember's library crates never name a backend; they take a [`Device`]. This module is the one
//! place that turns a user's device name into a [`Device`], and that knows which cargo feature
//! compiles each backend in. The CLI's `--device` / `--devices` flags and the cross-backend
//! test suite both go through it.

pub mod driver;

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A burn backend Ember knows how to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (`flex`, the default feature).
    Flex,
    /// burn's ndarray CPU backend (`ndarray` feature; deprecated by burn).
    NdArray,
    /// CubeCL on wgpu, with the graphics API chosen at run time (`wgpu` feature).
    Wgpu,
    /// CubeCL on wgpu pinned to Vulkan (`vulkan` feature).
    Vulkan,
    /// CubeCL on wgpu pinned to Metal (`metal` feature).
    Metal,
    /// libtorch on the CPU (`tch` feature; deprecated by burn).
    Tch,
    /// libtorch on a CUDA GPU (`tch-cuda` feature; needs a CUDA build of libtorch).
    TchCuda,
    /// CubeCL's native CUDA runtime (`cuda` feature).
    Cuda,
}

impl Backend {
    /// Every backend, in the order `ember devices` lists them.
    pub const ALL: [Backend; 8] = [
        Backend::Flex,
        Backend::NdArray,
        Backend::Wgpu,
        Backend::Vulkan,
        Backend::Metal,
        Backend::Tch,
        Backend::TchCuda,
        Backend::Cuda,
    ];

    /// The device name users type (`--device <name>`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Vulkan => "vulkan",
            Backend::Metal => "metal",
            Backend::Tch => "tch",
            Backend::TchCuda => "tch-cuda",
            Backend::Cuda => "cuda",
        }
    }

    /// The cargo feature (of `ember` and `ember-cli`) that compiles this backend in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this binary was built with the backend's feature.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Vulkan => cfg!(feature = "vulkan"),
            Backend::Metal => cfg!(feature = "metal"),
            Backend::Tch => cfg!(feature = "tch"),
            Backend::TchCuda => cfg!(feature = "tch-cuda"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Whether the backend has numbered devices (`cuda:1`); the others have one device each.
    pub fn is_indexed(self) -> bool {
        matches!(
            self,
            Backend::Wgpu | Backend::Vulkan | Backend::Metal | Backend::TchCuda | Backend::Cuda
        )
    }

    /// The backends this binary was built with.
    pub fn compiled() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a device name could not be turned into a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The name is not one Ember knows.
    #[error("unknown device `{name}`; known devices: {known}; this binary can use: {compiled}")]
    Unknown {
        /// The name as given.
        name: String,
        /// Every name Ember knows.
        known: String,
        /// The names this binary was built with.
        compiled: String,
    },
    /// The backend exists but this binary was built without its feature.
    #[error(
        "device `{name}` is not compiled into this binary; rebuild with `--features {feature}` \
         (this binary can use: {compiled})"
    )]
    NotCompiled {
        /// The name as given.
        name: String,
        /// The cargo feature that would enable it.
        feature: &'static str,
        /// The names this binary was built with.
        compiled: String,
    },
    /// The index after `:` is not a number, or the backend has no numbered devices.
    #[error("bad device index in `{name}`: {reason}")]
    BadIndex {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend is compiled in, but a library it opens at run time is not on this machine.
    #[error(
        "device `{name}` needs {what} ({names}), which the dynamic loader cannot find \
         (searched LD_LIBRARY_PATH, the ld.so cache and the default folders); it comes with \
         {provided_by}"
    )]
    MissingLibrary {
        /// The device name.
        name: String,
        /// What the library is.
        what: &'static str,
        /// The file names looked for.
        names: String,
        /// Which package or variable provides it.
        provided_by: &'static str,
    },
    /// A device list (`--devices`) was empty.
    #[error("the device list is empty; give at least one device, e.g. `flex` or `flex,flex`")]
    EmptyList,
    /// A device list (`--devices`) has an empty entry (`flex,,flex`).
    #[error("device {position} of `{list}` is empty; separate device names with single commas")]
    EmptyEntry {
        /// The list as given.
        list: String,
        /// The empty entry's position, from 1.
        position: usize,
    },
}

/// A device by name: a backend and, for GPU backends, an index (`cuda:1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceSpec {
    /// The backend.
    pub backend: Backend,
    /// The device index, for backends with numbered devices.
    pub index: Option<usize>,
}

impl DeviceSpec {
    /// The default device of `backend` (index 0 where devices are numbered).
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            index: None,
        }
    }

    /// The burn device, or an error naming the feature to build with.
    pub fn device(&self) -> Result<Device, DeviceError> {
        if !self.backend.is_compiled() {
            return Err(DeviceError::NotCompiled {
                name: self.to_string(),
                feature: self.backend.feature(),
                compiled: compiled_names(),
            });
        }
        self.check_libraries()?;
        Ok(make_device(self.backend, self.index))
    }

    /// Looks for the shared libraries the backend opens at run time (see [`driver`]), so that
    /// a missing driver is an error here instead of a panic at the first tensor operation.
    pub fn check_libraries(&self) -> Result<(), DeviceError> {
        // Each entry is a library and, after it, the ones that can stand in for it: wgpu
        // without a Vulkan loader falls back to OpenGL ES through EGL.
        self.require(match self.backend {
            Backend::Cuda => &[&[driver::CUDA_DRIVER], &[driver::NVRTC]],
            Backend::Vulkan => &[&[driver::VULKAN_LOADER]],
            Backend::Wgpu => &[&[driver::VULKAN_LOADER, driver::EGL]],
            _ => &[],
        })
    }

    /// Looks for the library of burn's collective all-reduce (NCCL on `cuda`), which a DDP
    /// run opens at its first backward pass.
    pub fn check_collective_libraries(&self) -> Result<(), DeviceError> {
        self.require(match self.backend {
            Backend::Cuda => &[&[driver::NCCL]],
            _ => &[],
        })
    }

    /// The first of `needed` (each a library and its stand-ins) that `dlopen` would not find,
    /// as an error; nothing is looked for outside Linux.
    fn require(&self, needed: &[&[driver::Library]]) -> Result<(), DeviceError> {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        for choices in needed {
            let library = &choices[0];
            if choices.iter().all(|l| driver::locate(l).is_none()) {
                return Err(DeviceError::MissingLibrary {
                    name: self.to_string(),
                    what: library.what,
                    names: library.names.join(", "),
                    provided_by: library.provided_by,
                });
            }
        }
        Ok(())
    }

    /// One device of every compiled backend, in [`Backend::ALL`] order.
    ///
    /// GPU backends contribute their first device, so this is what a test that runs "on every
    /// backend" iterates over.
    pub fn compiled() -> Vec<DeviceSpec> {
        Backend::compiled().into_iter().map(Self::new).collect()
    }

    /// Parses a comma-separated list (`flex,flex` or `cuda:0,cuda:1`), as `--devices` takes.
    pub fn parse_list(list: &str) -> Result<Vec<DeviceSpec>, DeviceError> {
        if list.split(',').all(|name| name.trim().is_empty()) {
            return Err(DeviceError::EmptyList);
        }
        let specs = list
            .split(',')
            .map(str::trim)
            .enumerate()
            .map(|(index, name)| {
                if name.is_empty() {
                    Err(DeviceError::EmptyEntry {
                        list: list.to_string(),
                        position: index + 1,
                    })
                } else {
                    name.parse()
                }
            })
            .collect::<Result<Vec<DeviceSpec>, _>>()?;
        if specs.is_empty() {
            return Err(DeviceError::EmptyList);
        }
        Ok(specs)
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "{}:{index}", self.backend),
            None => write!(f, "{}", self.backend),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase();
        let (backend_name, index) = match name.split_once(':') {
            Some((backend, index)) => (backend, Some(index)),
            None => (name.as_str(), None),
        };
        let Some(backend) = Backend::ALL.into_iter().find(|b| b.name() == backend_name) else {
            return Err(DeviceError::Unknown {
                name: text.to_string(),
                known: Backend::ALL.map(Backend::name).join(", "),
                compiled: compiled_names(),
            });
        };
        let index = match index {
            None => None,
            Some(_) if !backend.is_indexed() => {
                return Err(DeviceError::BadIndex {
                    name: text.to_string(),
                    reason: format!("`{backend}` has a single device and takes no index"),
                });
            }
            Some(index) => Some(index.parse::<usize>().map_err(|_| DeviceError::BadIndex {
                name: text.to_string(),
                reason: format!("`{index}` is not a device number"),
            })?),
        };
        Ok(Self { backend, index })
    }
}

fn compiled_names() -> String {
    let names: Vec<&str> = Backend::compiled().into_iter().map(Backend::name).collect();
    if names.is_empty() {
        "none (build with a backend feature)".to_string()
    } else {
        names.join(", ")
    }
}

/// Builds the device of a compiled backend. Only called after `is_compiled` said yes.
#[allow(deprecated, unused_variables)] // ndarray and tch are deprecated in burn 0.22.
fn make_device(backend: Backend, index: Option<usize>) -> Device {
    match backend {
        #[cfg(feature = "flex")]
        Backend::Flex => Device::flex(),
        #[cfg(feature = "ndarray")]
        Backend::NdArray => Device::ndarray(),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Device::wgpu(gpu_kind(index)),
        #[cfg(feature = "vulkan")]
        Backend::Vulkan => Device::vulkan(gpu_kind(index)),
        #[cfg(feature = "metal")]
        Backend::Metal => Device::metal(gpu_kind(index)),
        #[cfg(feature = "tch")]
        Backend::Tch => Device::libtorch(),
        #[cfg(feature = "tch-cuda")]
        Backend::TchCuda => Device::libtorch_cuda(index.unwrap_or(0)),
        #[cfg(feature = "cuda")]
        Backend::Cuda => Device::cuda(index.unwrap_or(0)),
        #[allow(unreachable_patterns)]
        other => unreachable!("`{other}` is not compiled in; DeviceSpec::device checks first"),
    }
}

/// wgpu devices: without an index, wgpu's own pick (a discrete GPU if there is one, else what
/// the driver offers, such as lavapipe's CPU device); with one, that discrete GPU.
#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "metal"))]
fn gpu_kind(index: Option<usize>) -> burn::tensor::DeviceKind {
    match index {
        None => burn::tensor::DeviceKind::DefaultDevice,
        Some(index) => burn::tensor::DeviceKind::DiscreteGpu(index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in Backend::ALL {
            let spec: DeviceSpec = backend.name().parse().unwrap();
            assert_eq!(spec, DeviceSpec::new(backend));
            assert_eq!(spec.to_string(), backend.name());
        }
        let spec: DeviceSpec = "CUDA:3".parse().unwrap();
        assert_eq!(spec.backend, Backend::Cuda);
        assert_eq!(spec.index, Some(3));
        assert_eq!(spec.to_string(), "cuda:3");
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        let err = "fles".parse::<DeviceSpec>().unwrap_err();
        assert!(err.to_string().contains("unknown device `fles`"), "{err}");
        assert!(err.to_string().contains("ndarray"), "{err}");
        let err = "flex:1".parse::<DeviceSpec>().unwrap_err();
        assert!(err.to_string().contains("takes no index"), "{err}");
        let err = "cuda:x".parse::<DeviceSpec>().unwrap_err();
        assert!(
            err.to_string().contains("`x` is not a device number"),
            "{err}"
        );
        assert_eq!(DeviceSpec::parse_list(" , "), Err(DeviceError::EmptyList));
        assert_eq!(
            DeviceSpec::parse_list("flex,,flex"),
            Err(DeviceError::EmptyEntry {
                list: "flex,,flex".into(),
                position: 2
            })
        );
    }

    #[test]
    fn missing_features_name_the_feature() {
        for backend in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
            let err = DeviceSpec::new(backend).device().unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("--features {}", backend.feature())),
                "{text}"
            );
        }
    }

    #[test]
    fn every_compiled_backend_makes_a_device() {
        for spec in DeviceSpec::compiled() {
            spec.device().unwrap();
        }
        assert_eq!(
            DeviceSpec::parse_list("flex, flex").unwrap(),
            vec![DeviceSpec::new(Backend::Flex); 2]
        );
    }
}
