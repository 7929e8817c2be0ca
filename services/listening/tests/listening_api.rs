//! Rules, noise, search, labels and backtests through the gRPC API, against
//! real Postgres and a real listening server on a loopback port.

use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    BacktestRuleRequest, CreateRuleRequest, DeleteRuleRequest, GetListeningAccuracyRequest,
    GetListeningSettingsRequest, GetMentionRequest, GetRuleRequest, IngestMentionsRequest,
    IngestMentionsResponse, LabelMentionRequest, ListMentionsRequest, ListRuleVersionsRequest,
    ListRulesRequest, Mention, MentionInput, Rule, Topic, UpdateListeningSettingsRequest,
    UpdateRuleRequest,
};
mod common;

use common::{Harness, mention};
use earshot_testkit::AuthedChannel;
use tonic::Code;
use tonic_types::StatusExt;

const SCOPES: &[&str] = &[
    "mentions:read",
    "mentions:write",
    "rules:write",
    "labels:write",
];

async fn ingest(
    client: &mut ListeningServiceClient<AuthedChannel>,
    mentions: Vec<MentionInput>,
) -> IngestMentionsResponse {
    client
        .ingest_mentions(IngestMentionsRequest { mentions })
        .await
        .expect("ingested")
        .into_inner()
}

async fn create_rule(
    client: &mut ListeningServiceClient<AuthedChannel>,
    name: &str,
    query: &str,
) -> Rule {
    client
        .create_rule(CreateRuleRequest {
            request_id: format!("create-{name}"),
            name: name.into(),
            query: query.into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner()
}

async fn search(
    client: &mut ListeningServiceClient<AuthedChannel>,
    request: ListMentionsRequest,
) -> Vec<Mention> {
    client
        .list_mentions(request)
        .await
        .expect("searched")
        .into_inner()
        .mentions
}

async fn get(client: &mut ListeningServiceClient<AuthedChannel>, id: &str) -> Mention {
    client
        .get_mention(GetMentionRequest {
            mention_id: id.into(),
        })
        .await
        .expect("found")
        .into_inner()
}

fn field_of(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .expect("a field violation")
}

#[tokio::test]
async fn rules_are_versioned_and_their_errors_are_precise() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);

    let rule = create_rule(&mut acme, "refunds", "refund* OR \"money back\"").await;
    assert_eq!(rule.version, 1);
    assert!(rule.active);
    // The same request id again: the same rule, nothing new.
    let again = create_rule(&mut acme, "refunds", "refund* OR \"money back\"").await;
    assert_eq!(again.rule_id, rule.rule_id);

    let bad = acme
        .create_rule(CreateRuleRequest {
            request_id: "r2".into(),
            name: "broken".into(),
            query: "(refund OR".into(),
            ..Default::default()
        })
        .await
        .expect_err("does not parse");
    assert_eq!(field_of(&bad), "query");
    assert!(
        bad.message().contains("at 10 (column 11)"),
        "{}",
        bad.message()
    );
    assert!(bad.message().contains("expected"), "{}", bad.message());
    let unnamed = acme
        .create_rule(CreateRuleRequest {
            request_id: "r3".into(),
            name: " ".into(),
            query: "card".into(),
            ..Default::default()
        })
        .await
        .expect_err("no name");
    assert_eq!(field_of(&unnamed), "name");
    let taken = acme
        .create_rule(CreateRuleRequest {
            request_id: "r4".into(),
            name: "Refunds".into(),
            query: "card".into(),
            ..Default::default()
        })
        .await
        .expect_err("name taken");
    assert_eq!(taken.code(), Code::AlreadyExists);

    let updated = acme
        .update_rule(UpdateRuleRequest {
            rule_id: rule.rule_id.clone(),
            version: 1,
            query: "refund* OR \"money back\" OR chargeback".into(),
            ..Default::default()
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!((updated.version, updated.name.as_str()), (2, "refunds"));
    let stale = acme
        .update_rule(UpdateRuleRequest {
            rule_id: rule.rule_id.clone(),
            version: 1,
            query: "refund".into(),
            ..Default::default()
        })
        .await
        .expect_err("stale version");
    assert_eq!(stale.code(), Code::Aborted);

    let retired = acme
        .delete_rule(DeleteRuleRequest {
            rule_id: rule.rule_id.clone(),
            version: 2,
        })
        .await
        .expect("retired")
        .into_inner();
    assert!(!retired.active);
    assert_eq!(retired.version, 3);
    let after = acme
        .update_rule(UpdateRuleRequest {
            rule_id: rule.rule_id.clone(),
            version: 3,
            query: "refund".into(),
            ..Default::default()
        })
        .await
        .expect_err("retired rules do not change");
    assert_eq!(after.code(), Code::FailedPrecondition);

    let versions = acme
        .list_rule_versions(ListRuleVersionsRequest {
            rule_id: rule.rule_id.clone(),
        })
        .await
        .expect("history")
        .into_inner()
        .versions;
    let history: Vec<(u32, bool)> = versions.iter().map(|v| (v.version, v.active)).collect();
    assert_eq!(history, vec![(3, false), (2, true), (1, true)]);
    assert_eq!(versions[2].query, "refund* OR \"money back\"");
    assert_eq!(versions[0].changed_by, "test-user");

    let listed = acme
        .list_rules(ListRulesRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert!(
        listed.rules.is_empty(),
        "retired rules are hidden by default"
    );
    let all = acme
        .list_rules(ListRulesRequest {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(all.rules.len(), 1);

    // Another tenant sees nothing of it.
    let mut globex = harness.client("globex", SCOPES);
    let hidden = globex
        .get_rule(GetRuleRequest {
            rule_id: rule.rule_id.clone(),
        })
        .await
        .expect_err("other tenant");
    assert_eq!(hidden.code(), Code::NotFound);
    // Reading mentions is not enough to change rules.
    let mut reader = harness.client("acme", &["mentions:read"]);
    let denied = reader
        .create_rule(CreateRuleRequest {
            request_id: "r5".into(),
            name: "x".into(),
            query: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("scope");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn mentions_record_the_rules_that_matched_and_can_be_searched() {
    let mut harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);
    let refunds = create_rule(&mut acme, "refunds", "refund* OR \"money back\"").await;
    let vip = create_rule(&mut acme, "loud voices", "followers:>=10k").await;

    let mut loud = mention(
        "1",
        "famous",
        "I was charged twice and want a refund, this is unacceptable",
    );
    if let Some(author) = loud.author.as_mut() {
        author.followers = 250_000;
    }
    let response = ingest(
        &mut acme,
        vec![
            loud,
            mention("2", "jane", "Thanks @acme, the new app is awesome! Love it"),
            mention(
                "3",
                "bob",
                "Where is my parcel? The delivery is 5 days late",
            ),
        ],
    )
    .await;
    assert_eq!(response.accepted, 3);
    let ids: Vec<String> = response
        .results
        .iter()
        .map(|r| r.mention_id.clone())
        .collect();

    let first = get(&mut acme, &ids[0]).await;
    let matched: Vec<(String, u32)> = first
        .matched_rules
        .iter()
        .map(|r| (r.name.clone(), r.version))
        .collect();
    assert_eq!(
        matched,
        vec![("refunds".to_owned(), 1), ("loud voices".to_owned(), 1)]
    );
    let c = first.classification.expect("classified");
    let sentiment = c.sentiment.expect("sentiment");
    assert!(sentiment.compound < 0.0, "{sentiment:?}");
    assert!(!c.urgency.is_empty(), "250k followers is media attention");

    let by_rule = search(
        &mut acme,
        ListMentionsRequest {
            rule_id: refunds.rule_id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_rule.len(), 1);
    assert_eq!(by_rule[0].mention_id, ids[0]);

    let positive = search(
        &mut acme,
        ListMentionsRequest {
            sentiment_min: Some(0.5),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(positive.len(), 1);
    assert_eq!(positive[0].mention_id, ids[1]);

    let delivery = search(
        &mut acme,
        ListMentionsRequest {
            topic: "delivery".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(delivery.len(), 1);
    assert_eq!(delivery[0].mention_id, ids[2]);

    let by_author = search(
        &mut acme,
        ListMentionsRequest {
            author: "@Bob".into(),
            channel: Channel::X as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_author.len(), 1);

    let praise = search(
        &mut acme,
        ListMentionsRequest {
            intent: Intent::Praise as i32,
            actionable: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(praise.len(), 1);
    assert_eq!(praise[0].mention_id, ids[1]);

    let posted_later = search(
        &mut acme,
        ListMentionsRequest {
            posted_from: Some(
                (std::time::SystemTime::now() + std::time::Duration::from_secs(3600)).into(),
            ),
            ..Default::default()
        },
    )
    .await;
    assert!(posted_later.is_empty());

    // Pages of one walk the whole result, newest first.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = acme
            .list_mentions(ListMentionsRequest {
                page_size: 1,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        seen.extend(page.mentions.into_iter().map(|m| m.mention_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), 3);

    // A new version applies to what comes next, on a restarted service too.
    acme.update_rule(UpdateRuleRequest {
        rule_id: vip.rule_id.clone(),
        version: 1,
        query: "followers:>=100".into(),
        ..Default::default()
    })
    .await
    .expect("updated");
    harness.service.restart().await;
    let mut acme = harness.client("acme", SCOPES);
    let later = ingest(&mut acme, vec![mention("4", "carol", "hello there")]).await;
    let fourth = get(&mut acme, &later.results[0].mention_id).await;
    assert_eq!(fourth.matched_rules.len(), 1);
    assert_eq!(fourth.matched_rules[0].version, 2);
    // The first mention keeps what matched it then.
    assert_eq!(get(&mut acme, &ids[0]).await.matched_rules[1].version, 1);

    // Another tenant's search sees none of it.
    let mut globex = harness.client("globex", SCOPES);
    assert!(
        search(&mut globex, ListMentionsRequest::default())
            .await
            .is_empty()
    );
    let err = globex
        .get_mention(GetMentionRequest {
            mention_id: ids[0].clone(),
        })
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn noise_is_dropped_with_its_reason_and_listed() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);
    let settings = acme
        .update_listening_settings(UpdateListeningSettingsRequest {
            version: 0,
            brand_handles: vec!["@AcmeHelp".into()],
            ..Default::default()
        })
        .await
        .expect("settings")
        .into_inner();
    assert_eq!(settings.version, 1);
    assert!(settings.default_topics);

    let mut retweet = mention("r1", "fan", "RT @jane: my card never arrived");
    retweet.share = true;
    let response = ingest(
        &mut acme,
        vec![
            mention(
                "k1",
                "jane",
                "My card never arrived and nobody answers, please help",
            ),
            mention(
                "d1",
                "AcmeHelp",
                "We're sorry to hear that, we're looking into it",
            ),
            mention(
                "d2",
                "spammer",
                "https://spam.example/win https://spam.example/more",
            ),
            retweet,
        ],
    )
    .await;
    assert_eq!(response.accepted, 4, "noise is stored, never lost");

    let kept = search(&mut acme, ListMentionsRequest::default()).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].external_id, "k1");

    let dropped = search(
        &mut acme,
        ListMentionsRequest {
            dropped_reason: "*".into(),
            ..Default::default()
        },
    )
    .await;
    let mut reasons: Vec<(String, String)> = dropped
        .iter()
        .map(|m| (m.external_id.clone(), m.dropped_reason.clone()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("d1".to_owned(), "brand_own_post".to_owned()),
            ("d2".to_owned(), "link_only".to_owned()),
            ("r1".to_owned(), "share_without_text".to_owned()),
        ]
    );
    assert!(dropped.iter().all(|m| !m.dropped_detail.is_empty()));
    let own = search(
        &mut acme,
        ListMentionsRequest {
            dropped_reason: "brand_own_post".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(own.len(), 1);
}

#[tokio::test]
async fn a_tenant_taxonomy_replaces_the_default_one() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);
    let current = acme
        .get_listening_settings(GetListeningSettingsRequest {})
        .await
        .expect("settings")
        .into_inner();
    assert!(current.default_topics);
    assert!(current.topics.iter().any(|t| t.key == "delivery"));

    let bad = acme
        .update_listening_settings(UpdateListeningSettingsRequest {
            version: 0,
            topics: vec![
                Topic {
                    key: "espresso".into(),
                    phrases: vec!["espresso*".into()],
                },
                Topic {
                    key: "Bad Key!".into(),
                    phrases: vec!["x".into()],
                },
            ],
            ..Default::default()
        })
        .await
        .expect_err("bad key");
    assert!(
        field_of(&bad).starts_with("topics[1]"),
        "{}",
        field_of(&bad)
    );

    acme.update_listening_settings(UpdateListeningSettingsRequest {
        version: 0,
        topics: vec![Topic {
            key: "espresso".into(),
            phrases: vec!["espresso*".into(), "portafilter".into()],
        }],
        ..Default::default()
    })
    .await
    .expect("custom taxonomy");
    let stale = acme
        .update_listening_settings(UpdateListeningSettingsRequest {
            version: 0,
            ..Default::default()
        })
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);

    let response = ingest(
        &mut acme,
        vec![mention(
            "t1",
            "jane",
            "My espressos taste burnt since the update",
        )],
    )
    .await;
    let m = get(&mut acme, &response.results[0].mention_id).await;
    let topics: Vec<String> = m
        .classification
        .expect("classified")
        .topics
        .into_iter()
        .map(|t| t.topic)
        .collect();
    assert_eq!(topics, vec!["espresso"]);
    let mut globex = harness.client("globex", SCOPES);
    let theirs = globex
        .get_listening_settings(GetListeningSettingsRequest {})
        .await
        .expect("settings")
        .into_inner();
    assert!(theirs.default_topics, "one tenant's taxonomy is its own");
}

#[tokio::test]
async fn labels_give_precision_and_recall_and_drafts_can_be_backtested() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);
    let rule = create_rule(&mut acme, "cards", "card*").await;
    let texts = [
        ("l1", "my card was declined at the shop", Some(true)),
        ("l2", "card games night with friends", Some(false)),
        (
            "l3",
            "I can't log in to the app since yesterday",
            Some(true),
        ),
        ("l4", "cardio at the gym today", None),
    ];
    let response = ingest(
        &mut acme,
        texts
            .iter()
            .map(|(id, text, _)| mention(id, "someone", text))
            .collect(),
    )
    .await;
    for ((_, _, relevant), result) in texts.iter().zip(&response.results) {
        if let Some(relevant) = relevant {
            let label = acme
                .label_mention(LabelMentionRequest {
                    mention_id: result.mention_id.clone(),
                    relevant: *relevant,
                    intent: if *relevant { 0 } else { Intent::Other as i32 },
                    ..Default::default()
                })
                .await
                .expect("labelled")
                .into_inner();
            assert_eq!(label.labelled_by, "test-user");
        }
    }
    // "cardio" is judged irrelevant for this rule only.
    acme.label_mention(LabelMentionRequest {
        mention_id: response.results[3].mention_id.clone(),
        rule_id: rule.rule_id.clone(),
        relevant: false,
        ..Default::default()
    })
    .await
    .expect("labelled for the rule");

    let accuracy = acme
        .get_listening_accuracy(GetListeningAccuracyRequest {})
        .await
        .expect("accuracy")
        .into_inner();
    assert_eq!(accuracy.labels, 4);
    assert_eq!(accuracy.intent_corrections, 1);
    let cards = accuracy.rules[0].accuracy.expect("estimated");
    // card* catches l1 (relevant), l2 (not) and l4 (not, for this rule); misses l3.
    assert_eq!(
        (
            cards.labelled,
            cards.true_positives,
            cards.false_positives,
            cards.false_negatives
        ),
        (4, 1, 2, 1)
    );
    assert!((cards.precision - 1.0 / 3.0).abs() < 1e-9);
    assert!((cards.recall - 0.5).abs() < 1e-9);

    let draft = acme
        .backtest_rule(BacktestRuleRequest {
            query: "card AND NOT games OR \"log in\"".into(),
            rule_id: rule.rule_id.clone(),
            ..Default::default()
        })
        .await
        .expect("backtested")
        .into_inner();
    let a = draft.accuracy.expect("accuracy");
    assert_eq!(
        (a.true_positives, a.false_positives, a.false_negatives),
        (2, 0, 0)
    );
    assert_eq!((a.precision, a.recall), (1.0, 1.0));
    assert_eq!(
        (draft.volume, draft.scanned, draft.truncated),
        (2, 4, false)
    );
    assert!(draft.misses.is_empty() && draft.false_hits.is_empty());

    let worse = acme
        .backtest_rule(BacktestRuleRequest {
            query: "card*".into(),
            ..Default::default()
        })
        .await
        .expect("backtested")
        .into_inner();
    assert_eq!(worse.misses.len(), 1);
    assert_eq!(
        worse.misses[0].text,
        "I can't log in to the app since yesterday"
    );
    assert_eq!(
        worse.false_hits.len(),
        1,
        "cardio's label is for the rule, not the draft"
    );

    let bad = acme
        .backtest_rule(BacktestRuleRequest {
            query: "card NEAR/ x".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad draft");
    assert_eq!(field_of(&bad), "query");
    let unknown = acme
        .label_mention(LabelMentionRequest {
            mention_id: uuid::Uuid::now_v7().to_string(),
            relevant: true,
            ..Default::default()
        })
        .await
        .expect_err("no such mention");
    assert_eq!(unknown.code(), Code::NotFound);
    let bad_sentiment = acme
        .label_mention(LabelMentionRequest {
            mention_id: response.results[0].mention_id.clone(),
            relevant: true,
            sentiment: Some(3.0),
            ..Default::default()
        })
        .await
        .expect_err("out of range");
    assert_eq!(field_of(&bad_sentiment), "sentiment");

    // Labels belong to their tenant.
    let mut globex = harness.client("globex", SCOPES);
    let foreign = globex
        .label_mention(LabelMentionRequest {
            mention_id: response.results[0].mention_id.clone(),
            relevant: true,
            ..Default::default()
        })
        .await
        .expect_err("other tenant's mention");
    assert_eq!(foreign.code(), Code::NotFound);
    let labelled = get(&mut acme, &response.results[0].mention_id).await;
    assert_eq!(labelled.labels.len(), 1);
}
