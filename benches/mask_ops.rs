//! The element-wise operations a mask costs, on burn alone: a minimal reproduction of what
//! Ember's apply phase spends per step, for choosing the cheapest form and for upstream reports.
//!
//! One `[300, 784]` f32 tensor (LeNet-300-100's first layer) and a 90%-pruned mask, each
//! candidate timed on every compiled backend:
//! - `mask_fill_unique`: `tensor.mask_fill(pruned, 0.0)` on a tensor nothing else holds (what a
//!   weight or gradient is during a step);
//! - `mask_fill_shared`: the same, with a second handle on the tensor alive;
//! - `mask_where_shared`: `tensor.mask_where(pruned, zeros)` with a second handle alive;
//! - `mul_keep`: `tensor * keep`, `keep` the mask as 0.0 / 1.0 floats.
//!
//! ```sh
//! cargo bench --bench mask_ops
//! ```

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use burn::tensor::{Bool, Distribution, Tensor, TensorData};
use common::backends;
use criterion::{Criterion, criterion_group, criterion_main};

const SHAPE: [usize; 2] = [300, 784];

fn mask_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask_ops");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let numel = SHAPE[0] * SHAPE[1];
    // Every tenth element kept, spread by a multiplicative hash so branches cannot predict it.
    let kept: Vec<bool> = (0..numel as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60 < 2)
        .collect();
    for spec in backends(std::env::var("MASK_OPS_BACKENDS").ok().as_deref()) {
        let device = spec.device().expect("a compiled backend");
        let pruned = Tensor::<2, Bool>::from_data(
            TensorData::new(kept.iter().map(|k| !k).collect(), SHAPE),
            &device,
        );
        let keep = Tensor::<2>::from_data(
            TensorData::new(
                kept.iter().map(|&k| f32::from(u8::from(k))).collect(),
                SHAPE,
            ),
            &device,
        );
        let zeros = Tensor::<2>::zeros(SHAPE, &device);
        let mut weight = Tensor::<2>::random(SHAPE, Distribution::Normal(0.0, 1.0), &device);
        // Moves the tensor out, leaving an empty stand-in, so that the op sees the only handle.
        let take = |t: &mut Tensor<2>| std::mem::replace(t, Tensor::empty([0, 0], &device));
        let read = |t: &Tensor<2>| t.clone().slice([0..1, 0..1]).into_scalar::<f32>();
        group.bench_function(format!("{spec}/mask_fill_unique"), |b| {
            b.iter(|| {
                weight = take(&mut weight).mask_fill(pruned.clone(), 0.0);
                read(&weight)
            })
        });
        group.bench_function(format!("{spec}/mask_fill_shared"), |b| {
            b.iter(|| {
                let shared = weight.clone();
                weight = take(&mut weight).mask_fill(pruned.clone(), 0.0);
                drop(shared);
                read(&weight)
            })
        });
        group.bench_function(format!("{spec}/mask_where_shared"), |b| {
            b.iter(|| {
                let shared = weight.clone();
                weight = take(&mut weight).mask_where(pruned.clone(), zeros.clone());
                drop(shared);
                read(&weight)
            })
        });
        group.bench_function(format!("{spec}/mul_keep"), |b| {
            b.iter(|| {
                weight = take(&mut weight).mul(keep.clone());
                read(&weight)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mask_ops);
criterion_main!(benches);
