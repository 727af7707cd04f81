//! Initial weights that are the same on every backend and in every thread.

use std::sync::{Mutex, PoisonError};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

/// burn's random generators are process-wide, one per backend: two threads that seed and draw
/// at once interleave their draws. Every seed Ember sets goes through this lock, so no thread
/// can reseed a generator between another's seed and its draws.
static HOST_RNG: Mutex<()> = Mutex::new(());

/// Seeds `device`'s backend generator (dropout draws during training) under the lock that
/// [`init_on_host`] holds while it draws initial weights.
///
/// Seeding without the lock is a race: the trainer of one thread reseeding flex in the middle of
/// another thread's initialisation changes that thread's weights.
pub fn seed_device(device: &Device, seed: u64) {
    let _guard = HOST_RNG.lock().unwrap_or_else(PoisonError::into_inner);
    device.seed(seed);
}

/// Runs `f` under the lock that [`init_on_host`] holds, for code that draws from a backend's
/// generator outside it: a model built only to have a checkpoint replace its weights still
/// draws its initial ones (burn initialises lazily, at the first read), and those draws,
/// made while another thread initialises, change that thread's weights.
pub fn with_host_rng<R>(f: impl FnOnce() -> R) -> R {
    let _guard = HOST_RNG.lock().unwrap_or_else(PoisonError::into_inner);
    f()
}

/// Builds a module with `init` on the host CPU backend (flex, which burn-train always builds)
/// seeded with `seed`, then moves it to `device`.
///
/// The same seed gives bit-identical weights on every backend, whatever other threads of the
/// process are drawing, so runs on different devices start from the same model.
pub fn init_on_host<M: Module>(seed: u64, device: &Device, init: impl FnOnce(&Device) -> M) -> M {
    match try_init_on_host(seed, device, |host| {
        Ok::<M, std::convert::Infallible>(init(host))
    }) {
        Ok(module) => module,
        Err(never) => match never {},
    }
}

/// [`init_on_host`] for an `init` that can fail (one that reads pretrained weights): its
/// error is returned as it is, and nothing is moved to `device`.
pub fn try_init_on_host<M: Module, E>(
    seed: u64,
    device: &Device,
    init: impl FnOnce(&Device) -> Result<M, E>,
) -> Result<M, E> {
    let host = Device::flex();
    let module = {
        let _guard = HOST_RNG.lock().unwrap_or_else(PoisonError::into_inner);
        host.seed(seed);
        let module = init(&host)?;
        // burn initialises parameters lazily, at their first use: draw them now, under the
        // lock and on the host, not later on whatever device and generator they end up on.
        module.visit(&mut Materialize);
        module
    };
    Ok(module.to_device(device))
}

/// Touches every float parameter, which runs its pending initialiser.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_weights_across_threads() {
        // Threads that reseed the host generator as a trainer does at every step.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reseeders: Vec<_> = (0..2)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut seed = 1000 + i;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        seed_device(&Device::flex(), seed);
                        seed += 2;
                    }
                })
            })
            .collect();
        let draw = |seed| {
            init_on_host(seed, &Device::flex(), |d| LinearConfig::new(32, 16).init(d))
                .weight
                .val()
                .into_data()
        };
        let want = draw(3);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || (0..20).map(|_| draw(3 + i % 2)).collect::<Vec<_>>())
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            for got in handle.join().unwrap() {
                if i % 2 == 0 {
                    assert_eq!(got, want);
                } else {
                    assert_ne!(got, want);
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reseeder in reseeders {
            reseeder.join().unwrap();
        }
    }
}
