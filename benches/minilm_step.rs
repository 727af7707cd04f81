//! A training step of pretrained all-MiniLM-L6-v2 for sequence classification, batch 16 ×
//! 64 tokens, as the GMP* recipe trains it, on every compiled CPU backend:
//! - `dense`: the dense fine-tuning step (cross-entropy, AdamW at 1e-4);
//! - `sparse`: the same step with the model in [`Sparse`] at 80% global magnitude sparsity
//!   over the encoder's linear weights (pruned at step 0, before timing), no teacher: what the
//!   masks alone cost a transformer's step;
//! - `gmp`: the step under GMP* in its steady state between pruning updates: `sparse`
//!   trained against a dense teacher at hardness 1 and temperature 2 (the teacher's forward
//!   pass is part of every step).
//!
//! A step is what Ember's training loop runs: [`TrainStep::step`] (forward, loss, backward),
//! the loss read back to the host (the loop checks it is finite), then
//! [`TrainStep::optimize`]. Both sides start from the same weights and cycle through the same
//! 8 batches of random token ids (every token attended, so no padding is computed).
//!
//! ```sh
//! cargo bench --bench minilm_step                                # flex
//! MINILM_BACKENDS=flex,tch cargo bench --bench minilm_step --features tch
//! ```
//! The model comes from Ember's cache (`ember fetch minilm`). With `BENCH_TORCH_PYTHON`
//! naming a Python with torch and `transformers` (as `cargo xtask bench` does), PyTorch's
//! dense and GMP* steps on the same model (`scripts/bench_torch.py`'s `minilm_steps`, through
//! a `scripts/torch_worker.py` worker) join each backend's alternation as two more sides, so
//! that the Ember/PyTorch ratios compare steps taken in turn. Each line starting with
//! `BENCH ` is one JSON record, for `cargo xtask bench`.

#![allow(missing_docs)]

mod common;

use burn::module::Module;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn::train::{ClassificationOutput, TrainStep};
use common::torch_worker::TorchWorker;
use common::{Cycle, alternating, alternating_reported, backends};
use ember::data::TextBatch;
use ember::models::{BertConfig, BertForSequenceClassification};
use ember::prelude::*;
use ember::train::init_on_host;
use ember::train::task::{Distillation, TaskModel};
use ember::zoo::TextClassification;

const BATCH: usize = 16;
const SEQ: usize = 64;
/// Distinct batches each side cycles through.
const BATCHES: usize = 8;
/// Untimed steps per side before sampling.
const WARMUP: usize = 2;
/// Interleaved timed steps per side: 15, so that the median of each side is steady to about
/// 2% on this shared machine (with 7, the masks' share of the tch step read +3.8% and +6.4%
/// in two runs of one build).
const SAMPLES: usize = 15;
const SPARSITY: f64 = 0.8;
/// The pause before and after each of PyTorch's steps: longer than libtorch's OpenMP workers
/// spin after a step (8-20 ms of CPU measured on this machine).
const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);
const LR: f64 = 1e-4;
/// The GMP* recipe's selection: every encoder layer's attention and feed-forward matrices.
const ENCODER_LINEAR: &str = concat!(
    r"re:bert\.encoder\.layers\.\d+\.",
    r"(mha\.(query|key|value|output)|pwff\.linear_(inner|outer))\.weight"
);

type Classifier = TaskModel<TextClassification>;

/// `BATCHES` batches of random token ids in `[1000, vocab)` with random labels.
fn batches(vocab: usize, device: &Device) -> Vec<TextBatch> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as i64
    };
    let ints = |values: Vec<i64>, shape: [usize; 2]| {
        Tensor::<2, Int>::from_data(TensorData::new(values, shape), device)
    };
    (0..BATCHES)
        .map(|_| {
            let ids = (0..BATCH * SEQ)
                .map(|_| 1000 + next(vocab - 1000))
                .collect();
            let labels: Vec<i64> = (0..BATCH).map(|_| next(2)).collect();
            TextBatch {
                input_ids: ints(ids, [BATCH, SEQ]),
                token_type_ids: ints(vec![0; BATCH * SEQ], [BATCH, SEQ]),
                attention_mask: ints(vec![1; BATCH * SEQ], [BATCH, SEQ]),
                targets: Tensor::<1, Int>::from_data(TensorData::new(labels, [BATCH]), device),
            }
        })
        .collect()
}

/// One step of Ember's training loop on `model`.
fn step<M>(model: M, optim: &mut ModuleOptimizer, batch: TextBatch) -> M
where
    M: TrainStep<Input = TextBatch, Output = ClassificationOutput> + Module,
{
    let output = TrainStep::step(&model, batch);
    let loss = output.item.loss.clone().into_scalar::<f32>();
    assert!(loss.is_finite(), "the loss is {loss}");
    model.optimize(optim, LR.into(), output.grads)
}

/// all-MiniLM-L6-v2's folder in Ember's cache, fetched if missing.
fn model_dir() -> std::path::PathBuf {
    let cache = ember::fetch::cache_dir().expect("Ember's cache directory");
    ember::fetch::fetch_minilm(&cache).expect("all-MiniLM-L6-v2 (ember fetch minilm)")
}

/// The dense model, the masked one and the one under GMP*, each with its optimizer and its
/// place in the batches.
struct Pair {
    dense: Option<Classifier>,
    dense_optim: ModuleOptimizer,
    sparse: Option<Sparse<Classifier>>,
    sparse_optim: ModuleOptimizer,
    gmp: Option<Sparse<Classifier>>,
    gmp_optim: ModuleOptimizer,
    batches: Cycle<TextBatch>,
}

impl Pair {
    fn new(device: &Device) -> Self {
        let dir = model_dir();
        let config = BertConfig::from_file(dir.join("config.json")).expect("a BERT config");
        // The pretrained encoder with a head drawn from seed 1, on the host, as `ember run`
        // builds it.
        let pretrained = init_on_host(1, device, |host| {
            let fresh = config.init_classifier(2, host);
            let bert = fresh
                .bert
                .clone()
                .load_hf_weights(dir.join("model.safetensors"))
                .expect("MiniLM's weights");
            BertForSequenceClassification { bert, ..fresh }
        });
        let teacher = pretrained.clone();
        let plan = SparsityPlan::new(vec![Pruner::magnitude(
            "gmp",
            Selector::new([ENCODER_LINEAR]),
            SparsitySchedule::one_shot(SPARSITY, 0),
        )]);
        let distill = Distillation::logits(1.0, 2.0);
        let student = TaskModel::new(pretrained.clone().train()).with_teacher(teacher, distill);
        let masked = TaskModel::new(pretrained.clone().train());
        let mut pair = Self {
            dense: Some(TaskModel::new(pretrained.train())),
            dense_optim: AdamWConfig::new().with_weight_decay(0.0).init(),
            sparse: Some(Sparse::new(masked, plan.clone()).expect("a valid plan")),
            sparse_optim: AdamWConfig::new().with_weight_decay(0.0).init(),
            gmp: Some(Sparse::new(student, plan).expect("a valid plan")),
            gmp_optim: AdamWConfig::new().with_weight_decay(0.0).init(),
            batches: Cycle::new(batches(config.vocab_size, &device.clone().autodiff())),
        };
        // Step 0 prunes to 80%; the measured steps come after it.
        for _ in 0..WARMUP {
            pair.dense();
            pair.sparse();
            pair.gmp();
        }
        for model in [&pair.sparse, &pair.gmp] {
            let report = model.as_ref().expect("a model").report();
            assert!(
                (report.ratio - SPARSITY).abs() < 1e-3,
                "the encoder is {:.4} sparse, not {SPARSITY}",
                report.ratio
            );
        }
        pair
    }

    fn dense(&mut self) {
        let batch = self.batches.next(0);
        let model = self.dense.take().expect("a model between steps");
        self.dense = Some(step(model, &mut self.dense_optim, batch));
    }

    fn sparse(&mut self) {
        let batch = self.batches.next(1);
        let model = self.sparse.take().expect("a model between steps");
        self.sparse = Some(step(model, &mut self.sparse_optim, batch));
    }

    fn gmp(&mut self) {
        let batch = self.batches.next(2);
        let model = self.gmp.take().expect("a model between steps");
        self.gmp = Some(step(model, &mut self.gmp_optim, batch));
    }
}

fn main() {
    // As the `ember` binary runs (and as PyTorch's process ends up): freed buffers stay.
    ember::train::allocator::keep_freed_buffers();
    println!(
        "training step, all-MiniLM-L6-v2, batch {BATCH} x {SEQ} tokens, AdamW: dense against \
         {:.0}% sparse and GMP* (the same + distillation), medians of {SAMPLES} interleaved \
         steps",
        SPARSITY * 100.0
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10}",
        "backend", "dense s", "sparse s", "overhead", "gmp s"
    );
    // PyTorch's steps, built once and sampled in every backend's alternation.
    let mut torch = std::env::var("BENCH_TORCH_PYTHON").ok().map(|python| {
        let mut worker = TorchWorker::start(&python, &[])
            .unwrap_or_else(|error| panic!("BENCH_TORCH_PYTHON: {error}"));
        worker
            .minilm(&model_dir())
            .unwrap_or_else(|error| panic!("PyTorch's MiniLM steps: {error}"));
        for timer in ["dense", "gmp"] {
            worker.time(timer, WARMUP);
        }
        worker
    });
    // The CPU backends unless MINILM_BACKENDS names others.
    let wanted = std::env::var("MINILM_BACKENDS").unwrap_or_else(|_| "flex,ndarray,tch".into());
    for spec in backends(Some(&wanted)) {
        let device = spec.device().expect("a compiled backend");
        let mut pair = Pair::new(&device);
        let ([dense, sparse, gmp], torch_times) = match torch.as_mut() {
            // PyTorch's steps are timed in its process. Around each, a pause (not counted)
            // lets the threads of the step before go quiet: both sides run libtorch, whose
            // OpenMP workers spin on for 10-20 ms after a step, and a step that starts among
            // them loses part of a core (without the pause Ember's steps on tch read 0.72 s,
            // with it 0.65 s, in two runs of one build).
            Some(worker) => {
                let mut sides = (&mut pair, worker);
                let torch_step = |worker: &mut TorchWorker, timer: &str| {
                    std::thread::sleep(SETTLE);
                    let seconds = worker.time(timer, 1);
                    std::thread::sleep(SETTLE);
                    Some(seconds)
                };
                let [dense, sparse, gmp, torch_dense, torch_gmp] =
                    alternating_reported(SAMPLES, &mut sides, |(pair, worker), side| match side {
                        0 => {
                            pair.dense();
                            None
                        }
                        1 => {
                            pair.sparse();
                            None
                        }
                        2 => {
                            pair.gmp();
                            None
                        }
                        3 => torch_step(worker, "dense"),
                        _ => torch_step(worker, "gmp"),
                    });
                ([dense, sparse, gmp], Some([torch_dense, torch_gmp]))
            }
            None => {
                let times = alternating(SAMPLES, &mut pair, |pair, side| match side {
                    0 => pair.dense(),
                    1 => pair.sparse(),
                    _ => pair.gmp(),
                });
                (times, None)
            }
        };
        let overhead = (sparse / dense - 1.0) * 100.0;
        let against = torch_times.map_or(String::new(), |[td, tg]| {
            format!(
                "  PyTorch {td:.3} / {tg:.3} s: {:.2}x / {:.2}x",
                dense / td,
                gmp / tg
            )
        });
        println!("{spec:<10} {dense:>10.3} {sparse:>10.3} {overhead:>9.1}% {gmp:>10.3}{against}");
        let torch_fields = torch_times.map_or(String::new(), |[td, tg]| {
            format!(",\"torch_dense_s\":{td:e},\"torch_gmp_s\":{tg:e}")
        });
        println!(
            "BENCH {{\"kind\":\"train_minilm\",\"backend\":\"{spec}\",\"batch\":{BATCH},\
             \"seq\":{SEQ},\"sparsity\":{SPARSITY},\"dense_s\":{dense:e},\
             \"sparse_s\":{sparse:e},\"gmp_s\":{gmp:e}{torch_fields}}}"
        );
    }
}
