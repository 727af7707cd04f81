#!/usr/bin/env bash
# The one-shot pruning table of docs/results.md: magnitude, Wanda and SparseGPT at 50%, 60%,
# 70% unstructured and 2:4 on a trained `llama` run, each from the same 8 calibration batches
# (8 x 16 windows x 128 tokens), then the perplexity of every pruned run on the test split.
#
#   scripts/oneshot_table.sh RUN_DIR OUT_DIR [--device D]
#
# Needs a release build of `ember` (EMBER, default: the release binary of CARGO_TARGET_DIR).
# Prints two markdown tables: perplexity, then wall time and peak resident memory of each
# prune (the largest peak_resident_bytes of its layerwise.csv).
set -euo pipefail
run=$1
out=$2
shift 2
ember=${EMBER:-${CARGO_TARGET_DIR:-$HOME/.cache/ember/target}/release/ember}
mkdir -p "$out"
for method in magnitude wanda sparsegpt; do
    for setting in "50 unstructured 0.5" "60 unstructured 0.6" "70 unstructured 0.7" "2-4 2:4 0.5"; do
        read -r label pattern sparsity <<< "$setting"
        # Wanda compares within each output row, as the paper does.
        if [ "$method" = wanda ] && [ "$pattern" = unstructured ]; then pattern=per_output; fi
        dir="$out/$method-$label"
        "$ember" prune "$run" --recipe "recipes/oneshot-$method-llama.toml" \
            --set "modifiers[0].sparsity=$sparsity" --set "modifiers[0].pattern=\"$pattern\"" \
            --calibration 8 --out "$dir" --force "$@" >/dev/null 2>"$dir.log" || {
            cat "$dir.log" >&2; exit 1; }
    done
done
python3 - "$run" "$out" <<'PY'
import csv, json, os, sys
run, out = sys.argv[1], sys.argv[2]
dense = json.load(open(os.path.join(run, "report.json")))["final"]["metrics"]["perplexity"]
settings = ["50%", "60%", "70%", "2:4"]
print("| method | " + " | ".join(settings) + " |")
print("| --- | " + " | ".join("---" for _ in settings) + " |")
print("| dense | " + " | ".join(f"{dense:.2f}" for _ in settings) + " |")
rows = {}
for method, name in [("magnitude", "magnitude"), ("wanda", "Wanda"), ("sparsegpt", "SparseGPT")]:
    cells, costs = [], []
    for s in settings:
        d = os.path.join(out, f"{method}-{s.replace('%', '').replace(':', '-')}")
        report = json.load(open(os.path.join(d, "report.json")))
        cells.append(f"{report['final']['metrics']['perplexity']:.2f}")
        peak = max(int(r["peak_resident_bytes"]) for r in csv.DictReader(open(os.path.join(d, "layerwise.csv"))))
        costs.append(f"{report['final']['wall_seconds']:.1f} s, {peak / 2**20:.0f} MiB")
    print(f"| {name} | " + " | ".join(cells) + " |")
    rows[name] = costs
print()
print("| method | " + " | ".join(settings) + " |")
print("| --- | " + " | ".join("---" for _ in settings) + " |")
for name, costs in rows.items():
    print(f"| {name} | " + " | ".join(costs) + " |")
PY
