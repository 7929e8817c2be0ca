//! First-pass classification: intent and whether a human must reply, with the
//! cues that decided it so that agents can see why.

use earshot_proto::common::v1::{Classification, Intent};

/// Cue phrases per intent, strongest intent first: a complaint that also asks
/// a question is a complaint.
const CUES: &[(Intent, &[&str])] = &[
    (
        Intent::Complaint,
        &[
            "worst",
            "terrible",
            "awful",
            "unacceptable",
            "ridiculous",
            "disgusting",
            "still waiting",
            "never arrived",
            "never received",
            "rip off",
            "ripped off",
            "scam",
            "furious",
            "fed up",
            "disappointed",
            "charged twice",
            "overcharged",
        ],
    ),
    (
        Intent::HelpRequest,
        &[
            "help",
            "can't",
            "cannot",
            "can not",
            "unable to",
            "doesn't work",
            "does not work",
            "not working",
            "isn't working",
            "broken",
            "lost my",
            "stolen",
            "locked out",
            "won't let me",
            "error",
            "declined",
            "hasn't arrived",
            "has not arrived",
            "didn't arrive",
            "missing",
            "refund",
            "cancel my",
            "not received",
            "haven't received",
            "didn't receive",
            "didnt receive",
            "isnt working",
            "wrong",
            "failed",
            "didn't change",
            "didnt change",
            "not showing",
            "extra fee",
        ],
    ),
    (
        Intent::Praise,
        &[
            "thank you",
            "thanks",
            "love",
            "great service",
            "awesome",
            "amazing",
            "brilliant",
            "fantastic",
            "well done",
            "kudos",
            "shout out",
            "best support",
        ],
    ),
    (
        Intent::Idea,
        &[
            "you should",
            "it would be nice",
            "feature request",
            "please add",
            "suggestion",
        ],
    ),
    (
        Intent::SalesLead,
        &[
            "how much",
            "pricing",
            "price for",
            "want to buy",
            "looking to buy",
            "quote for",
        ],
    ),
];

const QUESTION_STARTS: &[&str] = &[
    "how ", "what ", "when ", "where ", "why ", "which ", "who ", "can i ", "can you ", "could ",
    "is ", "are ", "do ", "does ", "will ", "should ",
];

pub fn classify(text: &str) -> Classification {
    let lower = text.to_lowercase();
    for (intent, cues) in CUES {
        let found: Vec<String> = cues
            .iter()
            .filter(|cue| lower.contains(*cue))
            .map(|cue| (*cue).to_owned())
            .collect();
        if !found.is_empty() {
            return Classification {
                intent: *intent as i32,
                actionable: needs_reply(*intent),
                cues: found,
                ..Default::default()
            };
        }
    }
    let trimmed = lower.trim_start();
    if lower.contains('?') || QUESTION_STARTS.iter().any(|q| trimmed.starts_with(q)) {
        return Classification {
            intent: Intent::Question as i32,
            actionable: true,
            cues: vec![if lower.contains('?') {
                "?".into()
            } else {
                "question opening".into()
            }],
            ..Default::default()
        };
    }
    Classification {
        intent: Intent::Other as i32,
        actionable: false,
        cues: Vec::new(),
        ..Default::default()
    }
}

/// A cry for help needs a human reply; praise, ideas and chatter do not open cases.
fn needs_reply(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::HelpRequest | Intent::Complaint | Intent::Question | Intent::SalesLead
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent_of(text: &str) -> Intent {
        Intent::try_from(classify(text).intent).expect("known intent")
    }

    // Sentences from banking77 (PolyAI, CC BY 4.0) and TweetEval (SemEval 2017).
    #[test]
    fn cries_for_help_are_actionable_with_cues() {
        let c = classify("I am still waiting on my card?");
        assert_eq!(Intent::try_from(c.intent), Ok(Intent::Complaint));
        assert!(c.actionable);
        assert_eq!(c.cues, vec!["still waiting"]);

        assert_eq!(
            intent_of("My card was stolen, what should I do"),
            Intent::HelpRequest
        );
        assert_eq!(
            intent_of("What can I do if my card still hasn't arrived after 2 weeks?"),
            Intent::HelpRequest
        );
        assert_eq!(
            intent_of("Is there a way to know when my card will arrive?"),
            Intent::Question
        );
    }

    #[test]
    fn cries_for_help_without_a_plea_are_caught() {
        for text in [
            "I still have not received my new card, I ordered over a week ago.",
            "the balance on my account didnt change when i transferred money",
            "I bought something overseas and the wrong exchange rate is on my statement.",
        ] {
            assert_eq!(intent_of(text), Intent::HelpRequest, "{text}");
        }
    }

    #[test]
    fn praise_and_chatter_are_not_actionable() {
        let praise = classify("Thanks @acme, the new app is awesome");
        assert_eq!(Intent::try_from(praise.intent), Ok(Intent::Praise));
        assert!(!praise.actionable);
        let chatter = classify("Going to the Apple store tomorrow with my sister");
        assert_eq!(Intent::try_from(chatter.intent), Ok(Intent::Other));
        assert!(!chatter.actionable);
        assert!(chatter.cues.is_empty());
    }

    #[test]
    fn complaints_beat_questions() {
        assert_eq!(
            intent_of("Why was I charged twice? This is unacceptable"),
            Intent::Complaint
        );
    }
}
