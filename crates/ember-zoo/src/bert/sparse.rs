//! A BERT sequence classifier on the sparse kernels: every linear layer (the encoder's
//! query, key, value, attention output, intermediate and output projections, the pooler and
//! the classifier) as a sparse matrix (N:M when its mask is, CSR otherwise), with its bias
//! (and the intermediate layer's exact GELU) applied by the product to each part where it
//! was computed; attention through `ember_kernels::self_attention`, whose heads the helper
//! threads share; embeddings and layer norms in plain loops. It computes what
//! `ember_models::BertForSequenceClassification` computes in evaluation mode (post-LN
//! encoder, `[CLS]` pooling with tanh).
//!
//! Each sentence runs unpadded: padding only ever enters burn's model as masked keys, whose
//! attention weights are zero, so the logits are the same.

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::Tensor;
use ember_kernels::{Activation, Epilogue, NamedTensor, SparseMatrix};
use ember_models::BertForSequenceClassification;

use ember_train::TrainError;

/// A linear layer: `[out, in]` sparse weights (N:M when the mask is, CSR otherwise), and its
/// bias (and activation) as the product's epilogue.
#[derive(Debug, Clone)]
struct SparseLinear {
    weight: SparseMatrix,
    epilogue: Epilogue,
}

impl SparseLinear {
    /// `act(x · Wᵀ + b)` for `rows` rows of `x`.
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, TrainError> {
        self.weight
            .matmul_with(x, rows, &self.epilogue)
            .map_err(|e| TrainError::Invalid {
                field: "input".into(),
                value: format!("{} values", x.len()),
                message: e.to_string(),
            })
    }

    /// This layer followed by the exact GELU.
    fn with_gelu(mut self) -> Self {
        self.epilogue = self.epilogue.with_activation(Activation::Gelu);
        self
    }
}

#[derive(Debug, Clone)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

#[derive(Debug, Clone)]
struct Layer {
    /// Query, key and value stacked into one `[3 · hidden, hidden]` layer: one product where
    /// there were three, one transposition of the input instead of three, and a product large
    /// enough to split over the cores (each of the three alone is too small to gain from it).
    qkv: SparseLinear,
    output: SparseLinear,
    inner: SparseLinear,
    outer: SparseLinear,
    norm_1: Norm,
    norm_2: Norm,
}

/// A BERT sequence classifier whose linear layers run on `ember-kernels`.
#[derive(Debug, Clone)]
pub struct SparseBert {
    word: NamedTensor,
    position: NamedTensor,
    token_type: NamedTensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    pooler: SparseLinear,
    classifier: SparseLinear,
    heads: usize,
    eps: f32,
    hidden: usize,
}

/// A parameter's values on the host, flat in burn's layout, with its shape.
fn host<const D: usize>(tensor: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let data = tensor.into_data();
    let shape = data.shape().to_vec();
    (shape, data.iter::<f32>().collect())
}

/// A burn `Linear` (`[in, out]` weight, optional bias) as a sparse layer.
fn linear(layer: &Linear, name: &str) -> Result<SparseLinear, TrainError> {
    stacked(&[layer], name)
}

/// burn `Linear`s of the same input as one sparse layer whose outputs are theirs, in order
/// (their `[in, out]` weights side by side, their biases one after another).
fn stacked(layers: &[&Linear], name: &str) -> Result<SparseLinear, TrainError> {
    let weights = layers.iter().map(|l| l.weight.val()).collect();
    let (shape, values) = host(Tensor::cat(weights, 1));
    let [inputs, outputs] = shape[..] else {
        return Err(invalid(format!("{name}.weight is not a matrix")));
    };
    let mut bias = Vec::with_capacity(outputs);
    for layer in layers {
        match &layer.bias {
            Some(b) => bias.extend(host(b.val()).1),
            None => bias.extend(std::iter::repeat_n(0.0, layer.weight.dims()[1])),
        }
    }
    let weight = NamedTensor {
        name: format!("{name}.weight"),
        shape,
        values,
    };
    Ok(SparseLinear {
        weight: crate::mlp::linear_weight(&weight, inputs, outputs)
            .map_err(|e| invalid(format!("{name}.weight: {e}")))?,
        epilogue: Epilogue::bias(bias),
    })
}

fn norm(layer: &LayerNorm) -> Norm {
    let gamma = host(layer.gamma.val()).1;
    let beta = match &layer.beta {
        Some(beta) => host(beta.val()).1,
        None => vec![0.0; gamma.len()],
    };
    Norm { gamma, beta }
}

fn embedding(table: &Embedding, name: &str) -> NamedTensor {
    let (shape, values) = host(table.weight.val());
    NamedTensor {
        name: name.into(),
        shape,
        values,
    }
}

fn invalid(message: String) -> TrainError {
    TrainError::Invalid {
        field: "model".into(),
        value: "bert".into(),
        message,
    }
}

impl SparseBert {
    /// The classifier `model` (a finished run's, read with `load_run`) on the sparse kernels:
    /// its embeddings, layer norms, and every linear layer read from the module's own fields,
    /// with layer norms of epsilon `eps` (from the model's `config.json`; burn keeps it
    /// private). The head count is each attention module's.
    pub fn from_model(model: &BertForSequenceClassification, eps: f64) -> Result<Self, TrainError> {
        let bert = &model.bert;
        let mut layers = Vec::new();
        let mut heads = 0;
        for (i, layer) in bert.encoder.layers.iter().enumerate() {
            let name = |part: &str| format!("bert.encoder.layers.{i}.{part}");
            heads = layer.mha.n_heads;
            layers.push(Layer {
                qkv: stacked(
                    &[&layer.mha.query, &layer.mha.key, &layer.mha.value],
                    &name("mha.{query,key,value}"),
                )?,
                output: linear(&layer.mha.output, &name("mha.output"))?,
                inner: linear(&layer.pwff.linear_inner, &name("pwff.linear_inner"))?.with_gelu(),
                outer: linear(&layer.pwff.linear_outer, &name("pwff.linear_outer"))?,
                norm_1: norm(&layer.norm_1),
                norm_2: norm(&layer.norm_2),
            });
        }
        let word = embedding(&bert.embeddings.word, "bert.embeddings.word.weight");
        let hidden = word.shape.get(1).copied().unwrap_or(0);
        if layers.is_empty() || heads == 0 || hidden % heads != 0 {
            return Err(invalid(format!(
                "{} encoder layers, {hidden} hidden units and {heads} heads do not make a BERT",
                layers.len()
            )));
        }
        Ok(Self {
            word,
            position: embedding(&bert.embeddings.position, "bert.embeddings.position.weight"),
            token_type: embedding(
                &bert.embeddings.token_type,
                "bert.embeddings.token_type.weight",
            ),
            embedding_norm: norm(&bert.embeddings.norm),
            layers,
            pooler: linear(&bert.pooler, "bert.pooler")?,
            classifier: linear(&model.classifier, "classifier")?,
            heads,
            eps: eps as f32,
            hidden,
        })
    }

    /// The logits of one unpadded sentence (token ids and segment ids).
    pub fn logits(&self, ids: &[i64], types: &[i64]) -> Result<Vec<f32>, TrainError> {
        let (tokens, h) = (ids.len(), self.hidden);
        fn row<'t>(
            table: &'t NamedTensor,
            h: usize,
            id: i64,
            what: &str,
        ) -> Result<&'t [f32], TrainError> {
            let rows = table.shape[0];
            usize::try_from(id)
                .ok()
                .filter(|i| *i < rows)
                .map(|i| &table.values[i * h..(i + 1) * h])
                .ok_or_else(|| invalid(format!("{what} {id} is outside 0..{rows}")))
        }
        let mut x = vec![0.0f32; tokens * h];
        for (i, (id, ty)) in ids.iter().zip(types).enumerate() {
            let (w, p, t) = (
                row(&self.word, h, *id, "token id")?,
                row(&self.position, h, i as i64, "position")?,
                row(&self.token_type, h, *ty, "token type")?,
            );
            for (j, v) in x[i * h..(i + 1) * h].iter_mut().enumerate() {
                *v = w[j] + t[j] + p[j];
            }
        }
        self.normalize(&mut x, &self.embedding_norm);
        for layer in &self.layers {
            let attended = self.attention(layer, &x, tokens)?;
            let context = layer.output.forward(&attended, tokens)?;
            add(&mut x, &context);
            self.normalize(&mut x, &layer.norm_1);
            let inner = layer.inner.forward(&x, tokens)?;
            let outer = layer.outer.forward(&inner, tokens)?;
            add(&mut x, &outer);
            self.normalize(&mut x, &layer.norm_2);
        }
        let mut pooled = self.pooler.forward(&x[..h], 1)?;
        for v in &mut pooled {
            *v = v.tanh();
        }
        self.classifier.forward(&pooled, 1)
    }

    /// Multi-head self-attention over `tokens` rows of `x`, before the output projection.
    fn attention(&self, layer: &Layer, x: &[f32], tokens: usize) -> Result<Vec<f32>, TrainError> {
        // Row `i` holds token `i`'s query, key and value, `hidden` values each.
        let qkv = layer.qkv.forward(x, tokens)?;
        ember_kernels::self_attention(qkv, tokens, self.hidden, self.heads).map_err(|e| {
            TrainError::Invalid {
                field: "attention".into(),
                value: format!("{tokens} tokens"),
                message: e.to_string(),
            }
        })
    }

    /// Layer norm of every row of `x` in place (biased variance, as burn's `LayerNorm`).
    fn normalize(&self, x: &mut [f32], norm: &Norm) {
        for row in x.chunks_mut(self.hidden) {
            let n = row.len() as f32;
            let mean = lanes_sum(row, |v| v) / n;
            let var = lanes_sum(row, |v| (v - mean) * (v - mean)) / n;
            let inverse = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
                *v = (*v - mean) * inverse * g + b;
            }
        }
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Partial sums kept apart: a float sum in one chain is a loop of dependent adds that the
/// compiler may not reorder, so it neither vectorizes nor overlaps (four cycles per element).
const SUM_LANES: usize = 8;

/// `Σ f(v)` over `values`, in [`SUM_LANES`] independent sums.
fn lanes_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut sums = [0.0f32; SUM_LANES];
    let mut chunks = values.chunks_exact(SUM_LANES);
    for chunk in &mut chunks {
        for l in 0..SUM_LANES {
            sums[l] += f(chunk[l]);
        }
    }
    let rest: f32 = chunks.remainder().iter().map(|v| f(*v)).sum();
    sums.iter().sum::<f32>() + rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, ModuleMapper, Param};
    use burn::tensor::{Device, Distribution, Int, Tensor};
    use ember_models::BertConfig;

    /// Sets about 80% of every matrix to exact zeros.
    struct Pruning;
    impl ModuleMapper for Pruning {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let pruned = if D == 2 {
                let keep = tensor
                    .random_like(Distribution::Uniform(0.0, 1.0))
                    .lower_elem(0.2);
                tensor.mask_fill(keep.bool_not(), 0.0)
            } else {
                tensor
            };
            Param::from_mapped_value(id, pruned, mapper)
        }
    }

    #[test]
    fn the_sums_in_lanes_equal_the_sums() {
        for n in [0, 1, 7, 8, 9, 31, 384] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let want: f64 = a.iter().map(|x| (*x as f64) * 2.0).sum();
            assert!(
                (lanes_sum(&a, |v| 2.0 * v) as f64 - want).abs() < 1e-4,
                "sum of {n}"
            );
        }
    }

    #[test]
    fn the_sparse_bert_computes_the_dense_logits_of_a_padded_batch() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            let device = Device::flex();
            device.seed(5);
            let config: BertConfig = serde_json::from_value(serde_json::json!({
                "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2,
                "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
                "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
                "initializer_range": 0.5
            }))
            .unwrap();
            let model = config.init_classifier(3, &device).map(&mut Pruning).valid();
            let sparse = SparseBert::from_model(&model, 1e-12).unwrap();

            // Two sentences, the first padded by two positions.
            let ids = [[2i64, 5, 7, 9, 0, 0], [3, 1, 4, 1, 5, 9]];
            let types = [[0i64, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]];
            let mask = [[1i64, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]];
            let int = |rows: [[i64; 6]; 2]| Tensor::<2, Int>::from_ints(rows, &device);
            let want: Vec<f32> = model
                .logits(int(ids), int(types), int(mask))
                .into_data()
                .try_to_vec()
                .unwrap();
            for (row, valid) in [(0, 4), (1, 6)] {
                let got = sparse
                    .logits(&ids[row][..valid], &types[row][..valid])
                    .unwrap();
                for (g, w) in got.iter().zip(&want[row * 3..row * 3 + 3]) {
                    assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
                }
            }
            let err = sparse.logits(&[99], &[0]).unwrap_err().to_string();
            assert!(err.contains("token id 99"), "{err}");
        })
    }
}
