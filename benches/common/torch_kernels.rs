//! PyTorch's products on the points of `sparse_inference`, timed sample by sample between
//! Ember's: a `scripts/torch_kernels.py` worker that builds a point when asked and times N
//! calls of its dense or CSR product when asked, so that the two sides of every ratio are
//! sampled alternately in one run (docs/performance.md).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// A running `scripts/torch_kernels.py`.
pub struct TorchKernels {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// PyTorch's version and thread count, from the first point's reply.
    pub about: Option<(String, u64)>,
}

impl TorchKernels {
    /// Starts the worker under `python`, which must import torch.
    pub fn start(python: &str) -> Result<Self, String> {
        let mut child = Command::new(python)
            .arg("scripts/torch_kernels.py")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {python} scripts/torch_kernels.py: {error}"))?;
        let stdin = child.stdin.take().ok_or("the worker has no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("the worker has no stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
            about: None,
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

    /// Builds the point `[out, in]` at `batch` and `sparsity` ("90%", or "2:4" with `format`
    /// "2:4"), checked by the worker against its dense product.
    pub fn point(
        &mut self,
        out: usize,
        inp: usize,
        batch: usize,
        sparsity: &str,
        format: &str,
    ) -> Result<(), String> {
        let reply = self.ask(&json!({"point": {"out": out, "in": inp, "batch": batch,
            "sparsity": sparsity, "format": format}}))?;
        if reply["ready"] != true {
            return Err(format!("the worker did not build the point: {reply}"));
        }
        self.about = Some((
            reply["torch"].as_str().unwrap_or("?").to_string(),
            reply["threads"].as_u64().unwrap_or(0),
        ));
        Ok(())
    }

    /// Seconds for `reps` calls of the current point's `"dense"` or `"csr"` product.
    pub fn time(&mut self, which: &str, reps: usize) -> f64 {
        let reply = self
            .ask(&json!({"time": which, "reps": reps}))
            .unwrap_or_else(|error| panic!("PyTorch's {which} product: {error}"));
        reply["seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("the worker's reply has no seconds: {reply}"))
    }
}

impl Drop for TorchKernels {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
