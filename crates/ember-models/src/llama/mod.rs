//! Llama-family decoders (`LlamaForCausalLM`, `Qwen2ForCausalLM`, `MistralForCausalLM`):
//! token embedding, pre-norm layers of grouped-query attention with rotary positions and a
//! causal mask and a SwiGLU MLP, RMSNorm, a tied or untied head. One implementation covers
//! the three classes; [`LlamaConfig::from_file`] refuses what it does not implement.
//! [`LlamaForCausalLM::load_hf`] reads Hugging Face folders (one safetensors file or shards
//! with their index; F32, F16 or BF16), [`LlamaForCausalLM::save_hf`] writes one back.

mod blocks;
mod config;
mod error;
mod load;
mod model;
#[cfg(test)]
mod tests;

pub use blocks::LlamaHidden;
pub use config::{DecoderFamily, LlamaConfig};
pub use error::LlamaError;
pub use load::weight_files;
pub use model::{
    LlamaAttention, LlamaDecoderLayer, LlamaForCausalLM, LlamaMlp, LlamaModel, LlamaRmsNorm, Rotary,
};
