"""Checks an Ember Hugging Face export with the real client, Python `transformers`.

    python scripts/hf_roundtrip.py EXPORT_DIR PREDICTIONS_JSON REPORT_JSON MAX_LEN

EXPORT_DIR is what `ember export RUN --format hf EXPORT_DIR` wrote; PREDICTIONS_JSON is
`ember eval RUN --sample 64 --json` (Ember's logits for test sentences); REPORT_JSON is the
run's report.json; MAX_LEN is the run's `data.max_len`. The export must load with AutoModelForSequenceClassification and
AutoTokenizer as-is, give Ember's logits to 1e-4 on every sentence, and hold exactly the
zeros that report.json measured in every tensor (through sparsity.json, which names them as
the checkpoint does). Prints a JSON summary; exits 1 on any mismatch.
"""
import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

TOLERANCE = 1e-4
# Buffers transformers keeps in the state dict that are no parameters of the model.
BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def main() -> int:
    export, predictions_path, report_path = (Path(a) for a in sys.argv[1:4])
    predictions = json.loads(predictions_path.read_text())["predictions"]
    report = json.loads(report_path.read_text())
    sparsity = json.loads((export / "sparsity.json").read_text())
    failures = []

    model = AutoModelForSequenceClassification.from_pretrained(export).eval()
    tokenizer = AutoTokenizer.from_pretrained(export)
    texts = [p["text"] for p in predictions]
    want = torch.tensor([p["logits"] for p in predictions], dtype=torch.float64)
    max_len = int(sys.argv[4])
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.no_grad():
        got = model(**batch).logits.double()
    gap = (got - want).abs().max().item()
    if gap > TOLERANCE:
        failures.append(f"logits differ from Ember's by {gap:.3e} (> {TOLERANCE})")
    agree = (got.argmax(1) == want.argmax(1)).float().mean().item()

    # Every tensor: the zeros report.json measured, under the checkpoint's names.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith(BUFFERS)}
    claimed = sparsity["tensors"]
    for name in sorted(set(state) - set(claimed)):
        failures.append(f"{name} is in the model but not in sparsity.json")
    for name in sorted(set(claimed) - set(state)):
        failures.append(f"{name} is in sparsity.json but not in the model")
    zeros_total, pruned_numel = 0, 0
    for name, entry in claimed.items():
        if name not in state:
            continue
        tensor = state[name]
        zeros = int((tensor == 0).sum().item())
        if tensor.numel() != entry["numel"]:
            failures.append(f"{name}: {tensor.numel()} elements, sparsity.json says {entry['numel']}")
        if zeros != entry["zeros"]:
            failures.append(f"{name}: {zeros} zeros, report.json says {entry['zeros']}")
        if entry["pruned"]:
            zeros_total += zeros
            pruned_numel += tensor.numel()
    # sparsity.json against report.json itself.
    by_path = {layer["path"]: layer["zeros"] for layer in report["layers"]}
    if sum(by_path.values()) != sum(e["zeros"] for e in claimed.values()):
        failures.append("sparsity.json and report.json disagree on the total of zeros")
    if zeros_total != report["sparsity"]["selected_zeros"]:
        failures.append(
            f"{zeros_total} zeros in the pruned tensors, report.json says "
            f"{report['sparsity']['selected_zeros']}"
        )

    print(
        json.dumps(
            {
                "sentences": len(texts),
                "max_abs_logit_gap": gap,
                "argmax_agreement": agree,
                "tensors_checked": len(claimed),
                "pruned_zeros": zeros_total,
                "pruned_numel": pruned_numel,
                "sparsity": zeros_total / max(pruned_numel, 1),
                "failures": failures,
            },
            indent=2,
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
