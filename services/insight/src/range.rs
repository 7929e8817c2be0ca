//! Ranges of UTC days, the one way every report says which days it covers.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use earshot_proto::insight::v1::{Day, DayRange};
use earshot_server::{FieldViolations, ServiceError, invalid};

/// Longest range a report covers.
pub const MAX_RANGE_DAYS: i64 = 366;

/// An inclusive, checked range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Days {
    /// Days in the range.
    pub fn len(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first instant of the range (its first day's midnight, UTC).
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_time(NaiveTime::MIN).and_utc()
    }

    /// The first instant after the range (the next day's midnight, UTC):
    /// times in the range are `>= start()` and `< end()`.
    pub fn end(&self) -> DateTime<Utc> {
        (self.to + chrono::Days::new(1))
            .and_time(NaiveTime::MIN)
            .and_utc()
    }

    /// The range of equal length just before this one.
    pub fn previous(&self) -> Days {
        let len = chrono::Duration::days(self.len());
        Days {
            from: self.from - len,
            to: self.to - len,
        }
    }

    /// Each day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(|d| *d <= self.to)
    }

    /// The range as the API carries it.
    pub fn to_proto(self) -> DayRange {
        DayRange {
            from: Some(to_day(self.from)),
            to: Some(to_day(self.to)),
        }
    }
}

/// A range as the rollups read it: whole months from the monthly tables,
/// the ragged ends (at most two spans) from the daily ones. An unused span
/// is empty (its first day after its last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grains {
    pub daily: [(NaiveDate, NaiveDate); 2],
    /// First days of the first and the last whole month.
    pub monthly: (NaiveDate, NaiveDate),
    /// The whole range, for the deltas not compacted yet (daily rows).
    pub whole: (NaiveDate, NaiveDate),
}

/// A span no row falls in.
const EMPTY: (NaiveDate, NaiveDate) = (
    match NaiveDate::from_ymd_opt(1970, 1, 2) {
        Some(d) => d,
        None => NaiveDate::MIN,
    },
    match NaiveDate::from_ymd_opt(1970, 1, 1) {
        Some(d) => d,
        None => NaiveDate::MIN,
    },
);

/// The first day of `day`'s month.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

impl Grains {
    /// The eight dates a [`rollup_source`] binds, in its order: the daily
    /// spans, the months, and the whole range for the pending rows.
    pub fn dates(&self) -> [NaiveDate; 8] {
        [
            self.daily[0].0,
            self.daily[0].1,
            self.daily[1].0,
            self.daily[1].1,
            self.monthly.0,
            self.monthly.1,
            self.whole.0,
            self.whole.1,
        ]
    }
}

impl Days {
    pub fn grains(&self) -> Grains {
        let first_whole = if self.from.day() == 1 {
            self.from
        } else {
            month_of(self.from) + chrono::Months::new(1)
        };
        let after_to = self.to + chrono::Days::new(1);
        // The day after the last whole month.
        let end_whole = month_of(after_to);
        if first_whole >= end_whole {
            return Grains {
                daily: [(self.from, self.to), EMPTY],
                monthly: EMPTY,
                whole: (self.from, self.to),
            };
        }
        let head = if self.from < first_whole {
            (self.from, first_whole - chrono::Days::new(1))
        } else {
            EMPTY
        };
        let tail = if end_whole <= self.to {
            (end_whole, self.to)
        } else {
            EMPTY
        };
        Grains {
            daily: [head, tail],
            monthly: (first_whole, end_whole - chrono::Months::new(1)),
            whole: (self.from, self.to),
        }
    }
}

/// A `FROM` item reading rollup `table` over a range's [`Grains`]: daily
/// rows at the ends, `{table}_monthly` for whole months and the deltas in
/// `{table}_pending` not compacted yet, keeping rows that match `filter`;
/// the eight dates bind as `$first` … `$first + 7`.
pub fn rollup_source(table: &str, columns: &str, filter: &str, first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    // One branch per span, each a plain range of its table's key.
    format!(
        "(SELECT {columns} FROM {table} WHERE {filter} AND day BETWEEN {} AND {}
          UNION ALL
          SELECT {columns} FROM {table} WHERE {filter} AND day BETWEEN {} AND {}
          UNION ALL
          SELECT {columns} FROM {table}_monthly WHERE {filter} AND day BETWEEN {} AND {}
          UNION ALL
          SELECT {columns} FROM {table}_pending WHERE {filter} AND day BETWEEN {} AND {}) AS r",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7)
    )
}

fn to_date(day: Option<&Day>, field: &str, v: &mut FieldViolations) -> Option<NaiveDate> {
    let Some(day) = day else {
        v.add(field, "is required");
        return None;
    };
    // The server's one range for request times: a year PostgreSQL cannot
    // store (-5000) is the caller's mistake, not an INTERNAL.
    v.day(day.year, day.month, day.day, field)
}

/// A day as the API carries it.
pub fn to_day(date: NaiveDate) -> Day {
    Day {
        year: date.year(),
        month: date.month(),
        day: date.day(),
    }
}

/// One optional day of a request (a due date), checked.
pub fn optional_day(day: Option<&Day>, field: &str) -> Result<Option<NaiveDate>, ServiceError> {
    let Some(day) = day else { return Ok(None) };
    let mut v = FieldViolations::new();
    let date = to_date(Some(day), field, &mut v);
    v.into_result()?;
    Ok(date)
}

/// Checks the two ends of a range named `field` (`range.from`, `range.to`).
pub fn check(from: Option<&Day>, to: Option<&Day>, field: &str) -> Result<Days, ServiceError> {
    let mut v = FieldViolations::new();
    let (from_field, to_field) = if field.is_empty() {
        ("from".to_owned(), "to".to_owned())
    } else {
        (format!("{field}.from"), format!("{field}.to"))
    };
    let from = to_date(from, &from_field, &mut v);
    let to = to_date(to, &to_field, &mut v);
    v.into_result()?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(invalid(from_field, "is required"));
    };
    if to < from {
        return Err(invalid(to_field, "must not be before from"));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(invalid(to_field, "must be less than 366 days after from"));
    }
    Ok(Days { from, to })
}

/// Checks a request's `range` (required).
pub fn required(range: Option<&DayRange>, field: &str) -> Result<Days, ServiceError> {
    match range {
        Some(r) => check(r.from.as_ref(), r.to.as_ref(), field),
        None => Err(invalid(field, "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Option<Day> {
        Some(Day {
            year: y,
            month: m,
            day: d,
        })
    }

    #[test]
    fn a_range_reads_whole_months_monthly_and_its_ends_daily() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).expect("day");
        let year = Days {
            from: d(2026, 1, 15),
            to: d(2026, 12, 10),
        };
        let g = year.grains();
        assert_eq!(g.daily[0], (d(2026, 1, 15), d(2026, 1, 31)));
        assert_eq!(g.daily[1], (d(2026, 12, 1), d(2026, 12, 10)));
        assert_eq!(g.monthly, (d(2026, 2, 1), d(2026, 11, 1)));
        let whole = Days {
            from: d(2026, 2, 1),
            to: d(2026, 2, 28),
        }
        .grains();
        assert_eq!(whole.monthly, (d(2026, 2, 1), d(2026, 2, 1)));
        assert!(whole.daily.iter().all(|(a, b)| a > b), "{whole:?}");
        let inside = Days {
            from: d(2026, 3, 3),
            to: d(2026, 3, 20),
        }
        .grains();
        assert_eq!(inside.daily[0], (d(2026, 3, 3), d(2026, 3, 20)));
        assert!(inside.monthly.0 > inside.monthly.1);
        let across = Days {
            from: d(2026, 3, 30),
            to: d(2026, 4, 2),
        }
        .grains();
        assert_eq!(across.daily[0], (d(2026, 3, 30), d(2026, 4, 2)));
    }

    #[test]
    fn ranges_must_be_real_ordered_and_bounded() {
        let ok = check(day(2026, 1, 1).as_ref(), day(2026, 1, 31).as_ref(), "range").expect("ok");
        assert_eq!(ok.len(), 31);
        assert_eq!(
            ok.previous().to,
            NaiveDate::from_ymd_opt(2025, 12, 31).expect("day")
        );
        let err = check(None, day(2026, 2, 30).as_ref(), "range")
            .expect_err("bad")
            .to_string();
        assert!(
            err.contains("range.from: is required")
                && err.contains("range.to: must be a calendar day"),
            "{err}"
        );
        let err = check(day(2026, 2, 1).as_ref(), day(2026, 1, 1).as_ref(), "range")
            .expect_err("reversed")
            .to_string();
        assert!(err.contains("range.to"), "{err}");
        assert!(check(day(2024, 1, 1).as_ref(), day(2025, 1, 1).as_ref(), "range").is_err());
        let err = required(None, "filter.range")
            .expect_err("missing")
            .to_string();
        assert!(err.contains("filter.range: is required"), "{err}");
    }
}
