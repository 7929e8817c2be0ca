//! One-core throughput for the benchmarks: items per second of the calling
//! thread's CPU time, so that other processes competing for the machine
//! count as little as possible.

use std::time::{Duration, Instant};

/// Time this thread has spent on a CPU, from `/proc/thread-self/schedstat`
/// (nanoseconds); `None` where that is unavailable.
pub fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `pass` (which handles `items_per_pass` items) for about `budget`, in
/// five rounds, and returns the best round's items per second of this
/// thread's CPU time, or of wall time where that is unknown.
pub fn per_second(items_per_pass: usize, budget: Duration, mut pass: impl FnMut()) -> f64 {
    const ROUNDS: u32 = 5;
    pass(); // warm up
    let mut best = 0f64;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let cpu_start = thread_cpu_time();
        let mut items = 0usize;
        while items == 0 || start.elapsed() < budget / ROUNDS {
            pass();
            items += items_per_pass;
        }
        let elapsed = match (cpu_start, thread_cpu_time()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => start.elapsed(),
        };
        best = best.max(items as f64 / elapsed.as_secs_f64());
    }
    best
}
