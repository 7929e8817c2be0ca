//! Throughput of `observe`: one core, many series, one call per series-minute.
//!
//! Each series gets its own rate (0.1–20 a minute, three times that on weekday office
//! hours, Poisson noise) and two untimed weeks of warm-up, so the timed week runs
//! against learned baselines the way a live series does. No bursts are injected, so
//! the alerts printed are false alarms on pure Poisson noise.
//!
//! `cargo bench -p earshot-spikes --bench detector`

use std::hint::black_box;
use std::time::{Duration, Instant};

use earshot_spikes::{MINUTES_PER_WEEK, SeriesState, Settings, hour_of_week, observe};

const SERIES: u64 = 1_000;
/// Monday 2023-09-04 00:00 UTC, in unix minutes.
const MONDAY: i64 = 28_229_760;
const WARM_UP_WEEKS: i64 = 2;

fn main() {
    let settings = Settings::default();
    let timed_from = MONDAY + WARM_UP_WEEKS * MINUTES_PER_WEEK;
    let timed_to = timed_from + MINUTES_PER_WEEK;
    let mut elapsed = Duration::ZERO;
    let mut alerts = 0u64;
    let mut counts = Vec::with_capacity(MINUTES_PER_WEEK as usize);

    for series in 0..SERIES {
        let mut rng = Rng(series.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
        let base = 0.1 * 200f64.powf(rng.uniform());
        let rate = |minute: i64| {
            let hour = hour_of_week(minute);
            let office = hour / 24 < 5 && (9..17).contains(&(hour % 24));
            if office { 3.0 * base } else { base }
        };

        let mut state = SeriesState::default();
        for minute in MONDAY..timed_from {
            let count = rng.poisson(rate(minute));
            observe(&mut state, &settings, minute, count, count / 4);
        }

        counts.clear();
        counts.extend((timed_from..timed_to).map(|minute| rng.poisson(rate(minute))));
        let started = Instant::now();
        for (minute, &count) in (timed_from..).zip(&counts) {
            if black_box(observe(&mut state, &settings, minute, count, count / 4)).is_some() {
                alerts += 1;
            }
        }
        elapsed += started.elapsed();
        black_box(&state);
    }

    let buckets = SERIES * MINUTES_PER_WEEK as u64;
    let per_second = buckets as f64 / elapsed.as_secs_f64();
    println!(
        "spike detector: {} buckets/s on one core ({SERIES} series × {MINUTES_PER_WEEK} minutes, {alerts} alerts)",
        thousands(per_second.round() as u64)
    );
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// SplitMix64, so every run times the same minutes.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Knuth's product method; rates here stay below 60, where e^-rate is a normal f64.
    fn poisson(&mut self, rate: f64) -> u32 {
        let limit = (-rate).exp();
        let mut count = 0;
        let mut product = self.uniform();
        while product > limit {
            count += 1;
            product *= self.uniform();
        }
        count
    }
}
