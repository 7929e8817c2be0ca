//! Queries written the way other tools' users write them: every row of
//! `conformance/queries.tsv` either means what it meant in the tool it names
//! or is refused with a message saying how to write it here, checked through
//! the `ValidateQuery` RPC of a real listening server. Then rules with the
//! new options through the API: warnings and accent folding on the rule,
//! kept across a restart, one tenant's rule options never another's.

mod common;

use common::mention;
use earshot_listening::ListeningService;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    CreateRuleRequest, GetMentionRequest, IngestMentionsRequest, ListRuleVersionsRequest,
    ListRulesRequest, UpdateRuleRequest, ValidateQueryRequest, ValidateQueryResponse,
};
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings, token};
use tonic::Code;

type Client = ListeningServiceClient<AuthedChannel>;

const SCOPES: &[&str] = &["mentions:read", "mentions:write", "rules:write"];

/// One row of the conformance table.
struct Row<'a> {
    line: usize,
    tool: &'a str,
    construct: &'a str,
    query: &'a str,
    fold: bool,
    text: &'a str,
    meta: &'a str,
    expect: &'a str,
    message: &'a str,
}

fn rows(table: &str) -> Vec<Row<'_>> {
    table
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1) // the header
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split('\t').collect();
            assert_eq!(cells.len(), 8, "line {}: 8 columns, got {cells:?}", i + 1);
            Row {
                line: i + 1,
                tool: cells[0],
                construct: cells[1],
                query: cells[2],
                fold: match cells[3] {
                    "" => false,
                    "fold" => true,
                    other => panic!("line {}: unknown option {other}", i + 1),
                },
                text: cells[4],
                meta: cells[5],
                expect: cells[6],
                message: cells[7],
            }
        })
        .collect()
}

fn request(row: &Row<'_>) -> ValidateQueryRequest {
    let mut request = ValidateQueryRequest {
        query: row.query.into(),
        fold_accents: row.fold,
        text: row.text.into(),
        ..Default::default()
    };
    for pair in row.meta.split_whitespace() {
        let (key, value) = pair.split_once('=').expect("meta is key=value");
        match key {
            "lang" => request.language = value.into(),
            "source" => request.source = value.into(),
            "followers" => request.followers = value.parse().expect("a number"),
            "verified" => request.verified = value == "true",
            other => panic!("line {}: unknown meta {other}", row.line),
        }
    }
    request
}

fn warned(response: &ValidateQueryResponse, part: &str) -> bool {
    response.warnings.iter().any(|w| w.message.contains(part))
}

#[tokio::test]
async fn every_construct_of_the_other_tools_reads_as_there_or_is_refused_with_the_way_here() {
    let db = TestDatabase::create().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = Client::new(listening.authed(&token("acme", SCOPES)));
    let table = include_str!("conformance/queries.tsv");
    let rows = rows(table);
    assert!(rows.len() >= 60, "the table has {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let what = format!(
            "line {} ({}, {}): {}",
            row.line, row.tool, row.construct, row.query
        );
        let outcome = client.validate_query(request(row)).await;
        let problem = match (row.expect, outcome) {
            ("refused", Err(status)) => {
                let ok = status.code() == Code::InvalidArgument
                    && status.message().starts_with("query: at ")
                    && status.message().contains(row.message);
                (!ok).then(|| format!("refused as {:?}: {}", status.code(), status.message()))
            }
            ("refused", Ok(response)) => {
                Some(format!("accepted as {}", response.into_inner().canonical))
            }
            (_, Err(status)) => Some(format!("refused: {}", status.message())),
            (expect, Ok(response)) => {
                let response = response.into_inner();
                let matches = response.matches == Some(true);
                let wanted = match expect {
                    "match" => true,
                    "no match" => false,
                    other => panic!("line {}: unknown expectation {other}", row.line),
                };
                if matches != wanted {
                    Some(format!(
                        "read as {}: {} \"{}\" (hits {:?})",
                        response.canonical,
                        if matches { "matches" } else { "does not match" },
                        row.text,
                        response.hits
                    ))
                } else if !row.message.is_empty() && !warned(&response, row.message) {
                    Some(format!(
                        "no warning with \"{}\": {:?}",
                        row.message, response.warnings
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(problem) = problem {
            failures.push(format!("{what}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_dry_run_shows_the_tree_the_hits_and_stores_nothing() {
    let db = TestDatabase::create().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = Client::new(listening.authed(&token("acme", SCOPES)));
    let response = client
        .validate_query(ValidateQueryRequest {
            query: "(card OR phone) NEAR/3f stolen OR \"apple juice\"~5".into(),
            text: "My card was stolen at the station".into(),
            ..Default::default()
        })
        .await
        .expect("valid")
        .into_inner();
    assert_eq!(
        response.canonical,
        "(((card OR phone) NEAR/3f stolen) OR (apple NEAR/5 juice))"
    );
    assert_eq!(response.matches, Some(true));
    assert_eq!(response.hits, ["card", "stolen"]);
    let tree = response.tree.expect("a tree");
    assert_eq!(tree.kind, "or");
    let kinds: Vec<&str> = tree.children.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["near", "near"]);
    assert!(tree.children[0].matched && !tree.children[1].matched);

    // Without a text: the tree and warnings only.
    let parse_only = client
        .validate_query(ValidateQueryRequest {
            query: "apple juice OR orange".into(),
            ..Default::default()
        })
        .await
        .expect("valid")
        .into_inner();
    assert_eq!(parse_only.matches, None);
    assert!(parse_only.hits.is_empty());
    assert_eq!(parse_only.warnings.len(), 1);
    assert_eq!(parse_only.warnings[0].column, 1);

    let empty = client
        .validate_query(ValidateQueryRequest::default())
        .await
        .expect_err("no query");
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(empty.message(), "query: is required");
    let long = client
        .validate_query(ValidateQueryRequest {
            query: "card".into(),
            text: "x".repeat(20_001),
            ..Default::default()
        })
        .await
        .expect_err("too long");
    assert!(long.message().starts_with("text: "), "{}", long.message());

    let rules = client
        .list_rules(ListRulesRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert!(rules.rules.is_empty(), "a dry run stores nothing");
}

async fn matched(client: &mut Client, id: &str, text: &str) -> Vec<String> {
    let response = client
        .ingest_mentions(IngestMentionsRequest {
            mentions: vec![mention(id, &format!("author-{id}"), text)],
        })
        .await
        .expect("ingested")
        .into_inner();
    let mention_id = response.results[0].mention_id.clone();
    client
        .get_mention(GetMentionRequest { mention_id })
        .await
        .expect("stored")
        .into_inner()
        .matched_rules
        .into_iter()
        .map(|r| r.name)
        .collect()
}

#[tokio::test]
async fn rules_carry_warnings_and_fold_accents_for_their_tenant_only_across_restarts() {
    let db = TestDatabase::create().await;
    let mut listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut acme = Client::new(listening.authed(&token("acme", SCOPES)));
    let mut globex = Client::new(listening.authed(&token("globex", SCOPES)));

    let refused = acme
        .create_rule(CreateRuleRequest {
            request_id: "r0".into(),
            name: "firehose".into(),
            query: "NOT juice".into(),
            ..Default::default()
        })
        .await
        .expect_err("only negative");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("only excludes"),
        "{}",
        refused.message()
    );

    let weather = acme
        .create_rule(CreateRuleRequest {
            request_id: "r1".into(),
            name: "el nino".into(),
            query: "nino anti-aging OR storm".into(),
            fold_accents: true,
        })
        .await
        .expect("created")
        .into_inner();
    assert!(weather.fold_accents);
    let messages: Vec<&str> = weather
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("binds tighter than OR")));
    assert!(messages.iter().any(|m| m.contains("read as the phrase")));
    // The same query for another tenant, accents as they are (the default).
    globex
        .create_rule(CreateRuleRequest {
            request_id: "r1".into(),
            name: "el nino".into(),
            query: "nino anti-aging OR storm".into(),
            ..Default::default()
        })
        .await
        .expect("created");

    let text = "El Niño anti-aging cream sales are up";
    let again = "Niño anti-aging serums sold out in Lima";
    let last = "why is El Niño anti-aging stuff everywhere";
    assert_eq!(matched(&mut acme, "a1", text).await, ["el nino"]);
    assert!(matched(&mut globex, "g1", text).await.is_empty());

    listening.restart().await;
    let mut acme = Client::new(listening.authed(&token("acme", SCOPES)));
    let mut globex = Client::new(listening.authed(&token("globex", SCOPES)));
    assert_eq!(matched(&mut acme, "a2", again).await, ["el nino"]);
    assert!(matched(&mut globex, "g2", again).await.is_empty());

    // Turning folding off is a new version; leaving it unset keeps it.
    let renamed = acme
        .update_rule(UpdateRuleRequest {
            rule_id: weather.rule_id.clone(),
            version: 1,
            name: "el niño".into(),
            ..Default::default()
        })
        .await
        .expect("renamed")
        .into_inner();
    assert!(renamed.fold_accents);
    let exact = acme
        .update_rule(UpdateRuleRequest {
            rule_id: weather.rule_id.clone(),
            version: 2,
            fold_accents: Some(false),
            ..Default::default()
        })
        .await
        .expect("changed")
        .into_inner();
    assert!(!exact.fold_accents && exact.version == 3);
    assert!(matched(&mut acme, "a3", last).await.is_empty());
    let versions = acme
        .list_rule_versions(ListRuleVersionsRequest {
            rule_id: weather.rule_id,
        })
        .await
        .expect("versions")
        .into_inner()
        .versions;
    let folding: Vec<bool> = versions.iter().map(|v| v.fold_accents).collect();
    assert_eq!(folding, [false, true, true]);
}
