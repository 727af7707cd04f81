use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::{ParamInfo, SparsityError};

/// Says which parameters a modifier touches.
///
/// A pattern is either an exact dotted path (`fc1.weight`) or, with the `re:` prefix, a regular
/// expression that must match the *whole* path (`re:fc\d\.weight`). A parameter is selected
/// when an `include` pattern matches it, no `exclude` pattern does, and, if `layer_types` is
/// not empty, its owning module type is listed there (`Linear`, `Conv2d`).
///
/// Every include pattern must match at least one parameter: a typo is an error, never a
/// silent no-op.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Patterns of parameters to select.
    pub include: Vec<String>,
    /// Patterns of parameters to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Owning module types to keep (empty: any).
    #[serde(default)]
    pub layer_types: Vec<String>,
}

pub(crate) enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    pub(crate) fn new(pattern: &str, modifier: &str) -> Result<Self, SparsityError> {
        match pattern.strip_prefix("re:") {
            None => Ok(Self::Exact(pattern.to_string())),
            Some(expr) => Regex::new(&format!("^(?:{expr})$"))
                .map(Self::Regex)
                .map_err(|err| SparsityError::BadPattern {
                    modifier: modifier.to_string(),
                    pattern: pattern.to_string(),
                    message: err.to_string(),
                }),
        }
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == path,
            Self::Regex(regex) => regex.is_match(path),
        }
    }
}

impl Selector {
    /// Selects the parameters whose paths match `include` (any number of patterns).
    pub fn new<S: Into<String>>(include: impl IntoIterator<Item = S>) -> Self {
        Self {
            include: include.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Leaves out the parameters that match `exclude`.
    pub fn with_exclude<S: Into<String>>(mut self, exclude: impl IntoIterator<Item = S>) -> Self {
        self.exclude = exclude.into_iter().map(Into::into).collect();
        self
    }

    /// Keeps only parameters owned by modules of these types.
    pub fn with_layer_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.layer_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// The parameters of `params` this selector picks, in their original order.
    ///
    /// `modifier` names the owner in error messages. Fails when the selector has no include
    /// pattern, when a pattern is not a valid regex, or when an include pattern matches no
    /// parameter (after the layer-type filter).
    pub fn resolve(
        &self,
        params: &[ParamInfo],
        modifier: &str,
    ) -> Result<Vec<ParamInfo>, SparsityError> {
        let available = || {
            let mut names: Vec<&str> = params.iter().map(|p| p.path.as_str()).take(12).collect();
            if params.len() > 12 {
                names.push("…");
            }
            names.join(", ")
        };
        if self.include.is_empty() {
            return Err(SparsityError::EmptySelection {
                modifier: modifier.to_string(),
                pattern: "<no include pattern>".to_string(),
                available: available(),
            });
        }
        let include = compile(&self.include, modifier)?;
        let exclude = compile(&self.exclude, modifier)?;
        let typed: Vec<&ParamInfo> = params
            .iter()
            .filter(|p| self.layer_types.is_empty() || self.layer_types.contains(&p.layer_type))
            .collect();
        for (matcher, pattern) in include.iter().zip(&self.include) {
            let untyped: Vec<&ParamInfo> =
                params.iter().filter(|p| matcher.matches(&p.path)).collect();
            if !untyped.is_empty() && !typed.iter().any(|p| matcher.matches(&p.path)) {
                // The pattern is fine; the layer-type filter removed everything it matched.
                let mut types: Vec<&str> = untyped.iter().map(|p| p.layer_type.as_str()).collect();
                types.sort_unstable();
                types.dedup();
                return Err(SparsityError::UnknownLayerType {
                    modifier: modifier.to_string(),
                    wanted: self.layer_types.clone(),
                    available: types.join(", "),
                });
            }
            if !typed.iter().any(|p| matcher.matches(&p.path)) {
                return Err(SparsityError::EmptySelection {
                    modifier: modifier.to_string(),
                    pattern: pattern.clone(),
                    available: available(),
                });
            }
        }
        let selected: Vec<ParamInfo> = typed
            .into_iter()
            .filter(|p| include.iter().any(|m| m.matches(&p.path)))
            .filter(|p| !exclude.iter().any(|m| m.matches(&p.path)))
            .cloned()
            .collect();
        if selected.is_empty() {
            return Err(SparsityError::EmptySelection {
                modifier: modifier.to_string(),
                pattern: format!("{:?} minus exclusions {:?}", self.include, self.exclude),
                available: available(),
            });
        }
        Ok(selected)
    }
}

fn compile(patterns: &[String], modifier: &str) -> Result<Vec<Matcher>, SparsityError> {
    patterns.iter().map(|p| Matcher::new(p, modifier)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::ParamId;

    fn params() -> Vec<ParamInfo> {
        [
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "conv.weight",
        ]
        .iter()
        .map(|path| ParamInfo {
            path: path.to_string(),
            id: ParamId::new(),
            shape: vec![2, 2],
            layer_type: if path.starts_with("conv") {
                "Conv2d"
            } else {
                "Linear"
            }
            .to_string(),
        })
        .collect()
    }

    fn paths(selected: &[ParamInfo]) -> Vec<&str> {
        selected.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn a_layer_type_that_removes_every_match_is_named_not_the_pattern() {
        let params = vec![ParamInfo {
            path: "fc.weight".into(),
            id: burn::module::ParamId::new(),
            shape: vec![2, 2],
            layer_type: "Linear".into(),
        }];
        let err = Selector::new(["fc.weight"])
            .with_layer_types(["Linaer"])
            .resolve(&params, "m")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer_types [\"Linaer\"]") && err.contains("Linear"),
            "{err}"
        );
    }

    #[test]
    fn regex_exact_exclude_and_layer_types() {
        let all = params();
        let sel = Selector::new([r"re:.*\.weight"])
            .resolve(&all, "m")
            .unwrap();
        assert_eq!(paths(&sel), ["fc1.weight", "fc2.weight", "conv.weight"]);
        let sel = Selector::new([r"re:.*\.weight"])
            .with_exclude(["fc2.weight"])
            .resolve(&all, "m")
            .unwrap();
        assert_eq!(paths(&sel), ["fc1.weight", "conv.weight"]);
        let sel = Selector::new([r"re:.*"])
            .with_layer_types(["Conv2d"])
            .resolve(&all, "m")
            .unwrap();
        assert_eq!(paths(&sel), ["conv.weight"]);
        // A regex must match the whole path, not a substring.
        let err = Selector::new(["re:weight"]).resolve(&all, "m").unwrap_err();
        assert!(matches!(err, SparsityError::EmptySelection { .. }));
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_an_error_naming_it() {
        let err = Selector::new(["fc1.weight", "fc9.weight"])
            .resolve(&params(), "prune_fc")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("fc9.weight") && msg.contains("prune_fc"),
            "{msg}"
        );
        assert!(msg.contains("fc1.weight"), "lists what exists: {msg}");
        let err = Selector::new(["re:fc1\\..*"])
            .with_exclude(["re:.*"])
            .resolve(&params(), "m")
            .unwrap_err();
        assert!(matches!(err, SparsityError::EmptySelection { .. }));
    }

    #[test]
    fn bad_regex_is_reported() {
        let err = Selector::new(["re:fc(1"])
            .resolve(&params(), "m")
            .unwrap_err();
        assert!(matches!(err, SparsityError::BadPattern { .. }), "{err}");
    }
}
