//! Sides sampled warm and in turn: the alternation that puts Ember's code and another
//! process's (PyTorch's, through `scripts/torch_worker.py`) into one run, each sample
//! preceded by untimed calls of its own side.

use std::time::Instant;

use super::median;

/// One side of a comparison: `sample(reps)` runs `reps` calls and returns their seconds.
pub type Sampler<'a> = &'a mut dyn FnMut(usize) -> f64;

/// `run` as a [`Sampler`], timed on this process's clock.
pub fn timed(mut run: impl FnMut()) -> impl FnMut(usize) -> f64 {
    move |reps| {
        let start = Instant::now();
        for _ in 0..reps {
            run();
        }
        start.elapsed().as_secs_f64()
    }
}

/// Seconds of untimed calls before each sample: longer than the other side's threads spin
/// on after its last call (PyTorch's OpenMP workers burnt 8–20 ms of CPU after a product on
/// this machine; Ember's helpers spin for 0.5 ms). It did not prevent every interference:
/// with libgomp's default spin count, Ember's two-thread products fell, in some runs, into a
/// mode at half their speed for a whole point while PyTorch's process shared the
/// alternation, which is why `benches/sparse_inference.rs` lowers that count
/// (docs/performance.md, "Ember and PyTorch in one alternation").
pub const WARM_UP: f64 = 20e-3;

/// The median time per call of each of `sides` over `samples` samples taken alternately. A
/// sample repeats a call until it lasts at least 1 ms, so that the clock's resolution does
/// not matter, and follows [`WARM_UP`] of untimed calls: they absorb the tail of the side
/// before (the threads of PyTorch's OpenMP, or Ember's helpers, that spin on for a while
/// after their last work) and wake this side's own threads, so that every side is timed warm
/// and alone. A pause instead of the warm-up left each side's first calls to a cold, idle
/// machine: twice the time of a sample taken in a loop.
pub fn warm_interleaved(samples: usize, sides: &mut [Sampler<'_>]) -> Vec<f64> {
    let reps: Vec<usize> = sides
        .iter_mut()
        .map(|sample| {
            sample(5);
            let once = sample(1).max(1e-8);
            ((1e-3 / once).ceil() as usize).clamp(1, 10_000)
        })
        .collect();
    let mut times = vec![Vec::with_capacity(samples); sides.len()];
    for _ in 0..samples {
        for (i, sample) in sides.iter_mut().enumerate() {
            let mut warm = 0.0;
            while warm < WARM_UP {
                warm += sample(reps[i]);
            }
            times[i].push(sample(reps[i]) / reps[i] as f64);
        }
    }
    times.into_iter().map(median).collect()
}
