"""Does libgomp's spin count change PyTorch's own times? Two `scripts/torch_worker.py`
workers, one with libgomp's default waiting and one with `GOMP_SPINCOUNT` set (30000 unless
given), are driven in one alternation over the sparse products' points at batch 32 (the same
points, warm-up and medians as `benches/sparse_inference.rs`), so the two settings are
compared a few milliseconds apart instead of in two runs minutes apart.

usage: python scripts/torch_spin_check.py [SPINCOUNT]

Prints, for every point and both timers (dense `F.linear`, CSR `torch.sparse.mm`), each
setting's median and the ratio spin / default (> 1: the lower spin count is slower).
"""

import json
import os
import subprocess
import sys
import time

SHAPES = [
    ("lenet fc1", 300, 784),
    ("lenet fc2", 100, 300),
    ("lenet fc3", 10, 100),
    ("minilm inner", 1536, 384),
    ("minilm outer", 384, 1536),
]
SAMPLES = 31
WARM_UP = 20e-3


class Worker:
    def __init__(self, env):
        here = os.path.dirname(os.path.abspath(__file__))
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(here, "torch_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker ended on {request}")
        return json.loads(line)

    def time(self, timer, reps):
        return self.ask({"time": timer, "reps": reps})["seconds"]


def interleaved(sides):
    """Medians per call of `sides` (each `sample(reps) -> seconds`), sampled alternately, each
    sample after WARM_UP seconds of untimed calls of its own side."""
    reps = []
    for sample in sides:
        sample(5)
        once = max(sample(1), 1e-8)
        reps.append(min(max(1, int(1e-3 / once + 0.999)), 10_000))
    times = [[] for _ in sides]
    for _ in range(SAMPLES):
        for i, sample in enumerate(sides):
            warm = 0.0
            while warm < WARM_UP:
                warm += sample(reps[i])
            times[i].append(sample(reps[i]) / reps[i])
    return [sorted(t)[len(t) // 2] for t in times]


def main():
    spin = sys.argv[1] if len(sys.argv) > 1 else "30000"
    plain = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    os.environ.clear()
    os.environ.update(plain)
    default, spinning = Worker({}), Worker({"GOMP_SPINCOUNT": spin})
    print(f"GOMP_SPINCOUNT={spin} against libgomp's default, batch 32, medians of {SAMPLES}")
    print(f"{'layer':<13} {'sparsity':>8} {'timer':>6} {'default us':>11} {'spin us':>9} {'spin/default':>13}")
    ratios = []
    for layer, out, inp in SHAPES:
        for sparsity in ("90%", "95%"):
            point = {"out": out, "in": inp, "batch": 32, "sparsity": sparsity, "format": "csr"}
            for w in (default, spinning):
                assert w.ask({"point": point})["ready"]
            for timer in ("dense", "csr"):
                d, s = interleaved(
                    [lambda r, t=timer: default.time(t, r), lambda r, t=timer: spinning.time(t, r)]
                )
                ratios.append(s / d)
                print(f"{layer:<13} {sparsity:>8} {timer:>6} {d * 1e6:>11.1f} {s * 1e6:>9.1f} {s / d:>13.3f}")
    ratios.sort()
    print(f"spin/default over {len(ratios)} rows: median {ratios[len(ratios) // 2]:.3f}, "
          f"range {ratios[0]:.3f}-{ratios[-1]:.3f}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{time.perf_counter() - start:.0f} s")
