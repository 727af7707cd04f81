//! The element-wise operations of a MiniLM training step on burn alone, against the step's
//! own matrix product: a minimal reproduction, for upstream reports, of where burn's flex
//! backend spends the time that is not products.
//!
//! `perf record` of the MiniLM step (`benches/minilm_step.rs`, flex, release) put about 38% of
//! its samples in gemm, 10.6% in dropout's random numbers (`TensorData::random`, ChaCha), 7.4%
//! in `erf` (GELU) and 3% in `exp` (softmax). This bench times each of those operations at the
//! step's shapes (batch 16 × 64 tokens, hidden 384, intermediate 1536, 12 heads), forward
//! only unless named `_grad`, on every compiled backend, next to the product they accompany:
//! - `matmul`: `[1024, 384] · [384, 1536]`, one intermediate projection;
//! - `bernoulli`: `random_like(Bernoulli(0.9))` on the intermediate activations
//!   `[16, 64, 1536]`, the mask that `Dropout` draws;
//! - `dropout`: burn's `Dropout` (p = 0.1) forward in training on the same tensor;
//! - `ember_drop`: the same layer through `ember::models::dropout::dropout`, which BERT's
//!   encoder uses: on flex and libtorch's CPU device its mask comes from one seed and a
//!   xoshiro256++ stream instead of the backend's per-element draw (numpy's `dropout` is
//!   its reference too);
//! - `gelu`: burn's `gelu` on the same tensor;
//! - `softmax`: over the last axis of the attention scores `[16, 12, 64, 64]`;
//! - `norm_grad`: a `LayerNorm(384)` forward and backward on the hidden states `[16, 64,
//!   384]` (of the sum of its output), the gradients of the input, scale and shift;
//! - `softmax_grad`: `softmax` forward and backward on the attention scores, likewise.
//!
//! The last two show what burn's autodiff costs where PyTorch has a fused kernel: burn's
//! backends have a `layer_norm` and a `softmax` of their own, but the autodiff backend has
//! no backward for them and runs their default bodies, nine and five primitive operations,
//! each recorded and differentiated on its own.
//!
//! ```sh
//! cargo bench --bench transformer_ops
//! TRANSFORMER_OPS_BACKENDS=flex,tch cargo bench --bench transformer_ops --features tch
//! TRANSFORMER_OPS_PYTHON=/path/to/python cargo bench --bench transformer_ops
//! ```
//! It prints each operation's median over interleaved samples and its ratio to the product,
//! then numpy's time for the same operation in the same run where numpy has one (`matmul`,
//! `bernoulli` as `rng.random(shape) < 0.9`, `dropout` as that mask times `x / 0.9`,
//! `softmax`; numpy has no vectorised `erf`, so no `gelu`), and burn's time over numpy's;
//! where that Python also has PyTorch, the two `_grad` rows are PyTorch's (`nn.LayerNorm` and
//! `torch.softmax`, forward and backward, as many threads as cores). Python is `python3`
//! unless `TRANSFORMER_OPS_PYTHON` names another; without numpy that column is left empty.

// The bench's own items need no docs.
#![allow(missing_docs)]

mod common;

use burn::module::Module;
use burn::nn::{DropoutConfig, LayerNorm, LayerNormConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Distribution, Tensor};
use common::{alternating, backends, numpy_python};

const TOKENS: usize = 16 * 64;
const HIDDEN: usize = 384;
const INTERMEDIATE: usize = 1536;
/// Timed calls of each operation, in rotation.
const SAMPLES: usize = 60;
/// The operations, in the order of the table.
const OPS: [&str; 8] = [
    "matmul",
    "bernoulli",
    "dropout",
    "ember_drop",
    "gelu",
    "softmax",
    "norm_grad",
    "softmax_grad",
];

/// numpy's medians in milliseconds, one line per operation of `OPS` that numpy has
/// (`name ms`), on the same shapes.
const NUMPY_PROGRAM: &str = r#"
import sys, time
import numpy as np
samples = int(sys.argv[1])
rng = np.random.default_rng(0)
tokens = rng.standard_normal((1024, 384), dtype=np.float32)
weight = rng.standard_normal((384, 1536), dtype=np.float32)
x = rng.standard_normal((16, 64, 1536), dtype=np.float32)
scores = rng.standard_normal((16, 12, 64, 64), dtype=np.float32)
def softmax(s):
    e = np.exp(s - s.max(axis=3, keepdims=True))
    return e / e.sum(axis=3, keepdims=True)
ops = {
    "matmul": lambda: tokens @ weight,
    "bernoulli": lambda: rng.random(x.shape, dtype=np.float32) < 0.9,
    "dropout": lambda: x * (rng.random(x.shape, dtype=np.float32) < 0.9) * np.float32(1 / 0.9),
    "softmax": lambda: softmax(scores),
}
try:
    import os, torch
    torch.set_num_threads(os.cpu_count() or 1)
    hidden = torch.from_numpy(rng.standard_normal((16, 64, 384), dtype=np.float32))
    hidden.requires_grad_(True)
    norm = torch.nn.LayerNorm(384)
    probs = torch.from_numpy(scores).requires_grad_(True)
    def norm_grad():
        hidden.grad = None
        norm.zero_grad(set_to_none=True)
        norm(hidden).sum().backward()
    def softmax_grad():
        probs.grad = None
        torch.softmax(probs, 3).sum().backward()
    ops["norm_grad"] = norm_grad
    ops["softmax_grad"] = softmax_grad
except ImportError:
    pass
for name, op in ops.items():
    op()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        op()
        times.append(time.perf_counter() - started)
    times.sort()
    print(name, times[len(times) // 2] * 1e3)
"#;

/// numpy's milliseconds per operation, or why there are none.
fn numpy_times(python: &str) -> Result<Vec<(String, f64)>, String> {
    let out = std::process::Command::new(python)
        .args(["-c", NUMPY_PROGRAM, &SAMPLES.to_string()])
        .output()
        .map_err(|error| format!("cannot run {python}: {error}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("numpy failed ({}): {}", out.status, stderr.trim()));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next().map(str::parse::<f64>)) {
                (Some(name), Some(Ok(ms))) => Ok((name.to_string(), ms)),
                _ => Err(format!("unexpected line from numpy: {line:?}")),
            }
        })
        .collect()
}

/// The inputs of every operation, on one device.
struct Inputs {
    tokens: Tensor<2>,
    weight: Tensor<2>,
    activations: Tensor<3>,
    scores: Tensor<4>,
    hidden: Tensor<3>,
    norm: LayerNorm,
    dropout: burn::nn::Dropout,
}

impl Inputs {
    fn new(device: &Device) -> Self {
        let normal = Distribution::Normal(0.0, 1.0);
        Self {
            tokens: Tensor::random([TOKENS, HIDDEN], normal, device),
            weight: Tensor::random([HIDDEN, INTERMEDIATE], normal, device),
            activations: Tensor::random([16, 64, INTERMEDIATE], normal, device),
            scores: Tensor::random([16, 12, 64, 64], normal, device),
            hidden: Tensor::random([16, 64, HIDDEN], normal, device),
            norm: LayerNormConfig::new(HIDDEN).init(device),
            // Dropout acts only in training, on a device that can differentiate.
            dropout: DropoutConfig::new(0.1).init().train(),
        }
    }

    /// Runs operation `op` and reads one value back, so that the work is done.
    fn run(&mut self, op: usize) {
        let value = match OPS[op] {
            "matmul" => first(self.tokens.clone().matmul(self.weight.clone())),
            "bernoulli" => first(
                self.activations
                    .random_like(Distribution::Bernoulli(0.9))
                    .reshape([TOKENS, INTERMEDIATE]),
            ),
            "dropout" => first(
                self.dropout
                    .forward(self.activations.clone())
                    .reshape([TOKENS, INTERMEDIATE]),
            ),
            "ember_drop" => first(
                ember::models::dropout::dropout(&self.dropout, self.activations.clone())
                    .reshape([TOKENS, INTERMEDIATE]),
            ),
            "gelu" => first(gelu(self.activations.clone()).reshape([TOKENS, INTERMEDIATE])),
            "softmax" => first(softmax(self.scores.clone(), 3).reshape([16 * 12 * 64, 64])),
            "norm_grad" => {
                let hidden = self.hidden.clone().require_grad();
                let grads = self.norm.forward(hidden.clone()).sum().backward();
                let gamma = self
                    .norm
                    .gamma
                    .val()
                    .grad(&grads)
                    .expect("the scale's gradient");
                first(
                    hidden
                        .grad(&grads)
                        .expect("the input's gradient")
                        .reshape([TOKENS, HIDDEN]),
                ) + first(gamma.reshape([1, HIDDEN]))
            }
            _ => {
                let scores = self.scores.clone().require_grad();
                let grads = softmax(scores.clone(), 3).sum().backward();
                first(
                    scores
                        .grad(&grads)
                        .expect("the scores' gradient")
                        .reshape([16 * 12 * 64, 64]),
                )
            }
        };
        std::hint::black_box(value);
    }
}

/// The first element of `tensor`, on the host.
fn first(tensor: Tensor<2>) -> f32 {
    tensor.slice([0..1, 0..1]).into_scalar::<f32>()
}

fn main() {
    let wanted = std::env::var("TRANSFORMER_OPS_BACKENDS").ok();
    let numpy = numpy_python("TRANSFORMER_OPS_PYTHON", "pip install numpy")
        .and_then(|python| numpy_times(&python))
        .inspect_err(|why| println!("numpy column skipped: {why}"))
        .unwrap_or_default();
    println!(
        "burn alone, MiniLM step shapes (16 x 64 tokens), medians of {SAMPLES} \
         calls taken in rotation (`_grad`: forward and backward):"
    );
    println!(
        "{:<10} {:<10} {:>10} {:>10} {:>10} {:>10}",
        "backend", "op", "time ms", "vs matmul", "python ms", "vs python"
    );
    for spec in backends(wanted.as_deref()) {
        let device = spec.device().expect("a compiled backend").autodiff();
        let mut inputs = Inputs::new(&device);
        for op in 0..OPS.len() {
            inputs.run(op);
        }
        let times: [f64; 8] = alternating(SAMPLES, &mut inputs, Inputs::run);
        for (op, time) in OPS.iter().zip(times) {
            // Ember's dropout computes numpy's `dropout` too.
            let named = if *op == "ember_drop" { "dropout" } else { op };
            let reference = numpy
                .iter()
                .find(|(name, _)| name == named)
                .map(|(_, ms)| *ms);
            // One JSON record per row, for comparison across runs.
            println!(
                "BENCH {{\"kind\":\"transformer_op\",\"backend\":\"{spec}\",\"op\":\"{op}\",\
                 \"seconds\":{time:e},\"numpy_seconds\":{}}}",
                reference.map_or("null".to_string(), |ms| format!("{:e}", ms / 1e3))
            );
            let (numpy_ms, ratio) = match reference {
                Some(ms) => (format!("{ms:.3}"), format!("{:.2}x", time * 1e3 / ms)),
                None => ("-".to_string(), "-".to_string()),
            };
            println!(
                "{:<10} {:<10} {:>10.3} {:>9.2}x {:>10} {:>10}",
                spec.to_string(),
                op,
                time * 1e3,
                time / times[0],
                numpy_ms,
                ratio
            );
        }
    }
}
