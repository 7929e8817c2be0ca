//! This process's resident memory, for the benchmarks that report it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Resident set size in KiB (`VmRSS` of `/proc/self/status`); 0 where unknown.
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples resident memory every 20 ms on a thread of its own, keeping the
/// peak of each phase the caller names with [`Sampler::phase`].
pub struct Sampler {
    phase: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl Sampler {
    /// Starts sampling; `phases` is how many phases there will be.
    pub fn start(phases: usize) -> Self {
        let phase = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (phase, stop) = (phase.clone(), stop.clone());
            move || {
                let mut peaks = vec![0u64; phases.max(1)];
                while !stop.load(Ordering::Relaxed) {
                    let at = (phase.load(Ordering::Relaxed) as usize).min(peaks.len() - 1);
                    peaks[at] = peaks[at].max(resident_kib());
                    std::thread::sleep(Duration::from_millis(20));
                }
                peaks
            }
        });
        Self {
            phase,
            stop,
            thread,
        }
    }

    /// From now on samples count toward phase `n`.
    pub fn phase(&self, n: usize) {
        self.phase.store(n as u64, Ordering::Relaxed);
    }

    /// Stops sampling: the peak of each phase, in KiB.
    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler does not panic")
    }
}
