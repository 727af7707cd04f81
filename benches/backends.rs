//! The training-step time of the quick-start model on every compiled backend, side by side.
//!
//! One step is LeNet-300-100 at 90% GMP sparsity, batch 64, Adam: forward, backward, masked
//! gradients, the optimizer update and the mask write-back, with one value read back so that
//! asynchronous backends (wgpu) finish the step before the clock stops. Each step feeds a new
//! batch of the embedded MNIST data, so no backend can answer from a cache.
//!
//! ```sh
//! cargo bench --bench backends                       # flex
//! cargo bench --bench backends --features ndarray,wgpu,tch
//! ```
//! Criterion prints each backend's time; a table with the ratio to flex follows.
//! `EMBER_BENCH_BACKENDS=flex,cuda` limits it to the backends named.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use burn::module::Module;
mod common;

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use common::train_step;
use criterion::{Criterion, criterion_group, criterion_main};
use ember::data::{ImageBatch, ImageBatcher, embedded_mnist_5k};
use ember::models::{Mlp, MlpConfig};
use ember::prelude::*;
use ember::train::init_on_host;

const BATCH: usize = 64;

struct Step {
    sparse: Option<Sparse<Mlp>>,
    optim: ModuleOptimizer,
    batches: Vec<ImageBatch>,
    next: usize,
}

impl Step {
    fn new(device: &Device) -> Self {
        let model = init_on_host(1, device, |host| MlpConfig::new().init(host));
        let plan = SparsityPlan::new(vec![Pruner::magnitude(
            "gmp",
            Selector::new([r"re:layers\.\d+\.weight"]),
            SparsitySchedule::one_shot(0.9, 0),
        )]);
        let device = device.clone().autodiff();
        let train = embedded_mnist_5k().expect("embedded data").train;
        let batches = train
            .evenly_spaced(16 * BATCH)
            .items()
            .chunks(BATCH)
            .take(16)
            .map(|items| {
                ImageBatcher
                    .try_batch(items.to_vec(), &device)
                    .expect("a batch")
            })
            .collect();
        let mut step = Self {
            sparse: Some(Sparse::new(model.train(), plan).expect("a valid plan")),
            optim: AdamConfig::new().init(),
            batches,
            next: 0,
        };
        // The first step prunes to 90%; later ones are the steady state the bench measures.
        step.run();
        step
    }

    fn run(&mut self) {
        let batch = self.batches[self.next % self.batches.len()].clone();
        self.next += 1;
        let sparse = self.sparse.take().expect("a model between steps");
        self.sparse = Some(train_step(
            sparse,
            &mut self.optim,
            batch.images,
            batch.targets,
        ));
    }
}

fn backends(c: &mut Criterion) {
    let mut group = c.benchmark_group("quickstart_step");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(6));
    let mut rows = Vec::new();
    let wanted = std::env::var("EMBER_BENCH_BACKENDS").ok();
    for spec in common::backends(wanted.as_deref()) {
        let device = spec.device().expect("a compiled backend");
        let mut step = Step::new(&device);
        // A few untimed steps compile wgpu's kernels before criterion's warm-up.
        for _ in 0..3 {
            step.run();
        }
        group.bench_function(spec.to_string(), |b| b.iter(|| step.run()));
        // A plain mean over 20 more steps for the side-by-side table.
        let started = std::time::Instant::now();
        for _ in 0..20 {
            step.run();
        }
        rows.push((spec.to_string(), started.elapsed().as_secs_f64() / 20.0));
    }
    group.finish();

    let flex = rows
        .iter()
        .find(|(name, _)| name == "flex")
        .map(|(_, t)| *t);
    println!("\nquick-start training step (LeNet-300-100, 90% sparse, batch {BATCH}, Adam):");
    println!("{:<10} {:>12} {:>10}", "backend", "ms / step", "vs flex");
    for (name, seconds) in &rows {
        let ratio = flex.map_or(String::from("-"), |f| format!("{:.2}x", seconds / f));
        println!("{name:<10} {:>12.2} {ratio:>10}", seconds * 1e3);
    }
}

criterion_group!(benches, backends);
criterion_main!(benches);
