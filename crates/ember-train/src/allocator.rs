//! The C allocator's thresholds for a training process.
//!
//! A training step allocates and frees the same few dozen buffers of a few megabytes every
//! step (activations, gradients, optimizer temporaries). glibc's allocator serves each of
//! them with `mmap` and gives it back to the kernel with `munmap` when it is freed, until its
//! dynamic threshold has risen past the buffer's size; libtorch's tensors and burn's host
//! buffers both go through it. Every page of a buffer obtained so is zeroed by the kernel on
//! its first touch: on the MiniLM step on tch, `clear_page_erms` and the page-fault path took
//! about 10% of the samples, against 3% in PyTorch's own step, and the step ran 17–20% slower
//! than with the thresholds below (docs/performance.md, "Where the MiniLM step's time
//! went"). The thresholds keep freed buffers in the process for the next step, as PyTorch's
//! processes end up doing.
//!
//! The only module of Ember allowed unsafe code: two calls into the C library.

#![allow(unsafe_code)]

/// Buffers at least this large are still mapped on their own (and unmapped when freed): a
/// model's weight file, an embedding table, a Hessian of a wide layer.
pub const MMAP_THRESHOLD: usize = 64 << 20;

/// Free memory at the top of the heap is returned to the kernel once it exceeds this.
pub const TRIM_THRESHOLD: usize = 256 << 20;

/// What [`keep_freed_buffers`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorTuning {
    /// glibc's thresholds are now [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`].
    Set,
    /// `GLIBC_TUNABLES` sets malloc parameters already: the user's choice stands.
    LeftToTunables,
    /// Not glibc (another libc or platform): nothing to set.
    Unsupported,
    /// glibc refused a value (it returns 0 from `mallopt`).
    Refused,
}

/// Sets glibc's `mmap` and trim thresholds so that a training process keeps the buffers it
/// frees for its next step instead of returning them to the kernel and faulting them back
/// in, zeroed. The `ember` binary and the MiniLM step bench call it first thing; a program that embeds
/// Ember can call it too. Call it before other threads start allocating. It leaves the
/// allocator alone when `GLIBC_TUNABLES` mentions malloc, so the environment can override
/// it (`GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072` brings the default back).
pub fn keep_freed_buffers() -> AllocatorTuning {
    if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
        return AllocatorTuning::LeftToTunables;
    }
    set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> AllocatorTuning {
    let set = |parameter, value: usize| {
        let value = libc::c_int::try_from(value).expect("the thresholds fit a C int");
        // SAFETY: `mallopt` only records the parameter; both values are in glibc's range
        // (the mmap threshold's maximum is 32 MiB on its dynamic path but any value when set).
        unsafe { libc::mallopt(parameter, value) == 1 }
    };
    if set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) && set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) {
        AllocatorTuning::Set
    } else {
        AllocatorTuning::Refused
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> AllocatorTuning {
    AllocatorTuning::Unsupported
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Minor page faults of this process so far.
    fn minor_faults() -> i64 {
        // SAFETY: `getrusage` writes the struct it is given and nothing else.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
            usage.ru_minflt
        }
    }

    /// Allocates a buffer of `bytes`, writes every page of it and frees it; the page faults
    /// that took.
    fn touch_and_free(bytes: usize) -> i64 {
        let before = minor_faults();
        let mut buffer = vec![0u8; bytes];
        for page in buffer.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&buffer);
        drop(buffer);
        minor_faults() - before
    }

    #[test]
    fn a_freed_buffer_is_reused_without_faulting_its_pages_back_in() {
        match keep_freed_buffers() {
            // The environment chose the thresholds; nothing of ours to test.
            AllocatorTuning::LeftToTunables => return,
            tuning => assert_eq!(tuning, AllocatorTuning::Set),
        }
        // 40 MiB: above glibc's largest dynamic threshold (32 MiB), so without the tuning
        // every round maps fresh pages and faults all 10,240 of them in again.
        let bytes = 40 << 20;
        let pages = (bytes / 4096) as i64;
        let first = touch_and_free(bytes);
        let again: Vec<i64> = (0..3).map(|_| touch_and_free(bytes)).collect();
        assert!(
            first >= pages / 2,
            "the first round faulted {first} pages of {pages}"
        );
        // Other test threads fault pages too; the buffer's own would be 10,240 per round.
        for faults in again {
            assert!(
                faults < pages / 4,
                "a later round faulted {faults} of {pages} pages"
            );
        }
    }
}
