//! Sparse inference against dense: `y = x · Wᵀ` on the LeNet-300-100 layers and on
//! MiniLM-sized linear layers, at batch 1 and 32 and at 50, 70, 90 and 95% unstructured
//! sparsity (plus 2:4 at 50%), with Ember's sparse kernels (`ember-kernels`: CSR, N:M)
//! against Ember's dense product (burn's flex backend, which Ember runs on by default).
//!
//! ```sh
//! cargo bench --bench sparse_inference
//! ```
//! Each point is the median of interleaved samples (dense and sparse alternate, so machine
//! noise hits both alike). With `BENCH_TORCH_PYTHON` naming a Python that imports torch (as
//! `cargo xtask bench` does), PyTorch's dense `F.linear` and its CSR `torch.sparse.mm` on the
//! same point join the alternation through a `scripts/torch_worker.py` worker, so that
//! Ember's kernel and PyTorch's are sampled in turn, a few milliseconds apart (the worker's
//! OpenMP threads spin at `GOMP_SPINCOUNT=30000`; `BENCH_TORCH_SPINCOUNT` sets another count,
//! `default` leaves libgomp's). Every line
//! starting with `BENCH ` is one JSON record, for `cargo xtask bench`, which prints the
//! ratios. Before timing, every sparse product is checked against the dense one (to 1e-4 of
//! the largest output).

#![allow(missing_docs)]

use burn::tensor::{Device, Tensor, TensorData};
use ember::kernels::{CsrMatrix, NmMatrix};

mod common;
use common::torch_worker::TorchWorker;
use common::warm::{timed, warm_interleaved};

/// `[out, in]` shapes: LeNet-300-100's three layers and a MiniLM feed-forward pair.
const SHAPES: [(&str, usize, usize); 5] = [
    ("lenet fc1", 300, 784),
    ("lenet fc2", 100, 300),
    ("lenet fc3", 10, 100),
    ("minilm inner", 1536, 384),
    ("minilm outer", 384, 1536),
];
const BATCHES: [usize; 2] = [1, 32];
const SPARSITIES: [f64; 4] = [0.5, 0.7, 0.9, 0.95];
/// Interleaved samples per point.
const SAMPLES: usize = 31;

/// A deterministic stream of values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `w` with its `round(s · n)` smallest magnitudes set to zero (ties by index).
fn prune(mut w: Vec<f32>, sparsity: f64) -> Vec<f32> {
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|a, b| w[*a].abs().total_cmp(&w[*b].abs()).then(a.cmp(b)));
    let count = (sparsity * w.len() as f64).round() as usize;
    for i in &order[..count] {
        w[*i] = 0.0;
    }
    w
}

/// `w` with the 2 largest magnitudes of every 4 consecutive inputs kept.
fn prune_2_4(mut w: Vec<f32>) -> Vec<f32> {
    for group in w.chunks_mut(4) {
        let mut order: Vec<usize> = (0..group.len()).collect();
        order.sort_by(|a, b| group[*b].abs().total_cmp(&group[*a].abs()).then(a.cmp(b)));
        for o in order.iter().skip(2) {
            group[*o] = 0.0;
        }
    }
    w
}

/// Both products agree to 1e-4 of the output's largest magnitude: each sums up to 1536 f32
/// products in its own order.
fn close(got: &[f32], want: &[f32]) -> bool {
    let scale = want.iter().fold(1.0f32, |m, w| m.max(w.abs()));
    got.iter()
        .zip(want)
        .all(|(g, w)| (g - w).abs() <= 1e-4 * scale)
}

/// libgomp's spin count for PyTorch's worker: `BENCH_TORCH_SPINCOUNT`, or 30000, a tenth of
/// libgomp's default; `default` leaves libgomp's own. With the default, PyTorch's OpenMP
/// workers spin on between the worker's samples, on the cores Ember's two-thread products
/// then need, and those fell for whole points to half their speed in four of six runs, a
/// cost of the alternation that a process running alone does not pay. The lower count left
/// PyTorch's own times alone: `scripts/torch_spin_check.py`, both settings in one
/// alternation, measured a median ratio of 1.01–1.02 over the batch-32 points in three runs
/// (docs/performance.md, "Ember and PyTorch in one alternation").
fn spin_count() -> String {
    std::env::var("BENCH_TORCH_SPINCOUNT").unwrap_or_else(|_| "30000".to_string())
}

fn main() {
    let device = Device::flex();
    let mut torch = std::env::var("BENCH_TORCH_PYTHON").ok().map(|python| {
        let spin = spin_count();
        let env: &[(&str, &str)] = match spin.as_str() {
            "default" => &[],
            count => &[("GOMP_SPINCOUNT", count)],
        };
        TorchWorker::start(&python, env)
            .unwrap_or_else(|error| panic!("BENCH_TORCH_PYTHON: {error}"))
    });
    println!(
        "{:<13} {:>5} {:>8} {:>7} {:>11} {:>11} {:>8} {:>11}",
        "layer", "batch", "sparsity", "format", "dense", "sparse", "speed-up", "vs torch CSR"
    );
    for (layer, out, inp) in SHAPES {
        let dense_w = values(out * inp, (out * inp) as u64);
        for batch in BATCHES {
            let x = values(batch * inp, batch as u64);
            let x_tensor =
                Tensor::<2>::from_data(TensorData::new(x.clone(), [batch, inp]), &device);
            let points = SPARSITIES
                .iter()
                .map(|s| {
                    (
                        format!("{:.0}%", s * 100.0),
                        "csr",
                        prune(dense_w.clone(), *s),
                    )
                })
                .chain(std::iter::once((
                    "2:4".to_string(),
                    "2:4",
                    prune_2_4(dense_w.clone()),
                )));
            for (sparsity, format, w) in points {
                // Ember's dense product is burn's: `x · W` with `W` stored `[in, out]`, as in
                // burn's `Linear`.
                let mut w_t = vec![0.0f32; w.len()];
                for o in 0..out {
                    for i in 0..inp {
                        w_t[i * out + o] = w[o * inp + i];
                    }
                }
                let w_tensor = Tensor::<2>::from_data(TensorData::new(w_t, [inp, out]), &device);
                let dense = || -> Vec<f32> {
                    x_tensor
                        .clone()
                        .matmul(w_tensor.clone())
                        .into_data()
                        .try_to_vec::<f32>()
                        .expect("f32")
                };
                let csr = CsrMatrix::from_dense(&w, out, inp).expect("shape");
                let nm = NmMatrix::from_dense(&w, out, inp, 2, 4).ok();
                let sparse = || -> Vec<f32> {
                    match (&nm, format) {
                        (Some(nm), "2:4") => nm.matmul(&x, batch),
                        _ => csr.matmul(&x, batch),
                    }
                    .expect("operands")
                };
                let want = dense();
                assert!(
                    close(&sparse(), &want),
                    "{layer} {sparsity}: sparse != dense"
                );
                let mut dense_side = timed(|| {
                    std::hint::black_box(dense());
                });
                let mut sparse_side = timed(|| {
                    std::hint::black_box(sparse());
                });
                let (times, torch_times) = match torch.as_mut() {
                    Some(torch) => {
                        torch
                            .point(out, inp, batch, &sparsity, format)
                            .unwrap_or_else(|error| panic!("{layer} {sparsity}: {error}"));
                        let torch = std::cell::RefCell::new(torch);
                        let mut torch_dense = |reps| torch.borrow_mut().time("dense", reps);
                        let mut torch_csr = |reps| torch.borrow_mut().time("csr", reps);
                        let t = warm_interleaved(
                            SAMPLES,
                            &mut [
                                &mut dense_side,
                                &mut sparse_side,
                                &mut torch_dense,
                                &mut torch_csr,
                            ],
                        );
                        ([t[0], t[1]], Some([t[2], t[3]]))
                    }
                    None => {
                        let t = warm_interleaved(SAMPLES, &mut [&mut dense_side, &mut sparse_side]);
                        ([t[0], t[1]], None)
                    }
                };
                let against = torch_times.map_or(String::new(), |[_, csr]| {
                    format!("{:>10.2}x", csr / times[1])
                });
                println!(
                    "{layer:<13} {batch:>5} {sparsity:>8} {format:>7} {:>9.1}us {:>9.1}us {:>7.2}x {against}",
                    times[0] * 1e6,
                    times[1] * 1e6,
                    times[0] / times[1]
                );
                let torch_fields = torch_times.map_or(String::new(), |[dense, csr]| {
                    format!(",\"torch_dense_s\":{dense:e},\"torch_csr_s\":{csr:e}")
                });
                println!(
                    "BENCH {{\"kind\":\"inference\",\"layer\":\"{layer}\",\"out\":{out},\"in\":{inp},\
                     \"batch\":{batch},\"sparsity\":\"{sparsity}\",\"format\":\"{format}\",\
                     \"ember_dense_s\":{:e},\"ember_sparse_s\":{:e}{torch_fields}}}",
                    times[0], times[1]
                );
            }
        }
    }
}
