//! Monthly range partitions of an append-only table whose key is a UUIDv7
//! id minted on arrival: the id's leading 48 bits are the arrival time, so a
//! month of rows is one range of ids, `[floor(month), floor(next month))`.
//! Partitions are named `<table>_yYYYYmMM` (the migration that partitions a
//! table creates its first ones by the same rule) beside a `<table>_default`
//! for ids outside them. The service creates them ahead of need and drops
//! whole months when nobody's retention keeps them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Months created ahead of the current one.
pub const MONTHS_AHEAD: u32 = 2;

/// A calendar month, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(at: DateTime<Utc>) -> Self {
        Self {
            year: at.year(),
            month: at.month(),
        }
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first instant.
    pub fn start(self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(DateTime::UNIX_EPOCH, |t| t.and_utc())
    }

    /// The first instant after it.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// The partition of `table` holding it.
    pub fn partition(self, table: &str) -> String {
        format!("{table}_y{:04}m{:02}", self.year, self.month)
    }

    /// Reads the month back from a partition's name.
    pub fn of_partition(table: &str, name: &str) -> Option<Self> {
        let rest = name.strip_prefix(table)?.strip_prefix("_y")?;
        let (year, month) = rest.split_once('m')?;
        let (year, month) = (year.parse().ok()?, month.parse().ok()?);
        ((1..=12).contains(&month) && year > 1969).then_some(Self { year, month })
    }
}

/// The bound below every UUIDv7 of an instant and after: its millisecond
/// prefix, the rest zero (as the migrations' `mention_id_floor` writes it).
pub fn id_floor(at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// Creates the partitions of `table` for the month of `now` and the
/// [`MONTHS_AHEAD`] after it that are missing; returns how many it made.
pub async fn create_ahead(
    conn: &mut PgConnection,
    table: &'static str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let existing = months(conn, table).await?;
    let mut month = Month::of(now);
    let mut made = 0;
    for _ in 0..=MONTHS_AHEAD {
        if !existing.contains(&month) {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS \"{}\" PARTITION OF \"{table}\" FOR VALUES FROM ('{}') TO ('{}')",
                month.partition(table),
                id_floor(month.start()),
                id_floor(month.end()),
            );
            sqlx::query(&create).execute(&mut *conn).await?;
            made += 1;
        }
        month = month.next();
    }
    Ok(made)
}

/// The months `table` has partitions for, oldest first.
pub async fn months(
    conn: &mut PgConnection,
    table: &'static str,
) -> Result<Vec<Month>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent
          WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace",
    )
    .bind(table)
    .fetch_all(conn)
    .await?;
    let mut months: Vec<Month> = names
        .iter()
        .filter_map(|n| Month::of_partition(table, n))
        .collect();
    months.sort();
    Ok(months)
}

/// Detaches and drops the partition of `table` for `month` (a partition a
/// foreign key points at cannot be dropped while attached; detaching checks
/// that no row refers to it any more).
pub async fn drop_month(
    conn: &mut PgConnection,
    table: &'static str,
    month: Month,
) -> Result<(), sqlx::Error> {
    let partition = month.partition(table);
    let detach = format!("ALTER TABLE \"{table}\" DETACH PARTITION \"{partition}\"");
    sqlx::query(&detach).execute(&mut *conn).await?;
    let drop = format!("DROP TABLE \"{partition}\"");
    sqlx::query(&drop).execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_name_their_partitions_and_read_back() {
        let december = Month {
            year: 2026,
            month: 12,
        };
        assert_eq!(december.partition("mentions"), "mentions_y2026m12");
        assert_eq!(
            Month::of_partition("mentions", "mentions_y2026m12"),
            Some(december)
        );
        assert_eq!(Month::of_partition("mentions", "mentions_default"), None);
        assert_eq!(Month::of_partition("mentions", "mentions_y2026m13"), None);
        assert_eq!(
            december.next(),
            Month {
                year: 2027,
                month: 1
            }
        );
        assert_eq!(
            december.end(),
            Month {
                year: 2027,
                month: 1
            }
            .start()
        );
    }

    #[test]
    fn a_month_is_one_range_of_v7_ids() {
        let month = Month {
            year: 2026,
            month: 12,
        };
        // As the migration's mention_id_floor computes it.
        assert_eq!(
            id_floor(month.start()).to_string(),
            "01a22ee6-b000-0000-0000-000000000000"
        );
        let inside = Uuid::now_v7();
        let now = Month::of(Utc::now());
        assert!(id_floor(now.start()) <= inside && inside < id_floor(now.end()));
    }
}
