//! The Goodwill Index through the API: a small fixture worked out by hand,
//! another tenant's data changing nothing, and bad requests.

mod common;

use common::{CaseSpec, Harness, MentionSpec, at, day, days};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::Event;
use earshot_proto::insight::v1::{GetGoodwillIndexRequest, GoodwillIndex};
use tonic::Code;

fn mention(tenant: &str, author: &str, thread: &str, sentiment: f64, posted: &str) -> Event {
    let mut m = MentionSpec::new(author, "delivery", Intent::Complaint, at(posted));
    m.thread = thread.into();
    m.sentiment = sentiment;
    m.event(tenant)
}

/// Seven mentions on 2–3 March and one after; three cases opened in the
/// range and one after.
fn fixture(tenant: &str) -> Vec<Event> {
    let mut breached = CaseSpec::new(Channel::X, "delivery", at("2026-03-02T12:00:00Z"));
    breached.set_sla("FIRST_RESPONSE", "BREACHED");
    let mut late = CaseSpec::new(Channel::X, "delivery", at("2026-03-10T12:00:00Z"));
    late.set_sla("FIRST_RESPONSE", "BREACHED");
    vec![
        // Opens negative and recovers; ann's second mention is a repeat.
        mention(tenant, "ann", "t1", -0.5, "2026-03-02T09:00:00Z"),
        mention(tenant, "ann", "t1", 0.6, "2026-03-02T10:00:00Z"),
        // Opens negative and stays negative; bob's second is a repeat.
        mention(tenant, "bob", "t2", -0.5, "2026-03-02T09:00:00Z"),
        mention(tenant, "bob", "t2", -0.3, "2026-03-03T11:00:00Z"),
        // Positive, neutral, and negative outside any conversation.
        mention(tenant, "cat", "t3", 0.6, "2026-03-02T09:30:00Z"),
        mention(tenant, "dan", "t4", 0.0, "2026-03-03T09:30:00Z"),
        mention(tenant, "fay", "", -0.7, "2026-03-03T10:30:00Z"),
        // After the range: counts nowhere.
        mention(tenant, "eve", "t5", -0.9, "2026-03-05T09:00:00Z"),
        // First response and resolution met; first response breached; running.
        CaseSpec::new(Channel::Email, "delivery", at("2026-03-02T08:00:00Z"))
            .replied(600, "agent-1")
            .resolved(3_600)
            .event(tenant),
        breached.event(tenant),
        CaseSpec::new(Channel::Phone, "billing", at("2026-03-03T08:00:00Z")).event(tenant),
        late.event(tenant),
    ]
}

async fn index(h: &Harness, tenant: &str) -> GoodwillIndex {
    h.client(tenant)
        .get_goodwill_index(GetGoodwillIndexRequest {
            range: days(day(2026, 3, 2), day(2026, 3, 3)),
        })
        .await
        .expect("index")
        .into_inner()
}

#[tokio::test]
async fn the_index_is_its_components_shrunk_toward_their_priors() {
    let h = Harness::start().await;
    h.deliver(fixture("acme")).await;
    let gi = index(&h, "acme").await;

    // net_sentiment: 2 positive + ½ × 1 neutral of 7 → (2.5 + 20·0.5)/27.
    // recovery: t1 and t2 open negative, t1 ends positive → (1 + 10)/22.
    // no_repeat: 7 − 2 repeats (ann's and bob's seconds) → (5 + 18)/27.
    // sla: first response and resolution met, one first response breached
    //   → (2 + 18)/23.
    let want = [
        ("net_sentiment", 2.5, 7, 12.5 / 27.0, 0.30),
        ("recovery", 1.0, 2, 11.0 / 22.0, 0.20),
        ("no_repeat", 5.0, 7, 23.0 / 27.0, 0.25),
        ("sla", 2.0, 3, 20.0 / 23.0, 0.25),
    ];
    assert_eq!(gi.components.len(), want.len());
    for (c, (name, successes, sample, shrunk, weight)) in gi.components.iter().zip(want) {
        assert_eq!(c.name, name);
        assert_eq!(
            (c.successes, c.sample, c.weight),
            (successes, sample, weight),
            "{name}"
        );
        assert!(
            (c.shrunk - shrunk).abs() < 1e-12,
            "{name}: {} vs {shrunk}",
            c.shrunk
        );
        assert!((c.raw - successes / sample as f64).abs() < 1e-12, "{name}");
    }
    // 100 × (0.3 × 0.462963 + 0.2 × 0.5 + 0.25 × 0.851852 + 0.25 × 0.869565)
    // = 66.9243, ± 1.96 × 100 × √(Σ w² p(1 − p)/(n + 20)) = ± 8.5066.
    assert!((gi.index - 66.924316).abs() < 1e-5, "{}", gi.index);
    assert!((gi.index - gi.low - 8.506597).abs() < 1e-5, "{}", gi.low);
    assert!((gi.high - gi.index - 8.506597).abs() < 1e-5, "{}", gi.high);
    assert_eq!(gi.prior_strength, 20.0);
    assert!(
        gi.formula
            .starts_with("index = 100 × (0.30 × net_sentiment"),
        "{}",
        gi.formula
    );
}

#[tokio::test]
async fn another_tenants_conversations_and_cases_change_nothing() {
    let h = Harness::start().await;
    h.deliver(fixture("acme")).await;
    let before = index(&h, "acme").await;
    let mut other = fixture("globex");
    other.push(mention("globex", "zed", "t1", -0.9, "2026-03-02T08:00:00Z"));
    other.push(
        CaseSpec::new(Channel::X, "delivery", at("2026-03-02T13:00:00Z"))
            .replied(60, "agent-2")
            .event("globex"),
    );
    h.deliver(other).await;
    assert_eq!(index(&h, "acme").await, before);
    // The other tenant's own index did count them.
    let theirs = index(&h, "globex").await;
    assert_eq!(theirs.components[0].sample, 8);
    assert_eq!(theirs.components[3].sample, 4);
}

#[tokio::test]
async fn a_request_without_a_proper_range_is_refused_naming_it() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let err = client
        .get_goodwill_index(GetGoodwillIndexRequest { range: None })
        .await
        .expect_err("no range");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "range: is required");
    let err = client
        .get_goodwill_index(GetGoodwillIndexRequest {
            range: days(day(2026, 3, 3), day(2026, 3, 2)),
        })
        .await
        .expect_err("reversed");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("range.to:"), "{}", err.message());
    let err = h
        .client_with("acme", &[])
        .get_goodwill_index(GetGoodwillIndexRequest {
            range: days(day(2026, 3, 2), day(2026, 3, 3)),
        })
        .await
        .expect_err("no scope");
    assert_eq!(err.code(), Code::PermissionDenied);
}
