"""PyTorch's CSR product (`torch.sparse.mm`) on one thread and on two, at batch 32, on the
shapes of `docs/performance.md` (MiniLM's inner and outer feed-forward layers, LeNet's fc1)
pruned by magnitude to 50, 90 and 95%: how much of PyTorch's lead at batch 32 comes from its
second thread. Ember's kernels run these products on one thread (below 2^23 multiply-adds).

usage: ~/.cache/ember/hf-venv/bin/python scripts/torch_csr_threads.py
"""

import time

import torch


def median_seconds(run, samples=51, reps=20):
    """Median seconds per call; each sample repeats the call `reps` times."""
    for _ in range(5):
        run()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(reps):
            run()
        times.append((time.perf_counter() - start) / reps)
    return sorted(times)[samples // 2]


def main():
    generator = torch.Generator().manual_seed(0)
    shapes = ((1536, 384, "minilm inner"), (384, 1536, "minilm outer"), (300, 784, "lenet fc1"))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for out, inp, name in shapes:
            for sparsity in (0.5, 0.9, 0.95):
                w = torch.rand(out, inp, generator=generator) * 2 - 1
                flat = w.flatten()
                flat[flat.abs().argsort()[: round(sparsity * flat.numel())]] = 0.0
                csr = flat.reshape(out, inp).to_sparse_csr()
                xt = (torch.rand(32, inp, generator=generator) * 2 - 1).t().contiguous()
                with torch.inference_mode():
                    seconds = median_seconds(lambda: torch.sparse.mm(csr, xt))
                shape = f"{name} [{out}x{inp}]"
                print(f"{threads} thread(s)  {shape}  {sparsity:.0%}: {seconds * 1e6:.1f} us")


if __name__ == "__main__":
    main()
