#!/usr/bin/env python3
"""Saves tiny random-initialised decoder language models with Python `transformers`, the
files Ember's Llama-family loader is checked against, and what `transformers` computes on
them.

    python3 scripts/tiny_decoders.py OUT_DIR

OUT_DIR/<name>/ for name in llama (F32, one file, untied head), qwen2 (F16, biases on q/k/v,
sharded into several files with model.safetensors.index.json, tied head) and mistral (BF16):
config.json, safetensors, tokenizer.json (a byte-level BPE trained on this file's own text).
OUT_DIR/<name>/reference.json holds token ids and the float32 logits `transformers` gives for
them, from the saved (down-cast) weights read back in float32.
"""
import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB = 384


def tokenizer(path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
    )
    with open(__file__) as f:
        text = f.read().splitlines()
    tok.train_from_iterator(text * 4, trainer)
    tok.save(path)


def common(**extra):
    return dict(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        # Large weights, so that attention is far from uniform and a wrong rotation or mask
        # shows in the logits.
        initializer_range=0.25,
        **extra,
    )


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    specs = [
        ("llama", transformers.LlamaConfig(**common(tie_word_embeddings=False, rope_theta=500000.0)),
         transformers.LlamaForCausalLM, torch.float32, None),
        ("qwen2", transformers.Qwen2Config(**common(tie_word_embeddings=True)),
         transformers.Qwen2ForCausalLM, torch.float16, "60KB"),
        ("mistral", transformers.MistralConfig(**common(tie_word_embeddings=False, sliding_window=None)),
         transformers.MistralForCausalLM, torch.bfloat16, None),
    ]
    for name, config, cls, dtype, shard in specs:
        model = cls(config).eval()
        # Non-trivial norms and biases, so that a loader that skips them is caught.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("norm.weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif pname.endswith(".bias"):
                    p.copy_(0.1 * torch.randn_like(p))
        folder = os.path.join(out, name)
        model = model.to(dtype)
        kwargs = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(folder, **kwargs)
        tokenizer(os.path.join(folder, "tokenizer.json"))
        back = cls.from_pretrained(folder, dtype=torch.float32).eval()
        ids = torch.randint(0, VOCAB, (2, 24), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits = back(input_ids=ids).logits
        with open(os.path.join(folder, "reference.json"), "w") as f:
            json.dump({"input_ids": ids.tolist(), "logits": logits.reshape(-1).tolist()}, f)
        print(name, sorted(os.listdir(folder)))


if __name__ == "__main__":
    main()
