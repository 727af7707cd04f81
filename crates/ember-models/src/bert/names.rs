use burn::store::KeyRemapper;
use regex::Regex;

/// Hugging Face's BERT tensor names and Ember's, written once: `(Hugging Face, Ember)`
/// prefixes, where `{n}` stands for a layer index. The rest of a name (`weight`, `bias`) is
/// kept; burn-store's PyTorch adapters turn a `LayerNorm`'s `weight`/`bias` into burn's
/// `gamma`/`beta` and transpose `Linear` weights.
///
/// Ember's side is the field names of [`Bert`](super::Bert) and of burn's
/// `TransformerEncoder` (`layers`, `mha`, `pwff`, `norm_1`, `norm_2`). burn's encoder layer
/// with `norm_first = false` normalises with `norm_1` after attention and with `norm_2` after
/// the feed-forward block, which are BERT's `attention.output.LayerNorm` and
/// `output.LayerNorm`.
const PREFIXES: &[(&str, &str)] = &[
    ("embeddings.word_embeddings.", "embeddings.word."),
    ("embeddings.position_embeddings.", "embeddings.position."),
    (
        "embeddings.token_type_embeddings.",
        "embeddings.token_type.",
    ),
    ("embeddings.LayerNorm.", "embeddings.norm."),
    (
        "encoder.layer.{n}.attention.self.query.",
        "encoder.layers.{n}.mha.query.",
    ),
    (
        "encoder.layer.{n}.attention.self.key.",
        "encoder.layers.{n}.mha.key.",
    ),
    (
        "encoder.layer.{n}.attention.self.value.",
        "encoder.layers.{n}.mha.value.",
    ),
    (
        "encoder.layer.{n}.attention.output.dense.",
        "encoder.layers.{n}.mha.output.",
    ),
    (
        "encoder.layer.{n}.attention.output.LayerNorm.",
        "encoder.layers.{n}.norm_1.",
    ),
    (
        "encoder.layer.{n}.intermediate.dense.",
        "encoder.layers.{n}.pwff.linear_inner.",
    ),
    (
        "encoder.layer.{n}.output.dense.",
        "encoder.layers.{n}.pwff.linear_outer.",
    ),
    (
        "encoder.layer.{n}.output.LayerNorm.",
        "encoder.layers.{n}.norm_2.",
    ),
    ("pooler.dense.", "pooler."),
];

/// The placeholder for a layer index in [`PREFIXES`].
const INDEX: &str = "{n}";

/// Which way a [`NameMap`] renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a Hugging Face checkpoint's names to Ember's parameter paths (loading).
    HfToEmber,
    /// From Ember's parameter paths to a Hugging Face checkpoint's names (export).
    EmberToHf,
}

/// The renaming rules between Hugging Face BERT names and Ember's, compiled for one
/// direction.
///
/// Each rule is an anchored prefix, so at most one applies to any name, and a name no rule
/// matches is left as it is. A prefix on either side places the BERT inside a larger model or
/// checkpoint: `transformers`' task models keep theirs under `bert.`, and so does
/// [`BertForSequenceClassification`](super::BertForSequenceClassification).
#[derive(Debug, Clone)]
pub struct NameMap {
    rules: Vec<(Regex, String)>,
}

impl NameMap {
    /// The rules for `direction`, with the BERT's names under `hf_prefix` in the checkpoint
    /// and under `ember_prefix` in the model (each empty, or ending with a dot).
    pub fn new(direction: Direction, hf_prefix: &str, ember_prefix: &str) -> Self {
        let rules = PREFIXES
            .iter()
            .map(|(hf, ember)| {
                let hf = format!("{hf_prefix}{hf}");
                let ember = format!("{ember_prefix}{ember}");
                let (from, to) = match direction {
                    Direction::HfToEmber => (hf, ember),
                    Direction::EmberToHf => (ember, hf),
                };
                (pattern(&from), replacement(&to))
            })
            .collect();
        Self { rules }
    }

    /// Hugging Face's names of a plain `BertModel` checkpoint to [`Bert`](super::Bert)'s.
    pub fn hf_to_ember() -> Self {
        Self::new(Direction::HfToEmber, "", "")
    }

    /// [`Bert`](super::Bert)'s parameter paths to Hugging Face's `BertModel` names.
    pub fn ember_to_hf() -> Self {
        Self::new(Direction::EmberToHf, "", "")
    }

    /// Renames one name exactly as burn-store's [`KeyRemapper`] does: every rule, in order,
    /// on the result of the previous one.
    pub fn rename(&self, name: &str) -> String {
        let mut name = name.to_string();
        for (pattern, replacement) in &self.rules {
            if pattern.is_match(&name) {
                name = pattern
                    .replace_all(&name, replacement.as_str())
                    .into_owned();
            }
        }
        name
    }

    /// The same rules as burn-store's remapper, for `SafetensorsStore::remap`.
    pub fn remapper(&self) -> KeyRemapper {
        KeyRemapper::from_compiled_patterns(self.rules.clone())
    }
}

/// The anchored regex matching the literal prefix `from`, `{n}` matching a layer index.
fn pattern(from: &str) -> Regex {
    let literal: Vec<String> = from.split(INDEX).map(regex::escape).collect();
    let source = format!("^{}", literal.join(r"(\d+)"));
    Regex::new(&source).expect("escaped literals and one digit group always compile")
}

/// The replacement text for `to`, `{n}` becoming the captured layer index.
fn replacement(to: &str) -> String {
    to.replace('$', "$$").replace(INDEX, "${1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Hugging Face name of a BERT layer, with `N` for the layer index.
    fn hf_names(prefix: &str) -> Vec<String> {
        PREFIXES
            .iter()
            .flat_map(|(hf, _)| ["weight", "bias"].map(|leaf| format!("{prefix}{hf}{leaf}")))
            .map(|name| name.replace(INDEX, "11"))
            .collect()
    }

    #[test]
    fn renames_are_inverse_and_never_chain() {
        for (hf_prefix, ember_prefix) in [("", ""), ("bert.", "bert."), ("bert.", "")] {
            let to_ember = NameMap::new(Direction::HfToEmber, hf_prefix, ember_prefix);
            let to_hf = NameMap::new(Direction::EmberToHf, hf_prefix, ember_prefix);
            for name in hf_names(hf_prefix) {
                let ember = to_ember.rename(&name);
                assert_ne!(ember, name, "no rule renamed {name}");
                assert_eq!(to_hf.rename(&ember), name);
                // A renamed name matches no further rule: exactly one applied.
                let matching = to_ember
                    .rules
                    .iter()
                    .filter(|(pattern, _)| pattern.is_match(&name))
                    .count();
                assert_eq!(matching, 1, "{name}");
                assert!(
                    !to_ember.rules.iter().any(|(p, _)| p.is_match(&ember)),
                    "{ember} would be renamed again"
                );
            }
        }
    }

    #[test]
    fn known_names_map_onto_burn_fields() {
        let to_ember = NameMap::hf_to_ember();
        let cases = [
            (
                "encoder.layer.3.attention.self.query.weight",
                "encoder.layers.3.mha.query.weight",
            ),
            (
                "encoder.layer.10.attention.output.dense.bias",
                "encoder.layers.10.mha.output.bias",
            ),
            (
                "encoder.layer.0.attention.output.LayerNorm.weight",
                "encoder.layers.0.norm_1.weight",
            ),
            (
                "encoder.layer.5.output.LayerNorm.bias",
                "encoder.layers.5.norm_2.bias",
            ),
            (
                "encoder.layer.2.intermediate.dense.weight",
                "encoder.layers.2.pwff.linear_inner.weight",
            ),
            (
                "encoder.layer.2.output.dense.weight",
                "encoder.layers.2.pwff.linear_outer.weight",
            ),
            ("embeddings.LayerNorm.weight", "embeddings.norm.weight"),
            (
                "embeddings.word_embeddings.weight",
                "embeddings.word.weight",
            ),
            ("pooler.dense.weight", "pooler.weight"),
            // Not BERT parameters: left alone.
            ("embeddings.position_ids", "embeddings.position_ids"),
            ("cls.predictions.bias", "cls.predictions.bias"),
        ];
        for (hf, ember) in cases {
            assert_eq!(to_ember.rename(hf), ember, "{hf}");
        }
    }
}
