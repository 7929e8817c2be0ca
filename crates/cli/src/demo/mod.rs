//! `earshot demo`: feeds a running suite a small, realistic stream of mentions
//! from every kind of channel and shows what each service made of it.
//!
//! Escalation's part (guidelines firing, an incident and its holding
//! statement, a spike backtest, a scored drill) is in [`escalation`];
//! insight's in [`insight`]; the learned models' and a tenant's
//! corrections in [`models`].
//!
//! The customer requests are real: from banking77 (PolyAI, CC BY 4.0) and the
//! Bitext customer-support sample (CDLA-Sharing 1.0); see data/README.md.

use std::collections::HashSet;
use std::time::Duration;

use earshot_auth::{AuthConfig, BearerAuth};
use earshot_config::Env;
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    Agent, ClaimCaseRequest, GetCaseRequest, Lane, ListCasesRequest, PutAgentRequest,
    PutSlaPolicyRequest, SlaPolicy,
};
use earshot_proto::common::v1::{Author, Channel, Intent, Urgency};
use earshot_proto::escalation::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{Day, GetSummaryRequest, GetSummaryResponse};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    CreateRuleRequest, GetListeningSettingsRequest, GetMentionRequest, IngestMentionsRequest,
    IngestStatus, MentionInput, UpdateListeningSettingsRequest,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

use crate::{DEV_SCOPES, PORTS, dev_secret};

mod escalation;
mod http;
mod insight;
mod migration;
mod models;
mod payloads;

type Authed = InterceptedService<GrpcChannel, BearerAuth>;

/// (priority, lane, first response, next response, resolution) in seconds.
const SLA_POLICIES: &[(&str, Lane, u32, u32, u32)] = &[
    ("normal", Lane::Standard, 3_600, 4 * 3_600, 24 * 3_600),
    ("high", Lane::Standard, 1_800, 2 * 3_600, 8 * 3_600),
    ("normal", Lane::Fast, 900, 3_600, 8 * 3_600),
    ("high", Lane::Fast, 600, 1_800, 4 * 3_600),
    ("urgent", Lane::Fast, 300, 900, 2 * 3_600),
];

/// (channel, public, author handle, followers, text)
const STREAM: &[(Channel, bool, &str, u64, &str)] = &[
    (
        Channel::X,
        true,
        "mara_k",
        1_240,
        "I still have not received my new card, I ordered over a week ago.",
    ),
    (
        Channel::X,
        true,
        "tom_builds",
        87,
        "I'm pretty sure my top up failed. How do I fix this?",
    ),
    (
        Channel::X,
        true,
        "dailycommuter",
        15_300,
        "Thanks @acmebank, the new app is awesome",
    ),
    (
        Channel::X,
        true,
        "jules_writes",
        48_000,
        "Charged twice for my card again and nobody answers. A disgrace. I will sue if it is not refunded today.",
    ),
    (
        Channel::Facebook,
        true,
        "Priya Natarajan",
        310,
        "I bought something overseas and the wrong exchange rate is on my statement.",
    ),
    (
        Channel::Facebook,
        true,
        "Leo Brandt",
        45,
        "What would be the reason there's an extra fee on my statement?",
    ),
    (
        Channel::Instagram,
        true,
        "sun.and.salt",
        52_000,
        "Going to the beach this weekend with the whole crew",
    ),
    (
        Channel::Instagram,
        true,
        "kitchen_diaries",
        8_900,
        "why isnt top up working",
    ),
    (
        Channel::Review,
        true,
        "verified buyer",
        0,
        "Worst experience ever: charged twice and still waiting for a refund. Unacceptable.",
    ),
    (
        Channel::Review,
        true,
        "happy customer",
        0,
        "Brilliant support, thank you for sorting my account so quickly.",
    ),
    (
        Channel::Email,
        false,
        "jane.doe@example.com",
        0,
        "can you help me canceling purchase 00004587345?",
    ),
    (
        Channel::Chat,
        false,
        "visitor-4821",
        0,
        "the balance on my account didnt change when i transferred money",
    ),
    (
        Channel::Phone,
        false,
        "+44 20 7946 0018",
        0,
        "Caller says her card was stolen abroad and she is locked out of the app.",
    ),
    // Noise: the brand's own post and a link-only post are stored but dropped.
    (
        Channel::X,
        true,
        "acmebank",
        120_000,
        "Our app update is live! Tell us what you think https://acmebank.example/new",
    ),
    (
        Channel::X,
        true,
        "deals4u_bot",
        3,
        "https://bit.ly/3xYzAbC https://bit.ly/4pQrStU",
    ),
];

/// The demo tenant's listening rule and the brand's own handle.
const DEMO_RULE: (&str, &str) = (
    "cards and top ups",
    "card* OR \"top up\" OR topup OR (charged NEAR/3 twice)",
);
const BRAND_HANDLE: &str = "acmebank";
/// The support team: two agents of the default queue, each calling with a
/// token of their own, so the audit trail and claims tell them apart.
const AGENTS: [&str; 2] = ["agent-ana", "agent-ben"];

fn source_of(channel: Channel) -> &'static str {
    match channel {
        Channel::X => "x",
        Channel::Facebook => "facebook",
        Channel::Instagram => "instagram",
        Channel::Review => "trustpilot",
        Channel::Email => "email",
        Channel::Chat => "chat",
        Channel::Phone => "phone",
        _ => "api",
    }
}

/// The demo stream, with external ids unique to this run so every run adds to the counts.
pub fn stream(run: &str) -> Vec<MentionInput> {
    STREAM
        .iter()
        .enumerate()
        .map(
            |(i, (channel, public, handle, followers, text))| MentionInput {
                source: source_of(*channel).into(),
                external_id: format!("demo-{run}-{i}"),
                channel: *channel as i32,
                public: *public,
                author: Some(Author {
                    external_id: format!("{}-{handle}", source_of(*channel)),
                    handle: (*handle).into(),
                    display_name: (*handle).into(),
                    followers: *followers,
                    verified: *followers > 10_000,
                }),
                text: (*text).into(),
                language: "en".into(),
                thread_key: format!("demo-{run}-{i}"),
                posted_at: Some(std::time::SystemTime::now().into()),
                share: false,
            },
        )
        .collect()
}

fn today() -> Day {
    use chrono::Datelike;
    let now = chrono::Utc::now().date_naive();
    Day {
        year: now.year(),
        month: now.month(),
        day: now.day(),
    }
}

async fn summary(insight: &mut InsightServiceClient<Authed>) -> anyhow::Result<GetSummaryResponse> {
    Ok(insight
        .get_summary(GetSummaryRequest {
            from: Some(today()),
            to: Some(today()),
        })
        .await?
        .into_inner())
}

async fn connect(host: &str, port: u16, token: &BearerAuth) -> anyhow::Result<Authed> {
    let url = format!("http://{host}:{port}");
    let channel = GrpcChannel::from_shared(url.clone())?
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach {url} ({e}). Is the suite running? Start it with `earshot up`."
            )
        })?;
    Ok(InterceptedService::new(channel, token.clone()))
}

/// Waits, with a deadline, until `found` holds of what `look` answers.
pub(crate) async fn until<T, F, Fut>(
    what: &str,
    mut look: F,
    found: impl Fn(&T) -> bool,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = look().await?;
        if found(&now) {
            return Ok(now);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("{what}: not seen within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn clip(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(chars - 1).collect::<String>())
    }
}

/// Runs the demo as `tenant`, or as a tenant of its own (`demo-<time>`):
/// the same customers writing again about the same things would join the
/// cases they opened last time, which is right, but not a demo of opening them.
pub async fn run(env: Env, tenant: Option<&str>) -> anyhow::Result<()> {
    let run_id = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let tenant = tenant.map_or_else(|| format!("demo-{run_id}"), str::to_owned);
    let tenant = tenant.as_str();
    let secret = dev_secret::load(&env, false)?;
    let minter = AuthConfig::SharedSecret(secret).minter()?;
    let mint = |subject: &str| minter.mint(subject, tenant, DEV_SCOPES, Duration::from_secs(3600));
    let demo_token = mint("earshot-demo");
    let auth = BearerAuth::new(&demo_token)?;
    let host = env.string_or("EARSHOT_DEMO_HOST", "127.0.0.1");
    let mut listening = ListeningServiceClient::new(connect(&host, PORTS[0].1.grpc, &auth).await?);
    let mut case = CaseServiceClient::new(connect(&host, PORTS[1].1.grpc, &auth).await?);
    let mut escalation =
        EscalationServiceClient::new(connect(&host, PORTS[2].1.grpc, &auth).await?);
    let mut insight = InsightServiceClient::new(connect(&host, PORTS[3].1.grpc, &auth).await?);

    let rule = listening
        .create_rule(CreateRuleRequest {
            request_id: "demo-rule-cards".into(),
            name: DEMO_RULE.0.into(),
            query: DEMO_RULE.1.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let settings = listening
        .get_listening_settings(GetListeningSettingsRequest {})
        .await?
        .into_inner();
    if !settings.brand_handles.iter().any(|h| h == BRAND_HANDLE) {
        let mut brand_handles = settings.brand_handles.clone();
        brand_handles.push(BRAND_HANDLE.into());
        listening
            .update_listening_settings(UpdateListeningSettingsRequest {
                version: settings.version,
                topics: if settings.default_topics {
                    Vec::new()
                } else {
                    settings.topics
                },
                brand_handles,
            })
            .await?;
    }

    // Clocks on every case, tighter in the fast lane, so the queue has due
    // times to sort by (and the dashboard to plot).
    for (priority, lane, first, next, resolution) in SLA_POLICIES {
        case.put_sla_policy(PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                priority: (*priority).into(),
                lane: *lane as i32,
                first_response_seconds: *first,
                next_response_seconds: *next,
                resolution_seconds: *resolution,
                ..Default::default()
            }),
        })
        .await?;
    }

    let mut agents = Vec::new();
    for agent_id in AGENTS {
        case.put_agent(PutAgentRequest {
            agent: Some(Agent {
                agent_id: agent_id.into(),
                display_name: agent_id.into(),
                queues: vec!["general".into()],
                capacity: 20,
                available: true,
                ..Default::default()
            }),
        })
        .await?;
        let auth = BearerAuth::new(&mint(agent_id))?;
        agents.push(CaseServiceClient::new(
            connect(&host, PORTS[1].1.grpc, &auth).await?,
        ));
    }

    let before = summary(&mut insight).await?;
    let mentions = stream(&run_id);
    let first_again = mentions[0].clone();
    let ingested = listening
        .ingest_mentions(IngestMentionsRequest {
            mentions: mentions.clone(),
        })
        .await?
        .into_inner();
    let again = listening
        .ingest_mentions(IngestMentionsRequest {
            mentions: vec![first_again],
        })
        .await?
        .into_inner();

    let channels: HashSet<i32> = mentions.iter().map(|m| m.channel).collect();
    println!(
        "Tenant \"{tenant}\": fed {} mentions from {} channels.",
        mentions.len(),
        channels.len()
    );
    println!(
        "listening   {} accepted, {} duplicates, {} rejected; the first one sent again: {}",
        ingested.accepted,
        ingested.duplicates,
        ingested.rejected,
        if again.results[0].status == IngestStatus::Duplicate as i32 {
            "duplicate, stored once"
        } else {
            "NOT deduplicated"
        }
    );
    println!(
        "            rule \"{}\" v{}: {}",
        rule.name, rule.version, rule.query
    );
    println!(
        "  {:<9} {:<12} {:>4} {:<11} {:>6} {:<22} {:<26} {:<5} text",
        "channel", "intent", "conf", "reply", "tone", "topics / urgency", "cues", "rule"
    );
    let mut ids = HashSet::new();
    let (mut actionable, mut kept) = (0u64, 0u64);
    for (input, result) in mentions.iter().zip(&ingested.results) {
        let mention = listening
            .get_mention(GetMentionRequest {
                mention_id: result.mention_id.clone(),
            })
            .await?
            .into_inner();
        let channel = Channel::try_from(input.channel).unwrap_or(Channel::Unspecified);
        let channel = channel.as_str_name().trim_start_matches("CHANNEL_");
        if !mention.dropped_reason.is_empty() {
            println!(
                "  {channel:<9} dropped as {}: {} — {}",
                mention.dropped_reason,
                mention.dropped_detail,
                clip(&input.text, 50)
            );
            continue;
        }
        kept += 1;
        let c = mention.classification.unwrap_or_default();
        actionable += u64::from(c.actionable);
        ids.insert(result.mention_id.clone());
        let intent = Intent::try_from(c.intent).unwrap_or(Intent::Unspecified);
        let tone = c.sentiment.as_ref().map_or(0.0, |s| s.compound);
        let signals: Vec<String> = c
            .topics
            .iter()
            .map(|t| t.topic.clone())
            .chain(c.urgency.iter().map(|u| {
                Urgency::try_from(u.urgency)
                    .unwrap_or(Urgency::Unspecified)
                    .as_str_name()
                    .trim_start_matches("URGENCY_")
                    .to_lowercase()
            }))
            .collect();
        println!(
            "  {channel:<9} {:<12} {:>4.2} {:<11} {tone:>+6.2} {:<22} {:<26} {:<5} {}",
            intent.as_str_name().trim_start_matches("INTENT_"),
            c.intent_confidence,
            if c.actionable { "needs reply" } else { "-" },
            clip(&signals.join(", "), 22),
            clip(&c.cues.join(", "), 26),
            if mention.matched_rules.is_empty() {
                ""
            } else {
                "yes"
            },
            clip(&input.text, 48)
        );
    }

    // Events travel through the outboxes; wait for them with a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let expected_mentions = before.mentions + kept;
    let expected_cases = before.cases_opened + actionable;
    let after = loop {
        let now = summary(&mut insight).await?;
        if now.mentions >= expected_mentions && now.cases_opened >= expected_cases {
            break now;
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "insight counted {} mentions and {} cases after 30 s, expected {expected_mentions} and {expected_cases}",
                now.mentions,
                now.cases_opened
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let cases = case
        .list_cases(ListCasesRequest {
            page_size: 500,
            ..Default::default()
        })
        .await?
        .into_inner()
        .cases;
    let ours: Vec<_> = cases
        .iter()
        .filter(|c| ids.contains(&c.mention_id))
        .collect();
    println!(
        "case        opened {} cases, one per cry for help:",
        ours.len()
    );
    for c in &ours {
        println!(
            "  {}  {:<5} {:<9} {:<18} {}",
            c.case_id,
            c.priority,
            c.assignee,
            clip(&c.customer_handle, 18),
            clip(&c.subject, 50)
        );
    }
    if let (Some(first), [ana, ben]) = (ours.first(), agents.as_mut_slice()) {
        let claim = |version| ClaimCaseRequest {
            case_id: first.case_id.clone(),
            version,
            release: false,
        };
        // The case moves on while the demo looks (an escalation raises its
        // priority): claim the version it is at, reading it again if it
        // changed in between.
        let mut attempt = 0;
        let held = loop {
            let current = ana
                .get_case(GetCaseRequest {
                    case_id: first.case_id.clone(),
                })
                .await?
                .into_inner();
            match ana.claim_case(claim(current.version)).await {
                Ok(held) => break held.into_inner(),
                Err(s) if s.code() == tonic::Code::Aborted && attempt < 5 => attempt += 1,
                Err(s) => return Err(s.into()),
            }
        };
        let refused = ben.claim_case(claim(held.version)).await.err();
        println!(
            "            {} claimed {}; {} trying too: {}",
            AGENTS[0],
            first.case_id,
            AGENTS[1],
            refused.map_or_else(|| "NOT refused".to_owned(), |s| s.message().to_owned())
        );
    }
    escalation::show(&mut escalation, &ids, &run_id).await?;
    println!(
        "insight     today for \"{tenant}\": {} mentions heard, {} cases opened (this run: +{}, +{})",
        after.mentions,
        after.cases_opened,
        after.mentions - before.mentions,
        after.cases_opened - before.cases_opened
    );
    insight::show(&mut listening, &mut insight, &run_id).await?;
    models::show(&mut listening, &run_id).await?;
    migration::show(&mut listening).await?;
    payloads::show(&mut listening).await?;
    if let Some(first) = ours.first() {
        http::show(&mut insight, &host, &demo_token, &first.case_id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_has_its_own_external_ids_on_every_channel() {
        let a = stream("a");
        let b = stream("b");
        assert_ne!(a[0].external_id, b[0].external_id);
        let channels: HashSet<i32> = a.iter().map(|m| m.channel).collect();
        assert_eq!(channels.len(), 7);
        let actionable = a
            .iter()
            .filter(|m| {
                earshot_listening::pipeline::hear(
                    &m.text,
                    0,
                    false,
                    earshot_listening::pipeline::classify::default_taxonomy(),
                    None,
                )
                .actionable
            })
            .count();
        assert!(
            actionable >= 6 && actionable < a.len(),
            "a mix of cries for help and the rest: {actionable}"
        );
    }
}
