//! Crash safety, as a user meets it: `ember run` killed with SIGKILL at chosen and at random
//! points, then `ember run --resume`, must end exactly where an uninterrupted run ends; two
//! runs into one directory must not mix.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use burn::store::{BurnpackStore, ModuleStore};

/// 1,000 embedded images in batches of 64: 16 steps per epoch; 2 dense epochs, 3 pruning
/// epochs with mask updates at sparse steps 0, 16 and 32, and a checkpoint every 5 steps.
const RECIPE: &str = r#"
name = "crash"
seed = 3
epochs = 3
[model]
kind = "mlp"
[data]
source = "embedded"
batch_size = 64
train_limit = 1000
[checkpoint]
every_steps = 5
[dense]
epochs = 2
[lr]
kind = "sawtooth"
init = 5e-4
final = 5e-5
[[modifiers]]
kind = "prune"
params = ['re:layers\.\d+\.weight']
schedule = { kind = "cubic", init_sparsity = 0.5, final_sparsity = 0.9, start_epoch = 0, end_epoch = 2, every_epochs = 1 }
"#;

fn ember(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ember"));
    command
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env_remove("EMBER_PAUSE_AT");
    command
}

fn output(command: &mut Command) -> Output {
    command.output().expect("the ember binary runs")
}

fn run_into(recipe: &Path, out: &Path) -> Command {
    ember(&[
        "run",
        recipe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Every tensor of a checkpoint by name (model weights and sparsity state: masks, step), as
/// raw bytes: equal maps mean bit-identical weights and identical masks.
fn tensors(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    store
        .get_all_tensors()
        .unwrap()
        .iter()
        .map(|(name, tensor)| {
            let data = burn::store::bridge::to_data(tensor).unwrap();
            (name.clone(), data.as_bytes().to_vec())
        })
        .collect()
}

/// Starts a run that pauses at `point`, and returns it once it says it has paused there.
fn paused_at(recipe: &Path, out: &Path, point: &str) -> Child {
    let mut child = run_into(recipe, out)
        .env("EMBER_PAUSE_AT", point)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let paused = lines.any(|l| l.is_ok_and(|l| l.contains(&format!("paused at {point}"))));
    assert!(paused, "the run never reached {point}");
    child
}

/// Starts a run that pauses at `point` and kills it with SIGKILL once it says so.
fn kill_at(recipe: &Path, out: &Path, point: &str) {
    let mut child = paused_at(recipe, out, point);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// A temporary directory holding the crash recipe, and the recipe's path.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("crash.toml");
    std::fs::write(&recipe, RECIPE).unwrap();
    (dir, recipe)
}

/// Starts a run and kills it after `delay`, wherever it is.
fn kill_after(recipe: &Path, out: &Path, delay: Duration) {
    let mut child = run_into(recipe, out)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn assert_same_run(reference: &Path, resumed: &Path, what: &str) {
    let want = tensors(&reference.join("model.bpk"));
    let got = tensors(&resumed.join("model.bpk"));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (name, bytes) in &want {
        assert!(got[name] == *bytes, "{what}: tensor `{name}` differs");
    }
    assert!(
        want.keys().any(|k| k.starts_with("state.")),
        "the masks are compared too"
    );
    let metrics = |dir: &Path| std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics(reference), metrics(resumed), "{what}: metrics.csv");
    let dense = |dir: &Path| tensors(&dir.join("dense.bpk"));
    assert_eq!(dense(reference), dense(resumed), "{what}: dense.bpk");
    assert!(
        !resumed.join("checkpoints").exists(),
        "{what}: a finished run keeps no checkpoints"
    );
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_result_bit_for_bit() {
    let (dir, recipe) = setup();
    let reference = dir.path().join("reference");
    let done = output(&mut run_into(&recipe, &reference));
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let random_delays = [150 + nanos % 700, 150 + (nanos / 1000) % 700];
    let chosen = [
        "step:dense:3",        // the dense phase, before the first checkpoint
        "step:dense:23",       // the dense phase, epoch 2, after a mid-epoch checkpoint
        "checkpoint-write:10", // in the middle of writing a checkpoint
        "update:16",           // right after the second mask update
        "step:sparse:41",      // the last pruning epoch
    ];
    for point in chosen {
        let out = dir.path().join(point.replace(':', "-"));
        kill_at(&recipe, &out, point);
        assert!(
            !out.join("report.json").exists(),
            "{point}: killed before the end"
        );
        let resumed = output(&mut ember(&["run", "--resume", out.to_str().unwrap()]));
        assert!(
            resumed.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_same_run(&reference, &out, point);
    }
    for (i, delay) in random_delays.into_iter().enumerate() {
        let out = dir.path().join(format!("random-{i}"));
        kill_after(&recipe, &out, Duration::from_millis(delay));
        if !out.join("recipe.toml").exists() {
            continue; // killed before it wrote anything: nothing to resume, nothing to check
        }
        let resumed = output(&mut ember(&["run", "--resume", out.to_str().unwrap()]));
        assert!(
            resumed.status.success(),
            "killed after {delay} ms: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_same_run(&reference, &out, &format!("killed after {delay} ms"));
    }

    // A finished run says so and changes nothing.
    let again = output(&mut ember(&[
        "run",
        "--resume",
        reference.to_str().unwrap(),
    ]));
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("has finished: nothing to resume"));
}

#[test]
fn two_runs_into_one_directory_do_not_mix() {
    let (dir, recipe) = setup();
    let out = dir.path().join("shared");

    // The first run holds the directory (paused mid-training); the second is refused.
    let mut first = paused_at(&recipe, &out, "step:dense:7");
    let second = output(run_into(&recipe, &out).arg("--force"));
    assert!(!second.status.success());
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("another run is using it")
            && message.contains(&format!("pid {}", first.id())),
        "{message}"
    );
    first.kill().unwrap();
    first.wait().unwrap();

    // Dead holder, old files: a fresh run is refused, naming them and the ways out.
    let fresh = output(&mut run_into(&recipe, &out));
    assert!(!fresh.status.success());
    let message = String::from_utf8_lossy(&fresh.stderr);
    assert!(
        message.contains("holds another run's files (recipe.toml")
            && message.contains("checkpoints)")
            && message.contains("--force")
            && message.contains("--resume"),
        "{message}"
    );
    let unfinished = output(&mut ember(&["report", out.to_str().unwrap()]));
    assert!(!unfinished.status.success());
    assert!(
        String::from_utf8_lossy(&unfinished.stderr).contains("is unfinished"),
        "{}",
        String::from_utf8_lossy(&unfinished.stderr)
    );
    // --force starts over cleanly.
    let forced = output(run_into(&recipe, &out).arg("--force"));
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(out.join("report.json").exists() && !out.join("checkpoints").exists());

    // A report whose model file is damaged or gone says so.
    std::fs::write(out.join("model.bpk"), b"not a checkpoint").unwrap();
    let damaged = output(&mut ember(&["report", out.to_str().unwrap()]));
    assert!(!damaged.status.success());
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("model file is missing or damaged"),
        "{}",
        String::from_utf8_lossy(&damaged.stderr)
    );

    // A file where the run directory should be is named as such.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let refused = output(&mut run_into(&recipe, &file));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is a file, not a directory"));
}

#[test]
fn divergence_is_an_error_naming_where_and_what() {
    let (dir, recipe) = setup();
    let out = dir.path().join("diverged");
    let diverged = output(
        run_into(&recipe, &out)
            .args(["--set", "optimizer.kind=\"sgd\""])
            .args(["--set", "dense.lr={kind=\"constant\", lr=1e6}"]),
    );
    assert!(!diverged.status.success());
    let message = String::from_utf8_lossy(&diverged.stderr);
    assert!(
        message.contains("training diverged in phase `dense` at epoch 1, step ")
            && message.contains("the loss is NaN")
            && message.contains("lower the learning rate"),
        "{message}"
    );
    assert!(
        !out.join("report.json").exists(),
        "no report claims success"
    );
    assert!(!out.join("model.bpk").exists());
}

#[test]
fn a_checkpoint_of_another_run_is_refused_not_resumed() {
    let (dir, recipe) = setup();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, RECIPE.replace("seed = 3", "seed = 4")).unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    kill_at(&recipe, &ours, "step:dense:12");
    kill_at(&other, &theirs, "step:dense:12");
    // The other run's checkpoints, moved in behind Ember's back: each file is whole and
    // matches its checksums, but it belongs to a run with another seed.
    std::fs::remove_dir_all(ours.join("checkpoints")).unwrap();
    std::fs::rename(theirs.join("checkpoints"), ours.join("checkpoints")).unwrap();
    let resumed = output(&mut ember(&["run", "--resume", ours.to_str().unwrap()]));
    assert!(!resumed.status.success());
    let message = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        message.contains("seed 4")
            && message.contains("seed is 3")
            && !message.contains("panicked"),
        "{message}"
    );
}

#[test]
fn a_data_parallel_run_is_not_resumed_on_one_device() {
    let (dir, recipe) = setup();
    let out = dir.path().join("parallel");
    let trained = output(&mut ember(&[
        "run",
        recipe.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--devices",
        "flex,flex",
    ]));
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    // As if it had been killed before its report: nothing of it can be continued.
    std::fs::remove_file(out.join("report.json")).unwrap();
    let resumed = output(&mut ember(&["run", "--resume", out.to_str().unwrap()]));
    assert!(!resumed.status.success());
    let message = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        message.contains("data-parallel on flex,flex") && message.contains("--devices flex,flex"),
        "{message}"
    );
}
