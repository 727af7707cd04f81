use burn::module::Module;
use burn::nn::activation::ActivationConfig;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    Linear, LinearConfig,
};
use burn::tensor::{Bool, Device, Int, Tensor};

use super::BertConfig;
use super::encoder::encoder_layer;
use crate::dropout::dropout;

/// BERT's input embeddings: word, position and token type, summed, then normalised.
///
/// The fields are named after what they embed; Hugging Face's
/// `embeddings.{word,position,token_type}_embeddings` and `embeddings.LayerNorm` map onto
/// them (see [`NameMap`](super::NameMap)).
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// Token embeddings, `[vocab_size, hidden_size]`.
    pub word: Embedding,
    /// Learned absolute position embeddings, `[max_position_embeddings, hidden_size]`.
    pub position: Embedding,
    /// Segment embeddings, `[type_vocab_size, hidden_size]`.
    pub token_type: Embedding,
    /// The layer norm after the sum (`eps` from the config).
    pub norm: LayerNorm,
    /// Dropout after the norm; does nothing outside autodiff training.
    pub dropout: Dropout,
}

/// A BERT encoder (Hugging Face's `BertModel`): embeddings, a post-LN transformer encoder,
/// and the pooler.
///
/// The encoder is burn's own [`TransformerEncoder`] with `norm_first = false`, which is
/// BERT's post-LN layer with the exact GELU; its forward pass is Ember's, burn's layer
/// operation for operation, so that its dropouts are [`crate::dropout`]'s. Its parameters are
/// `encoder.layers.N.{mha.{query,key,value,output}, pwff.{linear_inner,linear_outer},
/// norm_1, norm_2}`, the paths that Ember's recipes and selectors name.
///
/// Dropout (in the embeddings and the encoder) acts only on an autodiff device while the
/// module trains; inference on a plain device, or after `valid()`, is deterministic.
#[derive(Module, Debug)]
pub struct Bert {
    /// Word, position and token-type embeddings.
    pub embeddings: BertEmbeddings,
    /// The transformer layers.
    pub encoder: TransformerEncoder,
    /// The dense layer of the pooler, applied to the first (`[CLS]`) token; see
    /// [`Bert::pool`].
    pub pooler: Linear,
}

/// A BERT with a linear classification head on its pooled output (Hugging Face's
/// `BertForSequenceClassification`).
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    /// The encoder.
    pub bert: Bert,
    /// Dropout on the pooled output; does nothing outside autodiff training.
    pub dropout: Dropout,
    /// The classification layer, `hidden_size` to the number of labels.
    pub classifier: Linear,
}

impl BertConfig {
    /// Builds the encoder with freshly initialised weights on `device`.
    ///
    /// Weights are drawn as `transformers` draws them, from a normal distribution of standard
    /// deviation `initializer_range` (burn also draws the biases so, where `transformers`
    /// zeroes them, and does not zero the padding token's embedding); layer norms start at
    /// one and zero. Load pretrained weights with [`Bert::load_hf_weights`].
    ///
    /// # Panics
    ///
    /// If the configuration is invalid (see [`BertConfig::validate`]); configurations read
    /// by [`BertConfig::from_file`] are valid.
    pub fn init(&self, device: &Device) -> Bert {
        if let Err(message) = self.validate() {
            panic!("invalid BERT config: {message}");
        }
        let initializer = self.initializer();
        let embedding = |rows: usize| {
            EmbeddingConfig::new(rows, self.hidden_size)
                .with_initializer(initializer.clone())
                .init(device)
        };
        let embeddings = BertEmbeddings {
            word: embedding(self.vocab_size),
            position: embedding(self.max_position_embeddings),
            token_type: embedding(self.type_vocab_size),
            norm: LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(self.hidden_dropout_prob).init(),
        };
        let mut encoder = TransformerEncoderConfig::new(
            self.hidden_size,
            self.intermediate_size,
            self.num_attention_heads,
            self.num_hidden_layers,
        )
        .with_dropout(self.hidden_dropout_prob)
        .with_norm_first(false)
        .with_quiet_softmax(false)
        .with_activation(ActivationConfig::Gelu)
        .with_layer_norm_eps(self.layer_norm_eps)
        .with_initializer(initializer.clone())
        .init(device);
        // burn's encoder layer has one dropout rate and draws it in four places; BERT draws
        // it in three. The feed-forward block's dropout after the activation is not BERT's
        // (its intermediate output goes straight to the output projection), and on the
        // widest tensor of the layer it cost a tenth of a training step in random numbers
        // alone. The attention weights take BERT's own rate.
        for layer in &mut encoder.layers {
            layer.pwff.dropout = DropoutConfig::new(0.0).init();
            layer.mha.dropout = DropoutConfig::new(self.attention_probs_dropout_prob).init();
        }
        let pooler = LinearConfig::new(self.hidden_size, self.hidden_size)
            .with_initializer(initializer)
            .init(device);
        Bert {
            embeddings,
            encoder,
            pooler,
        }
    }

    /// Builds an encoder with a fresh classification head of `num_labels` outputs.
    pub fn init_classifier(
        &self,
        num_labels: usize,
        device: &Device,
    ) -> BertForSequenceClassification {
        self.with_classifier(self.init(device), num_labels, device)
    }

    /// Puts a fresh classification head of `num_labels` outputs on `bert` (a pretrained
    /// encoder, say).
    pub fn with_classifier(
        &self,
        bert: Bert,
        num_labels: usize,
        device: &Device,
    ) -> BertForSequenceClassification {
        BertForSequenceClassification {
            bert,
            dropout: DropoutConfig::new(self.classifier_dropout_prob()).init(),
            classifier: LinearConfig::new(self.hidden_size, num_labels)
                .with_initializer(self.initializer())
                .init(device),
        }
    }

    /// `transformers`' initialisation: normal, mean zero, `initializer_range` deviation.
    fn initializer(&self) -> Initializer {
        Initializer::Normal {
            mean: 0.0,
            std: self.initializer_range,
        }
    }
}

impl BertEmbeddings {
    /// Embeds a batch: `word + token_type + position` (in `transformers`' order), normalised.
    ///
    /// # Shapes
    ///
    /// - every input: `[batch, seq]`
    /// - output: `[batch, seq, hidden_size]`
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        position_ids: Tensor<2, Int>,
    ) -> Tensor<3> {
        let x = self.word.forward(input_ids)
            + self.token_type.forward(token_type_ids)
            + self.position.forward(position_ids);
        dropout(&self.dropout, self.norm.forward(x))
    }
}

impl Bert {
    /// The last hidden states of a batch of token ids (`transformers`'
    /// `last_hidden_state`).
    ///
    /// `attention_mask` is 1 for tokens and 0 for padding, as tokenizers return it; padding
    /// positions are masked out of every attention, so they do not change the other tokens'
    /// states. Positions are `0..seq` in every row.
    ///
    /// # Shapes
    ///
    /// - every input: `[batch, seq]`
    /// - output: `[batch, seq, hidden_size]`
    ///
    /// # Panics
    ///
    /// If the inputs' shapes differ, or `seq` exceeds `max_position_embeddings`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> Tensor<3> {
        let (embedded, padding) = self.embed(input_ids, token_type_ids, attention_mask);
        // burn's `TransformerEncoder::forward`, layer by layer with Ember's dropout.
        self.encoder
            .layers
            .iter()
            .fold(embedded, |x, layer| encoder_layer(layer, x, &padding))
    }

    /// The output of every encoder layer, first to last (`transformers`' `hidden_states`
    /// without the embeddings): the last is [`Bert::forward`]'s. For layer-wise distillation.
    ///
    /// # Shapes
    ///
    /// - every input: `[batch, seq]`
    /// - output: `num_hidden_layers` tensors `[batch, seq, hidden_size]`
    ///
    /// # Panics
    ///
    /// As [`Bert::forward`].
    pub fn forward_layers(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> Vec<Tensor<3>> {
        let (mut x, padding) = self.embed(input_ids, token_type_ids, attention_mask);
        let mut states = Vec::with_capacity(self.encoder.layers.len());
        for layer in &self.encoder.layers {
            x = encoder_layer(layer, x, &padding);
            states.push(x.clone());
        }
        states
    }

    /// The embedded batch and its padding mask (true at padding), checked as
    /// [`Bert::forward`] documents.
    pub(crate) fn embed(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> (Tensor<3>, Tensor<2, Bool>) {
        let [batch, seq] = input_ids.dims();
        assert_eq!(
            token_type_ids.dims(),
            [batch, seq],
            "token_type_ids must have the shape of input_ids"
        );
        assert_eq!(
            attention_mask.dims(),
            [batch, seq],
            "attention_mask must have the shape of input_ids"
        );
        let max_positions = self.embeddings.position.weight.lazy_shape()[0];
        assert!(
            seq <= max_positions,
            "a sequence of {seq} tokens exceeds the {max_positions} position embeddings"
        );

        let positions = Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device())
            .unsqueeze::<2>()
            .repeat_dim(0, batch);
        let embedded = self
            .embeddings
            .forward(input_ids, token_type_ids, positions);
        (embedded, attention_mask.equal_elem(0))
    }

    /// BERT's pooled output: `tanh(pooler(hidden[:, 0]))`, the first token's state through
    /// the pooler (`transformers`' `pooler_output`).
    ///
    /// # Shapes
    ///
    /// - hidden: `[batch, seq, hidden_size]`
    /// - output: `[batch, hidden_size]`
    pub fn pool(&self, hidden: Tensor<3>) -> Tensor<2> {
        let first: Tensor<2> = hidden.narrow(1, 0, 1).squeeze_dim(1);
        self.pooler.forward(first).tanh()
    }
}

impl BertForSequenceClassification {
    /// Class logits of a batch: the classifier on the dropped-out pooled output.
    ///
    /// # Shapes
    ///
    /// - every input: `[batch, seq]`, as for [`Bert::forward`]
    /// - output: `[batch, num_labels]`
    pub fn logits(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> Tensor<2> {
        let hidden = self.bert.forward(input_ids, token_type_ids, attention_mask);
        let pooled = self.bert.pool(hidden);
        self.classifier.forward(dropout(&self.dropout, pooled))
    }

    /// [`BertForSequenceClassification::logits`] together with every encoder layer's output
    /// ([`Bert::forward_layers`]), from one forward pass.
    ///
    /// # Shapes
    ///
    /// - every input: `[batch, seq]`
    /// - output: `[batch, num_labels]`, and `num_hidden_layers` tensors `[batch, seq,
    ///   hidden_size]`
    pub fn logits_and_states(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
    ) -> (Tensor<2>, Vec<Tensor<3>>) {
        let states = self
            .bert
            .forward_layers(input_ids, token_type_ids, attention_mask);
        let last = states.last().expect("BERT has at least one layer").clone();
        let pooled = self.bert.pool(last);
        (
            self.classifier.forward(dropout(&self.dropout, pooled)),
            states,
        )
    }
}

/// sentence-transformers' mean pooling: the average of the token states, padding excluded
/// (`sum(hidden * mask) / max(sum(mask), 1e-9)` over the sequence).
///
/// # Shapes
///
/// - hidden: `[batch, seq, hidden_size]`
/// - attention_mask: `[batch, seq]`, 1 for tokens and 0 for padding
/// - output: `[batch, hidden_size]`
pub fn mean_pool(hidden: Tensor<3>, attention_mask: Tensor<2, Int>) -> Tensor<2> {
    let mask: Tensor<3> = attention_mask.float().unsqueeze_dim(2);
    let summed = hidden.mul(mask.clone()).sum_dim(1);
    let counts = mask.sum_dim(1).clamp_min(1e-9);
    summed.div(counts).squeeze_dim(1)
}
