//! Sparse inference against dense: `y = x · Wᵀ` on the LeNet-300-100 layers and on
//! MiniLM-sized linear layers, at batch 1 and 32 and at 50, 70, 90 and 95% unstructured
//! sparsity (plus 2:4 at 50%), with Ember's sparse kernels (`ember-kernels`: CSR, N:M)
//! against Ember's dense product (burn's flex backend, which Ember runs on by default).
//!
//! ```sh
//! cargo bench --bench sparse_inference
//! ```
//! Each point is the median of interleaved samples (dense and sparse alternate, so machine
//! noise hits both alike). Every line starting with `BENCH ` is one JSON record, for
//! `cargo xtask bench`, which runs PyTorch on the same points in the same run and prints the
//! ratios. Before timing, every sparse product is checked against the dense one (to 1e-4 of
//! the largest output).

#![allow(missing_docs)]

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use ember::kernels::{CsrMatrix, NmMatrix};

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

/// The median time per call of each of `runs`, sampled alternately. A sample repeats a call
/// until it lasts at least 0.2 ms, so that the clock's resolution does not matter.
fn interleaved(runs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let reps: Vec<usize> = runs
        .iter_mut()
        .map(|run| {
            for _ in 0..5 {
                run();
            }
            let start = Instant::now();
            run();
            let once = start.elapsed().as_secs_f64().max(1e-8);
            ((2e-4 / once).ceil() as usize).clamp(1, 10_000)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(SAMPLES); runs.len()];
    for _ in 0..SAMPLES {
        for (i, run) in runs.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..reps[i] {
                run();
            }
            samples[i].push(start.elapsed().as_secs_f64() / reps[i] as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

/// Both products agree to 1e-4 of the output's largest magnitude: each sums up to 1536 f32
/// products in its own order.
fn close(got: &[f32], want: &[f32]) -> bool {
    let scale = want.iter().fold(1.0f32, |m, w| m.max(w.abs()));
    got.iter()
        .zip(want)
        .all(|(g, w)| (g - w).abs() <= 1e-4 * scale)
}

fn main() {
    let device = Device::flex();
    println!(
        "{:<13} {:>5} {:>8} {:>7} {:>11} {:>11} {:>8}",
        "layer", "batch", "sparsity", "format", "dense", "sparse", "speed-up"
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
                let times = interleaved(&mut [
                    &mut || {
                        std::hint::black_box(dense());
                    },
                    &mut || {
                        std::hint::black_box(sparse());
                    },
                ]);
                println!(
                    "{layer:<13} {batch:>5} {sparsity:>8} {format:>7} {:>9.1}us {:>9.1}us {:>7.2}x",
                    times[0] * 1e6,
                    times[1] * 1e6,
                    times[0] / times[1]
                );
                println!(
                    "BENCH {{\"kind\":\"inference\",\"layer\":\"{layer}\",\"out\":{out},\"in\":{inp},\
                     \"batch\":{batch},\"sparsity\":\"{sparsity}\",\"format\":\"{format}\",\
                     \"ember_dense_s\":{:e},\"ember_sparse_s\":{:e}}}",
                    times[0], times[1]
                );
            }
        }
    }
}
