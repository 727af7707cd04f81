use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::LlamaConfig;

/// Root-mean-square normalisation with a learned scale, computed in f32 as `transformers`
/// does. The parameter is `weight`, Hugging Face's name (the type is not called `RmsNorm`
/// because burn-store's PyTorch adapter renames an `RmsNorm`'s `weight` to burn's `gamma`).
#[derive(Module, Debug)]
pub struct LlamaRmsNorm {
    /// The scale, `[hidden_size]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square before the square root.
    pub eps: f64,
}

impl LlamaRmsNorm {
    fn new(width: usize, eps: f64, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([width], device)),
            eps,
        }
    }

    /// `x / sqrt(mean(x²) + eps) · weight` over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let rms = (x.clone().square().mean_dim(D - 1) + self.eps).sqrt();
        x / rms * self.weight.val().unsqueeze()
    }
}

/// Grouped-query self-attention with rotary position embeddings and a causal mask.
#[derive(Module, Debug)]
pub struct LlamaAttention {
    /// Queries, `hidden → heads · head_dim`.
    pub q_proj: Linear,
    /// Keys, `hidden → kv_heads · head_dim`.
    pub k_proj: Linear,
    /// Values, `hidden → kv_heads · head_dim`.
    pub v_proj: Linear,
    /// The output projection, `heads · head_dim → hidden`.
    pub o_proj: Linear,
    /// Query heads.
    pub heads: usize,
    /// Key and value heads.
    pub kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
}

/// The SwiGLU MLP: `down(silu(gate(x)) · up(x))`.
#[derive(Module, Debug)]
pub struct LlamaMlp {
    /// The gate, `hidden → intermediate`.
    pub gate_proj: Linear,
    /// The up projection, `hidden → intermediate`.
    pub up_proj: Linear,
    /// The down projection, `intermediate → hidden`.
    pub down_proj: Linear,
}

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
pub struct LlamaDecoderLayer {
    /// Self-attention.
    pub self_attn: LlamaAttention,
    /// The MLP.
    pub mlp: LlamaMlp,
    /// The norm before the attention.
    pub input_layernorm: LlamaRmsNorm,
    /// The norm before the MLP.
    pub post_attention_layernorm: LlamaRmsNorm,
}

/// The decoder without its head (Hugging Face's `LlamaModel`).
#[derive(Module, Debug)]
pub struct LlamaModel {
    /// Token embeddings, `[vocab, hidden]`.
    pub embed_tokens: Embedding,
    /// The decoder layers.
    pub layers: Vec<LlamaDecoderLayer>,
    /// The final norm.
    pub norm: LlamaRmsNorm,
}

/// A Llama-family causal language model (`LlamaForCausalLM`, `Qwen2ForCausalLM`,
/// `MistralForCausalLM`). Parameter paths are Hugging Face's
/// (`model.layers.0.self_attn.q_proj.weight`), so recipes, selectors and exports name tensors
/// as the checkpoint does.
#[derive(Module, Debug)]
pub struct LlamaForCausalLM {
    /// Embeddings, layers and the final norm.
    pub model: LlamaModel,
    /// The output head, `hidden → vocab`; `None` when tied to the token embedding.
    pub lm_head: Option<Linear>,
    /// The base of the rotary embedding.
    pub rope_theta: f64,
}

fn linear(input: usize, output: usize, bias: bool, device: &Device) -> Linear {
    LinearConfig::new(input, output)
        .with_bias(bias)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(device)
}

impl LlamaConfig {
    /// Builds the model with fresh weights (normal, standard deviation 0.02, as
    /// `transformers` initialises them; norms at one).
    pub fn init(&self, device: &Device) -> LlamaForCausalLM {
        let (h, d) = (self.hidden_size, self.head_dim);
        let layers = (0..self.num_hidden_layers)
            .map(|_| LlamaDecoderLayer {
                self_attn: LlamaAttention {
                    q_proj: linear(h, self.num_attention_heads * d, self.qkv_bias, device),
                    k_proj: linear(h, self.num_key_value_heads * d, self.qkv_bias, device),
                    v_proj: linear(h, self.num_key_value_heads * d, self.qkv_bias, device),
                    o_proj: linear(self.num_attention_heads * d, h, self.o_bias, device),
                    heads: self.num_attention_heads,
                    kv_heads: self.num_key_value_heads,
                    head_dim: d,
                },
                mlp: LlamaMlp {
                    gate_proj: linear(h, self.intermediate_size, self.mlp_bias, device),
                    up_proj: linear(h, self.intermediate_size, self.mlp_bias, device),
                    down_proj: linear(self.intermediate_size, h, self.mlp_bias, device),
                },
                input_layernorm: LlamaRmsNorm::new(h, self.rms_norm_eps, device),
                post_attention_layernorm: LlamaRmsNorm::new(h, self.rms_norm_eps, device),
            })
            .collect();
        LlamaForCausalLM {
            model: LlamaModel {
                embed_tokens: EmbeddingConfig::new(self.vocab_size, h)
                    .with_initializer(Initializer::Normal {
                        mean: 0.0,
                        std: 0.02,
                    })
                    .init(device),
                layers,
                norm: LlamaRmsNorm::new(h, self.rms_norm_eps, device),
            },
            lm_head: (!self.tie_word_embeddings).then(|| linear(h, self.vocab_size, false, device)),
            rope_theta: self.rope_theta,
        }
    }
}

/// The rotary tables of a sequence: `cos` and `sin`, `[seq, head_dim]`, halves repeated (the
/// `rotate_half` convention of `transformers`).
#[derive(Debug, Clone)]
pub struct Rotary {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rotary {
    /// The tables for positions `0..seq` of heads `head_dim` wide with base `theta`.
    pub fn new(seq: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        // As transformers: inverse frequencies in f32, angles as f32 products.
        let inverse: Vec<f32> = (0..half)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        let mut angles = Vec::with_capacity(seq * head_dim);
        for position in 0..seq {
            for _ in 0..2 {
                angles.extend(inverse.iter().map(|f| position as f32 * f));
            }
        }
        let angles = Tensor::<2>::from_data(TensorData::new(angles, [seq, head_dim]), device);
        Self {
            cos: angles.clone().cos(),
            sin: angles.sin(),
        }
    }

    /// `x · cos + rotate_half(x) · sin` for `x` of `[batch, heads, seq, head_dim]`.
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, _, d] = x.dims();
        let first = x.clone().narrow(3, 0, d / 2);
        let second = x.clone().narrow(3, d / 2, d / 2);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        x * self.cos.clone().unsqueeze() + rotated * self.sin.clone().unsqueeze()
    }
}

impl LlamaAttention {
    /// The attention context before the output projection, `[batch, seq, heads · head_dim]`.
    pub fn context(&self, x: Tensor<3>, rotary: &Rotary) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let split = |t: Tensor<3>, heads: usize| {
            t.reshape([batch, seq, heads, self.head_dim])
                .swap_dims(1, 2)
        };
        let q = rotary.apply(split(self.q_proj.forward(x.clone()), self.heads));
        let k = rotary.apply(split(self.k_proj.forward(x.clone()), self.kv_heads));
        let v = split(self.v_proj.forward(x), self.kv_heads);
        // Each key/value head serves `heads / kv_heads` consecutive query heads.
        let group = self.heads / self.kv_heads;
        let widen = |t: Tensor<4>| {
            if group == 1 {
                return t;
            }
            t.unsqueeze_dim::<5>(2).repeat_dim(2, group).reshape([
                batch,
                self.heads,
                seq,
                self.head_dim,
            ])
        };
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: true,
        };
        attention(q, widen(k), widen(v), None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, seq, self.heads * self.head_dim])
    }
}

impl LlamaMlp {
    /// The down projection's input, `silu(gate(x)) · up(x)`.
    pub fn inner(&self, x: Tensor<3>) -> Tensor<3> {
        silu(self.gate_proj.forward(x.clone())) * self.up_proj.forward(x)
    }
}

impl LlamaDecoderLayer {
    /// The layer on `x`, `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>, rotary: &Rotary) -> Tensor<3> {
        let attended = self
            .self_attn
            .context(self.input_layernorm.forward(x.clone()), rotary);
        let x = x + self.self_attn.o_proj.forward(attended);
        let inner = self
            .mlp
            .inner(self.post_attention_layernorm.forward(x.clone()));
        x + self.mlp.down_proj.forward(inner)
    }
}

impl LlamaForCausalLM {
    /// The rotary tables for sequences of `seq` tokens.
    pub fn rotary(&self, seq: usize, device: &Device) -> Rotary {
        let head_dim = self
            .model
            .layers
            .first()
            .map_or(2, |layer| layer.self_attn.head_dim);
        Rotary::new(seq, head_dim, self.rope_theta, device)
    }

    /// The logits of every position, `[batch, seq, vocab]`, for token ids `[batch, seq]`.
    /// Sequences must fit the model ([`LlamaConfig::check_sequence`]).
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        let rotary = self.rotary(seq, &input_ids.device());
        let mut x = self.model.embed_tokens.forward(input_ids);
        for layer in &self.model.layers {
            x = layer.forward(x, &rotary);
        }
        self.project(self.model.norm.forward(x))
    }

    /// The head on normalised hidden states: `lm_head`, or the token embedding transposed.
    pub fn project<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => {
                let weight = self.model.embed_tokens.weight.val().transpose();
                x.matmul(weight.unsqueeze())
            }
        }
    }
}
