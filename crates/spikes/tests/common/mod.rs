//! Seeded synthetic series shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use earshot_spikes::{Bucket, hour_of_week};

/// Monday 2023-09-04 00:00 UTC, in unix minutes.
pub const MONDAY: i64 = 28_229_760;
pub const DAY: i64 = 1_440;
pub const HOUR: i64 = 60;

/// SplitMix64: tiny, seedable, good enough for Poisson noise.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Knuth's product method: fine for the rates here (e^-60 is still a normal f64).
    pub fn poisson(&mut self, rate: f64) -> u32 {
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

/// Weekdays 09:00–16:59 UTC at 10 a minute, nights and weekends at 1.
pub fn office_hours(minute: i64) -> f64 {
    let hour = hour_of_week(minute);
    if hour / 24 < 5 && (9..17).contains(&(hour % 24)) {
        10.0
    } else {
        1.0
    }
}

/// Poisson counts at `rate(minute)` for every minute of `minutes`.
pub fn series(seed: u64, minutes: std::ops::Range<i64>, rate: impl Fn(i64) -> f64) -> Vec<Bucket> {
    let mut rng = Rng(seed);
    minutes
        .map(|minute| Bucket {
            minute,
            count: rng.poisson(rate(minute)),
            negative: 0,
        })
        .collect()
}
