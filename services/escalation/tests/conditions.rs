//! Every condition a guideline can hold fires on what it looks for and not
//! on a near miss, through events delivered to the service as listening and
//! case deliver them. The defaults are disabled first, so only the
//! guideline under test can fire.

mod common;

use common::{
    Client, Harness, Mention, actions, all, any, case_opened, create, disable_defaults,
    evaluations, guideline, influencer, intent, phrase, rule, sentiment, sla_breach, topic,
    urgency, vip,
};
use earshot_proto::common::v1::{Intent, Urgency};
use earshot_proto::escalation::v1::{self as pb, Condition};
use earshot_proto::events::v1::Event;

const TENANT: &str = "acme";

/// A harness whose tenant has one enabled guideline: `condition`.
async fn only(condition: Condition) -> (Harness, Client, pb::Guideline) {
    let h = Harness::start().await;
    let mut client = h.client(TENANT);
    disable_defaults(&mut client).await;
    let g = create(
        &mut client,
        guideline("Under test", condition, actions(pb::Team::Support)),
    )
    .await;
    (h, client, g)
}

/// Delivers `misses`, then `hits`, and checks that each hit raised one
/// escalation under `g` for its subject, evaluated as escalated under the
/// guideline's version, and that no miss raised anything.
async fn fires_on_hits_only(
    h: &Harness,
    client: &mut Client,
    g: &pb::Guideline,
    hits: Vec<Event>,
    misses: Vec<Event>,
) {
    let label = format!("{}@{}", g.guideline_id, g.version);
    for miss in &misses {
        h.deliver(vec![miss.clone()]).await;
    }
    assert!(
        common::escalations(client, false).await.is_empty(),
        "a near miss raised an escalation"
    );
    for hit in &hits {
        let answer = h.deliver(vec![hit.clone()]).await;
        assert_eq!(answer.handled, 1);
    }
    let raised = common::escalations(client, false).await;
    assert_eq!(raised.len(), hits.len(), "{raised:#?}");
    let evaluated = evaluations(client).await;
    for miss in &misses {
        let e = evaluated
            .iter()
            .find(|e| e.event_id == miss.event_id)
            .expect("every miss is evaluated");
        assert_eq!(e.outcome, "no_guideline_matched", "{e:?}");
        assert!(e.escalation_ids.is_empty());
        assert_eq!(e.guideline_versions, vec![label.clone()]);
    }
    for hit in &hits {
        let e = evaluated
            .iter()
            .find(|e| e.event_id == hit.event_id)
            .expect("every hit is evaluated");
        assert_eq!(e.outcome, "escalated", "{e:?}");
        assert_eq!(e.guideline_versions, vec![label.clone()]);
        assert_eq!(e.escalation_ids.len(), 1, "{e:?}");
        let escalation = raised
            .iter()
            .find(|r| r.escalation_id == e.escalation_ids[0])
            .expect("the escalation the evaluation names");
        assert_eq!(escalation.guideline_id, g.guideline_id);
        assert_eq!(escalation.guideline_version, g.version);
        let trigger = escalation.trigger.as_ref().expect("trigger");
        assert_eq!(trigger.event_id, hit.event_id);
        assert_eq!(trigger.mention_id, e.mention_id);
        assert_eq!(trigger.case_id, e.case_id);
        let kind = if e.case_id.is_empty() {
            pb::TriggerKind::Mention
        } else {
            pb::TriggerKind::Case
        };
        assert_eq!(trigger.kind, kind as i32);
    }
}

fn mention(id: &str) -> Mention {
    Mention::new(TENANT, id)
}

#[tokio::test]
async fn urgency_class() {
    let (h, mut client, g) = only(urgency(&[Urgency::Outage, Urgency::Safety])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("outage").urgency(Urgency::Outage).event(),
            mention("safety")
                .urgency(Urgency::ChurnThreat)
                .urgency(Urgency::Safety)
                .event(),
        ],
        vec![
            mention("churn").urgency(Urgency::ChurnThreat).event(),
            mention("calm").event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn influencer_by_audience() {
    let (h, mut client, g) = only(influencer(5_000, false)).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![mention("at-the-line").followers(5_000).event()],
        vec![
            mention("just-below").followers(4_999).event(),
            // Verified is not asked for.
            mention("verified-small").followers(10).verified().event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn influencer_by_verification() {
    let (h, mut client, g) = only(influencer(0, true)).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![mention("verified").followers(10).verified().event()],
        // Any audience is not asked for (min_followers 0).
        vec![mention("big-unverified").followers(2_000_000).event()],
    )
    .await;
}

#[tokio::test]
async fn vip_on_case_opened() {
    let (h, mut client, g) = only(vip()).await;
    let case = uuid::Uuid::now_v7().to_string();
    let other = uuid::Uuid::now_v7().to_string();
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![case_opened(TENANT, &case, true, "billing")],
        vec![
            case_opened(TENANT, &other, false, "billing"),
            // A mention never carries VIP: the case service knows who is.
            mention("famous").followers(9_000_000).verified().event(),
        ],
    )
    .await;
    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised[0].trigger.as_ref().expect("trigger").case_id, case);
}

#[tokio::test]
async fn sentiment_at_or_below() {
    let (h, mut client, g) = only(sentiment(-0.5)).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("at-the-line").sentiment(-0.5).event(),
            mention("furious").sentiment(-0.95).event(),
        ],
        vec![
            mention("just-above").sentiment(-0.49).event(),
            mention("no-sentiment").event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn intent_class() {
    let (h, mut client, g) = only(intent(&[Intent::SalesLead, Intent::Idea])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("lead").intent(Intent::SalesLead).event(),
            mention("idea").intent(Intent::Idea).event(),
        ],
        vec![mention("praise").intent(Intent::Praise).event()],
    )
    .await;
}

#[tokio::test]
async fn topic_on_mentions_and_opened_cases() {
    let (h, mut client, g) = only(topic(&["billing"])).await;
    let case = uuid::Uuid::now_v7().to_string();
    let other = uuid::Uuid::now_v7().to_string();
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("billing")
                .topic("delivery")
                .topic("billing")
                .event(),
            case_opened(TENANT, &case, false, "billing"),
        ],
        vec![
            mention("delivery").topic("delivery").event(),
            // Topic keys are exact.
            mention("billings").topic("billing-x").event(),
            case_opened(TENANT, &other, false, "delivery"),
        ],
    )
    .await;
}

#[tokio::test]
async fn listening_rule() {
    let (h, mut client, g) = only(rule(&["rule-7"])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![mention("seven").rule("rule-3").rule("rule-7").event()],
        vec![
            mention("eight").rule("rule-8").event(),
            mention("none").event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn phrase_in_any_case() {
    let (h, mut client, g) = only(phrase(&["chargeback", "Better Business Bureau"])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("shouted")
                .text("I will file a CHARGEBACK today")
                .event(),
            mention("bbb")
                .text("reporting you to the better business bureau")
                .event(),
        ],
        vec![
            mention("split").text("I will charge back the card").event(),
            mention("partial")
                .text("the business bureau of my street")
                .event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn sla_breach_of_a_target_and_lane() {
    let (h, mut client, g) = only(sla_breach("FIRST_RESPONSE", "FAST")).await;
    let case = || uuid::Uuid::now_v7().to_string();
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![common::sla_breached(
            TENANT,
            &case(),
            "FIRST_RESPONSE",
            "FAST",
        )],
        vec![
            common::sla_breached(TENANT, &case(), "FIRST_RESPONSE", "STANDARD"),
            common::sla_breached(TENANT, &case(), "RESOLUTION", "FAST"),
            // Sentiment or topics never make a breach.
            case_opened(TENANT, &case(), true, "billing"),
        ],
    )
    .await;
}

#[tokio::test]
async fn sla_breach_of_any_target_in_any_lane() {
    let (h, mut client, g) = only(sla_breach("", "")).await;
    let case = || uuid::Uuid::now_v7().to_string();
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            common::sla_breached(TENANT, &case(), "NEXT_RESPONSE", "STANDARD"),
            common::sla_breached(TENANT, &case(), "RESOLUTION", "FAST"),
        ],
        vec![case_opened(TENANT, &case(), false, "")],
    )
    .await;
}

#[tokio::test]
async fn all_needs_every_condition() {
    let (h, mut client, g) = only(all(vec![topic(&["billing"]), sentiment(-0.5)])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![mention("both").topic("billing").sentiment(-0.7).event()],
        vec![
            mention("topic-only")
                .topic("billing")
                .sentiment(0.2)
                .event(),
            mention("sentiment-only")
                .topic("delivery")
                .sentiment(-0.9)
                .event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn any_needs_one_condition() {
    let (h, mut client, g) =
        only(any(vec![phrase(&["lawyer"]), intent(&[Intent::SalesLead])])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("phrase").text("my lawyer will call").event(),
            mention("intent").intent(Intent::SalesLead).event(),
            mention("both")
                .text("my lawyer wants 500 seats")
                .intent(Intent::SalesLead)
                .event(),
        ],
        vec![mention("neither").intent(Intent::Question).event()],
    )
    .await;
}

#[tokio::test]
async fn nested_all_and_any() {
    // The shape of the media default: (media attention or a big audience)
    // and negative.
    let (h, mut client, g) = only(all(vec![
        any(vec![
            urgency(&[Urgency::MediaAttention]),
            influencer(10_000, false),
        ]),
        sentiment(-0.3),
    ]))
    .await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("press")
                .urgency(Urgency::MediaAttention)
                .sentiment(-0.4)
                .event(),
            mention("big").followers(50_000).sentiment(-0.8).event(),
        ],
        vec![
            mention("press-happy")
                .urgency(Urgency::MediaAttention)
                .sentiment(0.6)
                .event(),
            mention("small-angry")
                .followers(300)
                .sentiment(-0.9)
                .event(),
        ],
    )
    .await;
}

#[tokio::test]
async fn phrase_ignores_case_beyond_ascii() {
    let (h, mut client, g) = only(phrase(&["kündigen", "ÉNORME ARNAQUE"])).await;
    fires_on_hits_only(
        &h,
        &mut client,
        &g,
        vec![
            mention("shouted").text("ICH WERDE KÜNDIGEN").event(),
            mention("capital").text("Kündigen ist die Lösung").event(),
            mention("french").text("c'est une énorme arnaque").event(),
        ],
        vec![mention("other").text("ich werde kaufen").event()],
    )
    .await;
}
