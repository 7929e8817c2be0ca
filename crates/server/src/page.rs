//! Keyset pagination, the one way every list RPC pages: a request's
//! `page_size` and `page_token` are checked into a [`Page`] before any other
//! work, the store reads `limit` rows after `after` in its index order, and
//! the answer's `next_page_token` comes from the last row of a full page.

use crate::convert::{Cursor, next_page_token, page_size};
use crate::error::ServiceError;

/// A row a list can continue after: its sort key and id.
pub trait Keyed {
    fn cursor(&self) -> Cursor;
}

/// A checked page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Rows to read (the requested size, or the default).
    pub limit: i64,
    /// The last row of the previous page; `None` on the first page.
    pub after: Option<Cursor>,
}

impl Page {
    /// Checks `page_size` and `page_token` as a list request carries them.
    pub fn parse(page_size_requested: u32, page_token: &str) -> Result<Self, ServiceError> {
        Ok(Self {
            limit: page_size(page_size_requested)?,
            after: Cursor::decode(page_token)?,
        })
    }

    /// Where this page starts as the two binds a keyset query takes: the
    /// last row's sort key and id, both `None` on the first page.
    pub fn after_key(&self) -> (Option<chrono::DateTime<chrono::Utc>>, Option<uuid::Uuid>) {
        self.after
            .as_ref()
            .map_or((None, None), |c| (Some(c.at), Some(c.id)))
    }

    /// The token of the page after `rows`, or empty when `rows` did not fill
    /// this page (there is nothing after it).
    pub fn next_token<T: Keyed>(&self, rows: &[T]) -> String {
        next_page_token(rows, self.limit, T::cursor)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;

    struct Row(Cursor);

    impl Keyed for Row {
        fn cursor(&self) -> Cursor {
            self.0.clone()
        }
    }

    #[test]
    fn a_full_page_continues_after_its_last_row_and_a_short_one_ends() {
        let page = Page::parse(2, "").expect("first page");
        assert_eq!(page.after, None);
        let rows: Vec<Row> = (0..2)
            .map(|i| {
                Row(Cursor {
                    at: DateTime::from_timestamp(1_700_000_000 + i, 0).expect("valid"),
                    id: Uuid::now_v7(),
                })
            })
            .collect();
        let token = page.next_token(&rows);
        let next = Page::parse(2, &token).expect("our token");
        assert_eq!(next.after, Some(rows[1].cursor()));
        assert_eq!(next.next_token(&rows[..1]), "");
        assert!(Page::parse(501, "").is_err());
        assert!(Page::parse(10, "garbage").is_err());
    }
}
