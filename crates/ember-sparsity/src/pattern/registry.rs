use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Block, Heads, NM, Pattern, PerOutput, Structured, UnitDim, Unstructured};
use crate::SparsityError;

type Factory = Arc<dyn Fn(&str) -> Result<Arc<dyn Pattern>, String> + Send + Sync>;

/// Maps the pattern names of recipes to patterns.
///
/// A recipe writes a pattern as `name` or `name:arguments`; the factory registered for `name`
/// parses the arguments. [`PatternRegistry::default`] knows:
///
/// | recipe | pattern |
/// | --- | --- |
/// | `unstructured` | [`Unstructured`] |
/// | `2:4`, `n:m` (any numbers) | [`NM`] |
/// | `block:4x1` | [`Block`] of 4 output units by 1 input (PyTorch layout) |
/// | `output_units`, `input_units` | [`Structured`] neurons/filters or inputs/channels |
/// | `heads:12` | [`Heads`] of attention modules with 12 heads |
/// | `per_output` | [`PerOutput`]: every output unit loses the same fraction (Wanda) |
#[derive(Clone)]
pub struct PatternRegistry {
    factories: BTreeMap<String, Factory>,
}

impl std::fmt::Debug for PatternRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

fn no_arguments(pattern: Arc<dyn Pattern>) -> impl Fn(&str) -> Result<Arc<dyn Pattern>, String> {
    move |args: &str| {
        if args.is_empty() {
            Ok(pattern.clone())
        } else {
            Err(format!("takes no arguments, got `{args}`"))
        }
    }
}

fn number(text: &str, what: &str) -> Result<usize, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what} must be a whole number, got `{text}`"))
}

impl Default for PatternRegistry {
    fn default() -> Self {
        let mut registry = Self {
            factories: BTreeMap::new(),
        };
        registry.register("unstructured", no_arguments(Arc::new(Unstructured)));
        registry.register("per_output", no_arguments(Arc::new(PerOutput)));
        registry.register(
            "output_units",
            no_arguments(Arc::new(Structured {
                dim: UnitDim::Output,
            })),
        );
        registry.register(
            "input_units",
            no_arguments(Arc::new(Structured {
                dim: UnitDim::Input,
            })),
        );
        registry.register("n", |args: &str| {
            // `2:4` arrives as name `2`, so N:M is registered under `n` and reached below.
            let (n, m) = args.split_once(':').ok_or("write N:M, e.g. 2:4")?;
            let pattern = NM {
                n: number(n, "n")?,
                m: number(m, "m")?,
            };
            if pattern.n == 0 || pattern.n >= pattern.m {
                return Err(format!(
                    "N:M needs 1 ≤ n < m, got {n}:{m} (0:M would prune every weight)"
                ));
            }
            Ok(Arc::new(pattern) as Arc<dyn Pattern>)
        });
        registry.register("block", |args: &str| {
            let (rows, cols) = args
                .split_once('x')
                .ok_or("write block:RxC, e.g. block:4x4")?;
            let (rows, cols) = (number(rows, "rows")?, number(cols, "cols")?);
            if rows == 0 || cols == 0 {
                return Err("block sizes must be positive".to_string());
            }
            Ok(Arc::new(Block { rows, cols }) as Arc<dyn Pattern>)
        });
        registry.register("heads", |args: &str| {
            if args.is_empty() {
                return Err(
                    "give the number of heads (`heads:12`); `heads` alone takes the \
                            attention layout from a model family that registers it (`bert` \
                            does)"
                        .to_string(),
                );
            }
            let heads = number(args, "the number of heads (heads:12)")?;
            if heads == 0 {
                return Err("the number of heads must be positive".to_string());
            }
            Ok(Arc::new(Heads::new(heads)) as Arc<dyn Pattern>)
        });
        registry
    }
}

impl PatternRegistry {
    /// Makes `name` (and `name:arguments`) build a pattern with `factory`, which receives the
    /// arguments (empty without them) and returns a message on bad ones.
    pub fn register<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&str) -> Result<Arc<dyn Pattern>, String> + Send + Sync + 'static,
    {
        self.factories.insert(name.to_string(), Arc::new(factory));
        self
    }

    /// The pattern a recipe writes as `spec`.
    pub fn get(&self, spec: &str) -> Result<Arc<dyn Pattern>, SparsityError> {
        let spec = spec.trim();
        let (name, args) = match spec.split_once(':') {
            Some((n, _)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => ("n", spec),
            Some((name, args)) => (name, args),
            None => (spec, ""),
        };
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| SparsityError::UnknownPattern {
                name: spec.to_string(),
                known: self.names().join(", "),
            })?;
        factory(args).map_err(|message| SparsityError::BadPatternSpec {
            spec: spec.to_string(),
            message,
        })
    }

    /// The registered names, sorted (`n` stands for N:M).
    pub fn names(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_names_parse() {
        let registry = PatternRegistry::default();
        for (spec, name) in [
            ("unstructured", "unstructured"),
            ("2:4", "2:4"),
            ("4:8", "4:8"),
            ("block:4x1", "block:4x1"),
            ("output_units", "output_units"),
            ("input_units", "input_units"),
            ("heads:12", "heads:12"),
            ("per_output", "per_output"),
        ] {
            assert_eq!(registry.get(spec).unwrap().name(), name);
        }
    }

    #[test]
    fn bad_specs_are_errors_naming_them() {
        let registry = PatternRegistry::default();
        for (spec, needle) in [
            ("diagonal", "unknown pattern `diagonal`"),
            ("4:2", "1 ≤ n < m"),
            ("0:4", "would prune every weight"),
            ("block:4", "block:RxC"),
            ("heads:x", "whole number"),
            ("unstructured:3", "no arguments"),
        ] {
            let err = registry.get(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }
}
