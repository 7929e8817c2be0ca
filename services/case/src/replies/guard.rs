//! The authenticity guard: keeps agents human rather than formulaic. Every
//! draft and every reply is compared with the tenant's recent replies
//! (MinHash over word-bigram shingles, so a lightly edited canned answer is
//! caught) and linted for house style (hedging, boilerplate, a reflex "please
//! DM us" as the first reply, and the tenant's own phrases). Pure functions:
//! the caller loads the recent replies and the tenant's policy.
//!
//! MinHash is written here rather than taken from a crate because its
//! signatures are stored: they must not change with a dependency's hash
//! function, so the hash (FNV-1a, then SplitMix64 per permutation) is fixed.

use aho_corasick::{AhoCorasick, MatchKind};
use earshot_proto::events::v1::{AuthenticityFinding, authenticity_finding::Kind};
use uuid::Uuid;

/// Permutations of a signature: the similarity estimate's standard error is
/// about 0.04 at the thresholds that matter.
pub const SIGNATURE_LEN: usize = 128;
/// Similarity at and above which a reply is a near-duplicate, unless the tenant says otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.5;
/// How many of the tenant's latest replies a draft is compared with, by default.
pub const DEFAULT_LOOKBACK: i64 = 1000;

/// Phrases every tenant gets unless it disables them.
pub const DEFAULT_PHRASES: &[(Kind, &str)] = &[
    (Kind::Hedging, "it appears"),
    (Kind::Hedging, "it seems"),
    (Kind::Hedging, "we believe"),
    (Kind::Hedging, "it may be possible"),
    (Kind::Hedging, "to the best of our knowledge"),
    (Kind::Boilerplate, "we apologise for any inconvenience"),
    (Kind::Boilerplate, "we apologize for any inconvenience"),
    (Kind::Boilerplate, "we apologise for the inconvenience"),
    (Kind::Boilerplate, "we apologize for the inconvenience"),
    (Kind::Boilerplate, "sorry for any inconvenience"),
    (Kind::Boilerplate, "your call is important to us"),
    (Kind::Boilerplate, "your feedback is important to us"),
    (
        Kind::Boilerplate,
        "thank you for your patience and understanding",
    ),
    (Kind::Boilerplate, "we value your business"),
    (Kind::ReflexDm, "please dm us"),
    (Kind::ReflexDm, "please send us a dm"),
    (Kind::ReflexDm, "send us a dm"),
    (Kind::ReflexDm, "send us a direct message"),
    (Kind::ReflexDm, "please direct message us"),
    (Kind::ReflexDm, "slide into our dms"),
];

/// Lower-case words (letters, digits, inner apostrophes), typographic
/// apostrophes straightened.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let c = if c == '\u{2019}' { '\'' } else { c };
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if c == '\'' && !word.is_empty() && chars.peek().is_some_and(|n| n.is_alphanumeric())
        {
            word.push('\'');
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hashes of the word bigrams of `text` (the single word of a one-word text).
fn shingles(text: &str) -> Vec<u64> {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    let w = words(text);
    if w.len() < 2 {
        return w.iter().map(|x| fnv1a(x.as_bytes(), OFFSET)).collect();
    }
    w.windows(2)
        .map(|pair| {
            let h = fnv1a(pair[0].as_bytes(), OFFSET);
            fnv1a(pair[1].as_bytes(), fnv1a(b" ", h))
        })
        .collect()
}

/// The MinHash signature of `text`: per permutation, the least permuted
/// shingle hash. Empty for a text without words.
pub fn signature(text: &str) -> Vec<i64> {
    let shingles = shingles(text);
    if shingles.is_empty() {
        return Vec::new();
    }
    (0..SIGNATURE_LEN as u64)
        .map(|i| {
            let seed = splitmix64(i.wrapping_add(1));
            let min = shingles
                .iter()
                .map(|s| splitmix64(s ^ seed))
                .min()
                .unwrap_or(u64::MAX);
            // Stored as bigint: the bits, not the number, matter.
            i64::from_ne_bytes(min.to_ne_bytes())
        })
        .collect()
}

/// Estimated Jaccard similarity of the shingle sets two signatures came from.
pub fn similarity(a: &[i64], b: &[i64]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len() as f64
}

/// An earlier reply of the tenant.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub id: Uuid,
    pub body: String,
    pub signature: Vec<i64>,
}

/// A tenant's guard settings.
#[derive(Debug, Clone)]
pub struct Policy {
    pub block: bool,
    pub threshold: f64,
    pub lookback: i64,
    pub phrases: Vec<(Kind, String)>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new(false, DEFAULT_THRESHOLD, DEFAULT_LOOKBACK, &[], &[])
    }
}

impl Policy {
    /// The defaults minus `disabled`, plus the tenant's own `extra` phrases.
    pub fn new(
        block: bool,
        threshold: f64,
        lookback: i64,
        extra: &[(Kind, String)],
        disabled: &[String],
    ) -> Self {
        let mut phrases: Vec<(Kind, String)> = DEFAULT_PHRASES
            .iter()
            .filter(|(_, p)| !disabled.iter().any(|d| normalise(d) == *p))
            .map(|(k, p)| (*k, (*p).to_owned()))
            .collect();
        for (kind, phrase) in extra {
            let phrase = normalise(phrase);
            if !phrase.is_empty() && !phrases.iter().any(|(_, p)| *p == phrase) {
                phrases.push((*kind, phrase));
            }
        }
        Self {
            block,
            threshold,
            lookback,
            phrases,
        }
    }
}

/// A phrase as matched: its words, lower-case, one space apart.
pub fn normalise(text: &str) -> String {
    words(text).join(" ")
}

/// What the guard found in a draft.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<AuthenticityFinding>,
    /// The most similar earlier reply, when there is one.
    pub most_similar: Option<(Uuid, f64, String)>,
    pub blocked: bool,
}

const EXCERPT_CHARS: usize = 160;

fn excerpt(text: &str) -> String {
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Checks a draft against the tenant's recent replies and house style.
/// `first_reply` is whether the case has no reply yet (a DM request is only a
/// reflex when it is the first thing said).
pub fn check(draft: &str, first_reply: bool, earlier: &[Earlier], policy: &Policy) -> Report {
    let mut report = Report::default();
    let sig = signature(draft);
    let best = earlier
        .iter()
        .map(|e| (e, similarity(&sig, &e.signature)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((e, s)) = best {
        report.most_similar = Some((e.id, s, excerpt(&e.body)));
        if s >= policy.threshold {
            report.findings.push(AuthenticityFinding {
                kind: Kind::NearDuplicate as i32,
                phrase: String::new(),
                message: format!(
                    "{:.0}% similar to an earlier reply ({}): \"{}\" — write to this customer, not to everyone",
                    s * 100.0,
                    e.id,
                    excerpt(&e.body)
                ),
                similar_reply_id: e.id.to_string(),
                similarity: s,
            });
        }
    }
    // Phrases match whole words: pad both sides with spaces.
    let text = format!(" {} ", normalise(draft));
    let patterns: Vec<String> = policy
        .phrases
        .iter()
        .map(|(_, p)| format!(" {p} "))
        .collect();
    if let Ok(automaton) = AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(&patterns)
    {
        let mut seen = Vec::new();
        for m in automaton.find_overlapping_iter(&text) {
            let (kind, phrase) = &policy.phrases[m.pattern().as_usize()];
            if (*kind == Kind::ReflexDm && !first_reply) || seen.contains(&m.pattern()) {
                continue;
            }
            seen.push(m.pattern());
            let advice = match kind {
                Kind::Hedging => "say what you know, or find out",
                Kind::Boilerplate => "say it in your own words, or not at all",
                Kind::ReflexDm => {
                    "help in public first; ask for a DM only when private data is needed"
                }
                _ => "the house style avoids it",
            };
            report.findings.push(AuthenticityFinding {
                kind: *kind as i32,
                phrase: phrase.clone(),
                message: format!("\"{phrase}\": {advice}"),
                similar_reply_id: String::new(),
                similarity: 0.0,
            });
        }
    }
    report.blocked = policy.block && !report.findings.is_empty();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn earlier(body: &str) -> Earlier {
        Earlier {
            id: Uuid::now_v7(),
            body: body.to_owned(),
            signature: signature(body),
        }
    }

    const CANNED: &str = "We're sorry to hear you want to cancel your order. You can do this by going \
                          to your order details and clicking the 'Cancel Order' button. If you need \
                          assistance, please contact our support team.";

    #[test]
    fn words_fold_case_and_apostrophes() {
        assert_eq!(
            words("We\u{2019}re SORRY—it's 'Cancel Order'!"),
            ["we're", "sorry", "it's", "cancel", "order"]
        );
        assert!(signature("  ...  ").is_empty());
        assert_eq!(signature("Hello").len(), SIGNATURE_LEN);
    }

    #[test]
    fn an_edited_canned_reply_is_caught_and_an_original_passes() {
        let history = [earlier(CANNED)];
        let edited = "We are sorry to hear you'd like to cancel your order. You can do this by going \
                      to your order details page and clicking the 'Cancel Order' button. If you need \
                      any help, please contact our support team.";
        let report = check(edited, false, &history, &Policy::default());
        let dup = report
            .findings
            .iter()
            .find(|f| f.kind == Kind::NearDuplicate as i32)
            .expect("caught");
        assert!(dup.similarity >= 0.5, "{dup:?}");
        assert_eq!(dup.similar_reply_id, history[0].id.to_string());

        let original = "Thanks for flagging this, Maria. I've cancelled order 4587345 myself just now, \
                        so there's nothing you need to do; the refund of 42.90 should reach your card \
                        within three working days.";
        let report = check(original, false, &history, &Policy::default());
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let (id, s, _) = report.most_similar.expect("compared");
        assert_eq!(id, history[0].id);
        assert!(s < 0.2, "{s}");
    }

    #[test]
    fn house_style_flags_hedging_boilerplate_and_a_reflex_dm() {
        let draft =
            "It appears your card was blocked. We apologise for any inconvenience. Please DM us.";
        let report = check(draft, true, &[], &Policy::default());
        let kinds: Vec<i32> = report.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Hedging as i32,
                Kind::Boilerplate as i32,
                Kind::ReflexDm as i32
            ]
        );
        assert!(!report.blocked, "warn by default");
        // Later in a conversation, asking for a DM is no reflex.
        let later = check(draft, false, &[], &Policy::default());
        assert!(
            later
                .findings
                .iter()
                .all(|f| f.kind != Kind::ReflexDm as i32)
        );
        // Whole words only.
        assert!(
            check("Disappears it appearsX", true, &[], &Policy::default())
                .findings
                .is_empty()
        );
        // Tenants add and remove phrases, and may block.
        let policy = Policy::new(
            true,
            DEFAULT_THRESHOLD,
            DEFAULT_LOOKBACK,
            &[(Kind::Custom, "Rest assured".to_owned())],
            &["It appears".to_owned()],
        );
        let report = check("It appears fine. Rest assured!", false, &[], &policy);
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].phrase, "rest assured");
        assert!(report.blocked);
    }
}
