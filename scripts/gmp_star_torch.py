"""GMP* in PyTorch and `transformers`: a reference for Ember's pruning phase of the MiniLM recipes.

Starts from a dense model that Ember fine-tuned and exported (`ember export RUN OUT`), and
prunes it as `recipes/gmp-star-minilm-rt-full.toml` does, on the same sentences (the splits
that `cargo run -p ember-data --example text_splits` writes):

- global magnitude over the encoder's six linear weights per layer (query, key, value,
  attention output, intermediate, output), zeros put back after every optimizer step;
- the cubic schedule from `--init` to `--final` sparsity, pruning steps every
  `--every` epochs from epoch 0 to `--end`, each step at the first batch of its epoch share
  (`epochs · steps per epoch` rounded half up, as Ember counts);
- the sawtooth learning rate: linear from `--lr` to `--lr-final`, rewound at every pruning
  step, the last tooth ending with training;
- AdamW (betas 0.9 / 0.999, `--eps`, no weight decay), batches of 32 shuffled every epoch;
- distillation from the dense model (evaluation mode): `(1-h)·CE + h·T²·KL(teacher ‖ student)`,
  at the recipe's hardness 0.5 unless `--hardness` says otherwise.

Its test accuracy beside Ember's from the same dense model tells whether the drop at 80% is
the method's on this task or Ember's own:

    python scripts/gmp_star_torch.py --model DENSE_HF_DIR --splits SPLITS_DIR --seed 1

Prints one JSON object: the dense and the pruned test accuracy, the sparsity reached, the
validation accuracy after every epoch and the wall time.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
import transformers


def read_split(path):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(int(row["label"]))
    return texts, torch.tensor(labels)


def pruned_weights(model):
    """The encoder's linear weights, as the recipe's `params` name them in Ember."""
    weights = []
    for layer in model.bert.encoder.layer:
        weights += [
            layer.attention.self.query.weight,
            layer.attention.self.key.weight,
            layer.attention.self.value.weight,
            layer.attention.output.dense.weight,
            layer.intermediate.dense.weight,
            layer.output.dense.weight,
        ]
    return weights


def global_masks(weights, sparsity):
    """Masks that zero the `round(sparsity · n)` smallest magnitudes over all `weights`."""
    scores = torch.cat([w.detach().abs().flatten() for w in weights])
    zeros = round(sparsity * scores.numel())
    if zeros == 0:
        return [torch.ones_like(w) for w in weights]
    order = torch.argsort(scores, stable=True)
    keep = torch.ones_like(scores)
    keep[order[:zeros]] = 0.0
    masks, offset = [], 0
    for w in weights:
        masks.append(keep[offset : offset + w.numel()].view_as(w))
        offset += w.numel()
    return masks


@torch.no_grad()
def apply_masks(weights, masks):
    for w, m in zip(weights, masks):
        w.mul_(m)


def cubic(step, start, end, init, final):
    if step >= end:
        return final
    if step == start:
        return init
    elapsed = (step - start) / (end - start)
    return final + (init - final) * (1.0 - elapsed) ** 3


def sawtooth(step, rewinds, end, init, final):
    if step >= end:
        return final
    start = max([r for r in rewinds if r <= step], default=0)
    later = [r for r in rewinds if r > step and r < end]
    stop = min(later) if later else end
    return init + (final - init) * (step - start) / (stop - start)


@torch.no_grad()
def accuracy(model, tokenizer, texts, labels, max_len, batch=128):
    model.eval()
    correct = 0
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i : i + batch], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        correct += (model(**enc).logits.argmax(-1) == labels[i : i + batch]).sum().item()
    return 100.0 * correct / len(texts)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the dense model, a Hugging Face folder")
    p.add_argument("--splits", required=True, help="train/validation/test.jsonl")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-len", type=int, default=48)
    p.add_argument("--init", type=float, default=0.7)
    p.add_argument("--final", type=float, default=0.8)
    p.add_argument("--every", type=float, default=0.5)
    p.add_argument("--end", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-final", type=float, default=1e-5)
    p.add_argument("--eps", type=float, default=1e-5, help="AdamW's epsilon (burn's default 1e-5)")
    p.add_argument("--hardness", type=float, default=0.5)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--trace", action="store_true", help="also print the rate of every step and the sparsity of every pruning step")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.time()
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model)
    teacher = transformers.AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    student = transformers.AutoModelForSequenceClassification.from_pretrained(args.model)
    for q in teacher.parameters():
        q.requires_grad_(False)
    train_x, train_y = read_split(f"{args.splits}/train.jsonl")
    valid_x, valid_y = read_split(f"{args.splits}/validation.jsonl")
    test_x, test_y = read_split(f"{args.splits}/test.jsonl")
    dense_test = accuracy(teacher, tokenizer, test_x, test_y, args.max_len)

    per_epoch = math.ceil(len(train_x) / args.batch_size)
    at = lambda epochs: math.floor(epochs * per_epoch + 0.5)  # noqa: E731, Ember's `Steps::at` (halves up)
    start, end, every = at(0.0), at(args.end), max(at(args.every), 1)
    updates = sorted(set(list(range(start, end, every)) + [end]))
    total = args.epochs * per_epoch
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=args.eps, weight_decay=0.0)
    weights = pruned_weights(student)
    masks = None
    validation, lrs, sparsities = [], [], []
    step = 0
    for epoch in range(args.epochs):
        student.train()
        order = torch.randperm(len(train_x))
        for i in range(0, len(train_x), args.batch_size):
            if step in updates:
                sparsities.append(cubic(step, start, end, args.init, args.final))
                masks = global_masks(weights, sparsities[-1])
                apply_masks(weights, masks)
            lrs.append(sawtooth(step, updates, total, args.lr, args.lr_final))
            for group in optimizer.param_groups:
                group["lr"] = lrs[-1]
            idx = order[i : i + args.batch_size]
            enc = tokenizer([train_x[j] for j in idx], padding=True, truncation=True, max_length=args.max_len, return_tensors="pt")
            labels = train_y[idx]
            logits = student(**enc).logits
            t = args.temperature
            with torch.no_grad():
                soft_teacher = teacher(**enc).logits / t
            kl = F.kl_div(F.log_softmax(logits / t, -1), F.log_softmax(soft_teacher, -1), log_target=True, reduction="batchmean")
            loss = args.hardness * t * t * kl
            if args.hardness < 1.0:
                loss = loss + (1.0 - args.hardness) * F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if masks is not None:
                apply_masks(weights, masks)
            step += 1
        validation.append(round(accuracy(student, tokenizer, valid_x, valid_y, args.max_len), 3))
        print(f"epoch {epoch + 1}: validation {validation[-1]:.2f}%", flush=True)

    zeros = sum(int((w == 0).sum()) for w in weights)
    elements = sum(w.numel() for w in weights)
    trace = {"lr_by_step": lrs, "sparsity_by_update": sparsities} if args.trace else {}
    print(
        json.dumps(
            {
                **trace,
                "seed": args.seed,
                "dense_test_accuracy": dense_test,
                "pruned_test_accuracy": accuracy(student, tokenizer, test_x, test_y, args.max_len),
                "zeros": zeros,
                "elements": elements,
                "validation_by_epoch": validation,
                "steps": step,
                "pruning_steps": updates,
                "wall_seconds": round(time.time() - started, 1),
                "settings": vars(args),
            }
        )
    )


if __name__ == "__main__":
    main()
