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

/// One hour-of-week cell of the baseline, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub cell: i16,
    pub sum: f64,
    pub minutes: f64,
}

/// The cells of `after` that differ from `before`: what a write must store.
pub fn changed_cells(before: &SeriesState, after: &SeriesState) -> Vec<Cell> {
    (0..HOURS_PER_WEEK)
        .filter(|&h| {
            before.cell_sum.get(h) != after.cell_sum.get(h)
                || before.cell_minutes.get(h) != after.cell_minutes.get(h)
        })
        .map(|h| Cell {
            cell: h as i16,
            sum: after.cell_sum[h],
            minutes: after.cell_minutes[h],
        })
        .collect()
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

/// A state from its scalars and its stored cells (those never stored are zero).
pub fn decode(state: &[u8], cells: &[Cell]) -> Result<SeriesState, DecodeError> {
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
    let mut cell_sum = vec![0.0; HOURS_PER_WEEK];
    let mut cell_minutes = vec![0.0; HOURS_PER_WEEK];
    for c in cells {
        let h = usize::try_from(c.cell)
            .ok()
            .filter(|h| *h < HOURS_PER_WEEK)
            .ok_or(DecodeError("a cell outside the week"))?;
        cell_sum[h] = c.sum;
        cell_minutes[h] = c.minutes;
    }
    Ok(SeriesState {
        open,
        open_exceeded,
        previous_count,
        exceeded,
        cell_sum,
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
    fn a_state_survives_its_columns_and_cells() {
        let settings = Settings::default();
        let fresh = SeriesState::default();
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
        let cells = changed_cells(&fresh, &state);
        assert!(!cells.is_empty() && cells.len() < HOURS_PER_WEEK);
        let back = decode(&encode_state(&state), &cells).expect("decodes");
        assert_eq!(back, state);
        assert_eq!(decode(&encode_state(&fresh), &[]).expect("decodes"), fresh);
        assert!(decode(&[9], &[]).is_err());
        assert!(decode(&encode_state(&state)[..10], &[]).is_err());
        let outside = Cell {
            cell: 168,
            sum: 1.0,
            minutes: 1.0,
        };
        assert!(decode(&encode_state(&fresh), &[outside]).is_err());
    }

    #[test]
    fn a_closing_minute_changes_one_cell() {
        let settings = Settings::default();
        let mut state = SeriesState::default();
        for minute in 0..90 {
            observe(&mut state, &settings, 28_000_000 + minute, 2, 0);
        }
        let before = state.clone();
        observe(&mut state, &settings, 28_000_090, 3, 0);
        assert_eq!(changed_cells(&before, &state).len(), 1);
    }
}
