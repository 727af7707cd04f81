//! The shape a one-shot mask must have.

use ember_sparsity::select::{prune_count, pruned_flags};

/// What a solver's mask must look like, in PyTorch's `[out, in]` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// Any `round(s·n)` elements of the layer.
    Unstructured,
    /// `round(s·in)` elements of every output row (Wanda's comparison group).
    PerOutput,
    /// `m - n` of every `m` consecutive inputs of a row (2:4, 4:8); the sparsity is
    /// `(m - n) / m`.
    NM {
        /// Kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
}

impl Structure {
    /// Reads a recipe's `pattern`: `unstructured`, `per_output`, or `N:M`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "unstructured" => Ok(Self::Unstructured),
            "per_output" => Ok(Self::PerOutput),
            other => {
                let parsed = other
                    .split_once(':')
                    .and_then(|(n, m)| Some((n.parse().ok()?, m.parse().ok()?)));
                match parsed {
                    Some((n, m)) if n < m && m > 0 => Ok(Self::NM { n, m }),
                    _ => Err(format!(
                        "`{other}` is not a structure: use `unstructured`, `per_output` or \
                         `N:M` with N < M (`2:4`)"
                    )),
                }
            }
        }
    }

    /// The sparsity the structure fixes (N:M), if any.
    pub fn fixed_sparsity(&self) -> Option<f64> {
        match self {
            Self::NM { n, m } => Some((m - n) as f64 / *m as f64),
            _ => None,
        }
    }

    /// Whether a layer of `inputs` columns can take this structure at `sparsity`.
    pub fn check(&self, inputs: usize, sparsity: f64) -> Result<(), String> {
        if !(0.0..=1.0).contains(&sparsity) {
            return Err(format!("sparsity {sparsity} is not in [0, 1]"));
        }
        if let Self::NM { n, m } = self {
            if !inputs.is_multiple_of(*m) {
                return Err(format!(
                    "{inputs} inputs do not split into groups of {m} ({n}:{m})"
                ));
            }
            let fixed = self.fixed_sparsity().unwrap_or_default();
            if (sparsity - fixed).abs() > 1e-9 {
                return Err(format!("{n}:{m} prunes exactly {fixed}, not {sparsity}"));
            }
        }
        Ok(())
    }

    /// The pruned elements of an `[outputs, inputs]` weight with `scores` (lowest first,
    /// ties by index): exact counts per layer, per row or per group.
    pub fn choose(
        &self,
        scores: &[f32],
        outputs: usize,
        inputs: usize,
        sparsity: f64,
    ) -> Vec<bool> {
        match *self {
            Self::Unstructured => pruned_flags(scores, prune_count(sparsity, scores.len())),
            Self::PerOutput => per_group(scores, inputs, prune_count(sparsity, inputs)),
            Self::NM { n, m } => {
                debug_assert_eq!(scores.len(), outputs * inputs);
                per_group(scores, m, m - n)
            }
        }
    }
}

/// The `count` lowest of every consecutive run of `size` scores.
fn per_group(scores: &[f32], size: usize, count: usize) -> Vec<bool> {
    scores
        .chunks(size)
        .flat_map(|group| pruned_flags(group, count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recipe_names() {
        assert_eq!(Structure::parse("2:4"), Ok(Structure::NM { n: 2, m: 4 }));
        assert_eq!(Structure::parse("per_output"), Ok(Structure::PerOutput));
        assert!(Structure::parse("4:2").is_err());
        assert!(Structure::parse("rows").is_err());
    }

    #[test]
    fn counts_are_exact_per_layer_row_and_group() {
        // 2 outputs × 8 inputs, scores 0..16 reversed in the second row.
        let scores: Vec<f32> = (0..8).chain((0..8).rev()).map(|v| v as f32).collect();
        let layer = Structure::Unstructured.choose(&scores, 2, 8, 0.25);
        assert_eq!(layer.iter().filter(|p| **p).count(), 4);
        // The two zeros and the two ones: indices 0, 1 of the first row, 14, 15 of the second.
        assert_eq!(
            layer
                .iter()
                .enumerate()
                .filter(|(_, p)| **p)
                .map(|(i, _)| i)
                .collect::<Vec<_>>(),
            [0, 1, 14, 15]
        );
        let rows = Structure::PerOutput.choose(&scores, 2, 8, 0.5);
        assert_eq!(rows[..8].iter().filter(|p| **p).count(), 4);
        assert_eq!(rows[8..].iter().filter(|p| **p).count(), 4);
        let nm = Structure::NM { n: 2, m: 4 }.choose(&scores, 2, 8, 0.5);
        for group in nm.chunks(4) {
            assert_eq!(group.iter().filter(|p| **p).count(), 2);
        }
        assert!(Structure::NM { n: 2, m: 4 }.check(8, 0.6).is_err());
        assert!(Structure::NM { n: 2, m: 4 }.check(6, 0.5).is_err());
    }
}
