//! What Ember costs on a training step: plain burn against the same model wrapped in
//! [`Sparse`], side by side, on every compiled backend.
//!
//! One step is LeNet-300-100 with Adam at learning rate 1e-3, at batch 64 and 128: forward,
//! backward, `GradientsParams::from_grads` and the optimizer step, then one value read back so
//! that asynchronous backends (wgpu) finish the step before the clock stops.
//! - `plain`: `optim.step(..)` on the bare model;
//! - `ember`: [`Sparse::optimizer_step`] with a one-shot 90% global magnitude plan on
//!   `re:layers\.\d+\.weight`, pruned at step 0; the measured steps come after it, so they are
//!   the steady state: masked gradients and the mask write-back, no mask update.
//!
//! Both start from the same weights and feed the same batches of the embedded MNIST data.
//!
//! ```sh
//! cargo bench --profile dev --bench overhead                   # flex
//! cargo bench --profile dev --bench overhead --features tch    # flex and tch
//! OVERHEAD_BACKENDS=flex,tch OVERHEAD_SPARSITY=0 cargo bench --profile dev --bench overhead \
//!     --features ndarray,wgpu,tch                               # the backend suite's build
//! ```
//! `OVERHEAD_SPARSITY=0` measures Ember's bookkeeping alone (the masks prune nothing).
//! Criterion prints each step time; a table follows with the overhead, from the medians of
//! 30 interleaved plain and ember steps (alternating, so that machine noise hits both alike).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use common::{Cycle, alternating, backends, mnist_batches, plain_step, train_step};
use criterion::{Criterion, criterion_group, criterion_main};
use ember::data::ImageBatch;
use ember::models::{Mlp, MlpConfig};
use ember::prelude::*;
use ember::train::init_on_host;

const BATCH_SIZES: [usize; 2] = [64, 128];
/// Distinct batches each side cycles through.
const BATCHES: usize = 16;
/// Plain and ember steps timed alternately for the table.
const INTERLEAVED: usize = 300;

/// The plain model and the sparse one, each with its optimizer and its place in the batches.
struct Pair {
    plain: Option<Mlp>,
    plain_optim: ModuleOptimizer,
    sparse: Option<Sparse<Mlp>>,
    sparse_optim: ModuleOptimizer,
    batches: Cycle<ImageBatch>,
}

impl Pair {
    fn new(device: &Device, batch_size: usize) -> Self {
        let model = || init_on_host(1, device, |host| MlpConfig::new().init(host)).train();
        let plan = SparsityPlan::new(vec![Pruner::magnitude(
            "gmp",
            Selector::new([r"re:layers\.\d+\.weight"]),
            SparsitySchedule::one_shot(sparsity(), 0),
        )]);
        let mut pair = Self {
            plain: Some(model()),
            plain_optim: AdamConfig::new().init(),
            sparse: Some(Sparse::new(model(), plan).expect("a valid plan")),
            sparse_optim: AdamConfig::new().init(),
            batches: Cycle::new(mnist_batches(
                batch_size,
                BATCHES,
                &device.clone().autodiff(),
            )),
        };
        // Step 0 prunes to 90%; the untimed steps after it also compile wgpu's kernels.
        for _ in 0..4 {
            pair.plain();
            pair.ember();
        }
        pair
    }

    fn plain(&mut self) {
        let batch = self.batches.next(0);
        let model = self.plain.take().expect("a model between steps");
        self.plain = Some(plain_step(
            model,
            &mut self.plain_optim,
            batch.images,
            batch.targets,
        ));
    }

    fn ember(&mut self) {
        let batch = self.batches.next(1);
        let sparse = self.sparse.take().expect("a model between steps");
        self.sparse = Some(train_step(
            sparse,
            &mut self.sparse_optim,
            batch.images,
            batch.targets,
        ));
    }
}

/// The pruned fraction: 0.9, or `OVERHEAD_SPARSITY` (0 measures the bookkeeping alone).
fn sparsity() -> f64 {
    std::env::var("OVERHEAD_SPARSITY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.9)
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("step_overhead");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    let mut rows = Vec::new();
    // A build with the backend suite's features can leave out lavapipe's slow wgpu.
    for spec in backends(std::env::var("OVERHEAD_BACKENDS").ok().as_deref()) {
        let device = spec.device().expect("a compiled backend");
        for batch_size in BATCH_SIZES {
            let mut pair = Pair::new(&device, batch_size);
            group.bench_function(format!("{spec}/{batch_size}/plain"), |b| {
                b.iter(|| pair.plain())
            });
            group.bench_function(format!("{spec}/{batch_size}/ember"), |b| {
                b.iter(|| pair.ember())
            });
            let [plain, ember] = alternating(INTERLEAVED, &mut pair, |pair, side| {
                if side == 0 {
                    pair.plain()
                } else {
                    pair.ember()
                }
            });
            rows.push((spec.to_string(), batch_size, plain, ember));
        }
    }
    group.finish();

    println!(
        "\ntraining step, LeNet-300-100, Adam: plain burn against Ember (90% sparse), \
         medians of {INTERLEAVED} interleaved steps:"
    );
    println!(
        "{:<10} {:>6} {:>10} {:>10} {:>10}",
        "backend", "batch", "plain ms", "ember ms", "overhead"
    );
    for (name, batch_size, plain, ember) in &rows {
        let overhead = (ember / plain - 1.0) * 100.0;
        // One JSON record per row, for `cargo xtask bench`.
        println!(
            "BENCH {{\"kind\":\"train_lenet\",\"backend\":\"{name}\",\"batch\":{batch_size},\
             \"sparsity\":{},\"plain_s\":{plain:e},\"ember_s\":{ember:e}}}",
            sparsity()
        );
        println!(
            "{name:<10} {batch_size:>6} {:>10.2} {:>10.2} {overhead:>9.1}%",
            plain * 1e3,
            ember * 1e3
        );
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
