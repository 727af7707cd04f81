//! What freezing saves: the time of one training step of LeNet-300-100 (batch 128, Adam, flex)
//! and the size of the optimizer state, for
//! - `dense`: nothing frozen;
//! - `freeze_all`: `layers.0` (88% of the parameters) frozen whole through `require_grad = false`;
//! - `freeze_elements`: 90% of `layers.0.weight` frozen element by element (top magnitude).
//!
//! ```sh
//! cargo bench --bench freeze
//! ```
//! Criterion prints the step times; the optimizer state sizes are printed before them.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

mod common;

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor};
use common::train_step;
use criterion::{Criterion, criterion_group, criterion_main};
use ember::models::{Mlp, MlpConfig};
use ember::prelude::*;
use ember::sparsity::{FreezeRule, Freezer};

fn plan(case: &str) -> SparsityPlan {
    let at_start = SparsitySchedule::one_shot(0.9, 0);
    match case {
        "dense" => SparsityPlan::default(),
        "freeze_all" => SparsityPlan::default().with_freezer(Freezer::new(
            "all",
            Selector::new(["layers.0.weight", "layers.0.bias"]),
            FreezeRule::All,
            at_start,
        )),
        _ => SparsityPlan::default().with_freezer(Freezer::new(
            "top",
            Selector::new(["layers.0.weight"]),
            FreezeRule::TopMagnitude,
            at_start,
        )),
    }
}

struct Step {
    sparse: Option<Sparse<Mlp>>,
    optim: ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
}

impl Step {
    fn new(case: &str, device: &Device) -> Self {
        device.seed(1);
        let sparse = Sparse::new(MlpConfig::new().init(device), plan(case)).expect("a valid plan");
        Self {
            sparse: Some(sparse),
            optim: AdamConfig::new().init(),
            images: Tensor::random([128, 1, 28, 28], Distribution::Normal(0.0, 1.0), device),
            targets: Tensor::<1, Int>::arange(0..128, device).remainder_scalar(10),
        }
    }

    fn run(&mut self) {
        let sparse = self.sparse.take().expect("a model between steps");
        self.sparse = Some(train_step(
            sparse,
            &mut self.optim,
            self.images.clone(),
            self.targets.clone(),
        ));
    }

    fn optimizer_state_bytes(&self) -> usize {
        self.optim
            .to_record()
            .into_bytes()
            .map(|b| b.len())
            .unwrap_or(0)
    }
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let cases = ["dense", "freeze_all", "freeze_elements"];
    for case in cases {
        let mut step = Step::new(case, &device);
        step.run();
        let trainable = step
            .sparse
            .as_ref()
            .map(|s| s.report().trainable)
            .unwrap_or(0);
        println!(
            "{case:<16} optimizer state {:>9} bytes, {trainable:>6} trainable parameters",
            step.optimizer_state_bytes()
        );
    }
    let mut group = c.benchmark_group("lenet300_train_step");
    for case in cases {
        let mut step = Step::new(case, &device);
        group.bench_function(case, |b| b.iter(|| step.run()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
