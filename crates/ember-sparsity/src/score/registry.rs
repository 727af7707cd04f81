use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Lamp, Magnitude, Movement, Random, Scorer, Snip, SnipMomentum, Wanda};
use crate::SparsityError;

/// Builds a scorer from the arguments after the name's colon (`""` when there are none).
type Factory = Arc<dyn Fn(&str) -> Result<Arc<dyn Scorer>, String> + Send + Sync>;

/// Maps the scorer names used in recipes to scorers.
///
/// [`ScorerRegistry::default`] knows `magnitude`, `random`, `snip`, `snip_momentum`,
/// `movement`, `lamp` and `wanda`; register your own with
/// [`ScorerRegistry::register`].
#[derive(Clone)]
pub struct ScorerRegistry {
    factories: BTreeMap<String, Factory>,
}

impl std::fmt::Debug for ScorerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Default for ScorerRegistry {
    fn default() -> Self {
        let mut registry = Self {
            factories: BTreeMap::new(),
        };
        registry.register("magnitude", || Arc::new(Magnitude));
        registry.register("random", || Arc::new(Random));
        registry.register("snip", || Arc::new(Snip));
        registry.register_with_args("snip_momentum", |args: &str| {
            if args.is_empty() {
                return Ok(Arc::new(SnipMomentum::default()) as Arc<dyn Scorer>);
            }
            let beta: f32 = args
                .trim()
                .parse()
                .map_err(|_| format!("β must be a number, got `{args}`"))?;
            if !(0.0..1.0).contains(&beta) {
                return Err(format!("β = {beta} is not in [0, 1)"));
            }
            Ok(Arc::new(SnipMomentum { beta }) as Arc<dyn Scorer>)
        });
        registry.register("movement", || Arc::new(Movement));
        registry.register("lamp", || Arc::new(Lamp));
        registry.register("wanda", || Arc::new(Wanda));
        registry
    }
}

impl ScorerRegistry {
    /// Makes `name` build a scorer with `factory` (replacing any earlier entry). The scorer
    /// takes no arguments: `name:anything` is refused.
    pub fn register<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn() -> Arc<dyn Scorer> + Send + Sync + 'static,
    {
        let factory = move |args: &str| {
            if args.is_empty() {
                Ok(factory())
            } else {
                Err(format!("takes no arguments, got `{args}`"))
            }
        };
        self.factories.insert(name.to_string(), Arc::new(factory));
        self
    }

    /// Makes `name` build a scorer from the arguments a recipe writes after a colon
    /// (`snip_momentum:0.8` passes `"0.8"`; plain `snip_momentum` passes `""`). The factory's
    /// error names what is wrong with them.
    pub fn register_with_args<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&str) -> Result<Arc<dyn Scorer>, String> + Send + Sync + 'static,
    {
        self.factories.insert(name.to_string(), Arc::new(factory));
        self
    }

    /// The scorer a recipe names: `name`, or `name:arguments` for scorers that take some.
    pub fn get(&self, spec: &str) -> Result<Arc<dyn Scorer>, SparsityError> {
        let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| SparsityError::UnknownScorer {
                name: spec.to_string(),
                known: self.names().join(", "),
            })?;
        factory(args).map_err(|message| SparsityError::BadScorerSpec {
            spec: spec.to_string(),
            message,
        })
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_reach_scorers_that_take_them_and_are_refused_elsewhere() {
        let registry = ScorerRegistry::default();
        assert_eq!(
            registry.get("snip_momentum:0.5").unwrap().name(),
            "snip_momentum"
        );
        assert!(registry.get("snip_momentum").is_ok());
        for (spec, expected) in [
            ("snip_momentum:1.5", "not in [0, 1)"),
            ("snip_momentum:x", "must be a number"),
            ("magnitude:3", "takes no arguments"),
        ] {
            let err = registry.get(spec).unwrap_err().to_string();
            assert!(
                err.contains(spec) && err.contains(expected),
                "{spec}: {err}"
            );
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = ScorerRegistry::default()
            .get("magnitud")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("magnitud")
                && err.contains("lamp, magnitude, movement, random, snip, snip_momentum, wanda"),
            "{err}"
        );
    }
}
