//! The learned models' part of the demo: what they hear where the cue lists
//! alone went wrong (a complaint in plain words, sarcasm, a question that is
//! chatter), then a tenant's agents correcting them: 25 labels refit the
//! tenant's correction layer in the background, and the next mention is
//! heard the tenant's way while the shipped models stay as they were.

use earshot_proto::common::v1::{
    Actionability, Author, Channel, Classification, Intent, SentimentLabel,
};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    GetListeningAccuracyRequest, IngestMentionsRequest, LabelMentionRequest, MentionInput,
};

use super::{Authed, clip, until};

/// Where the cue lists alone went wrong.
const TRICKY: &[&str] = &[
    "@acmebank card declined at the till twice and the app just spins. third time this week",
    "@acmebank on hold for 2 hours and disconnected. Thanks a lot.",
    "what's the tallest mountain in africa?",
    "@acmebank cheers for sorting my refund so fast, lovely people",
];

/// A bank whose younger customers praise in slang the shipped models read
/// as negative: its agents label 25 such mentions praise.
const SLANG: (&[&str], &[&str]) = (
    &[
        "the new savings pots",
        "instant card freeze",
        "the budgeting tab",
        "round-ups",
        "the new card design",
    ],
    &[
        "is sick",
        "is insane",
        "is wicked",
        "goes hard",
        "is mental",
    ],
);

fn mention(run: &str, n: usize, text: &str) -> MentionInput {
    MentionInput {
        source: "x".into(),
        external_id: format!("demo-{run}-model-{n}"),
        channel: Channel::X as i32,
        public: true,
        author: Some(Author {
            external_id: format!("x-model-{n}"),
            handle: format!("customer_{n}"),
            followers: 300,
            ..Default::default()
        }),
        text: text.into(),
        language: "en".into(),
        posted_at: Some(std::time::SystemTime::now().into()),
        ..Default::default()
    }
}

fn name(intent: i32) -> String {
    Intent::try_from(intent)
        .unwrap_or(Intent::Unspecified)
        .as_str_name()
        .trim_start_matches("INTENT_")
        .to_lowercase()
}

fn tone(c: &Classification) -> String {
    c.sentiment.as_ref().map_or_else(String::new, |s| {
        let label = SentimentLabel::try_from(s.label).unwrap_or(SentimentLabel::Unspecified);
        format!(
            "{} {:.2} (VADER {:+.2})",
            label
                .as_str_name()
                .trim_start_matches("SENTIMENT_LABEL_")
                .to_lowercase(),
            s.confidence,
            s.vader_compound
        )
    })
}

fn reply(c: &Classification) -> &'static str {
    match Actionability::try_from(c.actionability) {
        Ok(Actionability::CryForHelp) => "needs reply",
        Ok(Actionability::HighFive) => "high five",
        _ => "-",
    }
}

async fn ingest(
    listening: &mut ListeningServiceClient<Authed>,
    mentions: Vec<MentionInput>,
) -> anyhow::Result<Vec<(String, Classification)>> {
    let response = listening
        .ingest_mentions(IngestMentionsRequest { mentions })
        .await?
        .into_inner();
    Ok(response
        .results
        .into_iter()
        .map(|r| (r.mention_id, r.classification.unwrap_or_default()))
        .collect())
}

pub async fn show(listening: &mut ListeningServiceClient<Authed>, run: &str) -> anyhow::Result<()> {
    let heard = ingest(
        listening,
        TRICKY
            .iter()
            .enumerate()
            .map(|(i, t)| mention(run, i, t))
            .collect(),
    )
    .await?;
    let model = heard
        .first()
        .map(|(_, c)| c.model.clone())
        .unwrap_or_default();
    println!("models      learned sentiment and intent ({model}) beside the cue lists:");
    println!(
        "  {:<10} {:>5} {:<12} {:<11} {:<30} text",
        "intent", "conf", "cues said", "reply", "sentiment"
    );
    for ((_, c), text) in heard.iter().zip(TRICKY) {
        println!(
            "  {:<10} {:>5.2} {:<12} {:<11} {:<30} {}",
            name(c.intent),
            c.intent_confidence,
            name(c.cue_intent),
            reply(c),
            tone(c),
            clip(text, 60)
        );
    }

    let (things, words) = SLANG;
    let slang: Vec<String> = words
        .iter()
        .flat_map(|w| things.iter().map(move |t| format!("{t} {w}")))
        .collect();
    let labelled = ingest(
        listening,
        slang
            .iter()
            .enumerate()
            .map(|(i, t)| mention(run, 100 + i, t))
            .collect(),
    )
    .await?;
    let misheard = labelled
        .iter()
        .filter(|(_, c)| {
            c.sentiment
                .as_ref()
                .is_none_or(|s| s.label != SentimentLabel::Positive as i32)
        })
        .count();
    for (id, _) in &labelled {
        listening
            .label_mention(LabelMentionRequest {
                mention_id: id.clone(),
                relevant: true,
                intent: Intent::Praise as i32,
                sentiment: Some(0.8),
                ..Default::default()
            })
            .await?;
    }
    let accuracy = until(
        "the correction layer refitted from the agents' labels",
        || {
            let mut listening = listening.clone();
            async move {
                Ok(listening
                    .get_listening_accuracy(GetListeningAccuracyRequest {})
                    .await?
                    .into_inner())
            }
        },
        |a| a.model.is_some() && a.labels_since_refit == 0,
    )
    .await?;
    let version = accuracy.model.unwrap_or_default();
    let (before, after) = (
        version.before.unwrap_or_default(),
        version.after.unwrap_or_default(),
    );
    let score = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    println!(
        "            agents labelled {} slang mentions praise ({} of them misheard); refit v{}: trained on {}, held out {}: sentiment {} → {}, intent {} → {}",
        labelled.len(),
        misheard,
        version.version,
        version.trained_on,
        version.sentiment_held_out,
        score(before.sentiment_accuracy),
        score(after.sentiment_accuracy),
        score(before.intent_accuracy),
        score(after.intent_accuracy),
    );
    let fresh = "the new travel insurance add-on is sick";
    let now = ingest(listening, vec![mention(run, 200, fresh)]).await?;
    if let Some((_, c)) = now.first() {
        println!(
            "            next mention \"{fresh}\": {} {}, {} (models {})",
            name(c.intent),
            tone(c),
            reply(c),
            c.model
        );
    }
    Ok(())
}
