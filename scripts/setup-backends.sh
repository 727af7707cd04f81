#!/usr/bin/env bash
# Installs what the wgpu and tch backends need on a fresh Debian machine, idempotently.
#
#   scripts/setup-backends.sh wgpu   # Mesa's lavapipe Vulkan driver (CPU), through apt
#   scripts/setup-backends.sh tch    # a slim CPU libtorch 2.9.0 from the PyPI torch wheel
#
# After `tch`, build and run with the variables printed by `scripts/setup-backends.sh env`:
#   LIBTORCH=<dir> and LD_LIBRARY_PATH=<dir>/lib.
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

print_env() {
    echo "export LIBTORCH=$libtorch"
    echo "export LD_LIBRARY_PATH=$libtorch/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
}

for what in "$@"; do
    case "$what" in
        wgpu) setup_wgpu ;;
        tch) setup_tch ;;
        env) print_env ;;
        *) echo "unknown backend '$what' (expected wgpu, tch or env)" >&2; exit 2 ;;
    esac
done
