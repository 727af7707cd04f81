//! PyTorch's side of a bench, timed sample by sample between Ember's: a
//! `scripts/torch_worker.py` worker that builds a setup when asked (a sparse product's point,
//! or the LeNet or MiniLM training steps) and times N calls of one of its timers when asked, so that
//! the two sides of every ratio are sampled alternately in one run (docs/performance.md).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// A running `scripts/torch_worker.py`.
pub struct TorchWorker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl TorchWorker {
    /// Starts the worker under `python`, which must import torch, with `env` added to its
    /// environment.
    pub fn start(python: &str, env: &[(&str, &str)]) -> Result<Self, String> {
        let mut child = Command::new(python)
            .arg("scripts/torch_worker.py")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {python} scripts/torch_worker.py: {error}"))?;
        let stdin = child.stdin.take().ok_or("the worker has no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("the worker has no stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn ask(&mut self, request: &Value) -> Result<Value, String> {
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .map_err(|error| format!("the worker stopped reading ({error})"))?;
        let mut line = String::new();
        let read = self
            .stdout
            .read_line(&mut line)
            .map_err(|error| format!("the worker's reply: {error}"))?;
        if read == 0 {
            return Err(format!(
                "the worker ended ({:?}) on {request}",
                self.child.wait().ok()
            ));
        }
        serde_json::from_str(&line).map_err(|error| format!("the worker's reply {line:?}: {error}"))
    }

    /// Builds the product `[out, in]` at `batch` and `sparsity` ("90%", or "2:4" with
    /// `format` "2:4"), checked by the worker against its dense product: timers `"dense"`
    /// and `"csr"`.
    pub fn point(
        &mut self,
        out: usize,
        inp: usize,
        batch: usize,
        sparsity: &str,
        format: &str,
    ) -> Result<(), String> {
        self.setup(json!({"point": {"out": out, "in": inp, "batch": batch,
            "sparsity": sparsity, "format": format}}))
    }

    /// Builds the LeNet-300-100 training steps of `scripts/bench_torch.py` at `batch`:
    /// timers `"dense"` and `"pruned"` (90% through `torch.nn.utils.prune`).
    pub fn lenet(&mut self, batch: usize) -> Result<(), String> {
        self.setup(json!({ "lenet": batch }))
    }

    /// Builds the MiniLM training steps of `scripts/bench_torch.py` from the model folder
    /// `dir`: timers `"dense"` and `"gmp"`.
    pub fn minilm(&mut self, dir: &std::path::Path) -> Result<(), String> {
        self.setup(json!({"minilm": dir}))
    }

    fn setup(&mut self, request: Value) -> Result<(), String> {
        let reply = self.ask(&request)?;
        if reply["ready"] != true {
            return Err(format!("the worker did not build {request}: {reply}"));
        }
        Ok(())
    }

    /// Seconds for `reps` calls of the last setup's timer `which`.
    pub fn time(&mut self, which: &str, reps: usize) -> f64 {
        let reply = self
            .ask(&json!({"time": which, "reps": reps}))
            .unwrap_or_else(|error| panic!("PyTorch's {which}: {error}"));
        reply["seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("the worker's reply has no seconds: {reply}"))
    }
}

impl Drop for TorchWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
