//! Named pause points for crash tests.
//!
//! With `EMBER_PAUSE_AT=<point>[,<point>...]` in the environment, a run that reaches one of
//! the named points prints `ember: paused at <point>` on stderr and sleeps until it is
//! killed. A test waits for that line and sends SIGKILL, so a kill lands exactly where it
//! must (in the middle of a checkpoint write, right after a mask update), which a timer cannot
//! promise. The points:
//!
//! - `step:<phase>:<n>`: after optimizer step `n` of phase `dense` or `sparse`;
//! - `update:<n>`: right after the sparsity update at step `n` of the pruning phase;
//! - `checkpoint-write:<n>`: inside the write of the checkpoint at step `n`, after the model,
//!   optimizer and scheduler files and before `state.json` and the rename.
//!
//! Without the variable every point is a no-op.

use std::sync::OnceLock;

/// The environment variable naming the points.
pub const VARIABLE: &str = "EMBER_PAUSE_AT";

fn points() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var(VARIABLE)
            .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default()
    })
}

/// Pauses forever if the point `name()` names is one of those in [`VARIABLE`]. The name is
/// only built when some point is set, so the training step pays nothing for it.
pub(crate) fn point(name: impl FnOnce() -> String) {
    let points = points();
    if points.is_empty() {
        return;
    }
    let name = name();
    if points.contains(&name) {
        eprintln!("ember: paused at {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
