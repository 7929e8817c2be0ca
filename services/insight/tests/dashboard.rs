//! The dashboard's data through the API: today's volume by channel, the open
//! queue by SLA due time, escalations and incidents, drivers and the
//! Goodwill Index; another tenant seeing none of it; bad requests; and the
//! page itself on the HTTP port.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{CaseSpec, Harness, MentionSpec, envelope, ts};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::{
    EscalationAcknowledged, EscalationRaised, Event, IncidentOpened, IncidentUpdated, event,
};
use earshot_proto::insight::v1::{Dashboard, GetDashboardRequest, SlaDue};
use tonic::Code;

fn escalation(tenant: &str, id: &str, severity: &str, at: DateTime<Utc>) -> Event {
    envelope(
        "escalation",
        tenant,
        at,
        event::Payload::EscalationRaised(EscalationRaised {
            escalation_id: id.into(),
            severity: severity.into(),
            team: "PR".into(),
            trigger: "MENTION".into(),
            ..Default::default()
        }),
    )
}

fn fixture(tenant: &str, now: DateTime<Utc>) -> Vec<Event> {
    let mut events = Vec::new();
    for (author, channel) in [
        ("ann", Channel::X),
        ("bob", Channel::X),
        ("cat", Channel::X),
        ("dan", Channel::Facebook),
    ] {
        let mut m = MentionSpec::new(author, "delivery", Intent::Complaint, now);
        m.channel = channel;
        events.push(m.event(tenant));
    }
    // The first-response clock of a case falls due `minutes` from now.
    let due_in = |channel: Channel, minutes: i64| {
        let mut spec = CaseSpec::new(channel, "delivery", now);
        for o in &mut spec.facts.sla {
            if o.target == "FIRST_RESPONSE" {
                o.due_at = ts(now + Duration::minutes(minutes));
            }
        }
        spec.event(tenant)
    };
    // Due within the hour, within four hours, breached, no clock, resolved.
    events.push(due_in(Channel::X, 30));
    events.push(due_in(Channel::Email, 150));
    let mut breached = CaseSpec::new(Channel::X, "delivery", now);
    breached.set_sla("FIRST_RESPONSE", "BREACHED");
    events.push(breached.event(tenant));
    events.push(CaseSpec::new(Channel::Phone, "billing", now).event(tenant));
    events.push(
        CaseSpec::new(Channel::X, "delivery", now)
            .replied(60, "agent-1")
            .resolved(600)
            .event(tenant),
    );
    // Two escalations open (one acknowledged), an incident open and one resolved.
    events.push(escalation(tenant, "e1", "SEV1", now));
    events.push(escalation(tenant, "e2", "SEV3", now));
    events.push(envelope(
        "escalation",
        tenant,
        now,
        event::Payload::EscalationAcknowledged(EscalationAcknowledged {
            escalation_id: "e2".into(),
            ..Default::default()
        }),
    ));
    for id in ["i1", "i2"] {
        events.push(envelope(
            "escalation",
            tenant,
            now,
            event::Payload::IncidentOpened(IncidentOpened {
                incident_id: id.into(),
                severity: "SEV2".into(),
                ..Default::default()
            }),
        ));
    }
    events.push(envelope(
        "escalation",
        tenant,
        now + Duration::seconds(1),
        event::Payload::IncidentUpdated(IncidentUpdated {
            incident_id: "i2".into(),
            state: "RESOLVED".into(),
            change: "state".into(),
            ..Default::default()
        }),
    ));
    events
}

async fn dashboard(h: &Harness, tenant: &str) -> Dashboard {
    h.client(tenant)
        .get_dashboard(GetDashboardRequest::default())
        .await
        .expect("dashboard")
        .into_inner()
}

fn as_of(d: &Dashboard) -> DateTime<Utc> {
    let t = d.as_of.expect("as of");
    DateTime::from_timestamp(t.seconds, 0).expect("valid")
}

#[tokio::test]
async fn the_dashboard_counts_today_the_queue_and_the_escalations() {
    let h = Harness::start().await;
    let now = Utc::now();
    h.deliver(fixture("acme", now)).await;
    let d = dashboard(&h, "acme").await;
    // Read on the day the fixture was made (a test run across midnight
    // would see today empty, which is right too).
    let same_day = as_of(&d).date_naive() == now.date_naive();

    // Most contacts first, ties in channel order.
    let volume: Vec<(i32, u64, u64)> = d
        .volume_today
        .iter()
        .map(|v| (v.channel, v.mentions, v.cases_opened))
        .collect();
    if same_day {
        assert_eq!(
            volume,
            [
                (Channel::X as i32, 3, 3),
                (Channel::Facebook as i32, 1, 0),
                (Channel::Email as i32, 0, 1),
                (Channel::Phone as i32, 0, 1),
            ]
        );
    } else {
        assert!(volume.is_empty(), "{volume:?}");
    }
    assert_eq!(d.mentions_hourly.len(), 24);
    assert_eq!(d.mentions_hourly.iter().sum::<u64>(), 4);

    let queue: Vec<(i32, u64)> = d.open_queue.iter().map(|b| (b.due, b.cases)).collect();
    assert_eq!(
        queue,
        [
            (SlaDue::Breached as i32, 1),
            (SlaDue::Within1h as i32, 1),
            (SlaDue::Within4h as i32, 1),
            (SlaDue::Within24h as i32, 0),
            (SlaDue::Later as i32, 0),
            (SlaDue::NoClock as i32, 1),
        ],
        "the resolved case is not in the queue"
    );

    let e = d.escalations.expect("escalations");
    assert_eq!((e.open, e.unacknowledged, e.open_incidents), (2, 1, 1));
    let severities: Vec<(&str, u64)> = e
        .open_by_severity
        .iter()
        .map(|s| (s.severity.as_str(), s.open))
        .collect();
    assert_eq!(severities, [("SEV1", 1), ("SEV3", 1)]);
    assert_eq!(e.raised_daily.len(), 14);
    assert_eq!(e.raised_daily.iter().sum::<u64>(), 2);
    assert_eq!(e.incidents_daily.iter().sum::<u64>(), 2);

    assert_eq!(d.top_drivers.len(), 1, "{:?}", d.top_drivers);
    assert_eq!(d.top_drivers[0].contacts, 4);
    assert_eq!(d.top_drivers[0].daily.len(), 14);
    let goodwill = d.goodwill.expect("goodwill");
    assert!(
        goodwill.index > 0.0 && goodwill.index < 100.0,
        "{goodwill:?}"
    );
    assert!(d.drivers_range.is_some() && d.goodwill_range.is_some());
}

#[tokio::test]
async fn another_tenant_sees_an_empty_dashboard_and_bad_requests_are_named() {
    let h = Harness::start().await;
    h.deliver(fixture("acme", Utc::now())).await;
    let d = dashboard(&h, "globex").await;
    assert!(d.volume_today.is_empty());
    assert_eq!(d.mentions_hourly.iter().sum::<u64>(), 0);
    assert!(d.open_queue.iter().all(|b| b.cases == 0));
    assert_eq!(d.escalations.expect("panel").open, 0);
    assert!(d.top_drivers.is_empty());

    let err = h
        .client("acme")
        .get_dashboard(GetDashboardRequest { top_drivers: 21 })
        .await
        .expect_err("too many drivers");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("top_drivers"), "{}", err.message());
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_and_the_data_needs_a_token() {
    let h = Harness::start().await;
    let client = earshot_webhooks::http_client(std::time::Duration::from_secs(30));
    let base = h.service.http_url();
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/dashboard.js", "text/javascript"),
        ("/dashboard/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/dashboard/dashboard.css", "text/css"),
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let content_type = response.headers()["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(response.headers().contains_key("content-security-policy"));
    }
    let data = client
        .get(format!("{base}/v1/insight/dashboard"))
        .send()
        .await
        .expect("answers");
    assert_eq!(data.status().as_u16(), 401);
}
