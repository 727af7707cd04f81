#!/usr/bin/env python3
"""Perplexity with Python `transformers`, the protocol of SparseGPT's and Wanda's code: the
text tokenized once (no special tokens), cut into non-overlapping windows of SEQLEN tokens,
each window's mean next-token loss (labels = inputs) times SEQLEN summed, divided by the
windows times SEQLEN, exponentiated.

    python3 scripts/hf_perplexity.py MODEL_DIR TEXT_FILE SEQLEN

Prints `perplexity <value>`. Reads the folder's tokenizer.json with `tokenizers` directly,
as Ember does.
"""
import sys

import torch
import transformers
from tokenizers import Tokenizer


def main():
    folder, text_file, seqlen = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.no_truncation()
    with open(text_file, encoding="utf-8") as f:
        text = f.read()
    # Line by line, as Ember does: a byte-level BPE never merges across a newline.
    lines = text.splitlines(keepends=True)
    ids = [i for e in tokenizer.encode_batch(lines, add_special_tokens=False) for i in e.ids]
    windows = len(ids) // seqlen
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    nlls = []
    with torch.no_grad():
        for w in range(windows):
            inputs = torch.tensor([ids[w * seqlen:(w + 1) * seqlen]])
            loss = model(input_ids=inputs, labels=inputs).loss.double()
            nlls.append(loss * seqlen)
    print(f"perplexity {torch.exp(torch.stack(nlls).sum() / (windows * seqlen)).item()!r}")


if __name__ == "__main__":
    main()
