//! Service metrics, drivers and drill-downs against fixtures computed by
//! hand, and bad input on each of their RPCs.

mod common;

use common::{CaseSpec, Harness, MentionSpec, at, day, days};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::insight::v1::{
    CaseFilter, Dimension, DriverOrder, GetServiceMetricsRequest, ListCasesRequest,
    ListDriversRequest, ListMentionsRequest, MentionFilter,
};
use tonic::Code;

/// Within the 4.5% a histogram bucket allows.
fn close(actual: f64, expected: f64) -> bool {
    (actual / expected - 1.0).abs() < 0.045
}

/// A: X, answered in 10 min, resolved in 2 h (one touch). B: X, answered
/// late in 1 h, resolved in a day with two replies. C: e-mail, answered in a
/// minute, resolved, reopened, resolved after 25 h. D: a phone case nobody
/// answered. E: opened the day before the range, still open.
async fn service_fixture(h: &Harness) -> Vec<CaseSpec> {
    let a = CaseSpec::new(Channel::X, "delivery", at("2026-03-02T10:00:00Z"))
        .replied(600, "ana")
        .resolved(7_200);
    let mut b =
        CaseSpec::new(Channel::X, "billing", at("2026-03-02T11:00:00Z")).replied(3_600, "bo");
    b.set_sla("FIRST_RESPONSE", "BREACHED");
    let b = b.then(|f| f.replies = 2).resolved(86_400);
    let c = CaseSpec::new(Channel::Email, "delivery", at("2026-03-03T09:00:00Z"))
        .replied(60, "ana")
        .resolved(1_800)
        .then(|f| {
            f.status = "OPEN".into();
            f.resolved_at = None;
            f.reopens = 1;
        })
        .resolved(90_000);
    let d = CaseSpec::new(Channel::Phone, "login", at("2026-03-03T12:00:00Z"));
    let e = CaseSpec::new(Channel::Chat, "login", at("2026-03-01T12:00:00Z"));
    let cases = vec![a, b, c, d, e];
    h.deliver(cases.iter().map(|c| c.event("acme")).collect())
        .await;
    cases
}

#[tokio::test]
async fn service_metrics_match_the_hand_computed_fixture() {
    let h = Harness::start().await;
    service_fixture(&h).await;
    let mut client = h.client("acme");
    let range = days(day(2026, 3, 2), day(2026, 3, 3));
    let m = client
        .get_service_metrics(GetServiceMetricsRequest { range, group_by: 0 })
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(m.groups.len(), 1);
    let all = &m.groups[0];
    assert_eq!((all.opened, all.resolved), (4, 3));
    let fr = all.first_response.as_ref().expect("first response");
    assert_eq!(fr.count, 3);
    // Sorted 60, 600, 3600: the median is 600, p90 and p99 the slowest.
    assert!(
        close(fr.p50_secs, 600.0) && close(fr.p90_secs, 3_600.0),
        "{fr:?}"
    );
    let res = all.resolution.as_ref().expect("resolution");
    assert!(
        close(res.p50_secs, 86_400.0) && close(res.p99_secs, 90_000.0),
        "{res:?}"
    );
    assert_eq!(
        all.first_response_business
            .as_ref()
            .expect("business")
            .count,
        3
    );
    let fr_sla = &all.sla[0];
    assert_eq!(
        (fr_sla.target.as_str(), fr_sla.met, fr_sla.breached),
        ("FIRST_RESPONSE", 2, 1)
    );
    assert!((fr_sla.attainment - 2.0 / 3.0).abs() < 1e-9);
    assert!((all.reopen_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(all.one_touch, 1);
    // E open before; +A +B −A on the 2nd; +C +D −B on the 3rd (C resolves on the 4th).
    let backlog: Vec<i64> = m.backlog.iter().map(|p| p.open).collect();
    assert_eq!(backlog, vec![2, 3]);

    let by_channel = client
        .get_service_metrics(GetServiceMetricsRequest {
            range,
            group_by: Dimension::Channel as i32,
        })
        .await
        .expect("by channel")
        .into_inner();
    let keys: Vec<(&str, u64)> = by_channel
        .groups
        .iter()
        .map(|g| (g.key.as_str(), g.opened))
        .collect();
    assert_eq!(keys, vec![("X", 2), ("EMAIL", 1), ("PHONE", 1)]);
    let by_agent = client
        .get_service_metrics(GetServiceMetricsRequest {
            range,
            group_by: Dimension::Agent as i32,
        })
        .await
        .expect("by agent")
        .into_inner();
    assert_eq!(by_agent.groups[0].key, "ana");
    assert_eq!(by_agent.groups[0].opened, 2);
}

#[tokio::test]
async fn drill_down_lists_the_cases_behind_a_figure_page_by_page() {
    let h = Harness::start().await;
    let cases = service_fixture(&h).await;
    let mut client = h.client("acme");
    let filter = CaseFilter {
        range: days(day(2026, 3, 2), day(2026, 3, 3)),
        dimension: Dimension::Channel as i32,
        value: "X".into(),
        ..Default::default()
    };
    let first = client
        .list_cases(ListCasesRequest {
            filter: Some(filter.clone()),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(
        first.cases[0].case_id,
        cases[1].id.to_string(),
        "newest first"
    );
    let second = client
        .list_cases(ListCasesRequest {
            filter: Some(filter.clone()),
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .expect("page 2")
        .into_inner();
    assert_eq!(second.cases[0].case_id, cases[0].id.to_string());
    let breached = client
        .list_cases(ListCasesRequest {
            filter: Some(CaseFilter {
                sla_breached: "FIRST_RESPONSE".into(),
                ..filter
            }),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .expect("breached")
        .into_inner();
    assert_eq!(breached.cases.len(), 1);
    assert_eq!(
        breached.cases[0].sla_breached,
        vec!["FIRST_RESPONSE".to_owned()]
    );
    // Another tenant sees none of them.
    let other = h
        .client("globex")
        .list_cases(ListCasesRequest {
            filter: Some(CaseFilter {
                range: days(day(2026, 3, 1), day(2026, 3, 31)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("other tenant")
        .into_inner();
    assert!(other.cases.is_empty());
}

#[tokio::test]
async fn drivers_rise_recur_and_open_to_their_mentions() {
    let h = Harness::start().await;
    let m = |author: &str, topic: &str, when: &str| {
        MentionSpec::new(author, topic, Intent::Complaint, at(when))
    };
    let mut mentions = vec![
        // The week before: delivery twice, billing eight times.
        m("hal", "delivery", "2026-03-02T10:00:00Z"),
        m("ivy", "delivery", "2026-03-03T10:00:00Z"),
    ];
    for i in 0..8 {
        mentions.push(m(&format!("payer{i}"), "billing", "2026-03-04T10:00:00Z"));
    }
    // This week: delivery eight times (amy twice in two days, ivy again
    // six days after last week's), billing twice.
    for (author, when) in [
        ("amy", "2026-03-08T10:00:00Z"),
        ("amy", "2026-03-10T10:00:00Z"),
        ("ivy", "2026-03-09T10:00:00Z"),
        ("ben", "2026-03-08T11:00:00Z"),
        ("cat", "2026-03-11T10:00:00Z"),
        ("dan", "2026-03-12T10:00:00Z"),
        ("eve", "2026-03-13T10:00:00Z"),
        ("fay", "2026-03-14T10:00:00Z"),
    ] {
        mentions.push(m(author, "delivery", when));
    }
    mentions.push(m("payer0", "billing", "2026-03-20T10:00:00Z"));
    mentions.push(m("gil", "billing", "2026-03-08T10:00:00Z"));
    mentions.push(m("hil", "billing", "2026-03-09T10:00:00Z"));
    // Out of order: the later ones first.
    mentions.reverse();
    h.deliver(mentions.iter().map(|m| m.event("acme")).collect())
        .await;
    let mut client = h.client("acme");
    let range = days(day(2026, 3, 8), day(2026, 3, 14));
    let rising = client
        .list_drivers(ListDriversRequest {
            range,
            order: DriverOrder::Rising as i32,
            limit: 5,
        })
        .await
        .expect("drivers")
        .into_inner();
    assert_eq!(rising.total_contacts, 10);
    assert_eq!(rising.drivers.len(), 1, "{rising:?}");
    let delivery = &rising.drivers[0];
    assert_eq!(delivery.key.as_ref().expect("key").topic, "delivery");
    assert_eq!(
        (
            delivery.contacts,
            delivery.previous_contacts,
            delivery.recurrent
        ),
        (8, 2, 2)
    );
    assert!((delivery.share - 0.8).abs() < 1e-9 && delivery.trend_z > 2.0);
    assert_eq!(delivery.daily, vec![2, 1, 1, 1, 1, 1, 1]);
    let recurrent = client
        .list_mentions(ListMentionsRequest {
            filter: Some(MentionFilter {
                range,
                driver: delivery.key.clone(),
                recurrent_only: true,
                negative_only: false,
            }),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .expect("mentions")
        .into_inner();
    let authors: Vec<&str> = recurrent
        .mentions
        .iter()
        .map(|m| m.author.as_str())
        .collect();
    assert_eq!(authors, vec!["x:amy", "x:ivy"]);
}

fn refused<T: std::fmt::Debug>(answer: Result<tonic::Response<T>, tonic::Status>, field: &str) {
    let status = answer.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(field),
        "{field}: {}",
        status.message()
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let range = days(day(2026, 3, 1), day(2026, 3, 31));
    refused(
        client
            .get_service_metrics(GetServiceMetricsRequest {
                range: None,
                group_by: 0,
            })
            .await,
        "range",
    );
    refused(
        client
            .get_service_metrics(GetServiceMetricsRequest {
                range,
                group_by: 99,
            })
            .await,
        "group_by",
    );
    refused(
        client
            .list_drivers(ListDriversRequest {
                range,
                order: 0,
                limit: 1_000,
            })
            .await,
        "limit",
    );
    refused(
        client
            .list_drivers(ListDriversRequest {
                range,
                order: 7,
                limit: 0,
            })
            .await,
        "order",
    );
    refused(
        client.list_cases(ListCasesRequest::default()).await,
        "filter",
    );
    refused(
        client
            .list_cases(ListCasesRequest {
                filter: Some(CaseFilter {
                    range,
                    ..Default::default()
                }),
                page_size: 10,
                page_token: "not-a-token".into(),
            })
            .await,
        "page_token",
    );
    refused(
        client
            .list_mentions(ListMentionsRequest {
                filter: Some(MentionFilter {
                    range: days(day(2026, 3, 9), day(2026, 3, 1)),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
        "filter.range.to",
    );
    // Reading insight needs insight:read.
    let denied = h
        .client_with("acme", &["cases:read"])
        .get_service_metrics(GetServiceMetricsRequest { range, group_by: 0 })
        .await
        .expect_err("denied");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn breaches_escalations_and_overdue_promises_count_whatever_their_order() {
    use earshot_proto::events::v1::{
        CommitmentOverdue, EscalationAcknowledged, EscalationRaised, Event, SlaBreached, event,
    };
    let h = Harness::start().await;
    let opened = at("2026-03-02T10:00:00Z");
    let case = CaseSpec::new(Channel::X, "delivery", opened);
    let told = |payload: event::Payload, producer: &str, when: &str| {
        let mut e: Event = case.event("acme");
        e.event_id = uuid::Uuid::now_v7().to_string();
        e.producer = producer.into();
        e.occurred_at = common::ts(at(when));
        e.payload = Some(payload);
        e
    };
    // The breach arrives with no new version of the case; the
    // acknowledgement before the escalation it acknowledges.
    h.deliver(vec![
        case.event("acme"),
        told(
            event::Payload::SlaBreached(SlaBreached {
                case_id: case.id.to_string(),
                target: "FIRST_RESPONSE".into(),
                ..Default::default()
            }),
            "case",
            "2026-03-02T11:00:00Z",
        ),
        told(
            event::Payload::EscalationAcknowledged(EscalationAcknowledged {
                escalation_id: "esc-1".into(),
                team: "LEGAL".into(),
                ..Default::default()
            }),
            "escalation",
            "2026-03-02T10:10:00Z",
        ),
    ])
    .await;
    h.deliver(vec![
        told(
            event::Payload::EscalationRaised(EscalationRaised {
                escalation_id: "esc-1".into(),
                case_id: case.id.to_string(),
                severity: "SEV2".into(),
                team: "LEGAL".into(),
                trigger: "CASE".into(),
                ..Default::default()
            }),
            "escalation",
            "2026-03-02T10:00:00Z",
        ),
        told(
            event::Payload::CommitmentOverdue(CommitmentOverdue {
                case_id: case.id.to_string(),
                commitment_id: "promise-1".into(),
                made_by: "ana".into(),
                due_at: common::ts(at("2026-03-03T09:00:00Z")),
                ..Default::default()
            }),
            "case",
            "2026-03-03T09:00:00Z",
        ),
    ])
    .await;
    let m = h
        .client("acme")
        .get_service_metrics(GetServiceMetricsRequest {
            range: days(day(2026, 3, 2), day(2026, 3, 3)),
            group_by: 0,
        })
        .await
        .expect("metrics")
        .into_inner();
    let fr = &m.groups[0].sla[0];
    assert_eq!(
        (fr.met, fr.breached),
        (0, 1),
        "the breach counts before the case changes again"
    );
    let legal = &m.escalations[0];
    assert_eq!(
        (legal.team.as_str(), legal.raised, legal.acknowledged),
        ("LEGAL", 1, 1)
    );
    assert!((legal.ack_p50_secs - 600.0).abs() < 1e-6, "{legal:?}");
    assert_eq!(m.commitments_overdue[0].agent, "ana");
    assert_eq!(m.commitments_overdue[0].overdue, 1);
    // A later version that answered late still says breached.
    let late = case.replied(7_200, "ana").then(|f| {
        f.sla[0].state = "BREACHED".into();
    });
    h.deliver(vec![late.event("acme")]).await;
    let m = h
        .client("acme")
        .get_service_metrics(GetServiceMetricsRequest {
            range: days(day(2026, 3, 2), day(2026, 3, 3)),
            group_by: 0,
        })
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(m.groups[0].sla[0].breached, 1);
    assert_eq!(m.groups[0].first_response.as_ref().expect("fr").count, 1);
}
