//! A decoder as stem → decoder layers → head, for layer-by-layer pruning (SparseGPT, Wanda).

use burn::tensor::{Int, Tensor};

use super::{LlamaForCausalLM, Rotary};
use crate::blocks::{Blocks, Capture};

/// What flows between decoder layers: the hidden states and the sequence's rotary tables.
#[derive(Debug, Clone)]
pub struct LlamaHidden {
    /// `[batch, seq, hidden]`.
    pub states: Tensor<3>,
    /// The rotary tables for `seq` positions, computed once in the stem.
    pub rotary: Rotary,
}

/// `[batch, seq, width]` as `[batch · seq, width]` rows: one row per token (calibration
/// windows are never padded).
fn rows(t: Tensor<3>) -> Tensor<2> {
    let [batch, seq, width] = t.dims();
    t.reshape([batch * seq, width])
}

/// The stem is the token embedding; each decoder layer is a block with seven linear layers;
/// the head is the final norm and `lm_head` (none to prune when it is tied to the embedding).
/// The logits are one row per position, `[batch · seq, vocab]`.
impl Blocks for LlamaForCausalLM {
    type Input = Tensor<2, Int>;
    type Hidden = LlamaHidden;

    fn stem(&self, input_ids: Tensor<2, Int>) -> LlamaHidden {
        let [_, seq] = input_ids.dims();
        let rotary = self.rotary(seq, &input_ids.device());
        LlamaHidden {
            states: self.model.embed_tokens.forward(input_ids),
            rotary,
        }
    }

    fn num_blocks(&self) -> usize {
        self.model.layers.len()
    }

    fn block_linears(&self, index: usize) -> Vec<String> {
        [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ]
        .iter()
        .map(|name| format!("model.layers.{index}.{name}.weight"))
        .collect()
    }

    fn block(&self, index: usize, hidden: LlamaHidden, capture: &mut Capture) -> LlamaHidden {
        let layer = &self.model.layers[index];
        let mut paths = self.block_linears(index).into_iter();
        let mut next = || paths.next().expect("seven linear layers per block");
        let x = hidden.states;
        let normed = layer.input_layernorm.forward(x.clone());
        for _ in 0..3 {
            capture.record(next(), || rows(normed.clone()));
        }
        let context = layer.self_attn.context(normed, &hidden.rotary);
        capture.record(next(), || rows(context.clone()));
        let x = x + layer.self_attn.o_proj.forward(context);
        let normed = layer.post_attention_layernorm.forward(x.clone());
        for _ in 0..2 {
            capture.record(next(), || rows(normed.clone()));
        }
        let inner = layer.mlp.inner(normed);
        capture.record(next(), || rows(inner.clone()));
        LlamaHidden {
            states: x + layer.mlp.down_proj.forward(inner),
            rotary: hidden.rotary,
        }
    }

    fn head_linears(&self) -> Vec<String> {
        match self.lm_head {
            Some(_) => vec!["lm_head.weight".into()],
            None => Vec::new(),
        }
    }

    fn head(&self, hidden: LlamaHidden, capture: &mut Capture) -> Tensor<2> {
        let normed = self.model.norm.forward(hidden.states);
        if self.lm_head.is_some() {
            capture.record("lm_head.weight", || rows(normed.clone()));
        }
        rows(self.project(normed))
    }
}
