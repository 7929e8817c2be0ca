//! Insight's part of the demo: eight weeks of history for the tenant (a
//! delivery problem customers keep raising, fixed four weeks ago, and a
//! steady billing question beside it), then what insight learned: the
//! drivers, the improvement item and its measured impact with the customers
//! told, today's service metrics, the Goodwill Index, the fairness report
//! and the lessons digest for the phone and e-mail teams.

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{
    CreateImprovementRequest, Day, DayRange, GetFairnessReportRequest, GetGoodwillIndexRequest,
    GetImpactRequest, GetLessonsRequest, GetServiceMetricsRequest, ImprovementStatus,
    ListDriversRequest, UpdateImprovementRequest,
};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{IngestMentionsRequest, MentionInput};

use super::{Authed, clip, until};

/// Weeks of history before today, and the week the fix went live.
const WEEKS: i64 = 8;
const FIXED_WEEKS_AGO: i64 = 4;

/// (ways customers put it, mentions a week before the fix, after it). Each
/// mention carries its own reference, so none is an exact duplicate.
const HISTORY: &[(&[&str], usize, usize)] = &[
    (
        &[
            "My replacement card still has not arrived, the courier lost it again. Useless. Ref",
            "Where is my new card? The courier says delivered but nothing arrived. Order",
            "Third week waiting for my card delivery, the courier never shows up. Case",
        ],
        9,
        2,
    ),
    (
        &[
            "Why is there a fee on my statement this month? I was charged twice. Ref",
            "I was charged a fee twice on my statement, please explain. Order",
        ],
        5,
        5,
    ),
];

fn day(d: NaiveDate) -> Day {
    Day {
        year: d.year(),
        month: d.month(),
        day: d.day(),
    }
}

fn range(from: NaiveDate, to: NaiveDate) -> Option<DayRange> {
    Some(DayRange {
        from: Some(day(from)),
        to: Some(day(to)),
    })
}

/// Eight weeks of complaints, a few customers writing twice within a week.
fn history(run: &str) -> Vec<MentionInput> {
    let now = Utc::now();
    let mut out = Vec::new();
    for week in 0..WEEKS {
        let after_fix = week >= WEEKS - FIXED_WEEKS_AGO;
        for (t, (texts, before, after)) in HISTORY.iter().enumerate() {
            let n = if after_fix { *after } else { *before };
            for i in 0..n {
                let posted = now - Days::weeks(WEEKS - week) + Days::hours((i * 13) as i64);
                // Every third customer of a week writes again two days later.
                let author = if i % 3 == 2 {
                    format!("history-{t}-{week}-{}", i - 1)
                } else {
                    format!("history-{t}-{week}-{i}")
                };
                out.push(MentionInput {
                    source: "x".into(),
                    external_id: format!("history-{run}-{week}-{t}-{i}"),
                    channel: Channel::X as i32,
                    public: true,
                    author: Some(Author {
                        external_id: format!("x-{author}"),
                        handle: author.clone(),
                        display_name: author,
                        followers: 120,
                        verified: false,
                    }),
                    text: format!("{} {}{week:02}{i:02}", texts[i % texts.len()], 4_800 + t),
                    language: "en".into(),
                    thread_key: format!("history-{run}-{week}-{t}-{i}"),
                    posted_at: Some(std::time::SystemTime::from(posted).into()),
                    share: false,
                });
            }
        }
    }
    out
}

fn intent_word(intent: i32) -> String {
    earshot_proto::common::v1::Intent::try_from(intent)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("INTENT_")
        .to_lowercase()
}

pub async fn show(
    listening: &mut ListeningServiceClient<Authed>,
    insight: &mut InsightServiceClient<Authed>,
    run_id: &str,
) -> anyhow::Result<()> {
    let today = Utc::now().date_naive();
    let history = history(run_id);
    let fed = history.len() as u64;
    listening
        .ingest_mentions(IngestMentionsRequest { mentions: history })
        .await?;
    let weeks = range(today - Days::weeks(WEEKS), today);
    let drivers = until(
        "insight's drivers of the history",
        || {
            let mut c = insight.clone();
            async move {
                Ok(c.list_drivers(ListDriversRequest {
                    range: weeks,
                    limit: 5,
                    ..Default::default()
                })
                .await?
                .into_inner())
            }
        },
        |d| d.total_contacts >= fed,
    )
    .await?;
    println!(
        "insight     contact drivers over {WEEKS} weeks ({} contacts):",
        drivers.total_contacts
    );
    for d in drivers.drivers.iter().take(3) {
        let k = d.key.clone().unwrap_or_default();
        println!(
            "  {:<10} {:<11} {:>4} contacts, {:>3.0}% of all, {:>3.0}% came back within 7 days",
            k.topic,
            intent_word(k.intent),
            d.contacts,
            d.share * 100.0,
            d.recurrence_rate * 100.0
        );
    }
    let Some(top) = drivers.drivers.first().and_then(|d| d.key.clone()) else {
        anyhow::bail!("insight found no driver in the history");
    };
    let mut item = insight
        .create_improvement(CreateImprovementRequest {
            title: "Replacement cards go by tracked courier".into(),
            owner: "Ana Ruiz".into(),
            team: "Logistics".into(),
            drivers: vec![earshot_proto::insight::v1::DriverKey {
                rule_id: String::new(),
                ..top.clone()
            }],
            request_id: format!("demo-{run_id}-courier"),
            ..Default::default()
        })
        .await?
        .into_inner();
    for (status, fixed_on) in [
        (ImprovementStatus::InProgress, None),
        (
            ImprovementStatus::Fixed,
            Some(day(today - Days::weeks(FIXED_WEEKS_AGO))),
        ),
    ] {
        item = insight
            .update_improvement(UpdateImprovementRequest {
                improvement_id: item.improvement_id.clone(),
                version: item.version,
                status: status as i32,
                fixed_on,
                ..Default::default()
            })
            .await?
            .into_inner();
    }
    let impact = insight
        .get_impact(GetImpactRequest {
            improvement_id: item.improvement_id.clone(),
            weeks: FIXED_WEEKS_AGO as u32,
            control: None,
        })
        .await?
        .into_inner();
    println!(
        "            improvement \"{}\" ({}, {}) FIXED: {} customers told it is fixed (FixAnnounced)",
        item.title, item.owner, item.team, item.customers_told
    );
    println!(
        "            impact: {} → {} contacts, {:+.0}% against {} (95% CI {:+.0}% … {:+.0}%){}",
        impact.contacts_before,
        impact.contacts_after,
        impact.relative_change * 100.0,
        impact.control.as_ref().map_or_else(
            || "all contacts".to_owned(),
            |c| format!("{} as control", c.topic)
        ),
        impact.relative_change_low * 100.0,
        impact.relative_change_high * 100.0,
        if impact.significant {
            ""
        } else {
            ", not significant"
        }
    );
    println!("            backstory: {}", clip(&impact.backstory, 220));

    let metrics = insight
        .get_service_metrics(GetServiceMetricsRequest {
            range: range(today, today),
            group_by: 0,
        })
        .await?
        .into_inner();
    if let Some(all) = metrics.groups.first() {
        let fr = all.first_response.unwrap_or_default();
        println!(
            "            today: {} cases opened, {} answered (first response p50 {:.0} s), backlog {}",
            all.opened,
            fr.count,
            fr.p50_secs,
            metrics.backlog.last().map_or(0, |p| p.open)
        );
    }
    let goodwill = insight
        .get_goodwill_index(GetGoodwillIndexRequest { range: weeks })
        .await?
        .into_inner();
    let parts: Vec<String> = goodwill
        .components
        .iter()
        .map(|c| format!("{} {:.2} (n={})", c.name, c.shrunk, c.sample))
        .collect();
    println!(
        "            Goodwill Index {:.1} (95% CI {:.1}–{:.1}): {}",
        goodwill.index,
        goodwill.low,
        goodwill.high,
        parts.join(", ")
    );
    let fairness = insight
        .get_fairness_report(GetFairnessReportRequest {
            range: weeks,
            high_followers: 0,
        })
        .await?
        .into_inner();
    println!(
        "            fairness, social vs traditional within driver × priority: {}",
        if fairness.flags.is_empty() {
            "no better deal for public complainers".to_owned()
        } else {
            fairness.flags.join("; ")
        }
    );
    let lessons = insight
        .get_lessons(GetLessonsRequest { range: None })
        .await?
        .into_inner();
    println!("            lessons digest for {}:", lessons.audience);
    for line in lessons
        .text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .take(8)
    {
        println!("              {line}");
    }
    Ok(())
}
