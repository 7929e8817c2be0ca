//! Lessons for the traditional teams: a digest, weekly by default, of what
//! social learned — the drivers rising, the fixes that went live and what
//! they changed, knowledge articles first cited, and the reply patterns
//! customers rated best — written for the phone and e-mail teams, who meet
//! the same customers a day later.

pub mod store;

use chrono::{Days as ChronoDays, NaiveDate};
use earshot_proto::insight::v1 as pb;
use earshot_server::ServiceError;
use sqlx::PgPool;

use crate::facts::intent_word;
use crate::improvements::{self, impact::Weeks};
use crate::range::Days;

/// Who the digest is for.
pub const AUDIENCE: &str = "the phone and e-mail teams";
/// Rising drivers and best reply patterns listed at most.
const RISING: u32 = 5;
const BEST_REPLIES: i64 = 5;
/// A reply pattern needs this many rated uses to count.
const MIN_RATED_USES: i64 = 3;

/// The 7 days up to yesterday.
pub fn last_week(today: NaiveDate) -> Days {
    let to = today - ChronoDays::new(1);
    Days {
        from: to - ChronoDays::new(6),
        to,
    }
}

fn driver_name(k: Option<&pb::DriverKey>) -> String {
    k.map_or_else(String::new, |k| {
        format!(
            "{} ({})",
            k.topic,
            intent_word(i16::try_from(k.intent).unwrap_or(0)).to_lowercase()
        )
    })
}

/// The digest as text to mail.
pub fn text(l: &pb::Lessons, days: Days) -> String {
    let mut out = format!(
        "What social learned {} – {}, for {AUDIENCE}.\n",
        days.from, days.to
    );
    out.push_str("\nRising:\n");
    if l.rising_drivers.is_empty() {
        out.push_str("- nothing rose significantly\n");
    }
    for d in &l.rising_drivers {
        out.push_str(&format!(
            "- {}: {} contacts, {:.0}% of all (was {:.0}%), {:.0}% came back within 7 days\n",
            driver_name(d.key.as_ref()),
            d.contacts,
            d.share * 100.0,
            d.previous_share * 100.0,
            d.recurrence_rate * 100.0
        ));
    }
    out.push_str("\nFixed:\n");
    if l.fixes.is_empty() {
        out.push_str("- no fix went live\n");
    }
    for f in &l.fixes {
        out.push_str(&format!("- {}\n", f.backstory));
    }
    out.push_str("\nKnowledge first cited:\n");
    if l.knowledge.is_empty() {
        out.push_str("- no new article version\n");
    }
    for k in &l.knowledge {
        out.push_str(&format!(
            "- article {} v{} ({} replies)\n",
            k.kb_article_id, k.kb_article_version, k.replies
        ));
    }
    out.push_str("\nReplies customers rated best:\n");
    if l.best_replies.is_empty() {
        out.push_str("- not enough rated replies yet\n");
    }
    for r in &l.best_replies {
        out.push_str(&format!(
            "- \"{}\" (used {} times, mean CSAT {:.1})\n",
            r.excerpt, r.uses, r.mean_csat
        ));
    }
    out
}

pub async fn lessons(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<pb::Lessons, ServiceError> {
    let rising =
        crate::drivers::list(pool, tenant_id, days, pb::DriverOrder::Rising, RISING).await?;
    let mut fixes = Vec::new();
    for id in improvements::store::fixed_between(pool, tenant_id, days).await? {
        fixes.push(improvements::impact_of(pool, tenant_id, id, Weeks::DEFAULT, None).await?);
    }
    let knowledge = store::knowledge_first_cited(pool, tenant_id, days).await?;
    let best_replies =
        store::best_replies(pool, tenant_id, days, MIN_RATED_USES, BEST_REPLIES).await?;
    let mut out = pb::Lessons {
        range: Some(days.to_proto()),
        audience: AUDIENCE.to_owned(),
        rising_drivers: rising.drivers,
        fixes,
        knowledge,
        best_replies,
        text: String::new(),
    };
    out.text = text(&out, days);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_period_is_the_week_up_to_yesterday_and_the_text_says_each_part() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 16).expect("day");
        let week = last_week(today);
        assert_eq!(week.from, NaiveDate::from_ymd_opt(2026, 3, 9).expect("day"));
        assert_eq!(week.len(), 7);
        let l = pb::Lessons {
            rising_drivers: vec![pb::Driver {
                key: Some(pb::DriverKey {
                    topic: "delivery".into(),
                    intent: 2,
                    rule_id: String::new(),
                }),
                contacts: 8,
                share: 0.8,
                previous_share: 0.2,
                recurrence_rate: 0.25,
                ..Default::default()
            }],
            best_replies: vec![pb::ReplyPattern {
                excerpt: "Here is your tracking link".into(),
                uses: 4,
                mean_csat: 4.5,
            }],
            ..Default::default()
        };
        let t = text(&l, week);
        assert!(
            t.contains("delivery (complaint): 8 contacts, 80% of all (was 20%)"),
            "{t}"
        );
        assert!(
            t.contains("no fix went live") && t.contains("mean CSAT 4.5"),
            "{t}"
        );
    }
}
