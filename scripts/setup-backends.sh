#!/usr/bin/env bash
# Installs what the wgpu and tch backends need on a fresh Debian machine, idempotently.
#
#   scripts/setup-backends.sh wgpu   # Mesa's lavapipe Vulkan driver (CPU), through apt
#   scripts/setup-backends.sh tch    # a slim CPU libtorch 2.9.0 from the PyPI torch wheel
#   scripts/setup-backends.sh cuda   # what *building* the cuda feature needs offline (below)
#
# After `tch`, build and run with the variables printed by `scripts/setup-backends.sh env`:
#   LIBTORCH=<dir> and LD_LIBRARY_PATH=<dir>/lib.
#
# The cuda feature needs no CUDA toolkit to build (cudarc opens the driver and NVRTC at run
# time), but CubeCL's CUDA runtime links LLVM for its PTX path, and the build script of
# tracel-llvm-bundler downloads tracel's LLVM 23.1 from GitHub, which an offline machine cannot
# reach. `cuda` installs Debian's LLVM 22 (llvm-22-dev) instead and lays it out where the
# bundler looks (<XDG_DATA_HOME>/tracel/tracel-llvm-23.1.0-4, with the bundler's sentinel), in
# a data folder of Ember's own; `cuda-env` prints the variables for such a build:
#   XDG_DATA_HOME=<cache>/xdg-data (only where tracel's own LLVM is not installed), and
#   CUDARC_CUDA_VERSION=13000, so that cudarc binds CUDA 13.0's API, which every driver from
#   580 on serves (without nvcc cudarc would bind the newest API it knows, 13.4).
# The libtorch directory lives in $BACKENDS_CACHE (default ~/.cache/ember) so it is reused.
# (Not an EMBER_RECIPE__* name: those override recipe keys.)
set -euo pipefail

cache="${BACKENDS_CACHE:-$HOME/.cache/ember}"
venv="$cache/torch-venv"
libtorch="$cache/libtorch-2.9.0"
# burn-tch 0.22 uses tch 0.22, which is written against libtorch 2.9.0.
torch_version="2.9.0"

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

setup_wgpu() {
    if dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
        echo "wgpu: lavapipe already installed"
        return
    fi
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mesa-vulkan-drivers libvulkan1
}

setup_tch() {
    if [ -f "$libtorch/lib/libtorch_cpu.so" ] && [ -d "$libtorch/include" ]; then
        echo "tch: libtorch already at $libtorch"
        return
    fi
    mkdir -p "$cache"
    python3 -m venv "$venv"
    # The PyPI wheel is a CUDA build: libtorch_cpu.so links libcudart and libcupti, so those two
    # small wheels come along; the large CUDA libraries (cuDNN, cuBLAS, ...) are not needed on CPU.
    "$venv/bin/pip" install --quiet --no-deps "torch==$torch_version" \
        nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
    local site torch_dir
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    torch_dir="$site/torch"
    rm -rf "$libtorch.partial"
    mkdir -p "$libtorch.partial/lib"
    cp -r "$torch_dir/include" "$libtorch.partial/include"
    for lib in libtorch_cpu.so libc10.so; do
        cp "$torch_dir/lib/$lib" "$libtorch.partial/lib/"
    done
    cp "$torch_dir"/lib/libgomp*.so* "$libtorch.partial/lib/" 2>/dev/null || true
    cp "$site"/nvidia/cuda_runtime/lib/libcudart.so.12 "$libtorch.partial/lib/"
    cp "$site"/nvidia/cuda_cupti/lib/libcupti.so.12 "$libtorch.partial/lib/"
    # libtorch_cuda.so is left out on purpose, so that nothing links CUDA; libtorch.so is the CPU one.
    ln -s libtorch_cpu.so "$libtorch.partial/lib/libtorch.so"
    echo "$torch_version" >"$libtorch.partial/build-version"
    rm -rf "$libtorch"
    mv "$libtorch.partial" "$libtorch"
    echo "tch: libtorch $torch_version at $libtorch"
}

tracel_llvm="tracel/tracel-llvm-23.1.0-4"
standin_data="$cache/xdg-data"

setup_cuda() {
    local own="${XDG_DATA_HOME:-$HOME/.local/share}/$tracel_llvm"
    if [ -f "$own/.tracel-llvm-installed" ]; then
        echo "cuda: tracel's LLVM already at $own"
        return
    fi
    # llvm-config --link-static lists Polly too, which Debian ships in its own package, and
    # zstd and zlib, which need their -dev packages to link.
    if [ ! -x /usr/lib/llvm-22/bin/llvm-config ] || [ ! -f /usr/lib/llvm-22/lib/libPolly.a ] ||
        ! dpkg -s libzstd-dev zlib1g-dev >/dev/null 2>&1; then
        sudo_if_needed apt-get update -qq
        sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends llvm-22-dev libpolly-22-dev libzstd-dev zlib1g-dev
    fi
    local standin="$standin_data/$tracel_llvm"
    rm -rf "$standin/bin"
    mkdir -p "$standin/bin"
    # The bundler runs <prefix>/bin/llvm-config, which reports Debian's include and lib folders.
    # One fix: Debian's --system-libs names Z3 by its full path, which the bundler turns into
    # `-llibz3`; the wrapper says `-lz3` instead (the linker drops it unless LLVM's Z3 solver,
    # which Ember never calls, is linked in).
    cat >"$standin/bin/llvm-config" <<'WRAPPER'
#!/bin/sh
out=$(/usr/lib/llvm-22/bin/llvm-config "$@") || exit $?
printf '%s\n' "$out" | sed 's#[^ ]*/libz3\.so[.0-9]*#-lz3#g'
WRAPPER
    chmod +x "$standin/bin/llvm-config"
    # The sentinel tells the bundler's build script that nothing is to be downloaded. Its build
    # script reruns when the sentinel's time changes, rebuilding all of burn: touch it once.
    [ -f "$standin/.tracel-llvm-installed" ] || touch "$standin/.tracel-llvm-installed"
    echo "cuda: Debian's LLVM 22 stands in for tracel's LLVM 23.1 at $standin"
}

print_cuda_env() {
    local own="${XDG_DATA_HOME:-$HOME/.local/share}/$tracel_llvm"
    if [ ! -f "$own/.tracel-llvm-installed" ] && [ -f "$standin_data/$tracel_llvm/.tracel-llvm-installed" ]; then
        echo "export XDG_DATA_HOME=$standin_data"
    fi
    echo "export CUDARC_CUDA_VERSION=13000"
}

print_env() {
    echo "export LIBTORCH=$libtorch"
    echo "export LD_LIBRARY_PATH=$libtorch/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
}

for what in "$@"; do
    case "$what" in
        wgpu) setup_wgpu ;;
        tch) setup_tch ;;
        cuda) setup_cuda ;;
        env) print_env ;;
        cuda-env) print_cuda_env ;;
        *) echo "unknown backend '$what' (expected wgpu, tch, cuda, env or cuda-env)" >&2; exit 2 ;;
    esac
done
