//! A series' detector state as the two columns that hold it: the scalars
//! (rewritten each batch) and the hour-of-week baseline (rewritten only when
//! a minute closes), both fixed little-endian layouts led by a format byte.

use earshot_spikes::{Bucket, HOURS_PER_WEEK, SeriesState};

const FORMAT: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a stored spike state does not decode: {0}")]
pub struct DecodeError(&'static str);

pub fn encode_state(s: &SeriesState) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(FORMAT);
    match s.open {
        Some(b) => {
            out.push(1);
            out.extend_from_slice(&b.minute.to_le_bytes());
            out.extend_from_slice(&b.count.to_le_bytes());
            out.extend_from_slice(&b.negative.to_le_bytes());
        }
        None => out.push(0),
    }
    out.push(u8::from(s.open_exceeded));
    out.extend_from_slice(&s.previous_count.to_le_bytes());
    out.extend_from_slice(&s.exceeded.to_le_bytes());
    out.extend_from_slice(&s.total_sum.to_le_bytes());
    out.extend_from_slice(&s.total_minutes.to_le_bytes());
    out.extend_from_slice(&s.week.to_le_bytes());
    out.extend_from_slice(&s.counted_from.to_le_bytes());
    out.extend_from_slice(&s.cusum.to_le_bytes());
    match s.last_alert_minute {
        Some(m) => {
            out.push(1);
            out.extend_from_slice(&m.to_le_bytes());
        }
        None => out.push(0),
    }
    out
}

pub fn encode_baseline(s: &SeriesState) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 16 * HOURS_PER_WEEK);
    out.push(FORMAT);
    for v in s.cell_sum.iter().chain(&s.cell_minutes) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        if self.0.len() < N {
            return Err(DecodeError("too short"));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("split at N"))
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.take()?))
    }
}

pub fn decode(state: &[u8], baseline: &[u8]) -> Result<SeriesState, DecodeError> {
    let mut r = Reader(state);
    if r.u8()? != FORMAT {
        return Err(DecodeError("unknown state format"));
    }
    let open = match r.u8()? {
        0 => None,
        _ => Some(Bucket {
            minute: r.i64()?,
            count: r.u32()?,
            negative: r.u32()?,
        }),
    };
    let open_exceeded = r.u8()? != 0;
    let previous_count = r.u32()?;
    let exceeded = r.u64()?;
    let total_sum = r.f64()?;
    let total_minutes = r.f64()?;
    let week = r.i64()?;
    let counted_from = r.i64()?;
    let cusum = r.f64()?;
    let last_alert_minute = match r.u8()? {
        0 => None,
        _ => Some(r.i64()?),
    };
    let mut b = Reader(baseline);
    if b.u8()? != FORMAT {
        return Err(DecodeError("unknown baseline format"));
    }
    let mut cells = Vec::with_capacity(2 * HOURS_PER_WEEK);
    for _ in 0..2 * HOURS_PER_WEEK {
        cells.push(b.f64()?);
    }
    let cell_minutes = cells.split_off(HOURS_PER_WEEK);
    Ok(SeriesState {
        open,
        open_exceeded,
        previous_count,
        exceeded,
        cell_sum: cells,
        cell_minutes,
        total_sum,
        total_minutes,
        week,
        counted_from,
        cusum,
        last_alert_minute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_spikes::{Settings, observe};

    #[test]
    fn a_state_survives_its_columns() {
        let settings = Settings::default();
        let mut state = SeriesState::default();
        for minute in 0..500 {
            observe(
                &mut state,
                &settings,
                28_000_000 + minute,
                (minute % 7) as u32,
                1,
            );
        }
        let back = decode(&encode_state(&state), &encode_baseline(&state)).expect("decodes");
        assert_eq!(back, state);
        let fresh = SeriesState::default();
        assert_eq!(
            decode(&encode_state(&fresh), &encode_baseline(&fresh)).expect("decodes"),
            fresh
        );
        assert!(decode(&[9], &encode_baseline(&fresh)).is_err());
        assert!(decode(&encode_state(&state)[..10], &encode_baseline(&fresh)).is_err());
    }
}
