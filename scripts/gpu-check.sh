#!/usr/bin/env bash
# The GPU check, in two halves (docs/backends.md, "Checking a GPU"):
#
#   scripts/gpu-check.sh prepare                  # here, on a CPU machine with cargo
#   scripts/gpu-check.sh run --out DIR            # there, on the GPU machine, from the repo root
#   scripts/gpu-check.sh run --out DIR --dry-run  # the same steps on flex alone, any machine
#
# `prepare` builds, in release, the `ember` binary, the backend suite and the LeNet and MiniLM
# training-step benches with the `cuda` and `vulkan` features, strips and compresses them, and
# packs them with the recipes, the Rotten Tomatoes snippets, all-MiniLM-L6-v2's configuration,
# tokenizer and tensor list (its weights are drawn there: scripts/stand_in_weights.py) and the
# Vulkan loader into gpu-bundle/ (ignored by git), at most 64 MiB, with SHA256SUMS. Nothing is fetched on the GPU machine: it needs only the NVIDIA driver, and
# NVRTC and NCCL from the CUDA toolkit or PyTorch's wheels (found through python3).
#
# `run` checks the bundle, then runs, each step under a time limit, in well under 8 minutes on
# an H200: the backend suite on flex, cuda and vulkan (identical masks against flex, runs
# moved between backends), the quick start on each backend, the GMP* MiniLM recipe for a few
# hundred steps, data-parallel training through burn's DDP, the training-step benches, and
# PyTorch's step on the same GPU. It writes DIR/log.txt and DIR/results.json, and exits 1 if a
# step failed. `--dry-run` does all of it on flex (DDP, which burn implements for CUDA only,
# is checked to be refused there), which is how CI tests the bundle without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

bundle=gpu-bundle
limit_bytes=$((64 * 1024 * 1024))
features=ember/cuda,ember/vulkan

die() {
    echo "gpu-check: $*" >&2
    exit 1
}

# The executables of one cargo invocation's JSON messages, as "target-name path" lines.
executables() {
    python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])
'
}

prepare() {
    command -v cargo >/dev/null || die "prepare needs cargo (it builds the bundle)"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ember/target}"
    scripts/setup-backends.sh cuda
    eval "$(scripts/setup-backends.sh cuda-env)"
    local started=$SECONDS
    local staging="$bundle.partial"
    rm -rf "$staging"
    mkdir -p "$staging/bin" "$staging/lib" "$staging/cache/models/all-MiniLM-L6-v2" \
        "$staging/cache/data/rotten-tomatoes" "$staging/recipes" "$staging/scripts"

    # One cargo feature resolution for everything: the tests' (dev-dependencies change some
    # crates' features, so a plain `cargo build` of the binary would compile burn a second
    # time). Selecting the CLI's integration test `cli` makes cargo build the `ember` binary
    # with that resolution; the benches share it.
    local packages=(-p ember -p ember-cli --features "$features")
    local built=()
    mapfile -t built < <(
        cargo test --release "${packages[@]}" --test backends --test cli --no-run \
            --message-format=json | executables
        cargo bench "${packages[@]}" --bench backends --bench minilm_step --no-run \
            --message-format=json | executables
    )
    local name path ember="" suite="" bench_lenet="" bench_minilm=""
    for line in "${built[@]}"; do
        read -r name path <<<"$line"
        case "$name:$path" in
            ember:*/release/ember) ember=$path ;;
            backends:*) if [ -z "$suite" ]; then suite=$path; else bench_lenet=$path; fi ;;
            minilm_step:*) bench_minilm=$path ;;
        esac
    done
    [ -n "$ember" ] && [ -n "$suite" ] && [ -n "$bench_lenet" ] && [ -n "$bench_minilm" ] ||
        die "cargo did not report the binary, the suite and the two benches: ${built[*]}"
    local copy
    for copy in "$ember:ember" "$suite:backends-suite" "$bench_lenet:bench-lenet-step" \
        "$bench_minilm:bench-minilm-step"; do
        strip -o "$staging/bin/${copy##*:}" "${copy%%:*}"
    done
    # The four binaries share most of their code (burn, CubeCL, LLVM: 160 MB each): one solid
    # xz stream with a dictionary larger than one binary stores the shared part once. The fast
    # match finder: 61 MB in 1.5 minutes here, against 55 MB in 6.5 with xz -9's.
    tar -C "$staging" -cf - bin |
        xz -T1 --lzma2=preset=6,dict=256MiB,mf=hc4,mode=fast,nice=64 >"$staging/bin.tar.xz"
    rm -r "$staging/bin"

    # Data: the host's own binary fetches (or finds) MiniLM and Rotten Tomatoes in its cache.
    # MiniLM's weights travel as their header alone (stand-in weights are drawn there).
    local cache="${EMBER_CACHE:-$HOME/.cache/ember}"
    "$ember" fetch minilm >/dev/null
    "$ember" fetch rotten-tomatoes >/dev/null
    local minilm="$cache/models/all-MiniLM-L6-v2"
    python3 scripts/stand_in_weights.py header "$minilm/model.safetensors" \
        "$staging/cache/models/all-MiniLM-L6-v2/model.header.json"
    cp "$minilm"/{config.json,tokenizer.json,tokenizer_config.json,vocab.txt,special_tokens_map.json} \
        "$staging/cache/models/all-MiniLM-L6-v2/"
    cp "$cache/data/rotten-tomatoes/rotten_tomatoes_corpus_full.csv" \
        "$staging/cache/data/rotten-tomatoes/"
    xz -T0 -6 "$staging/cache/data/rotten-tomatoes/rotten_tomatoes_corpus_full.csv"
    cp recipes/quickstart.toml recipes/gmp-star-minilm-rt.toml "$staging/recipes/"
    cp scripts/bench_torch.py scripts/stand_in_weights.py "$staging/scripts/"

    # The Vulkan loader, for a GPU machine whose image lacks it (the NVIDIA driver brings the
    # Vulkan driver, not the loader).
    local debs
    debs=$(mktemp -d)
    if ! (cd "$debs" && apt-get download libvulkan1 >/dev/null 2>&1); then
        # A fresh machine may have no package lists yet.
        if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
        (cd "$debs" && apt-get download libvulkan1 >/dev/null) ||
            die "apt-get download libvulkan1 failed (the Vulkan loader for the bundle)"
    fi
    dpkg-deb -x "$debs"/libvulkan1_*.deb "$debs/root"
    cp -L "$debs"/root/usr/lib/*/libvulkan.so.1 "$staging/lib/"
    rm -rf "$debs"

    git rev-parse HEAD >"$staging/COMMIT" 2>/dev/null || echo unknown >"$staging/COMMIT"
    (cd "$staging" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort |
        xargs sha256sum >SHA256SUMS)
    local bytes
    bytes=$(du -sb "$staging" | cut -f1)
    if [ "$bytes" -gt "$limit_bytes" ]; then
        du -ab "$staging" | sort -n | tail -8 >&2
        die "the bundle is $bytes bytes, over the 64 MiB a GPU machine's turn can carry"
    fi
    rm -rf "$bundle"
    mv "$staging" "$bundle"
    echo "gpu-check: $bundle/ ready: $((bytes / 1024 / 1024)) MiB (limit 64), built in $((SECONDS - started)) s"
    (cd "$bundle" && du -b bin.tar.xz cache/*/*/* lib/* | sort -n)
}

# ---- the GPU half ----

results=""
record() { # name status seconds [detail]
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$results"
}

# step NAME SECONDS COMMAND...: runs COMMAND under a time limit, logs it, records the outcome.
step() {
    local name=$1 limit=$2
    shift 2
    echo
    echo "=== $name (limit ${limit} s): $*"
    local begun=$SECONDS status=ok code=0
    timeout --kill-after=10 "$limit" "$@" || code=$?
    if [ "$code" -ne 0 ]; then
        status="failed (exit $code)"
        [ "$code" -eq 124 ] && status="timed out after $limit s"
        failures=$((failures + 1))
    fi
    echo "=== $name: $status in $((SECONDS - begun)) s"
    record "$name" "$status" "$((SECONDS - begun))"
}

# expect_failure NAME TEXT COMMAND...: the command must fail and say TEXT.
expect_failure() {
    local name=$1 text=$2
    shift 2
    echo
    echo "=== $name: $* (must fail saying '$text')"
    local said
    if said=$("$@" 2>&1); then
        echo "$said"
        record "$name" "failed (it succeeded)" 0
        failures=$((failures + 1))
    elif grep -qF -- "$text" <<<"$said"; then
        echo "$said"
        record "$name" ok 0
    else
        echo "$said"
        record "$name" "failed (no '$text')" 0
        failures=$((failures + 1))
    fi
}

# The folders of the CUDA and NCCL libraries of the machine's PyTorch wheels, and the usual
# toolkit and driver folders, for cudarc's dlopen.
gpu_library_path() {
    local dirs=()
    local dir
    for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64; do
        [ -d "$dir" ] && dirs+=("$dir")
    done
    if command -v python3 >/dev/null; then
        while IFS= read -r dir; do
            [ -n "$dir" ] && dirs+=("$dir")
        done < <(python3 - <<'EOF' 2>/dev/null || true
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
for root in roots:
    for lib in sorted(glob.glob(os.path.join(root, "nvidia", "**", "lib"), recursive=True)):
        if glob.glob(os.path.join(lib, "libnvrtc.so*")) or glob.glob(os.path.join(lib, "libnccl.so*")):
            print(lib)
EOF
        )
    fi
    local IFS=:
    echo "${dirs[*]}"
}

run() {
    local out="" dry=0
    while [ $# -gt 0 ]; do
        case "$1" in
            --out) out=${2:-}; shift 2 || die "--out needs a folder" ;;
            --dry-run) dry=1; shift ;;
            *) die "unknown argument '$1' (expected --out DIR [--dry-run])" ;;
        esac
    done
    [ -n "$out" ] || die "run needs --out DIR"
    [ -d "$bundle" ] || die "no $bundle/ here: run 'scripts/gpu-check.sh prepare' on the build machine and bring the folder"
    (cd "$bundle" && sha256sum --quiet -c SHA256SUMS) || die "$bundle/ does not match its SHA256SUMS"
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    exec > >(tee "$out/log.txt") 2>&1
    results="$out/steps.tsv"
    : >"$results"
    failures=0
    local started=$SECONDS

    # Unpack into a scratch folder: the binaries, the data cache, MiniLM's stand-in weights.
    local work="$out/work"
    rm -rf "$work"
    mkdir -p "$work"
    xz -dc "$bundle/bin.tar.xz" | tar -C "$work" -xf -
    cp -r "$bundle/cache" "$work/cache"
    local model="$work/cache/models/all-MiniLM-L6-v2"
    python3 "$bundle/scripts/stand_in_weights.py" make "$model/model.header.json" \
        "$model/model.safetensors" 1
    rm "$model/model.header.json"
    xz -d "$work/cache/data/rotten-tomatoes/rotten_tomatoes_corpus_full.csv.xz"
    export EMBER_CACHE="$work/cache" MINILM_DIR="$model" RUST_BACKTRACE=1
    export XDG_CACHE_HOME="$work/xdg-cache" XDG_RUNTIME_DIR="$work/xdg-runtime"
    mkdir -p "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" && chmod 0700 "$XDG_RUNTIME_DIR"
    local ember="$work/bin/ember"

    local gpus=() gpu_names="" backends=flex
    if [ "$dry" -eq 0 ]; then
        export LD_LIBRARY_PATH="$(gpu_library_path):$(cd "$bundle/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        local icd
        for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
            /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
            if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
        done
        command -v nvidia-smi >/dev/null || die "nvidia-smi is not here: this is not a GPU machine (use --dry-run)"
        nvidia-smi || true
        gpu_names=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | paste -sd';')
        mapfile -t gpus < <(nvidia-smi --query-gpu=index --format=csv,noheader)
        backends=flex,cuda,vulkan
    fi
    echo "gpu-check: backends $backends; GPUs: ${gpu_names:-none (dry run)}"
    echo "gpu-check: LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    step devices 60 "$ember" devices
    if [ "$dry" -eq 1 ] && ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so'; then
        # No driver here: the cuda device must be refused with a message naming the library.
        expect_failure cuda-without-driver "needs the NVIDIA driver library" \
            "$ember" run recipes/quickstart.toml --device cuda --out "$out/runs/no-driver"
    fi

    # 1. The backend suite: identical masks against flex, checkpoints and killed runs moved
    #    between backends, MiniLM's embeddings against flex, the trainer end to end.
    step suite 240 env EMBER_TEST_BACKENDS="$backends" "$work/bin/backends-suite" --test-threads=1

    # 2. The quick start on every backend (the full recipe: 10 dense + 12 pruning epochs).
    local b
    for b in ${backends//,/ }; do
        step "quickstart-$b" 150 "$ember" run recipes/quickstart.toml --device "$b" \
            --out "$out/runs/quickstart-$b" --force
    done

    # 3. GMP* on MiniLM for a few hundred steps: one dense epoch, two pruning epochs.
    local gmp_device=cuda gmp_limit=6000
    if [ "$dry" -eq 1 ]; then gmp_device=flex; gmp_limit=96; fi
    step "gmp-star-minilm-$gmp_device" 240 "$ember" run recipes/gmp-star-minilm-rt.toml \
        --device "$gmp_device" --out "$out/runs/gmp-star-$gmp_device" --force \
        --set data.train_limit=$gmp_limit --set dense.epochs=1 --set epochs=2 \
        --set 'modifiers[0].schedule.end_epoch=1'

    # 4. Data parallel through burn's DDP (NCCL all-reduce): one rank, then two if there are
    #    two GPUs. On flex it must be refused, as burn has no all-reduce there.
    if [ "$dry" -eq 0 ]; then
        step ddp-1-rank 150 "$ember" run recipes/quickstart.toml --devices cuda:0 --parallel ddp \
            --out "$out/runs/ddp-1" --force
        if [ "${#gpus[@]}" -ge 2 ]; then
            step ddp-2-ranks 150 "$ember" run recipes/quickstart.toml --devices cuda:0,cuda:1 \
                --out "$out/runs/ddp-2" --force
        else
            record ddp-2-ranks "skipped: one GPU (NCCL takes one rank per GPU)" 0
        fi
    else
        expect_failure ddp-refused-on-flex "--parallel ddp needs cuda devices" \
            "$ember" run recipes/quickstart.toml --devices flex,flex --parallel ddp \
            --out "$out/runs/ddp-flex" --force
    fi

    # 5. The training-step benches, and PyTorch's steps on the same device.
    step bench-lenet 180 env EMBER_BENCH_BACKENDS="$backends" "$work/bin/bench-lenet-step" --bench
    local minilm_backends=flex
    [ "$dry" -eq 0 ] && minilm_backends=flex,cuda
    step bench-minilm 240 env MINILM_BACKENDS="$minilm_backends" "$work/bin/bench-minilm-step" --bench
    if python3 -c 'import torch, transformers' 2>/dev/null; then
        local torch_device=cpu
        [ "$dry" -eq 0 ] && torch_device=cuda
        echo '[]' >"$work/points.json"
        step bench-pytorch 180 env BENCH_DEVICE=$torch_device BENCH_MINILM_DIR="$model" \
            python3 "$bundle/scripts/bench_torch.py" "$work/points.json" "$out/bench-pytorch.json"
    else
        record bench-pytorch "skipped: python3 has no torch and transformers" 0
    fi

    echo
    echo "gpu-check: $failures failed step(s), $((SECONDS - started)) s in all"
    python3 - "$out" "$backends" "$gpu_names" "$dry" "$((SECONDS - started))" <<'EOF'
import datetime, json, os, re, sys

out, backends, gpus, dry, seconds = sys.argv[1:6]
steps = []
with open(os.path.join(out, "steps.tsv")) as f:
    for line in f:
        name, status, secs, detail = (line.rstrip("\n").split("\t") + [""])[:4]
        steps.append({"name": name, "status": status, "seconds": int(secs)})


def report(run):
    path = os.path.join(out, "runs", run, "report.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        r = json.load(f)
    final = r.get("final") or r.get("final_") or {}
    return {
        "dense_accuracy": (r.get("dense") or {}).get("accuracy"),
        "final_accuracy": final.get("accuracy"),
        "sparsity": r["sparsity"]["ratio"],
        "layer_zeros": {l["path"]: l["zeros"] for l in r.get("layers", [])},
        "wall_seconds": r.get("wall_seconds"),
    }


runs = {name: report(name) for name in sorted(os.listdir(os.path.join(out, "runs")))} if os.path.isdir(os.path.join(out, "runs")) else {}
quick = {k[len("quickstart-"):]: v for k, v in runs.items() if k.startswith("quickstart-") and v}
flex = quick.get("flex")
for name, r in quick.items():
    if flex and r:
        r["accuracy_gap_to_flex"] = round(r["final_accuracy"] - flex["final_accuracy"], 4)
        r["same_layer_zeros_as_flex"] = r["layer_zeros"] == flex["layer_zeros"]

log = open(os.path.join(out, "log.txt"), errors="replace").read()
suite = re.search(r"test result: (\w+)\. (\d+) passed; (\d+) failed", log)
bench_lines = [json.loads(l[6:]) for l in log.splitlines() if l.startswith("BENCH {")]
lenet = re.findall(r"^(\w+)\s+([\d.]+)\s+([\d.]+x|-)$", log, re.M)
torch_path = os.path.join(out, "bench-pytorch.json")
results = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "dry_run": dry == "1",
    "gpus": gpus,
    "backends": backends.split(","),
    "seconds": int(seconds),
    "steps": steps,
    "failed": [s["name"] for s in steps if s["status"] != "ok" and not s["status"].startswith("skipped")],
    "suite": {"result": suite.group(1), "passed": int(suite.group(2)), "failed": int(suite.group(3))} if suite else None,
    "quickstart": quick,
    "runs": runs,
    "bench_lenet_ms_per_step": {name: float(ms) for name, ms, _ in lenet},
    "bench_minilm": bench_lines,
    "bench_pytorch": json.load(open(torch_path)) if os.path.exists(torch_path) else None,
}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
print(f"gpu-check: results in {os.path.join(out, 'results.json')}")
EOF
    rm -rf "$work/bin"
    [ "$failures" -eq 0 ]
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) shift; run "$@" ;;
    *) die "usage: scripts/gpu-check.sh prepare | run --out DIR [--dry-run]" ;;
esac
