//! The authenticity, customer effort, consistency and success stories
//! reports against fixtures computed by hand, other tenants' facts kept
//! apart, and bad input on each of their RPCs.

mod common;

use common::{CaseSpec, Harness, MentionSpec, at, day, days, reply};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::authenticity_finding::Kind;
use earshot_proto::events::v1::{Event, event};
use earshot_proto::insight::v1::{
    AuthenticityGroup, AuthenticityReport, ConsistencyReport, CustomerEffort, Dimension, DriverKey,
    GetAuthenticityReportRequest, GetConsistencyReportRequest, GetCustomerEffortRequest,
    ListSuccessStoriesRequest, ListSuccessStoriesResponse,
};
use tonic::Code;

fn reply_id(e: &Event) -> String {
    match &e.payload {
        Some(event::Payload::ReplySent(r)) => r.reply_id.clone(),
        other => panic!("not a reply: {other:?}"),
    }
}

fn in_queue(channel: Channel, queue: &str, opened: &str) -> CaseSpec {
    let mut c = CaseSpec::new(channel, "delivery", at(opened));
    c.facts.queue = queue.into();
    c
}

const CANNED: &str = "Sorry about that, please DM us";

async fn authenticity(
    h: &Harness,
    tenant: &str,
    group_by: AuthenticityGroup,
) -> AuthenticityReport {
    h.client(tenant)
        .get_authenticity_report(GetAuthenticityReportRequest {
            range: days(day(2026, 3, 2), day(2026, 3, 3)),
            group_by: group_by as i32,
        })
        .await
        .expect("authenticity")
        .into_inner()
}

/// Social (X, queue "social"): ann's canned reply (reflex DM, boilerplate)
/// and bob's copy of it (near-duplicate). E-mail (queue "email"): ann's own
/// words (clean) and cat's copy of the canned one (hedging). A copy sent
/// after the range, and another tenant's copy, count nowhere.
#[tokio::test]
async fn authenticity_shares_findings_by_team_and_agent_and_finds_the_reused_reply() {
    let h = Harness::start().await;
    let social = in_queue(Channel::X, "social", "2026-03-02T08:00:00Z");
    let email = in_queue(Channel::Email, "email", "2026-03-02T08:00:00Z");
    let elsewhere = in_queue(Channel::X, "social", "2026-03-02T08:00:00Z");
    let last = reply(
        "acme",
        &email,
        "cat",
        CANNED,
        at("2026-03-03T16:00:00Z"),
        &[Kind::Hedging as i32],
        ("", 0),
    );
    let last_id = reply_id(&last);
    h.deliver(vec![
        social.event("acme"),
        email.event("acme"),
        elsewhere.event("globex"),
        reply(
            "acme",
            &social,
            "ann",
            CANNED,
            at("2026-03-02T09:00:00Z"),
            &[Kind::ReflexDm as i32, Kind::Boilerplate as i32],
            ("", 0),
        ),
        reply(
            "acme",
            &social,
            "bob",
            "sorry about   that, PLEASE dm us",
            at("2026-03-02T23:59:59Z"),
            &[Kind::NearDuplicate as i32],
            ("", 0),
        ),
        reply(
            "acme",
            &email,
            "ann",
            "Your refund left our account this morning.",
            at("2026-03-03T10:00:00Z"),
            &[],
            ("", 0),
        ),
        last,
        reply(
            "acme",
            &email,
            "cat",
            CANNED,
            at("2026-03-04T00:00:00Z"),
            &[Kind::Hedging as i32],
            ("", 0),
        ),
        reply(
            "globex",
            &elsewhere,
            "zed",
            CANNED,
            at("2026-03-02T12:00:00Z"),
            &[Kind::Custom as i32],
            ("", 0),
        ),
    ])
    .await;

    let by_team = authenticity(&h, "acme", AuthenticityGroup::Team).await;
    let rows: Vec<(&str, u64, u64, f64)> = by_team
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.replies, r.flagged, r.flagged_share))
        .collect();
    assert_eq!(rows, vec![("email", 2, 1, 0.5), ("social", 2, 2, 1.0)]);
    let kinds = |i: usize| -> Vec<(String, u64)> {
        by_team.rows[i]
            .kinds
            .iter()
            .map(|k| (k.kind.clone(), k.replies))
            .collect()
    };
    let words = [
        "NEAR_DUPLICATE",
        "HEDGING",
        "BOILERPLATE",
        "REFLEX_DM",
        "CUSTOM",
    ];
    let expect = |counts: [u64; 5]| -> Vec<(String, u64)> {
        words.iter().map(|w| w.to_string()).zip(counts).collect()
    };
    assert_eq!(kinds(0), expect([0, 1, 0, 0, 0]));
    assert_eq!(kinds(1), expect([1, 0, 1, 1, 0]));
    assert_eq!(by_team.rows[1].kinds[0].share, 0.5);

    let by_agent = authenticity(&h, "acme", AuthenticityGroup::Agent).await;
    let rows: Vec<(&str, u64, u64)> = by_agent
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.replies, r.flagged))
        .collect();
    assert_eq!(rows, vec![("ann", 2, 1), ("bob", 1, 1), ("cat", 1, 1)]);

    let all = authenticity(&h, "acme", AuthenticityGroup::Unspecified).await;
    assert_eq!(all.rows.len(), 1);
    assert_eq!(
        (
            all.rows[0].key.as_str(),
            all.rows[0].replies,
            all.rows[0].flagged
        ),
        ("", 4, 3)
    );
    assert_eq!(
        all.most_reused.len(),
        1,
        "only the canned words were sent twice: {all:?}"
    );
    let reused = &all.most_reused[0];
    assert_eq!((reused.uses, reused.agents), (3, 3));
    assert_eq!(reused.last_reply_id, last_id);
    assert_eq!(reused.excerpt, CANNED);

    let other = authenticity(&h, "globex", AuthenticityGroup::Agent).await;
    let rows: Vec<(&str, u64)> = other
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.replies))
        .collect();
    assert_eq!(rows, vec![("zed", 1)]);
    assert!(other.most_reused.is_empty());
}

async fn effort(h: &Harness, tenant: &str, group_by: Dimension) -> CustomerEffort {
    h.client(tenant)
        .get_customer_effort(GetCustomerEffortRequest {
            range: days(day(2026, 3, 1), day(2026, 3, 7)),
            group_by: group_by as i32,
        })
        .await
        .expect("effort")
        .into_inner()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Resolved in the range: A (X, ana: 3 messages, a switch, reopened once),
/// B (X, bo: 1 message), C (e-mail, ana: 2 messages). Not counted: D (still
/// open, 5 messages), E (merged into A), F (opened before the range), and
/// another tenant's case. Mentions: jane twice on delivery (the second
/// recurrent), joe once; zed after the range.
#[tokio::test]
async fn effort_is_per_resolved_case_of_the_range_with_repeat_contacts_from_mentions() {
    let h = Harness::start().await;
    let a = CaseSpec::new(Channel::X, "delivery", at("2026-03-02T10:00:00Z"))
        .replied(60, "ana")
        .then(|f| {
            f.inbound_messages = 3;
            f.channel_switches = 1;
            f.reopens = 1;
        })
        .resolved(7_200);
    let b = CaseSpec::new(Channel::X, "billing", at("2026-03-03T10:00:00Z"))
        .replied(60, "bo")
        .resolved(3_600);
    let c = CaseSpec::new(Channel::Email, "delivery", at("2026-03-04T10:00:00Z"))
        .replied(60, "ana")
        .then(|f| f.inbound_messages = 2)
        .resolved(3_600);
    let d = CaseSpec::new(Channel::Email, "delivery", at("2026-03-04T11:00:00Z"))
        .then(|f| f.inbound_messages = 5);
    let a_id = a.id.to_string();
    let e = CaseSpec::new(Channel::X, "delivery", at("2026-03-02T11:00:00Z"))
        .replied(60, "ana")
        .then(|f| f.inbound_messages = 4)
        .resolved(600)
        .then(|f| f.merged_into = a_id);
    let f = CaseSpec::new(Channel::X, "delivery", at("2026-02-27T10:00:00Z"))
        .replied(60, "ana")
        .then(|f| f.inbound_messages = 7)
        .resolved(600);
    let other = CaseSpec::new(Channel::X, "delivery", at("2026-03-02T10:00:00Z"))
        .replied(60, "ana")
        .then(|f| f.inbound_messages = 9)
        .resolved(600);
    let mut events: Vec<Event> = [a, b, c, d, e, f].iter().map(|c| c.event("acme")).collect();
    events.push(other.event("globex"));
    for (author, posted) in [
        ("jane", "2026-03-01T10:00:00Z"),
        ("jane", "2026-03-03T10:00:00Z"),
        ("joe", "2026-03-02T10:00:00Z"),
        ("zed", "2026-03-20T10:00:00Z"),
    ] {
        events.push(
            MentionSpec::new(author, "delivery", Intent::Complaint, at(posted)).event("acme"),
        );
    }
    events.push(
        MentionSpec::new(
            "jane",
            "delivery",
            Intent::Complaint,
            at("2026-03-02T10:00:00Z"),
        )
        .event("globex"),
    );
    h.deliver(events).await;

    let all = effort(&h, "acme", Dimension::Unspecified).await;
    assert_eq!(all.rows.len(), 1);
    let row = &all.rows[0];
    assert_eq!((row.key.as_str(), row.resolved), ("", 3));
    assert!(close(row.contacts_per_resolution, 2.0), "{row:?}");
    assert!(
        close(row.channel_switches_per_resolution, 1.0 / 3.0),
        "{row:?}"
    );
    assert!(close(row.reopen_rate, 1.0 / 3.0), "{row:?}");
    assert_eq!((all.repeat_contacts, all.contacts), (1, 3));
    assert!(close(all.repeat_contact_rate, 1.0 / 3.0));

    let by_channel = effort(&h, "acme", Dimension::Channel).await;
    let rows: Vec<(&str, u64, f64, f64, f64)> = by_channel
        .rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.resolved,
                r.contacts_per_resolution,
                r.channel_switches_per_resolution,
                r.reopen_rate,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![("X", 2, 2.0, 0.5, 0.5), ("EMAIL", 1, 2.0, 0.0, 0.0)]
    );

    let by_agent = effort(&h, "acme", Dimension::Agent).await;
    let rows: Vec<(&str, u64, f64)> = by_agent
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.resolved, r.contacts_per_resolution))
        .collect();
    assert_eq!(rows, vec![("ana", 2, 2.5), ("bo", 1, 1.0)]);

    let globex = effort(&h, "globex", Dimension::Unspecified).await;
    assert_eq!(globex.rows.len(), 1);
    assert_eq!(
        (
            globex.rows[0].resolved,
            globex.rows[0].contacts_per_resolution
        ),
        (1, 9.0)
    );
    assert_eq!((globex.repeat_contacts, globex.contacts), (0, 1));
}

async fn consistency(h: &Harness, tenant: &str) -> ConsistencyReport {
    h.client(tenant)
        .get_consistency_report(GetConsistencyReportRequest {
            range: days(day(2026, 3, 1), day(2026, 3, 7)),
        })
        .await
        .expect("consistency")
        .into_inner()
}

fn complaint(topic: &str) -> DriverKey {
    DriverKey {
        topic: topic.into(),
        intent: Intent::Complaint as i32,
        rule_id: String::new(),
    }
}

/// delivery: X cites kb-1 v2, e-mail kb-1 v1 (VERSIONS). refund: X cites
/// kb-2 v1 twice on one case, e-mail cites nothing on two cases
/// (MISSING_ARTICLE). billing: kb-3 v1 on both (checked, consistent; a
/// kb-3 v2 reply after the range does not count). login: X only, two
/// versions (not checked). A topicless driver and another tenant's billing
/// replies on other versions are not counted.
#[tokio::test]
async fn consistency_flags_drivers_answered_from_different_truths_with_the_cases_on_each_side() {
    let h = Harness::start().await;
    let case = |channel, topic: &str, opened: &str| CaseSpec::new(channel, topic, at(opened));
    let x1 = case(Channel::X, "delivery", "2026-03-02T09:00:00Z");
    let e1 = case(Channel::Email, "delivery", "2026-03-02T09:00:00Z");
    let x2 = case(Channel::X, "refund", "2026-03-02T09:00:00Z");
    let e2 = case(Channel::Email, "refund", "2026-03-02T09:00:00Z");
    let e3 = case(Channel::Email, "refund", "2026-03-03T09:00:00Z");
    let x3 = case(Channel::X, "billing", "2026-03-02T09:00:00Z");
    let e4 = case(Channel::Email, "billing", "2026-03-02T09:00:00Z");
    let x4 = case(Channel::X, "login", "2026-03-02T09:00:00Z");
    let x5 = case(Channel::X, "", "2026-03-02T09:00:00Z");
    let e5 = case(Channel::Email, "", "2026-03-02T09:00:00Z");
    let gx = case(Channel::X, "billing", "2026-03-02T09:00:00Z");
    let ge = case(Channel::Email, "billing", "2026-03-02T09:00:00Z");
    let acme = [&x1, &e1, &x2, &e2, &e3, &x3, &e4, &x4, &x5, &e5];
    let mut events: Vec<Event> = acme.iter().map(|c| c.event("acme")).collect();
    events.extend([gx.event("globex"), ge.event("globex")]);
    let sent = at("2026-03-04T12:00:00Z");
    let answer = |tenant: &str, c: &CaseSpec, kb: (&str, u32)| {
        reply(tenant, c, "ana", "Here is how", sent, &[], kb)
    };
    events.extend([
        answer("acme", &x1, ("kb-1", 2)),
        answer("acme", &e1, ("kb-1", 1)),
        answer("acme", &x2, ("kb-2", 1)),
        answer("acme", &x2, ("kb-2", 1)),
        answer("acme", &e2, ("", 0)),
        answer("acme", &e3, ("", 0)),
        answer("acme", &x3, ("kb-3", 1)),
        answer("acme", &e4, ("kb-3", 1)),
        reply(
            "acme",
            &x3,
            "ana",
            "Here is how",
            at("2026-03-08T00:00:00Z"),
            &[],
            ("kb-3", 2),
        ),
        answer("acme", &x4, ("kb-4", 1)),
        answer("acme", &x4, ("kb-4", 2)),
        answer("acme", &x5, ("kb-9", 1)),
        answer("acme", &e5, ("kb-9", 2)),
        answer("globex", &gx, ("kb-3", 8)),
        answer("globex", &ge, ("kb-3", 9)),
    ]);
    h.deliver(events).await;

    let report = consistency(&h, "acme").await;
    assert_eq!(report.drivers_checked, 3, "{report:?}");
    let found: Vec<(DriverKey, &str)> = report
        .findings
        .iter()
        .map(|f| (f.driver.clone().expect("driver"), f.kind.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (complaint("refund"), "MISSING_ARTICLE"),
            (complaint("delivery"), "VERSIONS")
        ]
    );
    let sides: Vec<(i32, &str, u32, u64, Vec<String>)> = report.findings[0]
        .sides
        .iter()
        .map(|s| {
            (
                s.channel,
                s.kb_article_id.as_str(),
                s.kb_article_version,
                s.replies,
                s.case_ids.clone(),
            )
        })
        .collect();
    assert_eq!(
        sides,
        vec![
            (Channel::X as i32, "kb-2", 1, 2, vec![x2.id.to_string()]),
            (
                Channel::Email as i32,
                "",
                0,
                2,
                vec![e3.id.to_string(), e2.id.to_string()]
            ),
        ]
    );
    let delivery: Vec<(i32, u32, Vec<String>)> = report.findings[1]
        .sides
        .iter()
        .map(|s| (s.channel, s.kb_article_version, s.case_ids.clone()))
        .collect();
    assert_eq!(
        delivery,
        vec![
            (Channel::X as i32, 2, vec![x1.id.to_string()]),
            (Channel::Email as i32, 1, vec![e1.id.to_string()]),
        ]
    );

    let globex = consistency(&h, "globex").await;
    assert_eq!(globex.drivers_checked, 1);
    let found: Vec<(DriverKey, &str)> = globex
        .findings
        .iter()
        .map(|f| (f.driver.clone().expect("driver"), f.kind.as_str()))
        .collect();
    assert_eq!(found, vec![(complaint("billing"), "VERSIONS")]);
}

async fn stories(
    h: &Harness,
    tenant: &str,
    page_size: u32,
    page_token: &str,
) -> ListSuccessStoriesResponse {
    h.client(tenant)
        .list_success_stories(ListSuccessStoriesRequest {
            range: days(day(2026, 3, 1), day(2026, 3, 7)),
            page_size,
            page_token: page_token.into(),
        })
        .await
        .expect("stories")
        .into_inner()
}

fn praise(author: &str, posted: &str) -> MentionSpec {
    let mut m = MentionSpec::new(author, "delivery", Intent::Praise, at(posted));
    m.text = format!("{author} says thank you!");
    m.sentiment = 0.8;
    m
}

/// The case a mention opened, with the author's consent as its profile had it.
fn opened_from(m: &MentionSpec, consent: bool) -> CaseSpec {
    let mut c = CaseSpec::new(
        Channel::X,
        &m.topic,
        m.posted + chrono::Duration::minutes(1),
    );
    c.facts.mention_id = m.id.to_string();
    c.facts.consent_granted = consent;
    c
}

/// happy's praise opened a case with consent (resolved, CSAT 5); fan's
/// praise opened none, but fan's earlier complaint opened a case with
/// consent, which the praise thanks; nope's praise opened a case without
/// consent; quiet's praise has no case at all; happy's complaint is no
/// praise, and happy's praise after the range is outside it.
#[tokio::test]
async fn stories_list_praise_with_known_consent_newest_first_with_the_case_outcome() {
    let h = Harness::start().await;
    let happy = praise("happy", "2026-03-02T10:00:00Z");
    let happy_case = opened_from(&happy, true)
        .replied(60, "ana")
        .resolved(3_600)
        .then(|f| f.csat = 5);
    let fan_complaint = MentionSpec::new(
        "fan",
        "delivery",
        Intent::Complaint,
        at("2026-03-01T09:00:00Z"),
    );
    let fan_case = opened_from(&fan_complaint, true).resolved(7_200);
    let fan = praise("fan", "2026-03-04T10:00:00Z");
    let nope = praise("nope", "2026-03-03T10:00:00Z");
    let nope_case = opened_from(&nope, false);
    let quiet = praise("quiet", "2026-03-05T10:00:00Z");
    let complaint = MentionSpec::new(
        "happy",
        "delivery",
        Intent::Complaint,
        at("2026-03-03T12:00:00Z"),
    );
    let later = praise("happy", "2026-03-20T10:00:00Z");
    let elsewhere = praise("happy", "2026-03-02T11:00:00Z");
    let elsewhere_case = opened_from(&elsewhere, true);
    h.deliver(vec![
        happy.event("acme"),
        happy_case.event("acme"),
        fan_complaint.event("acme"),
        fan_case.event("acme"),
        fan.event("acme"),
        nope.event("acme"),
        nope_case.event("acme"),
        quiet.event("acme"),
        complaint.event("acme"),
        later.event("acme"),
        elsewhere.event("globex"),
        elsewhere_case.event("globex"),
    ])
    .await;

    let first = stories(&h, "acme", 1, "").await;
    assert_eq!(first.stories.len(), 1);
    let s = &first.stories[0];
    assert_eq!(
        (s.mention_id.clone(), s.handle.as_str()),
        (fan.id.to_string(), "fan")
    );
    assert_eq!(
        (s.case_id.clone(), s.case_status.as_str()),
        (fan_case.id.to_string(), "RESOLVED")
    );
    assert_eq!(s.resolution_secs, 7_200.0);
    assert!(!first.next_page_token.is_empty());
    let second = stories(&h, "acme", 1, &first.next_page_token).await;
    assert_eq!(second.stories.len(), 1);
    let s = &second.stories[0];
    assert_eq!(s.mention_id, happy.id.to_string());
    assert_eq!(
        (s.text.as_str(), s.topic.as_str(), s.channel),
        ("happy says thank you!", "delivery", Channel::X as i32)
    );
    assert_eq!(
        (s.case_id.clone(), s.csat, s.resolution_secs),
        (happy_case.id.to_string(), 5, 3_600.0)
    );
    let third = stories(&h, "acme", 1, &second.next_page_token).await;
    assert!(
        third.stories.is_empty() && third.next_page_token.is_empty(),
        "{third:?}"
    );

    let globex = stories(&h, "globex", 10, "").await;
    let ids: Vec<String> = globex
        .stories
        .iter()
        .map(|s| s.mention_id.clone())
        .collect();
    assert_eq!(ids, vec![elsewhere.id.to_string()]);
}

#[tokio::test]
async fn praise_is_listed_once_consent_is_known_and_never_before() {
    let h = Harness::start().await;
    let quiet = praise("quiet", "2026-03-05T10:00:00Z");
    h.deliver(vec![quiet.event("acme")]).await;
    assert!(stories(&h, "acme", 10, "").await.stories.is_empty());
    // A case opened from the praise without consent tells nothing more.
    let case = opened_from(&quiet, false);
    h.deliver(vec![case.event("acme")]).await;
    assert!(stories(&h, "acme", 10, "").await.stories.is_empty());
    // The profile's consent, granted, arrives with the case's next version.
    h.deliver(vec![case.then(|f| f.consent_granted = true).event("acme")])
        .await;
    let listed = stories(&h, "acme", 10, "").await;
    let ids: Vec<String> = listed
        .stories
        .iter()
        .map(|s| s.mention_id.clone())
        .collect();
    assert_eq!(ids, vec![quiet.id.to_string()]);
    assert!(listed.next_page_token.is_empty());
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
    let auth_req = |range, group_by| GetAuthenticityReportRequest { range, group_by };
    refused(
        client.get_authenticity_report(auth_req(None, 0)).await,
        "range",
    );
    refused(
        client.get_authenticity_report(auth_req(range, 7)).await,
        "group_by",
    );
    refused(
        client
            .get_authenticity_report(auth_req(days(day(2026, 3, 2), day(2026, 3, 1)), 0))
            .await,
        "range.to",
    );
    let effort_req = |range, group_by| GetCustomerEffortRequest { range, group_by };
    refused(
        client.get_customer_effort(effort_req(None, 0)).await,
        "range",
    );
    refused(
        client.get_customer_effort(effort_req(range, 99)).await,
        "group_by",
    );
    refused(
        client
            .get_consistency_report(GetConsistencyReportRequest { range: None })
            .await,
        "range",
    );
    let stories_req = |range, page_size, page_token: &str| ListSuccessStoriesRequest {
        range,
        page_size,
        page_token: page_token.into(),
    };
    refused(
        client.list_success_stories(stories_req(None, 0, "")).await,
        "range",
    );
    refused(
        client
            .list_success_stories(stories_req(range, 0, "garbage"))
            .await,
        "page_token",
    );
    refused(
        client
            .list_success_stories(stories_req(range, 10_000, ""))
            .await,
        "page_size",
    );
}
