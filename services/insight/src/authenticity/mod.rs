//! Authenticity: how much of what a team or an agent sent the reply guard
//! flagged, by kind of finding, and which replies went out word for word
//! most often. Customers notice canned answers before any report does; this
//! shows who sends them and which ones.

pub mod store;

use earshot_proto::events::v1::authenticity_finding::Kind;
use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::metrics::ratio;
use crate::range::Days;

/// What the rows of a report are per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Every reply in one row keyed "".
    All,
    /// The queue the case sat in when the reply went out.
    Team,
    Agent,
}

/// The kinds a row counts, in the order it shows them. A kind the guard
/// learns later counts as flagged but gets no column until it is added here.
pub const KINDS: [Kind; 5] = [
    Kind::NearDuplicate,
    Kind::Hedging,
    Kind::Boilerplate,
    Kind::ReflexDm,
    Kind::Custom,
];

/// Reused replies listed at most.
pub const MOST_REUSED: i64 = 10;

/// A kind's word as reports show it ("NEAR_DUPLICATE").
pub fn kind_word(kind: Kind) -> &'static str {
    kind.as_str_name().trim_start_matches("KIND_")
}

/// One row's counts as the store sums them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCounts {
    pub key: String,
    pub replies: i64,
    pub flagged: i64,
    /// Replies with each kind of [`KINDS`], in its order.
    pub kinds: Vec<i64>,
}

/// Replies sent with the same words, as the store finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reused {
    pub excerpt: String,
    pub uses: i64,
    pub agents: i64,
    pub last_reply_id: Uuid,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub fn row(c: &GroupCounts) -> pb::AuthenticityRow {
    let whole = c.replies as f64;
    pb::AuthenticityRow {
        key: c.key.clone(),
        replies: count(c.replies),
        flagged: count(c.flagged),
        flagged_share: ratio(c.flagged as f64, whole),
        kinds: KINDS
            .iter()
            .zip(c.kinds.iter().chain(std::iter::repeat(&0)))
            .map(|(kind, n)| pb::FindingShare {
                kind: kind_word(*kind).to_owned(),
                replies: count(*n),
                share: ratio(*n as f64, whole),
            })
            .collect(),
    }
}

pub fn reused(r: &Reused) -> pb::ReusedReply {
    pb::ReusedReply {
        excerpt: r.excerpt.clone(),
        uses: count(r.uses),
        agents: count(r.agents),
        last_reply_id: r.last_reply_id.to_string(),
    }
}

/// The authenticity of the replies sent in `days`, most replies first.
pub async fn report(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    by: Grouping,
) -> Result<pb::AuthenticityReport, sqlx::Error> {
    let mut groups = store::groups(pool, tenant_id, days, by).await?;
    groups.sort_by(|a, b| b.replies.cmp(&a.replies).then_with(|| a.key.cmp(&b.key)));
    let most_reused = store::most_reused(pool, tenant_id, days, MOST_REUSED).await?;
    Ok(pb::AuthenticityReport {
        rows: groups.iter().map(row).collect(),
        most_reused: most_reused.iter().map(reused).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_shown_by_their_enum_words_in_enum_order() {
        let words: Vec<&str> = KINDS.iter().map(|k| kind_word(*k)).collect();
        assert_eq!(
            words,
            [
                "NEAR_DUPLICATE",
                "HEDGING",
                "BOILERPLATE",
                "REFLEX_DM",
                "CUSTOM"
            ]
        );
        // Every kind the guard reports has a column.
        let numbers: Vec<i32> = KINDS.iter().map(|k| *k as i32).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_row_shares_each_kind_of_its_replies() {
        let r = row(&GroupCounts {
            key: "social".into(),
            replies: 4,
            flagged: 3,
            kinds: vec![1, 0, 2, 0, 0],
        });
        assert_eq!((r.replies, r.flagged, r.flagged_share), (4, 3, 0.75));
        assert_eq!(r.kinds.len(), KINDS.len());
        assert_eq!(
            (
                r.kinds[2].kind.as_str(),
                r.kinds[2].replies,
                r.kinds[2].share
            ),
            ("BOILERPLATE", 2, 0.5)
        );
        let empty = row(&GroupCounts {
            key: String::new(),
            replies: 0,
            flagged: 0,
            kinds: Vec::new(),
        });
        assert_eq!(empty.flagged_share, 0.0);
        assert!(empty.kinds.iter().all(|k| k.replies == 0 && k.share == 0.0));
    }
}
