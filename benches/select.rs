//! Ember's exact selection against numpy: the time to flag the `k = round(0.9 n)` lowest of
//! `n` scores with [`select_lowest`], and the time of `numpy.partition(a, k - 1)` on the same
//! scores, for n = 1M, 10M and 85M (the median of 5 runs after one warm-up, each).
//!
//! ```sh
//! cargo xtask bench-select    # makes a venv with numpy, then runs the line below with it
//! SELECT_BENCH_PYTHON=/path/to/python cargo bench --bench select
//! SELECT_BENCH_SIZES=1000,100000 cargo bench --bench select
//! ```
//! The scores are uniform in [0, 1), rounded to 1e-6 so that many of them tie. Every result is
//! checked: exactly `k` flags, every flagged score at most every unflagged one, and the `k`-th
//! lowest score equal to numpy's. Python is `python3` unless `SELECT_BENCH_PYTHON` names
//! another; without Python or numpy the numpy column is left empty. Run without `--bench` (as
//! `cargo test --benches` does), the default is one small size. 85M scores take about 0.5 GB
//! here and 0.7 GB in Python.

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::median;
use ember::sparsity::prune_count;
use ember::sparsity::select::select_lowest;

const DEFAULT_SIZES: [usize; 3] = [1_000_000, 10_000_000, 85_000_000];
/// The sizes when run as a test (without `--bench`).
const TEST_SIZES: [usize; 1] = [100_000];
const RUNS: usize = 5;
const SPARSITY: f64 = 0.9;

/// Arguments: the raw little-endian f32 file, k, the number of timed runs. Prints the median
/// seconds and the k-th lowest score; exits with 3 without numpy.
const NUMPY_PROGRAM: &str = r#"
import sys, time
try:
    import numpy
except ImportError:
    sys.exit(3)
path, k, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
a = numpy.fromfile(path, dtype=numpy.float32)
kth = numpy.partition(a, k - 1)[k - 1]
times = []
for _ in range(runs):
    start = time.perf_counter()
    numpy.partition(a, k - 1)
    times.append(time.perf_counter() - start)
times.sort()
print(times[len(times) // 2], repr(float(kth)))
"#;

/// `SELECT_BENCH_SIZES` (comma-separated, `_` allowed), else the defaults.
fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("SELECT_BENCH_SIZES") {
        return list
            .split(',')
            .map(|s| s.trim().replace('_', ""))
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => panic!("SELECT_BENCH_SIZES: {s:?} is not a positive size"),
            })
            .collect();
    }
    if std::env::args().any(|arg| arg == "--bench") {
        DEFAULT_SIZES.to_vec()
    } else {
        TEST_SIZES.to_vec()
    }
}

/// `n` scores drawn with splitmix64: uniform in [0, 1), rounded to 1e-6.
fn draw_scores(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let uniform = (z >> 11) as f64 / (1u64 << 53) as f64;
            ((uniform * 1e6).round() / 1e6) as f32
        })
        .collect()
}

/// Checks the flags and returns the highest flagged score (the k-th lowest).
fn check(scores: &[f32], flags: &[bool], k: usize) -> f32 {
    assert_eq!(flags.len(), scores.len(), "one flag per score");
    let chosen = flags.iter().filter(|&&f| f).count();
    assert_eq!(chosen, k, "select_lowest flagged {chosen} scores, not {k}");
    let (mut max_chosen, mut min_kept) = (f32::NEG_INFINITY, f32::INFINITY);
    for (&score, &flag) in scores.iter().zip(flags) {
        if flag {
            max_chosen = max_chosen.max(score);
        } else {
            min_kept = min_kept.min(score);
        }
    }
    assert!(
        max_chosen <= min_kept,
        "a flagged score ({max_chosen}) is above an unflagged one ({min_kept})"
    );
    max_chosen
}

/// The median seconds of [`select_lowest`] and the k-th lowest score, checked.
fn time_ember(scores: &[f32], k: usize) -> (f64, f32) {
    let flags = select_lowest(&[scores], k);
    let kth = check(scores, &flags[0], k);
    drop(flags);
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let flags = select_lowest(&[scores], k);
            let seconds = start.elapsed().as_secs_f64();
            drop(std::hint::black_box(flags));
            seconds
        })
        .collect();
    (median(times), kth)
}

fn write_scores(path: &Path, scores: &[f32]) -> std::io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    for score in scores {
        file.write_all(&score.to_le_bytes())?;
    }
    file.flush()
}

/// numpy's median seconds and k-th lowest score, through a temporary file.
fn time_numpy(python: &str, scores: &[f32], k: usize) -> Result<(f64, f64), String> {
    let name = format!(
        "ember-select-bench-{}-{}.f32",
        std::process::id(),
        scores.len()
    );
    let path = std::env::temp_dir().join(name);
    let result = write_scores(&path, scores)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
        .and_then(|()| run_numpy(python, &path, k));
    let _ = std::fs::remove_file(&path);
    result
}

fn run_numpy(python: &str, path: &Path, k: usize) -> Result<(f64, f64), String> {
    let out = Command::new(python)
        .arg("-c")
        .arg(NUMPY_PROGRAM)
        .arg(path)
        .arg(k.to_string())
        .arg(RUNS.to_string())
        .output()
        .map_err(|error| format!("cannot run {python}: {error}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("numpy failed ({}): {}", out.status, stderr.trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(seconds)), Some(Ok(kth))) => Ok((seconds, kth)),
        _ => Err(format!("unexpected output from numpy: {text:?}")),
    }
}

fn main() {
    let python = common::numpy_python(
        "SELECT_BENCH_PYTHON",
        "`cargo xtask bench-select` makes a venv with it",
    )
    .inspect_err(|why| println!("numpy column skipped: {why}"))
    .ok();
    let mut rows = Vec::new();
    for (index, n) in sizes().into_iter().enumerate() {
        let k = prune_count(SPARSITY, n);
        let scores = draw_scores(n, 0x5EED + index as u64);
        let (ember, kth) = time_ember(&scores, k);
        let numpy = python
            .as_deref()
            .and_then(|python| match time_numpy(python, &scores, k) {
                Ok((seconds, numpy_kth)) => {
                    assert_eq!(
                        numpy_kth,
                        f64::from(kth),
                        "Ember's and numpy's k-th lowest differ (n = {n}, k = {k})"
                    );
                    Some(seconds)
                }
                Err(why) => {
                    println!("n = {n}: numpy skipped: {why}");
                    None
                }
            });
        println!("n = {n}: k = {k} checked, ember {ember:.4} s");
        rows.push((n, ember, numpy));
    }

    println!("\nselect the lowest 90% (median of {RUNS} runs):");
    println!(
        "{:>12} {:>12} {:>12} {:>14}",
        "n", "ember s", "numpy s", "ember / numpy"
    );
    for (n, ember, numpy) in rows {
        let (numpy, ratio) = numpy.map_or((String::from("-"), String::from("-")), |numpy| {
            (format!("{numpy:.4}"), format!("{:.2}", ember / numpy))
        });
        println!("{n:>12} {ember:>12.4} {numpy:>12} {ratio:>14}");
    }
}
