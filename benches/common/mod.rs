//! What the benches share: one timed training step, with Ember or without; the backends a run
//! asks for; two sides timed alternately, fed the same cycle of batches.

// Each bench compiles this module; not all of them use everything.
#![allow(dead_code)]

pub mod torch_worker;
pub mod warm;

use std::process::Command;
use std::time::Instant;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor};
use ember::backend::DeviceSpec;
use ember::data::{ImageBatch, ImageBatcher, embedded_mnist_5k};
use ember::models::{ImageClassifier, Mlp};
use ember::sparsity::Sparse;

/// Reads one value of `model` back to the host, so that a step is really computed before the
/// clock stops, asynchronous backends (wgpu) included.
fn read_back(model: &Mlp) {
    let last = model.layers.len() - 1;
    let _ = model.layers[last].weight.val().sum().into_scalar::<f32>();
}

/// One training step of an MLP: forward, backward and [`Sparse::optimizer_step`] at
/// learning rate 1e-3, then one value read back.
pub fn train_step(
    sparse: Sparse<Mlp>,
    optim: &mut ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
) -> Sparse<Mlp> {
    let output = sparse.model.classify(images, targets);
    let grads = GradientsParams::from_grads(output.loss.backward(), &sparse.model);
    let sparse = sparse.optimizer_step(optim, 1e-3, grads);
    read_back(&sparse.model);
    sparse
}

/// [`train_step`] without Ember: plain burn's forward, backward and optimizer step at
/// learning rate 1e-3, then one value read back.
pub fn plain_step(
    model: Mlp,
    optim: &mut ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
) -> Mlp {
    let output = model.classify(images, targets);
    let grads = GradientsParams::from_grads(output.loss.backward(), &model);
    let model = optim.step(1e-3, model, grads);
    read_back(&model);
    model
}

/// `count` batches of `size` images of the embedded MNIST training split on `device`, always
/// the same ones (spread evenly over the split).
pub fn mnist_batches(size: usize, count: usize, device: &Device) -> Vec<ImageBatch> {
    let train = embedded_mnist_5k().expect("embedded data").train;
    train
        .evenly_spaced(count * size)
        .items()
        .chunks(size)
        .take(count)
        .map(|items| {
            ImageBatcher
                .try_batch(items.to_vec(), device)
                .expect("a batch")
        })
        .collect()
}

/// The compiled backends that `wanted` names (comma-separated), or all of them without a list.
pub fn backends(wanted: Option<&str>) -> Vec<DeviceSpec> {
    DeviceSpec::compiled()
        .into_iter()
        .filter(|spec| {
            wanted.is_none_or(|list| list.split(',').any(|name| name.trim() == spec.to_string()))
        })
        .collect()
}

/// The same batches for several sides, each side taking them in turn from its own place in the
/// cycle, so both see the same sequence.
pub struct Cycle<T> {
    batches: Vec<T>,
    next: [usize; 4],
}

impl<T: Clone> Cycle<T> {
    /// Cycles through `batches`.
    pub fn new(batches: Vec<T>) -> Self {
        Self {
            batches,
            next: [0; 4],
        }
    }

    /// The next batch of side `side` (0 to 3).
    pub fn next(&mut self, side: usize) -> T {
        let batch = self.batches[self.next[side] % self.batches.len()].clone();
        self.next[side] += 1;
        batch
    }
}

/// The medians of `samples` timed calls of `step(state, side)` for each of the `N` sides,
/// rotating which side goes first, so that machine noise hits all alike.
pub fn alternating<P, const N: usize>(
    samples: usize,
    state: &mut P,
    mut step: impl FnMut(&mut P, usize),
) -> [f64; N] {
    alternating_reported(samples, state, |state, side| {
        step(state, side);
        None
    })
}

/// [`alternating`] for sides that may time themselves: where `step` returns the seconds a
/// side measured (another process's step, say), they replace the time of the whole call, so
/// that what the call does besides (a pause that lets that process's threads go quiet
/// before the next side) is not counted.
pub fn alternating_reported<P, const N: usize>(
    samples: usize,
    state: &mut P,
    mut step: impl FnMut(&mut P, usize) -> Option<f64>,
) -> [f64; N] {
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for i in 0..samples {
        for k in 0..N {
            let side = (i + k) % N;
            let started = Instant::now();
            let reported = step(state, side);
            times[side].push(reported.unwrap_or_else(|| started.elapsed().as_secs_f64()));
        }
    }
    times.map(median)
}

/// The median of `seconds` (not empty).
pub fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

/// The Python that `env_var` names (`python3` without it), if it has numpy; else why not,
/// with `hint` saying where to get one.
pub fn numpy_python(env_var: &str, hint: &str) -> Result<String, String> {
    let python = std::env::var(env_var).unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import numpy; print(numpy.__version__)"])
        .output();
    match probe {
        Err(error) => Err(format!("cannot run {python} ({error})")),
        Ok(out) if !out.status.success() => Err(format!("{python} has no numpy ({hint})")),
        Ok(out) => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            println!("numpy {version} from {python}");
            Ok(python)
        }
    }
}
