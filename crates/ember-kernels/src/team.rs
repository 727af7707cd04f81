//! Helper threads for products too short for rayon: each helper waits for its next part by
//! spinning for a while after the last one, so that a product of 50–200 µs can be split
//! over the cores without paying a thread's wake-up on every call.
//!
//! Why not rayon: on this project's 2-core machine, waking rayon's sleeping workers and
//! copying their parts back cost 20–80 µs per product (docs/performance.md), so the kernels
//! split only products of more than 2^23 multiply-adds, and the sparse engine's products
//! (60–170 µs each at batch 1 on MiniLM) ran on one core while the dense engine used two.
//! rayon's workers go to sleep within microseconds of running out of work; these helpers
//! keep polling for [`SPIN`] first, which is longer than the gap between two products of a
//! forward pass (attention, layer norms), and only then block.
//!
//! Everything a part needs is owned (the matrix's storage is shared through `Arc`s, the
//! transposed input is an `Arc` of its buffer), so parts are ordinary `'static` jobs on plain
//! channels and the crate stays free of `unsafe`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper polls for its next part before it blocks: longer than the gaps between
/// the products of a BERT forward pass (attention, layer norms), short enough that a helper
/// whose process has moved on to other work (burn's own threads, in a benchmark that
/// alternates dense and sparse products) gives its core back soon.
const SPIN: Duration = Duration::from_micros(500);

/// A part of a product, run on a helper thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The process's helper threads: one fewer than rayon's pool (so `RAYON_NUM_THREADS=1` runs
/// every product on the calling thread), started on first use.
pub(crate) struct Team {
    helpers: Vec<Sender<Job>>,
}

impl Team {
    /// The process's team.
    pub(crate) fn get() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| Team::start(rayon::current_num_threads().saturating_sub(1)))
    }

    /// A team of `count` helper threads; a helper that cannot be started is left out (the
    /// caller then does more of the work itself).
    pub(crate) fn start(count: usize) -> Self {
        let helpers = (0..count)
            .filter_map(|i| {
                let (sender, receiver) = mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name(format!("ember-kernels-{i}"))
                    .spawn(move || serve(receiver))
                    .ok()
                    .map(|_| sender)
            })
            .collect();
        Self { helpers }
    }

    /// A team of the given helpers' channels (tests: helpers that fail or are gone).
    #[cfg(test)]
    pub(crate) fn of(helpers: Vec<Sender<Job>>) -> Self {
        Self { helpers }
    }

    /// The number of helper threads.
    pub(crate) fn helpers(&self) -> usize {
        self.helpers.len()
    }

    /// Sends `job` to helper `index`; `false` if that helper is gone (its thread ended). A
    /// product's parts are claimed from a shared counter, so the parts a gone helper never
    /// claims are simply left to the caller.
    pub(crate) fn send(&self, index: usize, job: Job) -> bool {
        self.helpers[index].send(job).is_ok()
    }

    /// Runs parts `0..parts`, each once, on this thread and the helpers. Parts are claimed in
    /// turn from a shared counter, so a helper that starts late (on a machine busy with
    /// other work) leaves its share to this thread instead of making it wait. This thread
    /// runs its claims with `here`; a helper runs `away`, and its result goes to `land`, on
    /// this thread. When every part is claimed, this thread waits for the helpers' answers
    /// about as long as two of its own parts took (at least 20 µs), then runs whatever is
    /// still missing with `here` and ignores a late answer: a helper can lose its core to
    /// other work in the middle of a part (in a benchmark alternating with burn's two-thread
    /// dense product, waiting for it made split products up to 2x slower than one thread).
    /// `here` and `away` must compute the same values, so the result never depends on who
    /// ran what.
    pub(crate) fn share<T: Send + 'static>(
        &self,
        parts: usize,
        away: Arc<dyn Fn(usize) -> T + Send + Sync>,
        mut here: impl FnMut(usize),
        mut land: impl FnMut(usize, T),
    ) {
        let next = Arc::new(AtomicUsize::new(0));
        let (sender, receiver) = mpsc::channel::<(usize, T)>();
        for helper in 0..self.helpers() {
            let (away, next, sender) = (Arc::clone(&away), Arc::clone(&next), sender.clone());
            // A helper that is gone takes no parts: nothing to do when the send fails.
            self.send(
                helper,
                Box::new(move || {
                    loop {
                        let p = next.fetch_add(1, Ordering::Relaxed);
                        if p >= parts || sender.send((p, away(p))).is_err() {
                            break;
                        }
                    }
                }),
            );
        }
        drop(sender);
        let mut done = vec![false; parts];
        let started = Instant::now();
        let mut mine = 0u32;
        loop {
            let p = next.fetch_add(1, Ordering::Relaxed);
            if p >= parts {
                break;
            }
            here(p);
            done[p] = true;
            mine += 1;
        }
        let patience = started.elapsed() / mine.max(1) * 2;
        let deadline = Instant::now() + patience.max(Duration::from_micros(20));
        // Each helper answers once for each part it claimed, so a count of what is missing is
        // exact until the deadline.
        let mut missing = parts - mine as usize;
        while missing > 0 {
            match receiver.try_recv() {
                Ok((p, result)) => {
                    land(p, result);
                    done[p] = true;
                    missing -= 1;
                }
                Err(TryRecvError::Empty) if Instant::now() < deadline => std::hint::spin_loop(),
                // Too late, or every helper's sender is gone (a failed part).
                Err(_) => break,
            }
        }
        for p in (0..parts).filter(|p| !done[*p]) {
            here(p);
        }
    }
}

/// A helper's loop: run every part it is sent, polling for the next one for [`SPIN`] before
/// blocking; ends when the team is dropped (never, for the process's team).
fn serve(receiver: Receiver<Job>) {
    loop {
        let job = match poll(&receiver, SPIN) {
            Some(job) => job,
            None => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        // A part that panics drops its result sender, which the caller reports; the helper
        // lives on for the next product.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// The next message on `receiver` if one arrives within `spin` (`None` also when the sender
/// is gone). Polls without blocking, since a blocked thread's wake-up is what this module
/// avoids; after the first few hundred polls it yields between polls, which costs nothing on
/// an idle core and leaves a busy machine's other work its share of the cores.
pub(crate) fn poll<T>(receiver: &Receiver<T>, spin: Duration) -> Option<T> {
    let start = Instant::now();
    let mut tries = 0u32;
    loop {
        match receiver.try_recv() {
            Ok(message) => return Some(message),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {
                tries = tries.saturating_add(1);
                // Reading the clock costs more than a poll: look every 64 tries.
                if tries.is_multiple_of(64) && start.elapsed() >= spin {
                    return None;
                }
                if tries < 256 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_runs_what_it_is_sent_and_survives_a_panicking_part() {
        let team = Team::start(2);
        assert_eq!(team.helpers(), 2);
        for index in 0..2 {
            // A part that panics: its result sender is dropped, so the poll says so.
            let (sender, receiver) = mpsc::channel::<usize>();
            assert!(team.send(
                index,
                Box::new(move || {
                    let _keep = sender;
                    panic!("a failing part");
                })
            ));
            assert_eq!(poll(&receiver, Duration::from_secs(60)), None);
            // The same helper then runs the next part.
            let (sender, receiver) = mpsc::channel();
            assert!(team.send(index, Box::new(move || sender.send(index * 10).unwrap())));
            assert_eq!(poll(&receiver, Duration::from_secs(60)), Some(index * 10));
        }
    }

    #[test]
    fn polling_gives_up_after_its_time_and_on_a_closed_channel() {
        let (sender, receiver) = mpsc::channel::<u8>();
        let start = Instant::now();
        assert_eq!(poll(&receiver, Duration::from_millis(5)), None);
        assert!(start.elapsed() >= Duration::from_millis(5));
        sender.send(7).unwrap();
        assert_eq!(poll(&receiver, Duration::from_millis(5)), Some(7));
        drop(sender);
        assert_eq!(poll(&receiver, Duration::from_secs(60)), None);
    }
}
