//! A run killed on one backend resumes on another: flex → every backend and every backend →
//! flex (on a GPU build: flex → cuda, cuda → flex, flex → wgpu, …).
//!
//! The killed run is a child process (this test binary again, running
//! [`resume_child_runs_until_killed`] on the backend it is told), paused with
//! `EMBER_PAUSE_AT` at a chosen step and killed with SIGKILL, exactly as a user's run dies.
//! The parent resumes it in process on the other backend and compares the finished run with
//! an uninterrupted flex run of the same recipe:
//!
//! - started on flex and killed after the **last mask update**, the resumed run must end with
//!   exactly the reference's masks (flex chose them before the kill, and the checkpoint
//!   carries them), and weights within 1e-3 of it (float rounding);
//! - killed **before a mask update**, or started on another backend, some masks are chosen
//!   on a backend whose weights differ from flex's in the last bits, so a weight at the
//!   threshold may fall on the other side. The test reports how many mask entries differ and
//!   holds them to 0.1% of the pruned weights; the total count of zeros is exact either way.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use burn::tensor::Device;
use ember::backend::DeviceSpec;
use ember::models::MlpConfig;
use ember::sparsity::Sparse;
use ember::train::recipe::Steps;
use ember::train::{Recipe, RunOptions, Start, with_host_rng};

use crate::devices;

/// 1,000 embedded images in batches of 64 (16 steps per epoch): 1 dense epoch, then 3
/// pruning epochs with mask updates at sparse steps 0 and 16; a checkpoint every 4 steps.
const RECIPE: &str = r#"
name = "cross-device"
seed = 5
epochs = 3
[model]
kind = "mlp"
hidden = [64]
[data]
source = "embedded"
batch_size = 64
train_limit = 1000
[checkpoint]
every_steps = 4
[dense]
epochs = 1
[lr]
kind = "sawtooth"
init = 5e-4
final = 5e-5
[[modifiers]]
kind = "prune"
params = ['re:layers\.\d+\.weight']
schedule = { kind = "cubic", init_sparsity = 0.5, final_sparsity = 0.8, start_epoch = 0, end_epoch = 1, every_epochs = 1 }
"#;

const CHILD_DIR: &str = "EMBER_RESUME_CHILD_DIR";
const CHILD_DEVICE: &str = "EMBER_RESUME_CHILD_DEVICE";

fn recipe() -> Recipe {
    Recipe::from_toml(RECIPE, "cross-device", &[]).unwrap()
}

/// The child side: runs the recipe into `$EMBER_RESUME_CHILD_DIR` on
/// `$EMBER_RESUME_CHILD_DEVICE` until the pause point stops it. Without the variables (a
/// plain `cargo test`) it does nothing.
#[test]
fn resume_child_runs_until_killed() {
    let (Ok(dir), Ok(device)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_DEVICE)) else {
        return;
    };
    let spec: DeviceSpec = device.parse().unwrap();
    let options = RunOptions::new(
        dir,
        spec.device().unwrap(),
        device,
        ember::zoo::registries(),
    );
    ember::train::run(&recipe(), &options).unwrap();
    panic!("the child run finished: it never reached its pause point");
}

/// Runs the recipe on `backend` into `out` in a child process and kills it at `point`.
fn kill_on(backend: &str, out: &Path, point: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "resume::resume_child_runs_until_killed",
            "--nocapture",
        ])
        .env(CHILD_DIR, out)
        .env(CHILD_DEVICE, backend)
        .env("EMBER_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let paused = BufReader::new(stderr).lines().any(|line| {
        let line = line.unwrap_or_default();
        let hit = line.contains(&format!("paused at {point}"));
        seen.push(line);
        hit
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        paused,
        "{backend}: the child never reached {point}:\n{}",
        seen.join("\n")
    );
    assert!(!out.join("report.json").exists(), "killed before the end");
}

/// The masks and the weights of a finished run's `model.bpk`, read on flex.
fn finished(dir: &Path) -> (Vec<Vec<bool>>, Vec<Vec<f32>>) {
    let recipe = recipe();
    let steps = Steps::data_parallel(1000, 64, 1);
    let plan = recipe.plan(&steps, &Default::default()).unwrap();
    let device = Device::flex();
    let sparse =
        with_host_rng(|| Sparse::new(MlpConfig::new().with_hidden(vec![64]).init(&device), plan))
            .unwrap()
            .load_checkpoint(&dir.join("model.bpk"))
            .unwrap();
    let paths = sparse.target_paths();
    let masks = paths
        .iter()
        .map(|p| sparse.keep_mask(p).expect("a pruned layer has a mask"))
        .collect();
    let weights = sparse
        .model
        .layers
        .iter()
        .map(|layer| layer.weight.val().into_data().try_to_vec::<f32>().unwrap())
        .collect();
    (masks, weights)
}

fn differing(a: &[Vec<bool>], b: &[Vec<bool>]) -> usize {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).filter(|(p, q)| p != q).count())
        .sum()
}

fn largest_gap(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn a_run_killed_on_one_backend_resumes_on_another() {
    let all = devices();
    if all.len() < 2 {
        eprintln!("only flex is compiled in: build with a second backend to move runs between");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    ember::train::run(
        &recipe(),
        &RunOptions::new(&reference, Device::flex(), "flex", ember::zoo::registries()),
    )
    .unwrap();
    let (want_masks, want_weights) = finished(&reference);
    let pruned: usize = want_masks
        .iter()
        .map(|m| m.iter().filter(|k| !**k).count())
        .sum();

    // Sparse steps 0 and 16 update the masks, and checkpoints come every 4 steps: killed at 30,
    // the run resumes from step 28, after the last update; killed at 10, from step 8, before
    // the update at 16, which the second backend then computes.
    for (point, masks_fixed) in [("step:sparse:30", true), ("step:sparse:10", false)] {
        let pairs = all.iter().skip(1).flat_map(|(other, device)| {
            [
                ("flex".to_string(), other.clone(), device.clone()),
                (other.clone(), "flex".to_string(), Device::flex()),
            ]
        });
        for (from, to, to_device) in pairs {
            let out = dir
                .path()
                .join(format!("{from}-{to}-{}", point.replace(':', "-")));
            kill_on(&from, &out, point);
            let options = RunOptions::new(&out, to_device, to.clone(), ember::zoo::registries())
                .with_start(Start::Resume);
            ember::train::run(&recipe(), &options)
                .unwrap_or_else(|e| panic!("{from} → {to} at {point}: {e}"));
            let (masks, weights) = finished(&out);
            let zeros: usize = masks
                .iter()
                .map(|m| m.iter().filter(|k| !**k).count())
                .sum();
            let moved = differing(&masks, &want_masks);
            let gap = largest_gap(&weights, &want_weights);
            eprintln!(
                "{from} → {to}, killed at {point}: {moved} of {pruned} pruned entries differ \
                 from flex's uninterrupted run; largest weight difference {gap:.2e}"
            );
            assert_eq!(
                zeros, pruned,
                "{from} → {to} at {point}: the count of zeros"
            );
            // Killed after the last update of a run that began on flex, the masks were chosen
            // by flex before the kill and must be flex's exactly. A run that began on another
            // backend chose them there, from weights a few bits off flex's.
            if masks_fixed && from == "flex" {
                assert_eq!(
                    moved, 0,
                    "{from} → {to} at {point}: masks chosen before the kill"
                );
                // Same masks: the weights differ by the backends' float rounding alone.
                assert!(gap <= 1e-3, "{from} → {to} at {point}: weights {gap} apart");
            } else {
                // A weight at the threshold may fall on either side (and then differs by its
                // own, small, value); the count of such weights is what is bounded.
                assert!(
                    moved * 1000 <= pruned,
                    "{from} → {to} at {point}: {moved} mask entries moved"
                );
            }
        }
    }
}
