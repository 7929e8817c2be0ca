//! Export and the lessons digest: reports and drill-downs stream as CSV and
//! NDJSON whole, across pages, for the caller's tenant only; the digest says
//! what rose, what was fixed, which articles were first cited and which
//! replies customers rated best; bad input names the field.

mod common;

use chrono::Duration;
use common::{CaseSpec, Harness, MentionSpec, at, day, days, reply};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::insight::v1::export_request::Report;
use earshot_proto::insight::v1::{
    CaseFilter, ExportFormat, ExportRequest, GetLessonsRequest, GetServiceMetricsRequest,
    ListDriversRequest,
};
use tonic::Code;

async fn export(client: &mut common::Client, req: ExportRequest) -> (String, u64) {
    let mut stream = client.export(req).await.expect("export").into_inner();
    let (mut text, mut rows) = (Vec::new(), 0);
    while let Some(chunk) = stream.message().await.expect("a chunk") {
        text.extend(chunk.data);
        rows += chunk.rows;
    }
    (String::from_utf8(text).expect("utf-8"), rows)
}

#[tokio::test]
async fn reports_and_drill_downs_export_whole_as_csv_and_ndjson() {
    let h = Harness::start().await;
    let opened = at("2026-03-02T08:00:00Z");
    // More cases than one page of the drill-down export.
    let cases: Vec<CaseSpec> = (0..1_234)
        .map(|i| {
            let channel = if i % 2 == 0 {
                Channel::X
            } else {
                Channel::Email
            };
            CaseSpec::new(channel, "delivery", opened + Duration::seconds(i * 60))
        })
        .collect();
    for chunk in cases.chunks(500) {
        h.deliver(chunk.iter().map(|c| c.event("acme")).collect())
            .await;
    }
    h.deliver(vec![
        CaseSpec::new(Channel::X, "delivery", opened).event("globex"),
    ])
    .await;
    let mut client = h.client("acme");
    let range = days(day(2026, 3, 1), day(2026, 3, 31));

    let (csv, rows) = export(
        &mut client,
        ExportRequest {
            format: ExportFormat::Csv as i32,
            report: Some(Report::ServiceMetrics(GetServiceMetricsRequest {
                range,
                group_by: earshot_proto::insight::v1::Dimension::Channel as i32,
            })),
        },
    )
    .await;
    assert_eq!(rows, 2);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("key,opened,resolved,first_response.count"),
        "{}",
        lines[0]
    );
    // Equal volumes in key order.
    assert!(
        lines[1].starts_with("EMAIL,617,0,") && lines[2].starts_with("X,617,0,"),
        "{csv}"
    );

    let (ndjson, rows) = export(
        &mut client,
        ExportRequest {
            format: ExportFormat::Ndjson as i32,
            report: Some(Report::Cases(CaseFilter {
                range,
                ..Default::default()
            })),
        },
    )
    .await;
    assert_eq!(rows, 1_234);
    let ids: std::collections::HashSet<String> = ndjson
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("json");
            row["case_id"].as_str().expect("an id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1_234, "every case once, none of globex's");
    assert!(cases.iter().all(|c| ids.contains(&c.id.to_string())));

    // An empty report still says its columns.
    let (csv, rows) = export(
        &mut client,
        ExportRequest {
            format: ExportFormat::Csv as i32,
            report: Some(Report::Drivers(ListDriversRequest {
                range,
                ..Default::default()
            })),
        },
    )
    .await;
    assert_eq!(rows, 0);
    assert!(
        csv.starts_with("key.topic,key.intent,key.rule_id,contacts"),
        "{csv}"
    );
}

#[tokio::test]
async fn bad_exports_are_refused_naming_the_field() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let range = days(day(2026, 3, 1), day(2026, 3, 31));
    let refused = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
    };
    let metrics = Report::ServiceMetrics(GetServiceMetricsRequest { range, group_by: 0 });
    for (req, field) in [
        (
            ExportRequest {
                format: 0,
                report: Some(metrics.clone()),
            },
            "format",
        ),
        (
            ExportRequest {
                format: ExportFormat::Csv as i32,
                report: None,
            },
            "report",
        ),
        (
            ExportRequest {
                format: ExportFormat::Csv as i32,
                report: Some(Report::Drivers(ListDriversRequest {
                    range,
                    order: 0,
                    limit: 5_000,
                })),
            },
            "drivers.limit",
        ),
        (
            ExportRequest {
                format: ExportFormat::Ndjson as i32,
                report: Some(Report::Cases(CaseFilter::default())),
            },
            "cases.range",
        ),
    ] {
        refused(client.export(req).await.expect_err("refused"), field);
    }
}

#[tokio::test]
async fn the_lessons_digest_tells_the_traditional_teams_what_social_learned() {
    let h = Harness::start().await;
    let tenant = "acme";
    // Delivery rose this week; billing fell.
    let mut events = Vec::new();
    for i in 0..2 {
        events.push(
            MentionSpec::new(
                &format!("old{i}"),
                "delivery",
                Intent::Complaint,
                at("2026-03-03T10:00:00Z"),
            )
            .event(tenant),
        );
    }
    for i in 0..8 {
        events.push(
            MentionSpec::new(
                &format!("old-b{i}"),
                "billing",
                Intent::Question,
                at("2026-03-04T10:00:00Z"),
            )
            .event(tenant),
        );
        events.push(
            MentionSpec::new(
                &format!("new{i}"),
                "delivery",
                Intent::Complaint,
                at("2026-03-10T10:00:00Z"),
            )
            .event(tenant),
        );
    }
    // Rated cases answered with the same words three times, citing an
    // article version first used this week.
    for i in 0..3 {
        let case = CaseSpec::new(
            Channel::Email,
            "delivery",
            at("2026-03-10T09:00:00Z") + Duration::hours(i),
        )
        .replied(600, "ana")
        .resolved(3_600)
        .then(|f| f.csat = 5);
        events.push(case.event(tenant));
        events.push(reply(
            tenant,
            &case,
            "ana",
            "Here is your tracking link, it arrives Friday",
            at("2026-03-10T12:00:00Z"),
            &[],
            ("kb-tracking", 2),
        ));
    }
    h.deliver(events).await;
    let lessons = h
        .client(tenant)
        .get_lessons(GetLessonsRequest {
            range: days(day(2026, 3, 8), day(2026, 3, 14)),
        })
        .await
        .expect("lessons")
        .into_inner();
    assert_eq!(lessons.rising_drivers.len(), 1);
    assert_eq!(
        lessons.rising_drivers[0].key.as_ref().expect("key").topic,
        "delivery"
    );
    assert_eq!(lessons.knowledge.len(), 1);
    assert_eq!(
        (
            lessons.knowledge[0].kb_article_id.as_str(),
            lessons.knowledge[0].replies
        ),
        ("kb-tracking", 3)
    );
    assert_eq!(lessons.best_replies.len(), 1);
    assert_eq!(lessons.best_replies[0].mean_csat, 5.0);
    assert!(
        lessons.text.contains("phone and e-mail teams"),
        "{}",
        lessons.text
    );
    assert!(
        lessons.text.contains("delivery (complaint): 8 contacts"),
        "{}",
        lessons.text
    );
    // A reversed range is refused; none asks for last week.
    let bad = h
        .client(tenant)
        .get_lessons(GetLessonsRequest {
            range: days(day(2026, 3, 14), day(2026, 3, 8)),
        })
        .await
        .expect_err("refused");
    assert!(bad.message().contains("range.to"), "{}", bad.message());
    let default = h
        .client(tenant)
        .get_lessons(GetLessonsRequest { range: None })
        .await
        .expect("last week")
        .into_inner();
    assert!(default.range.and_then(|r| r.to).is_some());
}
