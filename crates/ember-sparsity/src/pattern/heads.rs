use super::{Groups, Pattern, PatternInput};

/// How a model's attention modules are laid out: the names of their four projections (the
/// last path segment of each `Linear`) and how many query and key-value heads they have.
/// A model family gives its own (`ember_zoo`'s `bert` registers `heads` with its
/// configuration's); `heads:H` in a recipe is burn's `MultiHeadAttention` with `H` heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadLayout {
    /// Query heads.
    pub heads: usize,
    /// Key and value heads: `heads` without grouped-query attention, fewer with it (each
    /// serves `heads / kv_heads` query heads).
    pub kv_heads: usize,
    /// The query projection's name (`query`, `q_proj`).
    pub query: String,
    /// The key projection's name (`key`, `k_proj`).
    pub key: String,
    /// The value projection's name (`value`, `v_proj`).
    pub value: String,
    /// The output projection's name (`output`, `o_proj`).
    pub output: String,
}

impl HeadLayout {
    /// burn's `MultiHeadAttention` with `heads` heads: `query`, `key`, `value`, `output`.
    pub fn burn(heads: usize) -> Self {
        Self::named(heads, heads, ["query", "key", "value", "output"])
    }

    /// Projections named `[query, key, value, output]`, with `kv_heads` key-value heads
    /// (Hugging Face's Llama: `["q_proj", "k_proj", "v_proj", "o_proj"]`).
    pub fn named(heads: usize, kv_heads: usize, [query, key, value, output]: [&str; 4]) -> Self {
        Self {
            heads,
            kv_heads,
            query: query.into(),
            key: key.into(),
            value: value.into(),
            output: output.into(),
        }
    }
}

/// Which of the four projections a tensor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Projection {
    Query,
    KeyValue,
    Output,
}

/// Attention heads, removed together: a head group's columns of the query, key and value
/// projections (and their bias entries) and its rows of the output projection. A head group
/// is one key-value head with the `heads / kv_heads` query heads that read it (one head
/// without grouped-query attention). The unit is the attention module, so global scope ranks
/// the groups of all layers against each other and layer-wise scope prunes the same share of
/// every layer.
///
/// Projections are `Linear`s with `[in, out]` weights: query head `h` owns output columns
/// `h·d..(h+1)·d` of the query projection and input rows `h·d..(h+1)·d` of the output
/// projection, key-value head `k` owns columns `k·d..(k+1)·d` of the key and value
/// projections, where `d` is the head width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heads {
    /// The layout of every selected attention module.
    pub layout: HeadLayout,
}

impl Heads {
    /// Heads of burn's `MultiHeadAttention` with `heads` heads.
    pub fn new(heads: usize) -> Self {
        Self {
            layout: HeadLayout::burn(heads),
        }
    }

    fn projection(&self, param: &PatternInput<'_>) -> Option<Projection> {
        let module = param.module_path();
        let name = module.rsplit('.').next()?;
        let layout = &self.layout;
        if name == layout.query {
            Some(Projection::Query)
        } else if name == layout.key || name == layout.value {
            Some(Projection::KeyValue)
        } else if name == layout.output {
            Some(Projection::Output)
        } else {
            None
        }
    }

    /// The attention module: the path above the projection.
    fn attention_path<'a>(param: &PatternInput<'a>) -> &'a str {
        let module = param.module_path();
        module.rsplit_once('.').map_or("", |(parent, _)| parent)
    }

    /// Heads along the projection's head dimension.
    fn heads_of(&self, projection: Projection) -> usize {
        match projection {
            Projection::KeyValue => self.layout.kv_heads,
            _ => self.layout.heads,
        }
    }

    /// Query heads per head group.
    fn per_group(&self, projection: Projection) -> usize {
        match projection {
            Projection::KeyValue => 1,
            _ => self.layout.heads / self.layout.kv_heads,
        }
    }
}

impl Pattern for Heads {
    fn name(&self) -> String {
        let layout = &self.layout;
        if *layout == HeadLayout::burn(layout.heads) {
            format!("heads:{}", layout.heads)
        } else {
            format!(
                "heads ({} heads, {} key-value heads, {}/{}/{}/{})",
                layout.heads,
                layout.kv_heads,
                layout.query,
                layout.key,
                layout.value,
                layout.output
            )
        }
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        let layout = &self.layout;
        if layout.heads == 0
            || layout.kv_heads == 0
            || !layout.heads.is_multiple_of(layout.kv_heads)
        {
            return Err(format!(
                "{} query heads do not split into groups over {} key-value heads",
                layout.heads, layout.kv_heads
            ));
        }
        let Some(projection) = self.projection(param) else {
            return Err(format!(
                "`{}` is not a {}, {}, {} or {} projection of an attention module",
                param.path, layout.query, layout.key, layout.value, layout.output
            ));
        };
        if projection == Projection::Output && param.field() != "weight" {
            return Err(format!(
                "`{}`: the output projection's bias is shared by all heads and cannot be \
                 pruned per head; leave it out of the selector",
                param.path
            ));
        }
        let width = match (projection, param.shape) {
            (Projection::Output, [inputs, _]) => *inputs,
            (_, [_, outputs]) | (_, [outputs]) => *outputs,
            _ => return Err(format!("`{}` has shape {:?}", param.path, param.shape)),
        };
        let heads = self.heads_of(projection);
        if !width.is_multiple_of(heads) {
            return Err(format!(
                "`{}` has {width} features, not a multiple of {heads} heads",
                param.path
            ));
        }
        Ok(())
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        let unit = Self::attention_path(param);
        let numel = param.numel();
        let groups = self.layout.kv_heads;
        let projection = self.projection(param).expect("check rejects other tensors");
        let (heads, per_group) = (self.heads_of(projection), self.per_group(projection));
        match (projection, param.shape) {
            (Projection::Output, [inputs, outputs]) => {
                let (outputs, head_dim) = (*outputs, inputs / heads);
                Groups::from_fn(unit, numel, groups, |i| {
                    (i / outputs) / head_dim / per_group
                })
            }
            (_, [_, outputs]) => {
                let (outputs, head_dim) = (*outputs, outputs / heads);
                Groups::from_fn(unit, numel, groups, |i| {
                    (i % outputs) / head_dim / per_group
                })
            }
            (_, [features]) => {
                let head_dim = features / heads;
                Groups::from_fn(unit, numel, groups, |i| i / head_dim / per_group)
            }
            _ => unreachable!("check rejects other shapes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(path: &'a str, shape: &'a [usize]) -> PatternInput<'a> {
        PatternInput {
            path,
            shape,
            layer_type: "Linear",
        }
    }

    /// Grouped-query attention, Llama's names: 4 query heads over 2 key-value heads of width
    /// 2, so head group `g` is query heads `2g, 2g + 1` with key-value head `g`.
    #[test]
    fn grouped_query_heads_go_with_their_key_value_head() {
        let pattern = Heads {
            layout: HeadLayout::named(4, 2, ["q_proj", "k_proj", "v_proj", "o_proj"]),
        };
        // q_proj: [in 8, out 8]; its column c belongs to query head c / 2, group c / 4.
        let q = input("model.layers.0.self_attn.q_proj.weight", &[8, 8]);
        pattern.check(&q).unwrap();
        let groups = pattern.groups(&q);
        let index = |groups: &Groups, i: usize| groups.of_element.as_ref().unwrap()[i] as usize;
        let of_column = |c: usize| index(&groups, c);
        assert_eq!(
            (0..8).map(of_column).collect::<Vec<_>>(),
            [0, 0, 0, 0, 1, 1, 1, 1]
        );
        // k_proj: [in 8, out 4]; column c is key-value head c / 2 = group c / 2.
        let k = input("model.layers.0.self_attn.k_proj.weight", &[8, 4]);
        pattern.check(&k).unwrap();
        let groups = pattern.groups(&k);
        assert_eq!(
            (0..4).map(|c| index(&groups, c)).collect::<Vec<_>>(),
            [0, 0, 1, 1]
        );
        // o_proj: [in 8, out 8]; row r is query head r / 2, group r / 4.
        let o = input("model.layers.0.self_attn.o_proj.weight", &[8, 8]);
        let groups = pattern.groups(&o);
        assert_eq!(
            (0..8).map(|r| index(&groups, r * 8)).collect::<Vec<_>>(),
            [0, 0, 0, 0, 1, 1, 1, 1]
        );
        // Every projection is one unit: the attention module.
        assert_eq!(groups.unit, "model.layers.0.self_attn");
        // burn's names are not this layout's.
        assert!(
            pattern
                .check(&input("enc.layers.0.mha.query.weight", &[8, 8]))
                .is_err()
        );
        // 3 query heads cannot share 2 key-value heads.
        let odd = Heads {
            layout: HeadLayout::named(3, 2, ["q_proj", "k_proj", "v_proj", "o_proj"]),
        };
        assert!(odd.check(&q).is_err());
    }
}
