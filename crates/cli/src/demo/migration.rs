//! Rules moved from another tool, the demo's part: queries written as
//! Brandwatch and X PowerTrack users write them, each dry-run with
//! `ValidateQuery` on a sample text before it is saved. Each either means
//! what it meant there, or is refused with how to write it here.

use earshot_proto::listening::v1::ValidateQueryRequest;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;

use super::{Authed, clip};

/// (tool, query, accent folding, sample text)
const MIGRATED: &[(&str, &str, bool, &str)] = &[
    (
        "Brandwatch",
        "customi?e AND card*",
        false,
        "Can I customize my card?",
    ),
    (
        "Brandwatch",
        "\"apple juice\"~5",
        false,
        "juice made from a green apple",
    ),
    (
        "Brandwatch",
        "card NEAR/3f stolen",
        false,
        "stolen: my card, again",
    ),
    (
        "Brandwatch",
        "{BT} broadband",
        false,
        "BT broadband down again",
    ),
    (
        "Brandwatch",
        "refund authorFollowers:[1000 TO *]",
        false,
        "refund please",
    ),
    ("Brandwatch", "nino", true, "El Niño flooded the branch"),
    (
        "Brandwatch",
        "anti-aging OR serum",
        false,
        "best anti aging cream",
    ),
    ("Brandwatch", "refund site:twitter.com", false, ""),
    ("PowerTrack", "refund -test", false, ""),
    ("PowerTrack", "NOT giveaway", false, ""),
];

pub async fn show(listening: &mut ListeningServiceClient<Authed>) -> anyhow::Result<()> {
    println!("listening   rules moved from other tools, dry-run with ValidateQuery before saving:");
    for &(tool, query, fold_accents, text) in MIGRATED {
        let answer = listening
            .validate_query(ValidateQueryRequest {
                query: query.into(),
                fold_accents,
                text: text.into(),
                followers: 2_400,
                ..Default::default()
            })
            .await;
        let folding = if fold_accents {
            " (accents folded)"
        } else {
            ""
        };
        let head = format!("  {tool:<11} {:<36}", format!("{query}{folding}"));
        match answer {
            Ok(response) => {
                let response = response.into_inner();
                let verdict = if response.matches == Some(true) {
                    format!("matches, hits {}", response.hits.join(" "))
                } else {
                    "no match".into()
                };
                println!(
                    "{head} reads {}; \"{}\": {verdict}",
                    response.canonical,
                    clip(text, 30)
                );
                for warning in response.warnings {
                    println!("{:<50}warning: {}", "", clip(&warning.message, 110));
                }
            }
            Err(status) => println!("{head} refused: {}", clip(status.message(), 110)),
        }
    }
    Ok(())
}
