//! What Ember costs on a training step: plain burn against the same model wrapped in
//! [`Sparse`], side by side, on every compiled backend.
//!
//! One step is LeNet-300-100 with Adam at learning rate 1e-3, at batch 64 and 128: forward,
//! backward, `GradientsParams::from_grads` and the optimizer step, then one value read back so
//! that asynchronous backends (wgpu) finish the step before the clock stops.
//! - `plain`: `optim.step(..)` on the bare model;
//! - `pruned`: [`Sparse::optimizer_step`] with a one-shot 90% global magnitude plan on
//!   `re:layers\.\d+\.weight`, pruned at step 0; the measured steps come after it, so they are
//!   the steady state: the mask write-back (and masked gradients under `OVERHEAD_ZEROED`), no
//!   mask update;
//! - `frozen`: the same three weights with their top-magnitude 90% frozen element by element
//!   at step 0 (frozen values written back);
//! - `frozen_tensor`: `layers.0` frozen whole, through burn's `require_grad = false` (no
//!   gradient, no optimizer state: faster than plain).
//!
//! All start from the same weights and feed the same batches of the embedded MNIST data.
//!
//! ```sh
//! cargo bench --bench overhead                                 # flex
//! OVERHEAD_BACKENDS=flex,ndarray,tch cargo bench --bench overhead --features ndarray,tch
//! OVERHEAD_SPARSITY=0 cargo bench --bench overhead              # bookkeeping alone
//! ```
//! The wrapped sides train as `ember run` does: Adam declared element-wise
//! ([`Sparse::with_elementwise_optimizer`]), so no gradient is masked; `OVERHEAD_ZEROED=1`
//! zeroes the gradients of pruned and frozen elements before Adam, the library's default.
//! `OVERHEAD_SPARSITY=0` measures Ember's bookkeeping alone (the masks prune and freeze
//! nothing). Criterion prints the plain and pruned step times; a table follows with each
//! side's overhead, from the medians of `INTERLEAVED` steps taken in rotation (so that machine
//! noise hits every side alike).
//!
//! With `BENCH_TORCH_PYTHON` naming a Python that imports torch (as `cargo xtask bench` does),
//! each row also samples plain burn and the pruned model against PyTorch's dense and pruned
//! steps (`scripts/bench_torch.py`'s `lenet_steps`, through a `scripts/torch_worker.py`
//! worker) in a second alternation of `AGAINST_TORCH` warm samples each. It is kept apart
//! from the first, which measures Ember's overhead: PyTorch's OpenMP workers spin on after a
//! step, and would slow whichever side comes next.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Device;
use common::torch_worker::TorchWorker;
use common::warm::{timed, warm_interleaved};
use common::{Cycle, alternating, backends, mnist_batches, plain_step, train_step};
use criterion::{Criterion, criterion_group, criterion_main};
use ember::data::ImageBatch;
use ember::models::{Mlp, MlpConfig};
use ember::prelude::*;
use ember::sparsity::{FreezeRule, Freezer};
use ember::train::init_on_host;

const BATCH_SIZES: [usize; 2] = [64, 128];
/// Distinct batches each side cycles through.
const BATCHES: usize = 16;
/// Steps of each side timed in rotation for the table.
const INTERLEAVED: usize = 300;
/// Warm samples of each side in the alternation against PyTorch.
const AGAINST_TORCH: usize = 31;
/// The wrapped sides, in the order of the table's columns.
const WRAPPED: [&str; 3] = ["pruned", "frozen", "frozen_tensor"];

/// The pruned (or frozen) fraction: 0.9, or `OVERHEAD_SPARSITY` (0 measures the bookkeeping
/// alone).
fn sparsity() -> f64 {
    std::env::var("OVERHEAD_SPARSITY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.9)
}

/// Whether the wrapped sides declare Adam element-wise, as `ember run` does for every recipe
/// (the gradients of pruned and frozen elements reach Adam unmasked and the write-back after
/// the step restores them); `OVERHEAD_ZEROED=1` measures the library's default instead, the
/// gradients zeroed before the optimizer.
fn elementwise() -> bool {
    std::env::var("OVERHEAD_ZEROED").map_or(true, |v| v.is_empty() || v == "0")
}

/// The plan of a wrapped side.
fn plan(side: &str) -> SparsityPlan {
    let weights = || Selector::new([r"re:layers\.\d+\.weight"]);
    let at_start = SparsitySchedule::one_shot(sparsity(), 0);
    match side {
        "pruned" => SparsityPlan::new(vec![Pruner::magnitude("gmp", weights(), at_start)]),
        "frozen" => SparsityPlan::default().with_freezer(Freezer::new(
            "top",
            weights(),
            FreezeRule::TopMagnitude,
            at_start,
        )),
        _ => SparsityPlan::default().with_freezer(Freezer::new(
            "first",
            Selector::new(["layers.0.weight", "layers.0.bias"]),
            FreezeRule::All,
            at_start,
        )),
    }
}

/// The plain model and the wrapped ones, each with its optimizer, and the batches.
struct Sides {
    plain: Option<Mlp>,
    plain_optim: ModuleOptimizer,
    wrapped: Vec<(Option<Sparse<Mlp>>, ModuleOptimizer)>,
    batches: Cycle<ImageBatch>,
}

impl Sides {
    fn new(device: &Device, batch_size: usize) -> Self {
        let model = || init_on_host(1, device, |host| MlpConfig::new().init(host)).train();
        let mut sides = Self {
            plain: Some(model()),
            plain_optim: AdamConfig::new().init(),
            wrapped: WRAPPED
                .iter()
                .map(|side| {
                    let sparse = Sparse::new(model(), plan(side))
                        .expect("a valid plan")
                        .with_elementwise_optimizer(elementwise());
                    (Some(sparse), AdamConfig::new().init())
                })
                .collect(),
            batches: Cycle::new(mnist_batches(
                batch_size,
                BATCHES,
                &device.clone().autodiff(),
            )),
        };
        // Step 0 prunes and freezes; the untimed steps after it also compile wgpu's kernels.
        for _ in 0..4 {
            for side in 0..=WRAPPED.len() {
                sides.step(side);
            }
        }
        sides
    }

    /// One step of side `side`: 0 is plain, then the wrapped sides in `WRAPPED`'s order.
    fn step(&mut self, side: usize) {
        let batch = self.batches.next(side);
        if side == 0 {
            let model = self.plain.take().expect("a model between steps");
            self.plain = Some(plain_step(
                model,
                &mut self.plain_optim,
                batch.images,
                batch.targets,
            ));
        } else {
            let (sparse, optim) = &mut self.wrapped[side - 1];
            let model = sparse.take().expect("a model between steps");
            *sparse = Some(train_step(model, optim, batch.images, batch.targets));
        }
    }
}

/// Plain burn, the pruned model, PyTorch dense and PyTorch pruned (`worker`'s LeNet timers at
/// `batch_size`), sampled warm and in turn: the medians, in that order.
fn against_torch(sides: &mut Sides, worker: &mut TorchWorker, batch_size: usize) -> [f64; 4] {
    worker
        .lenet(batch_size)
        .unwrap_or_else(|error| panic!("PyTorch's LeNet at batch {batch_size}: {error}"));
    let sides = std::cell::RefCell::new(sides);
    let worker = std::cell::RefCell::new(worker);
    let mut plain = timed(|| sides.borrow_mut().step(0));
    let mut pruned = timed(|| sides.borrow_mut().step(1));
    let mut torch_dense = |reps| worker.borrow_mut().time("dense", reps);
    let mut torch_pruned = |reps| worker.borrow_mut().time("pruned", reps);
    let t = warm_interleaved(
        AGAINST_TORCH,
        &mut [&mut plain, &mut pruned, &mut torch_dense, &mut torch_pruned],
    );
    [t[0], t[1], t[2], t[3]]
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("step_overhead");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    let mut rows = Vec::new();
    let mut torch = std::env::var("BENCH_TORCH_PYTHON").ok().map(|python| {
        TorchWorker::start(&python, &[]).unwrap_or_else(|error| panic!("PyTorch's worker: {error}"))
    });
    // A build with the backend suite's features can leave out lavapipe's slow wgpu.
    for spec in backends(std::env::var("OVERHEAD_BACKENDS").ok().as_deref()) {
        let device = spec.device().expect("a compiled backend");
        for batch_size in BATCH_SIZES {
            let mut sides = Sides::new(&device, batch_size);
            group.bench_function(format!("{spec}/{batch_size}/plain"), |b| {
                b.iter(|| sides.step(0))
            });
            group.bench_function(format!("{spec}/{batch_size}/pruned"), |b| {
                b.iter(|| sides.step(1))
            });
            let times: [f64; 4] = alternating(INTERLEAVED, &mut sides, Sides::step);
            let versus = torch
                .as_mut()
                .map(|worker| against_torch(&mut sides, worker, batch_size));
            rows.push((spec.to_string(), batch_size, times, versus));
        }
    }
    group.finish();

    println!(
        "\ntraining step, LeNet-300-100, Adam: plain burn against Ember ({:.0}% pruned, {:.0}% \
         frozen element by element, layers.0 frozen whole), medians of {INTERLEAVED} steps \
         taken in rotation:",
        sparsity() * 100.0,
        sparsity() * 100.0,
    );
    println!(
        "{:<10} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "backend",
        "batch",
        "plain ms",
        "pruned",
        "overhead",
        "frozen",
        "overhead",
        "tensor",
        "ratio"
    );
    for (name, batch_size, [plain, pruned, frozen, tensor], versus) in &rows {
        let overhead = |t: f64| (t / plain - 1.0) * 100.0;
        let torch_fields = versus.map_or(String::new(), |[p, s, td, tp]| {
            format!(
                ",\"versus_plain_s\":{p:e},\"versus_pruned_s\":{s:e},\
                 \"torch_dense_s\":{td:e},\"torch_pruned_s\":{tp:e}"
            )
        });
        // One JSON record per row, for `cargo xtask bench`.
        println!(
            "BENCH {{\"kind\":\"train_lenet\",\"backend\":\"{name}\",\"batch\":{batch_size},\
             \"sparsity\":{},\"plain_s\":{plain:e},\"ember_s\":{pruned:e},\
             \"frozen_s\":{frozen:e},\"frozen_tensor_s\":{tensor:e}{torch_fields}}}",
            sparsity()
        );
        println!(
            "{name:<10} {batch_size:>6} {:>9.3} {:>9.3} {:>8.1}% {:>9.3} {:>8.1}% {:>9.3} {:>8.2}x",
            plain * 1e3,
            pruned * 1e3,
            overhead(*pruned),
            frozen * 1e3,
            overhead(*frozen),
            tensor * 1e3,
            tensor / plain
        );
    }
    if rows.iter().any(|row| row.3.is_some()) {
        println!(
            "\nagainst PyTorch ({AGAINST_TORCH} warm samples of each side in turn): plain burn, \
             Ember pruned, PyTorch dense, PyTorch pruned (torch.nn.utils.prune):"
        );
        for (name, batch_size, _, versus) in &rows {
            if let Some([p, s, td, tp]) = versus {
                println!(
                    "{name:<10} {batch_size:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  dense {:.2}x  pruned {:.2}x",
                    p * 1e3,
                    s * 1e3,
                    td * 1e3,
                    tp * 1e3,
                    p / td,
                    s / tp
                );
            }
        }
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
