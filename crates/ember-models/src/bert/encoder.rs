//! BERT's encoder layer computed step by step, so that its dropouts and its GELU are Ember's
//! ([`crate::dropout`], [`crate::gelu`]): burn's `TransformerEncoderLayer` draws its dropouts
//! inside its attention and its layer, where nothing else can be put in.

use burn::nn::activation::Activation;
use burn::nn::attention::MultiHeadAttention;
use burn::nn::transformer::TransformerEncoderLayer;
use burn::tensor::activation::{quiet_softmax, softmax};
use burn::tensor::{Bool, Tensor};

use crate::dropout::dropout;
use crate::gelu::gelu;

/// `layer` on `x` with `padding` (true at padding) masked out of the attention: burn's
/// `TransformerEncoderLayer::forward`, operation for operation, with [`dropout`] where
/// burn's layer draws its own and [`gelu`] for a GELU activation (so without dropout the
/// result is burn's to the bit off flex, and within the GELU's 4e-7 on flex).
///
/// # Shapes
///
/// - x: `[batch, seq, d_model]`, padding: `[batch, seq]`
/// - output: `[batch, seq, d_model]`
pub(crate) fn encoder_layer(
    layer: &TransformerEncoderLayer,
    x: Tensor<3>,
    padding: &Tensor<2, Bool>,
) -> Tensor<3> {
    let attended = if layer.norm_first {
        layer.norm_2.forward(x.clone())
    } else {
        x.clone()
    };
    let attended = attention(&layer.mha, attended, padding);
    let mut x = x + dropout(&layer.dropout, attended);
    let inner = if layer.norm_first {
        layer.norm_1.forward(x.clone())
    } else {
        x = layer.norm_1.forward(x);
        x.clone()
    };
    let pwff = &layer.pwff;
    let inner = pwff.linear_inner.forward(inner);
    let inner = match pwff.activation {
        // The exact GELU; the tanh approximation stays burn's.
        Activation::Gelu(ref g) if !g.approximate => gelu(inner),
        _ => pwff.activation.forward(inner),
    };
    let fed = pwff.linear_outer.forward(dropout(&pwff.dropout, inner));
    let x = x + dropout(&layer.dropout, fed);
    if layer.norm_first {
        x
    } else {
        layer.norm_2.forward(x)
    }
}

/// `MultiHeadAttention::forward`'s context for self-attention with a padding mask.
fn attention(mha: &MultiHeadAttention, x: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<3> {
    let [batch, seq, d_model] = x.dims();
    let heads = |t: Tensor<3>| {
        t.reshape([batch, seq, mha.n_heads, mha.d_k])
            .swap_dims(1, 2)
    };
    let query = heads(mha.query.forward(x.clone()));
    let key = heads(mha.key.forward(x.clone()));
    let value = heads(mha.value.forward(x));
    let scores = query
        .matmul(key.transpose())
        .div_scalar((mha.d_k as f32).sqrt())
        .mask_fill(padding.clone().reshape([batch, 1, 1, seq]), mha.min_float);
    let weights = if mha.quiet_softmax {
        quiet_softmax(scores, 3)
    } else {
        softmax(scores, 3)
    };
    let weights = dropout(&mha.dropout, weights);
    let context = weights
        .matmul(value)
        .swap_dims(1, 2)
        .reshape([batch, seq, d_model]);
    mha.output.forward(context)
}
