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
# hundred steps on cuda and vulkan, data-parallel training through burn's DDP, the
# training-step benches, and PyTorch's step on the same GPU, all within GPU_CHECK_SECONDS
# (default 460: under 8 minutes with the unpacking). It writes DIR/log.txt and DIR/results.json, and exits 1 if a
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
    # xz stream with a dictionary larger than one binary stores the shared part once: 55 MB
    # in 6.5 minutes here (the fast match finder gave 61 MB in 1.5, too close to the limit
    # once the repository's own files travel too).
    tar -C "$staging" -cf - bin | xz -T1 --lzma2=preset=9,dict=256MiB >"$staging/bin.tar.xz"
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
    # The bundle travels with the repository's own files (tracked and untracked, not
    # ignored): together they must stay under the 64 MiB a GPU machine's turn carries, with
    # a MiB to spare.
    local bytes repo
    bytes=$(du -sb "$staging" | cut -f1)
    repo=$(git ls-files -z -co --exclude-standard 2>/dev/null | xargs -0 -r du -cb 2>/dev/null |
        tail -1 | cut -f1)
    repo=${repo:-0}
    if [ $((bytes + repo)) -gt $((limit_bytes - 1024 * 1024)) ]; then
        du -ab "$staging" | sort -n | tail -8 >&2
        die "the bundle ($bytes bytes) and the repository's files ($repo) exceed the 63 MiB a GPU machine's turn can carry with a MiB to spare"
    fi
    rm -rf "$bundle"
    mv "$staging" "$bundle"
    echo "gpu-check: $bundle/ ready: $((bytes / 1024 / 1024)) MiB, $(((bytes + repo) / 1024 / 1024)) MiB with the repository (limit 64), built in $((SECONDS - started)) s"
    (cd "$bundle" && du -b bin.tar.xz cache/*/*/* lib/* | sort -n)
}

# ---- the GPU half ----

results=""
record() { # name status seconds [detail]
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$results"
}

# step NAME SECONDS COMMAND...: runs COMMAND under a time limit (cut to what is left of the
# whole check's budget), logs it, records the outcome. A step with under 15 s left is skipped
# and counted as a failure: the check did not do everything.
step() {
    local name=$1 limit=$2
    shift 2
    local left=$((deadline - SECONDS))
    if [ "$left" -lt 15 ]; then
        echo "=== $name: skipped, the check's ${budget} s are spent"
        record "$name" "skipped: out of time" 0
        failures=$((failures + 1))
        return
    fi
    limit=$((limit * scale))
    [ "$limit" -gt "$left" ] && limit=$left
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
    if said=$(timeout --kill-after=10 $((120 * scale)) "$@" 2>&1); then
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
# toolkit and driver folders, for cudarc's dlopen, one per line. NCCL's wheel ships only
# libnccl.so.2, a name cudarc does not try: a link named libnccl.so goes into $1.
gpu_library_dirs() {
    local links=$1 dir
    mkdir -p "$links"
    echo "$links"
    for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64; do
        if [ -d "$dir" ]; then echo "$dir"; fi
    done
    command -v python3 >/dev/null || return 0
    python3 - "$links" <<'PY' 2>/dev/null || true
import glob, os, site, sys
links = sys.argv[1]
roots = site.getsitepackages() + [site.getusersitepackages()]
for root in roots:
    for lib in sorted(glob.glob(os.path.join(root, "nvidia", "**", "lib"), recursive=True)):
        if glob.glob(os.path.join(lib, "libnvrtc.so*")) or glob.glob(os.path.join(lib, "libnccl.so*")):
            print(lib)
        nccl = os.path.join(lib, "libnccl.so.2")
        if os.path.exists(nccl) and not os.path.exists(os.path.join(links, "libnccl.so")):
            os.symlink(nccl, os.path.join(links, "libnccl.so"))
PY
}

# Joins the non-empty lines of stdin with colons.
join_path() {
    local parts=() line
    while IFS= read -r line; do
        if [ -n "$line" ]; then parts+=("$line"); fi
    done
    local IFS=:
    echo "${parts[*]}"
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
    bundle=$(cd "$bundle" && pwd)
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    exec > >(tee "$out/log.txt") 2>&1
    results="$out/steps.tsv"
    : >"$results"
    failures=0
    local started=$SECONDS
    # The whole check stays under 8 minutes of wall time, unpacking included. A dry run is
    # timed on a small CPU machine (CI's two cores), whose flex is far slower than the GPU
    # machine's: its limits are three times longer.
    scale=1
    if [ "$dry" -eq 1 ]; then scale=3; fi
    budget=${GPU_CHECK_SECONDS:-$((460 * scale))}
    deadline=$((SECONDS + budget))

    # The large files (binaries, stand-in weights, run directories with their checkpoints)
    # live in a scratch folder that is removed at the end; DIR receives the log, results.json
    # and each run's report.json and metrics.csv, small enough to come back from a GPU turn.
    work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
    trap 'rm -rf "$work"' EXIT
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
    local ember="$work/bin/ember" runs="$work/runs" recipes="$bundle/recipes"

    local gpus=() gpu_names="" backends=flex gpu_backends=""
    if [ "$dry" -eq 0 ]; then
        export LD_LIBRARY_PATH
        LD_LIBRARY_PATH=$({ gpu_library_dirs "$work/links"; echo "$bundle/lib"
            tr ':' '\n' <<<"${LD_LIBRARY_PATH:-}"; } | join_path)
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
        gpu_backends="cuda vulkan"
    fi
    echo "gpu-check: backends $backends; GPUs: ${gpu_names:-none (dry run)}"
    echo "gpu-check: LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    step devices 60 "$ember" devices
    local devices_said
    devices_said=$("$ember" devices 2>&1 || true)
    if [ "$dry" -eq 1 ] && grep -q 'needs the NVIDIA driver library' <<<"$devices_said"; then
        # No driver here: the cuda device must be refused with a message naming the library.
        expect_failure cuda-without-driver "needs the NVIDIA driver library" \
            "$ember" run "$recipes/quickstart.toml" --device cuda --out "$runs/no-driver"
    fi

    # 1. The backend suite, one GPU backend at a time against flex (so that one that cannot
    #    run does not hide the other): identical masks, checkpoints and killed runs moved
    #    between backends, MiniLM's embeddings against flex, the trainer end to end.
    local b
    if [ "$dry" -eq 1 ]; then
        step suite-flex 150 env EMBER_TEST_BACKENDS=flex "$work/bin/backends-suite" --test-threads=1
    fi
    for b in $gpu_backends; do
        step "suite-$b" 150 env EMBER_TEST_BACKENDS="flex,$b" "$work/bin/backends-suite" --test-threads=1
    done

    # 2. The quick start on every backend (the full recipe: 10 dense + 12 pruning epochs).
    for b in ${backends//,/ }; do
        step "quickstart-$b" 60 "$ember" run "$recipes/quickstart.toml" --device "$b" \
            --out "$runs/quickstart-$b" --force
    done

    # 3. GMP* on MiniLM for a few hundred steps on each GPU backend: one dense epoch, two
    #    pruning epochs.
    local gmp_devices=$gpu_backends gmp_limit=4000
    if [ "$dry" -eq 1 ]; then gmp_devices=flex; gmp_limit=96; fi
    for b in $gmp_devices; do
        step "gmp-star-minilm-$b" 120 "$ember" run "$recipes/gmp-star-minilm-rt.toml" \
            --device "$b" --out "$runs/gmp-star-$b" --force \
            --set data.train_limit=$gmp_limit --set dense.epochs=1 --set epochs=2 \
            --set 'modifiers[0].schedule.end_epoch=1'
    done

    # 4. Data parallel through burn's DDP (NCCL all-reduce): one rank, then two if there are
    #    two GPUs. On flex it must be refused, as burn has no all-reduce there.
    if [ "$dry" -eq 0 ]; then
        step ddp-1-rank 60 "$ember" run "$recipes/quickstart.toml" --devices cuda:0 \
            --parallel ddp --out "$runs/ddp-1" --force
        if [ "${#gpus[@]}" -ge 2 ]; then
            step ddp-2-ranks 60 "$ember" run "$recipes/quickstart.toml" --devices cuda:0,cuda:1 \
                --out "$runs/ddp-2" --force
        else
            record ddp-2-ranks "skipped: one GPU (NCCL takes one rank per GPU)" 0
        fi
    else
        expect_failure ddp-refused-on-flex "--parallel ddp needs cuda devices" \
            "$ember" run "$recipes/quickstart.toml" --devices flex,flex --parallel ddp \
            --out "$runs/ddp-flex" --force
    fi

    # 5. The training-step benches, and PyTorch's steps on the same device.
    step bench-lenet 60 env EMBER_BENCH_BACKENDS="$backends" "$work/bin/bench-lenet-step" --bench
    step bench-minilm 90 env MINILM_BACKENDS="$backends" "$work/bin/bench-minilm-step" --bench
    if python3 -c 'import torch, transformers' 2>/dev/null; then
        local torch_device=cpu
        if [ "$dry" -eq 0 ]; then torch_device=cuda; fi
        step bench-pytorch 60 env BENCH_DEVICE=$torch_device BENCH_LENET=1 BENCH_MINILM_DIR="$model" \
            python3 "$bundle/scripts/bench_torch.py" "$out/bench-pytorch.json"
    else
        record bench-pytorch "skipped: python3 has no torch and transformers" 0
    fi

    # What comes back: each run's report and metrics.
    local dir
    for dir in "$runs"/*/; do
        [ -d "$dir" ] || continue
        mkdir -p "$out/runs/$(basename "$dir")"
        cp "$dir"/report.json "$dir"/metrics.csv "$out/runs/$(basename "$dir")/" 2>/dev/null || true
    done

    echo
    echo "gpu-check: $failures failed step(s), $((SECONDS - started)) s in all"
    python3 - "$out" "$backends" "$gpu_names" "$dry" "$((SECONDS - started))" <<'PY'
import datetime, json, os, re, sys

out, backends, gpus, dry, seconds = sys.argv[1:6]
steps = []
with open(os.path.join(out, "steps.tsv")) as f:
    for line in f:
        name, status, secs = (line.rstrip("\n").split("\t") + ["", "", "0"])[:3]
        steps.append({"name": name, "status": status, "seconds": int(secs or 0)})


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report(run):
    r = load(os.path.join(out, "runs", run, "report.json"))
    if not r:
        return None
    final = r.get("final") or r.get("final_") or {}
    return {
        "dense_accuracy": (r.get("dense") or {}).get("accuracy"),
        "final_accuracy": final.get("accuracy"),
        "sparsity": (r.get("sparsity") or {}).get("ratio"),
        "layer_zeros": {l["path"]: l["zeros"] for l in r.get("layers", [])},
        "wall_seconds": r.get("wall_seconds"),
    }


runs_dir = os.path.join(out, "runs")
runs = {name: report(name) for name in sorted(os.listdir(runs_dir))} if os.path.isdir(runs_dir) else {}
quick = {k[len("quickstart-"):]: v for k, v in runs.items() if k.startswith("quickstart-") and v}
flex = quick.get("flex")
for name, r in quick.items():
    if flex and r.get("final_accuracy") is not None and flex.get("final_accuracy") is not None:
        r["accuracy_gap_to_flex"] = round(r["final_accuracy"] - flex["final_accuracy"], 4)
        r["same_layer_zeros_as_flex"] = r["layer_zeros"] == flex["layer_zeros"]

log = open(os.path.join(out, "log.txt"), errors="replace").read()
suites = [
    {"result": m.group(1), "passed": int(m.group(2)), "failed": int(m.group(3))}
    for m in re.finditer(r"test result: (\w+)\. (\d+) passed; (\d+) failed", log)
]
bench_minilm = []
for line in log.splitlines():
    if line.startswith("BENCH {"):
        try:
            bench_minilm.append(json.loads(line[6:]))
        except ValueError:
            bench_minilm.append({"unparsed": line[6:]})
lenet = re.findall(r"^(\w+)\s+([\d.]+)\s+([\d.]+x|-)$", log, re.M)
intended = ("skipped: one GPU", "skipped: python3 has no")
results = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "dry_run": dry == "1",
    "gpus": gpus,
    "backends": backends.split(","),
    "seconds": int(seconds),
    "steps": steps,
    "failed": [s["name"] for s in steps if s["status"] != "ok" and not s["status"].startswith(intended)],
    "suites": suites,
    "quickstart": quick,
    "runs": runs,
    "bench_lenet_ms_per_step": {name: float(ms) for name, ms, _ in lenet},
    "bench_minilm": bench_minilm,
    "bench_pytorch": load(os.path.join(out, "bench-pytorch.json")),
}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
print(f"gpu-check: results in {os.path.join(out, 'results.json')}")
PY
    [ "$failures" -eq 0 ]
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) shift; run "$@" ;;
    *) die "usage: scripts/gpu-check.sh prepare | run --out DIR [--dry-run]" ;;
esac
