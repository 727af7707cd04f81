"""PyTorch's side of `cargo xtask bench`, timed the way Ember's benches time (medians of
interleaved samples), in the same run. (The sparse products and the LeNet and MiniLM
training steps are timed sample by sample between Ember's, by `scripts/torch_worker.py`, which
`benches/sparse_inference.rs`, `benches/overhead.rs` and `benches/minilm_step.rs` drive;
this script keeps what runs on its own: the GPU check's steps and the end-to-end sentences.)

usage: BENCH_LENET=1 bench_torch.py OUT.json
       BENCH_MINILM_DIR=path/to/all-MiniLM-L6-v2 bench_torch.py OUT.json

With BENCH_LENET=1, a LeNet-300-100 training step (forward, backward, Adam at 1e-3) at batch 64 and 128, dense
and at 90% sparsity through `torch.nn.utils.prune` (global L1 over the three weights), as a
user of PyTorch would prune. With BENCH_MINILM_DIR set (a sentence-transformers folder:
config.json, model.safetensors, tokenizer), a MiniLM training step too (batch 16 of 64
tokens, AdamW at 1e-4): dense with cross-entropy, and GMP* as `recipes/gmp-star-minilm-rt.toml`
runs it between pruning updates: the encoder's linear weights at 80% (global L1 through
`torch.nn.utils.prune`), distilled from the dense model (hardness 1, temperature 2). Writes one
JSON record per measurement to OUT.json.

With BENCH_E2E_EXPORT (an `ember export --format hf` folder), BENCH_E2E_TEXTS (the JSON of
`ember eval RUN --sample N --json`: the sentences with Ember's logits) and BENCH_E2E_MAX_LEN
(the run's `data.max_len`), `transformers` classifies the same sentences one at a time, as
`ember eval --batch-size 1` does: the end-to-end row's PyTorch dense figure, loading included
as in Ember's, and how often its classes agree with Ember's.

BENCH_DEVICE=cuda runs the training steps on the GPU (synchronised before every clock read),
for `scripts/gpu-check.sh`.
"""

import copy
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.utils import prune

SAMPLES = 31
DEVICE = torch.device(os.environ.get("BENCH_DEVICE", "cpu"))


def sync():
    """Waits for the GPU's queued work, so that a clock read covers it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def interleaved(runs, samples=SAMPLES, warmup=5):
    """Median seconds per call of each callable over `samples` samples taken alternately, after
    `warmup` calls of each; a sample repeats a call until it lasts 0.2 ms."""
    reps = []
    for run in runs:
        for _ in range(warmup):
            run()
        sync()
        start = time.perf_counter()
        run()
        sync()
        once = max(time.perf_counter() - start, 1e-8)
        reps.append(min(max(1, int(2e-4 / once + 0.999)), 10_000))
    times = [[] for _ in runs]
    for _ in range(samples):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            for _ in range(reps[i]):
                run()
            sync()
            times[i].append((time.perf_counter() - start) / reps[i])
    return [sorted(t)[len(t) // 2] for t in times]


def lenet():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 300),
        torch.nn.ReLU(),
        torch.nn.Linear(300, 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )


def lenet_steps(batch):
    """The LeNet-300-100 training steps at `batch`, each one call: {"dense": the plain model,
    "pruned": the same model at 90% through `torch.nn.utils.prune` (global L1 over the three
    weights)}, Adam at 1e-3, cycling through 16 random batches. `scripts/torch_worker.py`
    times them between Ember's steps."""
    torch.manual_seed(0)
    models = {"dense": lenet().to(DEVICE), "pruned": lenet().to(DEVICE)}
    weights = [(m, "weight") for m in models["pruned"] if isinstance(m, torch.nn.Linear)]
    prune.global_unstructured(weights, pruning_method=prune.L1Unstructured, amount=0.9)
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    batches = [
        (torch.rand(batch, 784, device=DEVICE), torch.randint(0, 10, (batch,), device=DEVICE))
        for _ in range(16)
    ]
    position = {"dense": 0, "pruned": 0}

    def step(kind):
        images, targets = batches[position[kind] % len(batches)]
        position[kind] += 1
        optimizers[kind].zero_grad()
        loss = F.cross_entropy(models[kind](images), targets)
        loss.backward()
        optimizers[kind].step()
        sync()

    return {"dense": lambda: step("dense"), "pruned": lambda: step("pruned")}


def training():
    """The LeNet steps timed in this process (`scripts/gpu-check.sh` on the GPU); on the CPU
    `cargo xtask bench` times them between Ember's through `scripts/torch_worker.py`."""
    records = []
    for batch in (64, 128):
        steps = lenet_steps(batch)
        dense_s, pruned_s = interleaved([steps["dense"], steps["pruned"]])
        records.append(
            {"kind": "train_lenet", "batch": batch, "torch_dense_s": dense_s, "torch_pruned_s": pruned_s}
        )
    return records


# The linear layers GMP* prunes in every encoder layer, as the recipe's `params` pattern does.
MINILM_PRUNED = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def minilm_steps(model_dir):
    """The MiniLM training steps, each one call: {"dense": cross-entropy, "gmp": the student
    at 80% through `torch.nn.utils.prune`, distilled from the dense model}, batch 16 × 64,
    AdamW at 1e-4. `scripts/torch_worker.py` times them between Ember's steps."""
    # Imported here: only this benchmark needs transformers, and only when asked for.
    from transformers import BertForSequenceClassification

    batch, seq, sparsity, temperature = 16, 64, 0.8, 2.0
    torch.manual_seed(0)
    dense = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2).to(DEVICE)
    teacher = copy.deepcopy(dense).eval()
    student = copy.deepcopy(dense).train()
    dense.train()
    pruned = [
        layer.get_submodule(name) for layer in student.bert.encoder.layer for name in MINILM_PRUNED
    ]
    prune.global_unstructured(
        [(m, "weight") for m in pruned], pruning_method=prune.L1Unstructured, amount=sparsity
    )
    optimizers = {
        kind: torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.0)
        for kind, m in (("dense", dense), ("gmp", student))
    }

    generator = torch.Generator().manual_seed(0)
    vocab = dense.config.vocab_size
    batches = [
        (
            torch.randint(1000, vocab, (batch, seq), generator=generator).to(DEVICE),
            torch.randint(0, 2, (batch,), generator=generator).to(DEVICE),
        )
        for _ in range(8)
    ]
    token_type_ids = torch.zeros(batch, seq, dtype=torch.long, device=DEVICE)
    attention_mask = torch.ones(batch, seq, dtype=torch.long, device=DEVICE)
    position = {"dense": 0, "gmp": 0}

    def next_batch(kind):
        input_ids, labels = batches[position[kind] % len(batches)]
        position[kind] += 1
        inputs = {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
        }
        return inputs, labels

    def dense_step():
        inputs, labels = next_batch("dense")
        optimizers["dense"].zero_grad()
        loss = F.cross_entropy(dense(**inputs).logits, labels)
        loss.backward()
        optimizers["dense"].step()
        sync()

    def gmp_step():
        inputs, _ = next_batch("gmp")
        with torch.no_grad():
            target = teacher(**inputs).logits
        optimizers["gmp"].zero_grad()
        logits = student(**inputs).logits
        loss = F.kl_div(
            F.log_softmax(logits / temperature, dim=1),
            F.log_softmax(target / temperature, dim=1),
            log_target=True,
            reduction="batchmean",
        )
        (loss * temperature * temperature).backward()
        optimizers["gmp"].step()
        sync()

    # The weights a GMP* step ran with are still pruned to the target sparsity.
    gmp_step()
    zeros = sum((m.weight == 0).sum().item() for m in pruned)
    total = sum(m.weight.numel() for m in pruned)
    assert abs(zeros / total - sparsity) < 1e-3, f"{zeros / total:.4f} zeros after a GMP* step"
    return {"dense": dense_step, "gmp": gmp_step}


def training_minilm(model_dir):
    """The MiniLM steps timed in this process (`scripts/gpu-check.sh` on the GPU); on the CPU
    `cargo xtask bench` times them between Ember's through `scripts/torch_worker.py`."""
    steps = minilm_steps(model_dir)
    dense_s, gmp_s = interleaved([steps["dense"], steps["gmp"]], samples=15, warmup=2)
    return [
        {
            "kind": "train_minilm",
            "batch": 16,
            "seq": 64,
            "sparsity": 0.8,
            "torch_dense_s": dense_s,
            "torch_gmp_s": gmp_s,
        }
    ]


def end_to_end(export, texts_path, max_len):
    """Sentences per second of `transformers` at batch 1 on the sentences Ember classified,
    and the fraction whose class agrees with Ember's."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    predictions = json.loads(open(texts_path).read())["predictions"]
    start = time.perf_counter()
    model = AutoModelForSequenceClassification.from_pretrained(export).eval()
    tokenizer = AutoTokenizer.from_pretrained(export)
    agree = 0
    with torch.no_grad():
        for p in predictions:
            batch = tokenizer(
                p["text"], truncation=True, max_length=max_len, return_tensors="pt"
            )
            logits = model(**batch).logits[0]
            agree += int(logits.argmax().item() == p["class"])
    seconds = time.perf_counter() - start
    return [
        {
            "kind": "eval_minilm",
            "examples": len(predictions),
            "seconds": seconds,
            "agree": agree / max(len(predictions), 1),
        }
    ]


def main():
    (out_path,) = sys.argv[1:2]
    torch.set_num_threads(os.cpu_count() or 1)
    records = training() if os.environ.get("BENCH_LENET") == "1" else []
    model_dir = os.environ.get("BENCH_MINILM_DIR")
    if model_dir:
        records += training_minilm(model_dir)
    export = os.environ.get("BENCH_E2E_EXPORT")
    if export:
        records += end_to_end(
            export,
            os.environ["BENCH_E2E_TEXTS"],
            int(os.environ["BENCH_E2E_MAX_LEN"]),
        )
    with open(out_path, "w") as f:
        json.dump(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "device": str(DEVICE),
                "records": records,
            },
            f,
        )


if __name__ == "__main__":
    main()
