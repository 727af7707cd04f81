use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{ScoreContext, Scorer};

/// Uniform random scores, drawn on the host from the modifier's seed, the parameter path and
/// the step, so the same run gives the same mask on every backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Random;

/// FNV-1a: a hash that, unlike `std`'s, is stable across Rust versions and platforms.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Scorer for Random {
    fn name(&self) -> &str {
        "random"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        let seed = ctx.seed ^ stable_hash(ctx.path) ^ ctx.step.rotate_left(32);
        let mut rng = StdRng::seed_from_u64(seed);
        (0..ctx.weights.len())
            .map(|_| rng.random::<f32>())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(path: &'a str, weights: &'a [f32], seed: u64) -> ScoreContext<'a> {
        ScoreContext {
            path,
            shape: &[4],
            weights,
            gradient: None,
            accumulated: None,
            inputs: None,
            step: 3,
            seed,
        }
    }

    #[test]
    fn reproducible_from_seed_and_path() {
        let w = [0.0f32; 64];
        let a = Random.score(&ctx("fc1.weight", &w, 7));
        assert_eq!(a, Random.score(&ctx("fc1.weight", &w, 7)));
        assert_ne!(a, Random.score(&ctx("fc1.weight", &w, 8)));
        assert_ne!(a, Random.score(&ctx("fc2.weight", &w, 7)));
        assert!(a.iter().all(|s| (0.0..1.0).contains(s)));
    }
}
