//! Run-time libraries of the GPU backends, looked for before a device is made.
//!
//! CubeCL's CUDA runtime (through `cudarc`) and wgpu's Vulkan path open their libraries with
//! `dlopen` at first use, and a missing one ends the process in a panic deep inside the first
//! tensor operation. Ember looks for the same file names where the dynamic loader would find
//! them first, so that a binary built with `--features cuda` on a machine without a driver
//! says which library is missing and what provides it, and exits cleanly.
//!
//! The search follows `ld.so`: the folders of `LD_LIBRARY_PATH`, the loader's cache
//! (`ldconfig -p`), then the default folders. A library found by none of these would not be
//! found by `dlopen` either (the binaries carry no `RPATH`).

use std::path::{Path, PathBuf};

/// A shared library a backend opens at run time, and what provides it.
#[derive(Debug, Clone, Copy)]
pub struct Library {
    /// What the library is, for the message.
    pub what: &'static str,
    /// The file names the backend tries, in its order.
    pub names: &'static [&'static str],
    /// Which package or variable provides it.
    pub provided_by: &'static str,
}

/// The CUDA driver's user-space library (`cudarc` opens `cuda`).
pub const CUDA_DRIVER: Library = Library {
    what: "the NVIDIA driver library",
    names: &["libcuda.so", "libcuda.so.1"],
    provided_by: "the NVIDIA driver (Debian: libcuda1; containers: the NVIDIA container \
                  toolkit mounts it); if it is installed, add its folder to LD_LIBRARY_PATH",
};

/// CUDA's run-time compiler, which CubeCL uses to build its kernels (`cudarc` opens `nvrtc`).
pub const NVRTC: Library = Library {
    what: "CUDA's run-time compiler NVRTC",
    names: &[
        "libnvrtc.so",
        "libnvrtc.so.13",
        "libnvrtc.so.12",
        "libnvrtc.so.11",
    ],
    provided_by: "the CUDA toolkit (cuda-nvrtc-13-0, in /usr/local/cuda/lib64) or the PyPI wheel \
                  nvidia-cuda-nvrtc (its nvidia/cu13/lib folder); add the folder to \
                  LD_LIBRARY_PATH",
};

/// NCCL, burn's all-reduce on CUDA (DDP). `cudarc` tries these names only: PyTorch's
/// `nvidia-nccl` wheels ship `libnccl.so.2` alone, which must be linked as `libnccl.so`.
pub const NCCL: Library = Library {
    what: "NCCL, which burn's DDP all-reduce uses",
    names: &[
        "libnccl.so",
        "libnccl.so.13",
        "libnccl.so.12",
        "libnccl.so.11",
        "libnccl.so.1",
    ],
    provided_by: "the package libnccl2 with libnccl-dev, or PyTorch's nvidia-nccl wheel, whose \
                  libnccl.so.2 must be linked as libnccl.so in a folder on LD_LIBRARY_PATH \
                  (cudarc does not try the name libnccl.so.2)",
};

/// The Vulkan loader, which wgpu's Vulkan backend opens.
pub const VULKAN_LOADER: Library = Library {
    what: "the Vulkan loader (or, for wgpu, EGL)",
    names: &["libvulkan.so.1", "libvulkan.so"],
    provided_by: "the package libvulkan1 (plus a Vulkan driver: the NVIDIA driver, or \
                  mesa-vulkan-drivers for lavapipe on a CPU); if it is installed, add its \
                  folder to LD_LIBRARY_PATH",
};

/// EGL, through which wgpu reaches OpenGL ES where there is no Vulkan loader.
pub const EGL: Library = Library {
    what: "EGL",
    names: &["libEGL.so.1", "libEGL.so"],
    provided_by: "the package libegl1 (with a driver: libegl-mesa0, or the NVIDIA driver)",
};

/// The folders `ld.so` searches, in its order, without the cache.
fn search_folders(ld_library_path: Option<&str>) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = ld_library_path
        .unwrap_or("")
        .split(':')
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .collect();
    for default in [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ] {
        folders.push(PathBuf::from(default));
    }
    folders
}

/// The file names the loader's cache knows (`ldconfig -p`), empty where it cannot be read.
fn cached_names() -> Vec<String> {
    for ldconfig in ["/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"] {
        if let Ok(out) = std::process::Command::new(ldconfig).arg("-p").output()
            && out.status.success()
        {
            return parse_ldconfig(&String::from_utf8_lossy(&out.stdout));
        }
    }
    Vec::new()
}

/// The library names in `ldconfig -p` output (`\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/…`).
fn parse_ldconfig(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("lib"))
        .map(str::to_string)
        .collect()
}

/// Where `library` would be loaded from, or `None` when `dlopen` would not find it.
pub fn locate(library: &Library) -> Option<PathBuf> {
    let ld_library_path = std::env::var("LD_LIBRARY_PATH").ok();
    locate_in(
        library,
        &search_folders(ld_library_path.as_deref()),
        &cached_names(),
    )
}

fn locate_in(library: &Library, folders: &[PathBuf], cached: &[String]) -> Option<PathBuf> {
    for folder in folders {
        for name in library.names {
            let path = folder.join(name);
            if path.exists() {
                return Some(path);
            }
        }
    }
    library
        .names
        .iter()
        .find(|name| cached.iter().any(|c| c == *name))
        .map(|name| Path::new("(ld.so cache)").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_is_found_in_ld_library_path_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libnvrtc.so.13"), b"").unwrap();
        let path = dir.path().to_str().unwrap();
        let folders = search_folders(Some(&format!("/nonexistent:{path}")));
        assert_eq!(folders[1], dir.path());
        assert_eq!(
            locate_in(&NVRTC, &folders, &[]),
            Some(dir.path().join("libnvrtc.so.13"))
        );
    }

    #[test]
    fn the_loader_cache_counts_and_absence_is_none() {
        let cache = parse_ldconfig(
            "42 libs found in cache `/etc/ld.so.cache'\n\
             \tlibcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1\n\
             \tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\n",
        );
        assert_eq!(cache, vec!["libcuda.so.1", "libc.so.6"]);
        let nowhere = [PathBuf::from("/nonexistent")];
        assert!(locate_in(&CUDA_DRIVER, &nowhere, &cache).is_some());
        assert_eq!(locate_in(&NVRTC, &nowhere, &cache), None);
    }
}
