"""PyTorch's side of Ember's benches, as a worker that a bench drives sample by sample, so that
Ember's and PyTorch's code are timed alternately in one run: load on this shared machine then
hits both sides alike, and the ratio between them means something even when the absolute
times move. `benches/sparse_inference.rs` asks it for products, `benches/overhead.rs` and
`benches/minilm_step.rs` for training steps.

A bench starts it as `python3 scripts/torch_worker.py` (with `torch` importable, and
`transformers` for the MiniLM steps) and speaks one JSON object per line on stdin; every
reply is one JSON line on stdout:

  {"point": {"out": 300, "in": 784, "batch": 32, "sparsity": "90%", "format": "csr"}}
      builds a product: a [out, in] weight with values in [-1, 1), its `round(s · n)`
      smallest magnitudes set to zero (a "2:4" point keeps the 2 largest of every 4 inputs),
      an input [batch, in], and the weight as a CSR tensor; checks `torch.sparse.mm` against
      `F.linear`. Its timers: "dense" (`F.linear(x, w)`) and "csr" (`torch.sparse.mm(csr, xᵀ)`),
      both under inference mode.
  {"lenet": 64}
      builds the LeNet-300-100 training steps of `bench_torch.py` (`lenet_steps`) at that
      batch: timers "dense" and "pruned" (90% through `torch.nn.utils.prune`).
  {"minilm": "path/to/all-MiniLM-L6-v2"}
      builds the MiniLM training steps of `bench_torch.py` (`minilm_steps`, batch 16 × 64):
      timers "dense" and "gmp".
  {"time": NAME, "reps": N}
      runs N calls of the last setup's timer NAME and replies {"seconds": total}, timed here
      so that the pipe costs nothing.

A setup replies {"ready": true}. Anything else, or a failed
check, ends the worker with a message on stderr and exit code 1.
"""

import contextlib
import json
import os
import sys
import time
import warnings

import torch
import torch.nn.functional as F


def pruned_weight(out, inp, sparsity, fmt, generator):
    """A random [out, in] weight pruned by magnitude to `sparsity` ("90%"), or to 2:4."""
    w = torch.rand(out, inp, generator=generator) * 2 - 1
    if fmt == "2:4":
        groups = w.reshape(-1, 4)
        keep = groups.abs().topk(2, dim=1).indices
        mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, keep, True)
        return (groups * mask).reshape(out, inp)
    count = round(float(sparsity.rstrip("%")) / 100 * w.numel())
    order = w.abs().flatten().argsort(stable=True)
    flat = w.flatten().clone()
    flat[order[:count]] = 0.0
    return flat.reshape(out, inp)


class Point:
    """One layer shape, batch and sparsity, with both of PyTorch's products ready to run."""

    def __init__(self, p, generator):
        self.w = pruned_weight(p["out"], p["in"], p["sparsity"], p["format"], generator)
        self.x = torch.rand(p["batch"], p["in"], generator=generator) * 2 - 1
        self.xt = self.x.t().contiguous()
        self.csr = self.w.to_sparse_csr()
        with torch.inference_mode():
            want = F.linear(self.x, self.w)
            got = torch.sparse.mm(self.csr, self.xt).t()
        scale = max(1.0, want.abs().max().item())
        if not torch.allclose(got, want, atol=1e-4 * scale):
            raise ValueError(f"torch.sparse.mm disagrees with F.linear at {p}")

    def timers(self):
        """The point's two products, one call each."""
        return {
            "dense": lambda: F.linear(self.x, self.w),
            "csr": lambda: torch.sparse.mm(self.csr, self.xt),
        }


def seconds(timer, reps, mode):
    """Seconds for `reps` calls of `timer`, all inside one `mode()` context: entered per call,
    inference mode cost a few µs, as much as LeNet's smallest products."""
    with mode():
        start = time.perf_counter()
        for _ in range(reps):
            timer()
        return time.perf_counter() - start


def main():
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    torch.set_num_threads(os.cpu_count() or 1)
    generator = torch.Generator().manual_seed(0)
    timers, mode = None, None
    for line in sys.stdin:
        request = json.loads(line)
        if "point" in request:
            timers = Point(request["point"], generator).timers()
            mode = torch.inference_mode
        elif "lenet" in request:
            from bench_torch import lenet_steps

            timers, mode = lenet_steps(int(request["lenet"])), contextlib.nullcontext
        elif "minilm" in request:
            # Imported here: only the MiniLM steps need transformers.
            from bench_torch import minilm_steps

            timers, mode = minilm_steps(request["minilm"]), contextlib.nullcontext
        elif "time" in request and timers is not None:
            timer = timers[request["time"]]
            reply = {"seconds": seconds(timer, int(request["reps"]), mode)}
            print(json.dumps(reply), flush=True)
            continue
        else:
            raise ValueError(f"unexpected request {line.strip()!r}")
        reply = {"ready": True}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError) as error:
        print(f"torch_worker.py: bad request or setup ({type(error).__name__}: {error})", file=sys.stderr)
        sys.exit(1)
