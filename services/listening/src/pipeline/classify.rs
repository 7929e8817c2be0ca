//! Classification of a mention, each result with the cues that produced it so
//! that agents can trust and tune it:
//!
//! * **intent**: help request, complaint, question, praise, idea, sales lead
//!   or other;
//! * **urgency**: outage, safety (physical harm and security: fraud, hacked,
//!   stolen), legal threat, churn threat, media attention;
//! * **topics** of a per-tenant [`Taxonomy`] (phrases per topic), with a
//!   default one ([`Taxonomy::default_taxonomy`]);
//! * **actionability**: a cry for help (needs a human reply), a high five
//!   (deserves a thank-you) or neither.
//!
//! # How
//!
//! The text is lowercased once into a scratch buffer, with typographic
//! apostrophes folded to `'` and whitespace runs to one space. One
//! Aho-Corasick automaton holds every intent and urgency cue (with its
//! apostrophe-less variant: `don't` also matches `dont`); a taxonomy has one
//! automaton of its own. Matches count only on word boundaries (`help` is not
//! in `helpful`), and a match inside a longer match of the same family is
//! dropped: "thanks for the help" is praise, not a `help` request plus a
//! `thanks`.
//!
//! Intent, strongest first (a complaint that asks a question is a complaint):
//!
//! 1. complaint: a complaint cue, or a help cue with a clearly negative
//!    sentiment (compound ≤ [`COMPLAINT_COMPOUND`]);
//! 2. help request: a help cue;
//! 3. sales lead: a buying cue (`how much`, `pricing`, `free trial` …);
//! 4. idea: a suggestion cue (`you should`, `please add` …);
//! 5. question: a `?` (not a URL's) or a question opening (`how`, `can you`
//!    …, after leading handles);
//! 6. praise: a praise cue, unless the sentiment is negative (compound <
//!    [`SARCASM_COMPOUND`]: "thanks a lot for losing my bag" is no praise);
//! 7. other.
//!
//! Sentiment never decides alone: it only confirms or vetoes a cue.
//!
//! Media attention comes from cues (`journalist`, `going to the media`,
//! `tweeting this to` …) or from the author: at least [`MEDIA_FOLLOWERS`]
//! followers, or verified.
//!
//! Actionability: a cry for help when the intent is a complaint, help
//! request, question or sales lead, or when there is an outage, safety,
//! legal or churn signal; else a high five when the intent is praise (with a
//! non-negative sentiment); else none. Ideas and media attention alone need
//! neither.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use earshot_proto::common::v1::{
    Actionability, Classification, Intent, TopicMatch, Urgency, UrgencySignal,
};

/// Followers from which an author alone draws media attention.
pub const MEDIA_FOLLOWERS: u64 = 10_000;
/// A help request at or below this compound sentiment is a complaint.
pub const COMPLAINT_COMPOUND: f64 = -0.6;
/// Praise cues with a compound sentiment below this are not praise.
pub const SARCASM_COMPOUND: f64 = -0.3;

/// Most topics in a taxonomy.
pub const MAX_TOPICS: usize = 200;
/// Most phrases of one topic.
pub const MAX_PHRASES: usize = 500;
/// Most phrases of all topics together: compiling is linear in them, and
/// this keeps a settings change to milliseconds.
pub const MAX_ALL_PHRASES: usize = 5_000;
/// Longest topic key, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Longest phrase, in characters.
pub const MAX_PHRASE_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Intent(Intent),
    /// Matches only to hide shorter cues inside it (`can't wait`).
    Neutral,
    Urgency(Urgency),
}

impl Class {
    /// Cues hide shorter cues of the same family only.
    fn family(self) -> u8 {
        match self {
            Class::Intent(_) | Class::Neutral => 0,
            Class::Urgency(_) => 1,
        }
    }
}

const COMPLAINT: &[&str] = &[
    "worst",
    "terrible",
    "horrible",
    "awful",
    "appalling",
    "unacceptable",
    "ridiculous",
    "disgusting",
    "disgraceful",
    "pathetic",
    "useless",
    "shocking service",
    "poor service",
    "bad service",
    "still waiting",
    "still haven't",
    "still have not",
    "still not",
    "still no",
    "never arrived",
    "never received",
    "never got",
    "never came",
    "rip off",
    "ripped off",
    "scam",
    "scammed",
    "furious",
    "fed up",
    "sick of",
    "tired of",
    "disappointed",
    "disappointing",
    "not happy",
    "unhappy",
    "frustrated",
    "frustrating",
    "annoyed",
    "angry",
    "charged twice",
    "double charged",
    "overcharged",
    "thanks for nothing",
    "waste of",
    "lied to",
    "misleading",
    "complaint",
    "complain",
    "reclamation",
    "sucks",
];

const HELP: &[&str] = &[
    "help",
    "assist",
    "assistance",
    "can't",
    "cannot",
    "can not",
    "couldn't",
    "unable to",
    "doesn't work",
    "does not work",
    "didn't work",
    "not working",
    "isn't working",
    "stopped working",
    "broken",
    "lost my",
    "stolen",
    "locked out",
    "won't let me",
    "error",
    "declined",
    "rejected",
    "hasn't arrived",
    "has not arrived",
    "didn't arrive",
    "not arrived",
    "missing",
    "refund",
    "cancel my",
    "not received",
    "haven't received",
    "didn't receive",
    "have not received",
    "wrong",
    "failed",
    "didn't go through",
    "didn't change",
    "not showing",
    "extra fee",
    "problem",
    "issue",
    "trouble",
    "how do i",
    "how can i",
    "where is my",
    "where's my",
    "what happened to my",
    "i need to",
    "i need",
    "need to know",
    "forgot my",
    "reset my",
    "i want to cancel",
    "i'd like to cancel",
    "talk to a human",
    "speak to someone",
    "speak to a",
    "contact customer service",
    "incorrect",
    "not correct",
    "pending",
    "waiting for",
    "i'm waiting",
    "i am waiting",
    "i want to",
    "i would like to",
    "i'd like to",
    "trying to",
    "please",
    "don't recognise",
    "don't recognize",
    "not recognised",
    "not recognized",
    "don't know how",
    "do not know how",
    "don't understand",
    "confused",
    "extra charge",
    "show me how",
    "tell me how",
    "where do i",
    "where can i",
    "how to",
    "reactivate",
    "activate",
    "status of",
    "edit my",
    "change my",
    "update my",
    "modify my",
    "delete my",
    "remove my",
    "close my",
    "track my",
    "get my",
    "check my",
    "see my",
    "view my",
    "download my",
    "recover my",
    "open an account",
    "create an account",
    "set up",
    "i want",
    "wanna",
    "i have to",
    "i have got to",
    "i expect",
    "a question",
    "i don't know",
    "i do not know",
    "tell me",
    "i'm calling",
    "i call to",
    "errors",
    "problems",
    "issues",
];

const PRAISE: &[&str] = &[
    "thank you",
    "thanks",
    "thx",
    "love",
    "loving",
    "loved",
    "great service",
    "great job",
    "good job",
    "great",
    "awesome",
    "amazing",
    "brilliant",
    "fantastic",
    "excellent",
    "superb",
    "wonderful",
    "lovely",
    "well done",
    "nice work",
    "kudos",
    "shout out",
    "shoutout",
    "best support",
    "best customer service",
    "appreciate",
    "grateful",
    "impressed",
    "lifesaver",
    "you rock",
    "highly recommend",
    "five stars",
    "5 stars",
    "thanks for the help",
    "thanks for your help",
    "thank you for your help",
    "thank you for the help",
    "thanks for helping",
    "helpful",
];

const IDEA: &[&str] = &[
    "you should",
    "it would be nice",
    "would be nice",
    "would be great if",
    "would be awesome if",
    "would love",
    "it'd be nice",
    "feature request",
    "please add",
    "could you add",
    "can you add",
    "why not add",
    "consider adding",
    "suggestion",
    "i suggest",
    "i wish",
    "wish you",
];

const SALES: &[&str] = &[
    "how much",
    "pricing",
    "price for",
    "price of",
    "want to buy",
    "looking to buy",
    "interested in buying",
    "where can i buy",
    "do you sell",
    "quote for",
    "free trial",
    "book a demo",
    "request a demo",
    "bulk order",
    "enterprise plan",
];

const NEUTRAL: &[&str] = &[
    "can't wait",
    "cannot wait",
    "can not wait",
    "no problem",
    "no problems",
    "not a problem",
    "not wrong",
    "nothing wrong",
    "no issue",
    "no issues",
    "help yourself",
];

const OUTAGE: &[&str] = &[
    "outage",
    "outages",
    "is down",
    "are down",
    "was down",
    "down again",
    "went down",
    "still down",
    "site down",
    "app down",
    "website down",
    "server down",
    "servers down",
    "system down",
    "service down",
    "down for everyone",
    "is it just me",
    "anyone else having",
    "anyone else getting",
    "anyone else unable",
    "not loading",
    "won't load",
    "doesn't load",
    "isn't loading",
    "can't connect",
    "cannot connect",
    "unable to connect",
    "service unavailable",
    "error 500",
    "500 error",
    "502",
    "503",
    "504",
    "offline",
    "not responding",
    "nothing works",
    "nothing is working",
    "no service",
    "no signal",
    "downtime",
];

const SAFETY: &[&str] = &[
    "caught fire",
    "fire hazard",
    "burst into flames",
    "flames",
    "smoke coming",
    "burning smell",
    "smell of burning",
    "exploded",
    "explosion",
    "overheating",
    "overheated",
    "sparking",
    "burned",
    "burnt",
    "injured",
    "injury",
    "hospital",
    "emergency room",
    "allergic reaction",
    "food poisoning",
    "poisoned",
    "choking",
    "choked",
    "electric shock",
    "electrocuted",
    "unsafe",
    "dangerous",
    "hazard",
    "product recall",
    "recalled",
    "carbon monoxide",
    "gas leak",
    "toxic fumes",
    "bleeding",
    "salmonella",
    "hacked",
    "fraud",
    "fraudulent",
    "unauthorized",
    "unauthorised",
    "identity theft",
    "stolen",
    "compromised",
    "phishing",
];

const LEGAL: &[&str] = &[
    "lawyer",
    "lawyers",
    "attorney",
    "solicitor",
    "sue you",
    "going to sue",
    "will sue",
    "i'll sue",
    "gonna sue",
    "suing",
    "lawsuit",
    "legal action",
    "small claims",
    "to court",
    "in court",
    "trading standards",
    "ombudsman",
    "report you",
    "reporting you",
    "better business bureau",
    "bbb",
    "ftc",
    "cfpb",
    "consumer rights",
    "consumer protection",
    "class action",
    "gdpr",
    "data protection",
    "regulator",
];

const CHURN: &[&str] = &[
    "cancel my account",
    "cancel my subscription",
    "cancelling my",
    "canceling my",
    "close my account",
    "closing my account",
    "delete my account",
    "terminate my account",
    "switching to",
    "switched to",
    "switching banks",
    "moving to another",
    "leaving you",
    "going elsewhere",
    "take my business elsewhere",
    "taking my business",
    "never again",
    "never using",
    "never use you",
    "never buying",
    "never ordering",
    "never shopping",
    "never flying",
    "last time i ever",
    "for the last time",
    "lost a customer",
    "lost a loyal customer",
    "done with you",
    "find another bank",
    "find another provider",
];

const MEDIA: &[&str] = &[
    "journalist",
    "reporter",
    "the press",
    "going to the media",
    "go to the media",
    "contact the media",
    "to the media",
    "tweeting this to",
    "sharing this with",
    "going viral",
    "go viral",
    "my followers",
    "my blog",
    "my channel",
    "my podcast",
    "watchdog",
    "bbc",
    "cnn",
    "the news",
    "newspaper",
    "influencer",
];

/// Question openings, after leading handles.
const QUESTION_OPENINGS: &[&str] = &[
    "how",
    "what",
    "when",
    "where",
    "why",
    "which",
    "who",
    "can i",
    "can you",
    "can we",
    "can someone",
    "could",
    "would",
    "is there",
    "is it",
    "is this",
    "is my",
    "is the",
    "is your",
    "is anyone",
    "are there",
    "are you",
    "are your",
    "do you",
    "do i",
    "do they",
    "does",
    "did",
    "will",
    "should i",
    "any way",
    "anyone",
    "any idea",
    "any update",
];

struct Cue {
    class: Class,
    text: &'static str,
}

struct Cues {
    cues: Vec<Cue>,
    /// Pattern id → cue index.
    of_pattern: Vec<usize>,
    matcher: AhoCorasick,
}

/// Pattern bytes up to which [`word_matcher`] builds a DFA: its table is
/// about 190 bytes per pattern byte (one state per byte, a row of 4-byte
/// state ids per byte class), so 8 KiB of patterns make ~1.5 MiB. The cue
/// lists have ~4.5 KiB, the default taxonomy ~2 KiB.
const DFA_PATTERN_BYTES: usize = 8 * 1024;

/// The automaton searching mentions for cues or taxonomy phrases.
///
/// Every mention is searched for overlapping matches over its whole text.
/// Left to choose, aho-corasick makes a contiguous NFA of a few hundred
/// patterns, which follows failure transitions at almost every byte; a DFA
/// takes one table lookup per byte. In the rules bench these searches were
/// most of classification's time, and the DFA cut it (sentiment aside) from
/// ~2.7 to ~1.7 µs a mention, although its table (~1.2 MiB for the cues and
/// the default taxonomy) is far larger than the NFA's. A huge custom
/// taxonomy stays an NFA, to bound its memory.
fn word_matcher(patterns: &[String]) -> Result<AhoCorasick, aho_corasick::BuildError> {
    let bytes: usize = patterns.iter().map(String::len).sum();
    let kind = if bytes <= DFA_PATTERN_BYTES {
        AhoCorasickKind::DFA
    } else {
        AhoCorasickKind::ContiguousNFA
    };
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(Some(kind))
        .build(patterns)
}

/// Adds `phrase` and, when it has apostrophes, the same without them.
fn with_variants(phrase: &str) -> impl Iterator<Item = String> {
    let plain = phrase.contains('\'').then(|| phrase.replace('\'', ""));
    std::iter::once(phrase.to_owned()).chain(plain)
}

static CUES: LazyLock<Cues> = LazyLock::new(|| {
    let lists: [(Class, &[&str]); 11] = [
        (Class::Intent(Intent::Complaint), COMPLAINT),
        (Class::Intent(Intent::HelpRequest), HELP),
        (Class::Intent(Intent::Praise), PRAISE),
        (Class::Intent(Intent::Idea), IDEA),
        (Class::Intent(Intent::SalesLead), SALES),
        (Class::Neutral, NEUTRAL),
        (Class::Urgency(Urgency::Outage), OUTAGE),
        (Class::Urgency(Urgency::Safety), SAFETY),
        (Class::Urgency(Urgency::LegalThreat), LEGAL),
        (Class::Urgency(Urgency::ChurnThreat), CHURN),
        (Class::Urgency(Urgency::MediaAttention), MEDIA),
    ];
    let mut cues = Vec::new();
    let mut patterns = Vec::new();
    let mut of_pattern = Vec::new();
    for (class, list) in lists {
        for &text in list {
            for variant in with_variants(text) {
                patterns.push(variant);
                of_pattern.push(cues.len());
            }
            cues.push(Cue { class, text });
        }
    }
    let matcher = word_matcher(&patterns).expect("cue lists are short literals");
    Cues {
        cues,
        of_pattern,
        matcher,
    }
});

/// One topic of a taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDef {
    /// `a-z`, `0-9`, `_`, `-`; at most [`MAX_KEY_LEN`] bytes.
    pub key: String,
    /// Lowercase words or phrases, matched as whole words; a trailing `*`
    /// matches any ending (`deliver*`: deliver, delivery, delivered).
    pub phrases: Vec<String>,
}

/// What a taxonomy phrase pattern stands for.
#[derive(Debug, Clone, Copy)]
struct Target {
    topic: usize,
    prefix: bool,
}

/// A compiled taxonomy: one automaton over every phrase of every topic.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    defs: Vec<TopicDef>,
    /// Pattern id → the topics (and wildcard flags) it stands for.
    targets: Vec<Vec<Target>>,
    matcher: AhoCorasick,
}

/// Why a taxonomy is invalid; `field` names the place, e.g. `topics[2].phrases[0]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxonomyError {
    #[error("topics: {count} topics, at most {MAX_TOPICS}")]
    TooManyTopics { count: usize },
    #[error("topics: {count} phrases in all, at most {MAX_ALL_PHRASES}")]
    TooManyPhrasesInAll { count: usize },
    #[error("{field}: must be 1-{MAX_KEY_LEN} of a-z, 0-9, '_', '-'")]
    BadKey { field: String },
    #[error("{field}: duplicate key {key:?}")]
    DuplicateKey { field: String, key: String },
    #[error("{field}: at least one phrase is required")]
    NoPhrases { field: String },
    #[error("{field}: {count} phrases, at most {MAX_PHRASES}")]
    TooManyPhrases { field: String, count: usize },
    #[error("{field}: must have a letter or digit")]
    EmptyPhrase { field: String },
    #[error("{field}: longer than {MAX_PHRASE_CHARS} characters")]
    PhraseTooLong { field: String },
    #[error("{field}: '*' only at the end, after at least 3 characters")]
    BadWildcard { field: String },
    #[error("{field}: duplicate phrase {phrase:?}")]
    DuplicatePhrase { field: String, phrase: String },
}

impl TaxonomyError {
    /// The field at fault, e.g. `topics[2].phrases[0]`.
    pub fn field(&self) -> &str {
        match self {
            TaxonomyError::TooManyTopics { .. } | TaxonomyError::TooManyPhrasesInAll { .. } => {
                "topics"
            }
            TaxonomyError::BadKey { field }
            | TaxonomyError::DuplicateKey { field, .. }
            | TaxonomyError::NoPhrases { field }
            | TaxonomyError::TooManyPhrases { field, .. }
            | TaxonomyError::EmptyPhrase { field }
            | TaxonomyError::PhraseTooLong { field }
            | TaxonomyError::BadWildcard { field }
            | TaxonomyError::DuplicatePhrase { field, .. } => field,
        }
    }
}

/// The default taxonomy, as (key, phrases). Phrases were checked against
/// banking77, Bitext and TweetEval texts (see the tests).
pub const DEFAULT_TOPICS: &[(&str, &[&str])] = &[
    (
        "delivery",
        &[
            "deliver*",
            "shipping",
            "shipped",
            "shipment",
            "ship",
            "parcel",
            "package",
            "courier",
            "track*",
            "dispatch*",
            "arrive*",
            "arrival",
            "postage",
            "out for delivery",
            "in transit",
            "shipping address",
            "where is my order",
            "where's my order",
        ],
    ),
    (
        "order",
        &[
            "order",
            "orders",
            "ordered",
            "purchase*",
            "checkout",
            "basket",
            "cart",
            "bought",
            "buy",
            "shopping",
        ],
    ),
    (
        "billing",
        &[
            "bill",
            "bills",
            "billing",
            "billed",
            "invoice*",
            "charge",
            "charged",
            "charges",
            "overcharged",
            "payment*",
            "pay",
            "paid",
            "direct debit",
            "statement",
            "fee",
            "fees",
            "receipt",
            "subscription*",
        ],
    ),
    (
        "refund",
        &[
            "refund*",
            "money back",
            "rebate*",
            "compensation",
            "restitution",
            "reimburs*",
            "chargeback",
            "return my",
            "returned",
            "reverted",
        ],
    ),
    (
        "card",
        &[
            "card",
            "cards",
            "debit card",
            "credit card",
            "contactless",
            "pin",
            "atm",
            "cash machine",
            "visa",
            "mastercard",
            "apple pay",
            "google pay",
        ],
    ),
    (
        "cash",
        &[
            "cash",
            "withdraw*",
            "atm",
            "atms",
            "atm's",
            "cash machine",
            "cheque*",
            "deposit*",
        ],
    ),
    (
        "transfer",
        &[
            "transfer*",
            "wire",
            "sepa",
            "swift",
            "beneficiary",
            "recipient",
            "payee",
            "send money",
            "sent money",
            "receive money",
            "exchange rate*",
            "currency exchange",
            "conversion",
            "currency",
            "currencies",
        ],
    ),
    (
        "top_up",
        &[
            "top up",
            "top-up",
            "topup",
            "topped up",
            "top-ups",
            "topping up",
        ],
    ),
    (
        "account",
        &[
            "account",
            "accounts",
            "profile",
            "sign up",
            "signup",
            "register*",
            "registration",
            "verify my identity",
            "identity",
            "verification",
            "personal details",
            "my details",
            "my address",
            "source of funds",
            "balance",
            "username",
        ],
    ),
    (
        "login",
        &[
            "log in",
            "log-in",
            "login",
            "logged out",
            "sign in",
            "signin",
            "password*",
            "passcode",
            "pwd",
            "access key",
            "credentials",
            "pin code",
            "locked out",
            "2fa",
            "two factor",
            "verification code",
        ],
    ),
    (
        "app",
        &[
            "app",
            "apps",
            "website",
            "web site",
            "ios",
            "android",
            "app store",
            "play store",
            "crash*",
            "bug",
            "bugs",
            "glitch*",
        ],
    ),
    (
        "outage",
        &[
            "outage*",
            "is down",
            "are down",
            "went down",
            "site down",
            "app down",
            "server down",
            "servers down",
            "offline",
            "not loading",
            "won't load",
            "service unavailable",
            "downtime",
            "disruption",
        ],
    ),
    (
        "product_quality",
        &[
            "quality",
            "broken",
            "broke",
            "damaged",
            "defect*",
            "faulty",
            "cracked",
            "scratched",
            "torn",
            "stopped working",
            "doesn't work",
            "wrong item",
            "wrong size",
            "missing part*",
            "malfunction*",
        ],
    ),
    (
        "pricing",
        &[
            "price",
            "prices",
            "pricing",
            "cost",
            "costs",
            "expensive",
            "cheaper",
            "discount*",
            "coupon*",
            "promo code",
            "deal",
            "deals",
            "plan",
            "plans",
            "premium",
            "upgrade",
        ],
    ),
    (
        "customer_service",
        &[
            "customer service",
            "customer support",
            "support team",
            "agent",
            "human",
            "representative",
            "operator",
            "on hold",
            "call centre",
            "call center",
            "live chat",
            "no response",
            "no reply",
            "complaint",
            "claim",
            "reclamation",
            "feedback",
            "contact",
        ],
    ),
    (
        "security",
        &[
            "fraud*",
            "scam*",
            "hack*",
            "phishing",
            "stolen",
            "unauthori*",
            "compromised",
            "suspicious",
            "identity theft",
        ],
    ),
    (
        "cancellation",
        &[
            "cancel*",
            "terminate",
            "close my account",
            "delete my account",
            "unsubscribe",
        ],
    ),
];

/// The default taxonomy, compiled once.
pub fn default_taxonomy() -> &'static Taxonomy {
    static DEFAULT: LazyLock<Taxonomy> = LazyLock::new(Taxonomy::default_taxonomy);
    &DEFAULT
}

/// Lowercases `phrase`, folding apostrophes and whitespace runs.
fn normalise_phrase(phrase: &str) -> String {
    let mut out = String::new();
    prepare(phrase.trim(), &mut out);
    out
}

impl Taxonomy {
    /// Checks and compiles a taxonomy. Phrases are stored lowercased, with
    /// typographic apostrophes folded and whitespace runs collapsed.
    pub fn new(defs: Vec<TopicDef>) -> Result<Self, TaxonomyError> {
        // Sizes first, before any phrase is read.
        if defs.len() > MAX_TOPICS {
            return Err(TaxonomyError::TooManyTopics { count: defs.len() });
        }
        if let Some((t, def)) = defs
            .iter()
            .enumerate()
            .find(|(_, d)| d.phrases.len() > MAX_PHRASES)
        {
            return Err(TaxonomyError::TooManyPhrases {
                field: format!("topics[{t}].phrases"),
                count: def.phrases.len(),
            });
        }
        let all: usize = defs.iter().map(|d| d.phrases.len()).sum();
        if all > MAX_ALL_PHRASES {
            return Err(TaxonomyError::TooManyPhrasesInAll { count: all });
        }
        let mut clean: Vec<TopicDef> = Vec::with_capacity(defs.len());
        let mut keys: HashSet<String> = HashSet::with_capacity(defs.len());
        let mut patterns: Vec<String> = Vec::new();
        let mut targets: Vec<Vec<Target>> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for (t, def) in defs.into_iter().enumerate() {
            let key_ok = !def.key.is_empty()
                && def.key.len() <= MAX_KEY_LEN
                && def.key.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !key_ok {
                return Err(TaxonomyError::BadKey {
                    field: format!("topics[{t}].key"),
                });
            }
            if !keys.insert(def.key.clone()) {
                return Err(TaxonomyError::DuplicateKey {
                    field: format!("topics[{t}].key"),
                    key: def.key,
                });
            }
            if def.phrases.is_empty() {
                return Err(TaxonomyError::NoPhrases {
                    field: format!("topics[{t}].phrases"),
                });
            }
            let mut phrases: Vec<String> = Vec::with_capacity(def.phrases.len());
            let mut seen: HashSet<String> = HashSet::with_capacity(def.phrases.len());
            for (p, raw) in def.phrases.iter().enumerate() {
                let field = format!("topics[{t}].phrases[{p}]");
                let phrase = normalise_phrase(raw);
                if phrase.chars().count() > MAX_PHRASE_CHARS {
                    return Err(TaxonomyError::PhraseTooLong { field });
                }
                let (stem, prefix) = match phrase.strip_suffix('*') {
                    Some(stem) => (stem, true),
                    None => (phrase.as_str(), false),
                };
                if stem.contains('*') || (prefix && stem.chars().count() < 3) {
                    return Err(TaxonomyError::BadWildcard { field });
                }
                if !stem.chars().any(char::is_alphanumeric) {
                    return Err(TaxonomyError::EmptyPhrase { field });
                }
                if !seen.insert(phrase.clone()) {
                    return Err(TaxonomyError::DuplicatePhrase { field, phrase });
                }
                for variant in with_variants(stem) {
                    let id = *index.entry(variant.clone()).or_insert_with(|| {
                        patterns.push(variant);
                        targets.push(Vec::new());
                        targets.len() - 1
                    });
                    targets[id].push(Target { topic: t, prefix });
                }
                phrases.push(phrase);
            }
            clean.push(TopicDef {
                key: def.key,
                phrases,
            });
        }
        let matcher = word_matcher(&patterns).expect("bounded literal phrases");
        Ok(Self {
            defs: clean,
            targets,
            matcher,
        })
    }

    /// The default taxonomy ([`DEFAULT_TOPICS`]); prefer the shared
    /// [`default_taxonomy`] on hot paths.
    pub fn default_taxonomy() -> Self {
        let defs = DEFAULT_TOPICS
            .iter()
            .map(|(key, phrases)| TopicDef {
                key: (*key).to_owned(),
                phrases: phrases.iter().map(|p| (*p).to_owned()).collect(),
            })
            .collect();
        Self::new(defs).expect("the default taxonomy is valid")
    }

    /// The topics, as normalised.
    pub fn defs(&self) -> &[TopicDef] {
        &self.defs
    }
}

/// Lowercases `text` into `out`, folding typographic apostrophes to `'` and
/// whitespace runs to one space.
fn prepare(text: &str, out: &mut String) {
    out.clear();
    out.reserve(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if matches!(c, '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{00B4}') {
            out.push('\'');
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn starts_word(text: &str, start: usize) -> bool {
    !text[..start].chars().next_back().is_some_and(is_word_char)
}

fn ends_word(text: &str, end: usize) -> bool {
    !text[end..].chars().next().is_some_and(is_word_char)
}

/// End of the word that `end` is inside of.
fn word_end(text: &str, end: usize) -> usize {
    text[end..]
        .char_indices()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(text.len(), |(i, _)| end + i)
}

#[derive(Default)]
struct Scratch {
    text: String,
    /// (cue index, start, end).
    hits: Vec<(usize, usize, usize)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Classifies one mention's (normalised) text. `sentiment_compound` is
/// VADER's compound score (-1..=1, 0 when unknown); `sentiment` is left
/// unset for the caller to fill.
pub fn classify(
    text: &str,
    author_followers: u64,
    author_verified: bool,
    sentiment_compound: f64,
    taxonomy: &Taxonomy,
) -> Classification {
    SCRATCH.with_borrow_mut(|scratch| {
        classify_with(
            scratch,
            text,
            author_followers,
            author_verified,
            sentiment_compound,
            taxonomy,
        )
    })
}

fn classify_with(
    scratch: &mut Scratch,
    text: &str,
    followers: u64,
    verified: bool,
    compound: f64,
    taxonomy: &Taxonomy,
) -> Classification {
    prepare(text, &mut scratch.text);
    let lower = scratch.text.as_str();
    let cues = &*CUES;
    let hits = &mut scratch.hits;
    hits.clear();
    for m in cues.matcher.find_overlapping_iter(lower) {
        if starts_word(lower, m.start()) && ends_word(lower, m.end()) {
            hits.push((cues.of_pattern[m.pattern().as_usize()], m.start(), m.end()));
        }
    }
    // A cue inside a longer cue of the same family does not count. Sorted by
    // family, then start, longest first, a hit is inside a longer one exactly
    // when a hit before it with another span reaches as far: one sort and one
    // pass, where comparing every pair made a text of thousands of cues cost
    // milliseconds.
    hits.sort_unstable_by_key(|&(i, s, e)| (cues.cues[i].class.family(), s, Reverse(e)));
    let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(hits.len());
    let mut family = None;
    let mut span = (usize::MAX, usize::MAX);
    // The furthest end of the family's hits so far, and of those before `span`.
    let (mut reach, mut reach_before) = (0, 0);
    for &(i, s, e) in hits.iter() {
        let f = cues.cues[i].class.family();
        if family != Some(f) {
            family = Some(f);
            span = (usize::MAX, usize::MAX);
            reach = 0;
        }
        if span != (s, e) {
            span = (s, e);
            reach_before = reach;
        }
        if reach_before < e {
            kept.push((i, s, e));
        }
        reach = reach.max(e);
    }
    decide(lower, cues, kept, compound, followers, verified, taxonomy)
}

/// Intent, urgency, topics and actionability from the cues kept.
fn decide(
    lower: &str,
    cues: &Cues,
    mut kept: Vec<(usize, usize, usize)>,
    compound: f64,
    followers: u64,
    verified: bool,
    taxonomy: &Taxonomy,
) -> Classification {
    kept.sort_by_key(|&(_, s, _)| s);
    let of = |class: Class| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &(i, _, _) in &kept {
            let cue = &cues.cues[i];
            if cue.class == class && !out.iter().any(|c| c == cue.text) {
                out.push(cue.text.to_owned());
            }
        }
        out
    };

    // Urgency.
    let mut urgency = Vec::new();
    for u in [
        Urgency::Outage,
        Urgency::Safety,
        Urgency::LegalThreat,
        Urgency::ChurnThreat,
    ] {
        let found = of(Class::Urgency(u));
        if !found.is_empty() {
            urgency.push(UrgencySignal {
                urgency: u as i32,
                cues: found,
            });
        }
    }
    let mut media = of(Class::Urgency(Urgency::MediaAttention));
    if followers >= MEDIA_FOLLOWERS {
        media.push(format!("{followers} followers"));
    }
    if verified {
        media.push("verified author".to_owned());
    }
    if !media.is_empty() {
        urgency.push(UrgencySignal {
            urgency: Urgency::MediaAttention as i32,
            cues: media,
        });
    }

    // Intent.
    let complaint = of(Class::Intent(Intent::Complaint));
    let help = of(Class::Intent(Intent::HelpRequest));
    let (intent, intent_cues) = if !complaint.is_empty() {
        (Intent::Complaint, complaint)
    } else if !help.is_empty() && compound <= COMPLAINT_COMPOUND {
        let mut c = help;
        c.push(format!("negative sentiment ({compound:.2})"));
        (Intent::Complaint, c)
    } else if !help.is_empty() {
        (Intent::HelpRequest, help)
    } else {
        let sales = of(Class::Intent(Intent::SalesLead));
        let idea = of(Class::Intent(Intent::Idea));
        if !sales.is_empty() {
            (Intent::SalesLead, sales)
        } else if !idea.is_empty() {
            (Intent::Idea, idea)
        } else if let Some(cue) = question(lower) {
            (Intent::Question, vec![cue])
        } else {
            let praise = of(Class::Intent(Intent::Praise));
            if !praise.is_empty() && compound >= SARCASM_COMPOUND {
                (Intent::Praise, praise)
            } else {
                (Intent::Other, Vec::new())
            }
        }
    };

    let urgent = urgency
        .iter()
        .any(|u| u.urgency != Urgency::MediaAttention as i32);
    let actionability = if urgent
        || matches!(
            intent,
            Intent::Complaint | Intent::HelpRequest | Intent::Question | Intent::SalesLead
        ) {
        Actionability::CryForHelp
    } else if intent == Intent::Praise && compound >= 0.0 {
        Actionability::HighFive
    } else {
        Actionability::None
    };

    Classification {
        intent: intent as i32,
        actionable: actionability == Actionability::CryForHelp,
        cues: intent_cues,
        sentiment: None,
        urgency,
        topics: topics(lower, taxonomy),
        actionability: actionability as i32,
        cue_intent: intent as i32,
        ..Default::default()
    }
}

/// `?` (not inside a URL) or a question opening after leading handles.
fn question(lower: &str) -> Option<String> {
    let bytes = lower.as_bytes();
    let asks = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'?'
            && !bytes
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'=')
    });
    if asks {
        return Some("?".to_owned());
    }
    let mut rest = lower.trim_start();
    while let Some(handle) = rest.strip_prefix('@').or_else(|| rest.strip_prefix(".@")) {
        let end = handle
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(handle.len());
        rest = handle[end..].trim_start_matches([':', ',']).trim_start();
    }
    QUESTION_OPENINGS.iter().find_map(|&opening| {
        let after = rest.strip_prefix(opening)?;
        if after.starts_with(is_word_char) {
            return None;
        }
        // Exclamations: "what a day", "how nice".
        if opening == "what" && (after.starts_with(" a ") || after.starts_with(" an ")) {
            return None;
        }
        Some(format!("question opening '{opening}'"))
    })
}

fn topics(lower: &str, taxonomy: &Taxonomy) -> Vec<TopicMatch> {
    let mut found: Vec<TopicMatch> = Vec::new();
    for m in taxonomy.matcher.find_overlapping_iter(lower) {
        if !starts_word(lower, m.start()) {
            continue;
        }
        let whole = ends_word(lower, m.end());
        for target in &taxonomy.targets[m.pattern().as_usize()] {
            let end = if target.prefix {
                word_end(lower, m.end())
            } else if whole {
                m.end()
            } else {
                continue;
            };
            let key = &taxonomy.defs[target.topic].key;
            let cue = &lower[m.start()..end];
            match found.iter_mut().find(|t| &t.topic == key) {
                Some(t) => {
                    if !t.cues.iter().any(|c| c == cue) {
                        t.cues.push(cue.to_owned());
                    }
                }
                None => found.push(TopicMatch {
                    topic: key.clone(),
                    cues: vec![cue.to_owned()],
                }),
            }
        }
    }
    // Taxonomy order, whatever the order in the text.
    found.sort_by_key(|t| {
        taxonomy
            .defs
            .iter()
            .position(|d| d.key == t.topic)
            .unwrap_or(usize::MAX)
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Classification {
        classify(text, 10, false, 0.0, default_taxonomy())
    }

    fn intent_of(text: &str) -> Intent {
        Intent::try_from(run(text).intent).expect("a known intent")
    }

    fn actionability(c: &Classification) -> Actionability {
        Actionability::try_from(c.actionability).expect("a known actionability")
    }

    fn urgency(c: &Classification, u: Urgency) -> Option<Vec<String>> {
        c.urgency
            .iter()
            .find(|s| s.urgency == u as i32)
            .map(|s| s.cues.clone())
    }

    fn topic<'a>(c: &'a Classification, key: &str) -> Option<&'a [String]> {
        c.topics
            .iter()
            .find(|t| t.topic == key)
            .map(|t| t.cues.as_slice())
    }

    /// A VADER ground-truth mean rating (−4..+4) as 0 negative, 1 neutral,
    /// 2 positive: at least "slightly" (1) either way.
    fn rated(mean: f64) -> usize {
        if mean <= -1.0 {
            0
        } else if mean >= 1.0 {
            2
        } else {
            1
        }
    }

    fn csv_rows(path: &str, text: &str, label: &str) -> Vec<(String, String)> {
        let path = earshot_testkit::corpus::data_dir().join(path);
        let mut reader = csv::Reader::from_path(&path).expect("data/ (see its README)");
        let headers = reader.headers().expect("a header").clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .expect("a known column")
        };
        let (t, l) = (col(text), col(label));
        reader
            .records()
            .map(|r| {
                let r = r.expect("a csv row");
                (r[t].to_owned(), r[l].to_owned())
            })
            .collect()
    }

    // Sentences from banking77 (PolyAI, CC BY 4.0) where marked, else written
    // for the test.
    #[test]
    fn every_intent() {
        let c = run("I am still waiting on my card?"); // banking77
        assert_eq!(c.intent, Intent::Complaint as i32);
        assert_eq!(c.cues, ["still waiting"]);
        assert_eq!(
            intent_of("Why was I charged twice? This is unacceptable"),
            Intent::Complaint
        );
        // banking77: waiting "still" is a grievance.
        let c = run("I still have not received my new card, I ordered over a week ago.");
        assert_eq!(c.intent, Intent::Complaint as i32);
        assert_eq!(c.cues, ["still have not"]);
        for text in [
            "My card was stolen, what should I do", // banking77
            "What can I do if my card still hasn't arrived after 2 weeks?", // banking77
            "the balance on my account didnt change when i transferred money", // banking77
            "@acme my card doesn’t work at the shop",
            "@acme my card doesnt work at the shop",
        ] {
            assert_eq!(intent_of(text), Intent::HelpRequest, "{text}");
        }
        assert_eq!(run("@acme my card doesnt work").cues, ["doesn't work"]);
        assert_eq!(
            intent_of("Is there a way to know when my card will arrive?"), // banking77
            Intent::Question
        );
        let q = run("@acme @bob when does the new store open");
        assert_eq!(q.intent, Intent::Question as i32);
        assert_eq!(q.cues, ["question opening 'when'"]);
        assert_eq!(
            intent_of("Thanks @acme, the new app is awesome"),
            Intent::Praise
        );
        assert_eq!(
            intent_of("@acme you should add a dark mode to the app"),
            Intent::Idea
        );
        assert_eq!(
            intent_of("@acme how much is the team plan for 10 people?"),
            Intent::SalesLead
        );
        let other = run("Going to the Apple store tomorrow with my sister");
        assert_eq!(other.intent, Intent::Other as i32);
        assert!(other.cues.is_empty());
        // Exclamations are no questions; URLs' `?` is no question.
        assert_eq!(intent_of("What a day at the beach"), Intent::Other);
        assert_eq!(
            intent_of("Reading https://acme.com/blog?id=3 today"),
            Intent::Other
        );
    }

    #[test]
    fn cues_are_whole_words_and_longest_wins() {
        // `help` inside "thanks for the help", `helpful` and `thanks`: praise only.
        let c = run("Thanks for the help @acme, very helpful!");
        assert_eq!(c.intent, Intent::Praise as i32);
        assert_eq!(c.cues, ["thanks for the help", "helpful"]);
        // `scam` is not in `scampi`, `error` not in `terrorism`.
        assert_eq!(intent_of("The scampi tonight was lovely"), Intent::Praise);
        assert_eq!(intent_of("A documentary on terrorism"), Intent::Other);
        // "can't wait" is no inability.
        assert_eq!(intent_of("Can't wait for the new season!"), Intent::Other);
    }

    #[test]
    fn sentiment_confirms_or_vetoes_but_never_decides_alone() {
        let text = "@acme I was charged for the order and the parcel is missing";
        let calm = classify(text, 10, false, -0.1, default_taxonomy());
        assert_eq!(calm.intent, Intent::HelpRequest as i32);
        let angry = classify(text, 10, false, -0.8, default_taxonomy());
        assert_eq!(angry.intent, Intent::Complaint as i32);
        assert_eq!(angry.cues, ["missing", "negative sentiment (-0.80)"]);
        // Sarcastic "thanks" with a negative score: no praise, no high five.
        let sarcasm = classify(
            "Thanks a lot @acme, lost my bag again",
            10,
            false,
            -0.5,
            default_taxonomy(),
        );
        assert_ne!(sarcasm.intent, Intent::Praise as i32);
        assert_ne!(actionability(&sarcasm), Actionability::HighFive);
        // A negative score without any cue is still nothing.
        let flat = classify("Monday again", 10, false, -0.9, default_taxonomy());
        assert_eq!(flat.intent, Intent::Other as i32);
        assert_eq!(actionability(&flat), Actionability::None);
    }

    #[test]
    fn every_urgency() {
        let c = run("@acme the site is down again, getting a 503 on every page");
        assert_eq!(
            urgency(&c, Urgency::Outage),
            Some(vec!["is down".into(), "down again".into(), "503".into()])
        );
        let c = run("@acme my charger caught fire last night");
        assert_eq!(
            urgency(&c, Urgency::Safety),
            Some(vec!["caught fire".into()])
        );
        let c = run("Fraudulent payments on my account, it was hacked");
        assert_eq!(
            urgency(&c, Urgency::Safety),
            Some(vec!["fraudulent".into(), "hacked".into()])
        );
        let c = run("Speaking to my lawyer and reporting you to trading standards");
        assert_eq!(
            urgency(&c, Urgency::LegalThreat),
            Some(vec![
                "lawyer".into(),
                "reporting you".into(),
                "trading standards".into()
            ])
        );
        let c = run("Never again @acme, I'm switching to @rival");
        assert_eq!(
            urgency(&c, Urgency::ChurnThreat),
            Some(vec!["never again".into(), "switching to".into()])
        );
        assert_eq!(actionability(&c), Actionability::CryForHelp);
        let c = run("I'm a journalist looking into @acme refunds");
        assert_eq!(
            urgency(&c, Urgency::MediaAttention),
            Some(vec!["journalist".into()])
        );
        // An author with a large audience, or verified.
        let big = classify("Morning all", 25_300, true, 0.5, default_taxonomy());
        assert_eq!(
            urgency(&big, Urgency::MediaAttention),
            Some(vec!["25300 followers".into(), "verified author".into()])
        );
        assert!(
            classify("Morning all", 9_999, false, 0.5, default_taxonomy())
                .urgency
                .is_empty()
        );
        // Media attention alone needs no reply.
        assert_eq!(actionability(&big), Actionability::None);
        assert!(run("Going to the Apple store tomorrow").urgency.is_empty());
        // Everyday words that only look urgent.
        for text in [
            "Sue from support sorted it in minutes",
            "I don't recall ordering this",
            "Anyone else excited for Friday?",
            "Last time I checked it was fine",
        ] {
            let kinds: Vec<i32> = run(text).urgency.iter().map(|u| u.urgency).collect();
            assert!(kinds.is_empty(), "{text}: {kinds:?}");
        }
    }

    #[test]
    fn every_actionability() {
        let cry = run("@acme I can't log in to the app");
        assert_eq!(actionability(&cry), Actionability::CryForHelp);
        assert!(cry.actionable);
        let five = classify(
            "Great service today @acme, thank you!",
            10,
            false,
            0.8,
            default_taxonomy(),
        );
        assert_eq!(five.intent, Intent::Praise as i32);
        assert_eq!(actionability(&five), Actionability::HighFive);
        assert!(!five.actionable);
        let idea = run("@acme it would be nice to have a widget");
        assert_eq!(actionability(&idea), Actionability::None);
        assert!(!idea.actionable);
        assert!(run("nice weather").sentiment.is_none());
    }

    #[test]
    fn topics_of_the_default_taxonomy() {
        let c = run("My parcel was delivered to the wrong address and I was charged twice!");
        assert_eq!(
            topic(&c, "delivery"),
            Some(&["parcel".to_owned(), "delivered".to_owned()][..])
        );
        assert_eq!(topic(&c, "billing"), Some(&["charged".to_owned()][..]));
        // Taxonomy order, not text order.
        let keys: Vec<&str> = c.topics.iter().map(|t| t.topic.as_str()).collect();
        assert_eq!(keys, ["delivery", "billing"]);
        assert!(run("Lovely weather today").topics.is_empty());
        let names: Vec<&str> = default_taxonomy()
            .defs()
            .iter()
            .map(|d| d.key.as_str())
            .collect();
        assert!(names.contains(&"outage") && names.contains(&"product_quality"));
    }

    #[test]
    fn topics_of_a_custom_taxonomy() {
        let taxonomy = Taxonomy::new(vec![
            TopicDef {
                key: "coffee".into(),
                phrases: vec!["Espresso*".into(), "flat   white".into()],
            },
            TopicDef {
                key: "staff".into(),
                phrases: vec!["barista*".into(), "rude".into(), "didn’t smile".into()],
            },
        ])
        .expect("a valid taxonomy");
        assert_eq!(taxonomy.defs()[0].phrases, ["espresso*", "flat white"]);
        let c = classify(
            "The BARISTAS were rude, didnt smile, and my flat\twhite and two espressos were cold",
            10,
            false,
            0.0,
            &taxonomy,
        );
        let got: Vec<(&str, Vec<&str>)> = c
            .topics
            .iter()
            .map(|t| {
                (
                    t.topic.as_str(),
                    t.cues.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("coffee", vec!["flat white", "espressos"]),
                ("staff", vec!["baristas", "rude", "didnt smile"]),
            ]
        );
        // Whole words: "rudely" is not "rude", "pressure" not "espresso*".
        assert!(
            classify("rudely put, pressure", 1, false, 0.0, &taxonomy)
                .topics
                .is_empty()
        );
    }

    #[test]
    fn invalid_taxonomies_name_the_field() {
        let topic = |key: &str, phrases: &[&str]| TopicDef {
            key: key.into(),
            phrases: phrases.iter().map(|p| (*p).to_owned()).collect(),
        };
        let cases: Vec<(Vec<TopicDef>, &str, &str)> = vec![
            (
                vec![topic("Delivery", &["x"])],
                "topics[0].key",
                "must be 1-64",
            ),
            (vec![topic("", &["x"])], "topics[0].key", "must be 1-64"),
            (
                vec![topic("a", &["x"]), topic("a", &["y"])],
                "topics[1].key",
                "duplicate key",
            ),
            (vec![topic("a", &[])], "topics[0].phrases", "at least one"),
            (
                vec![topic("a", &["ok"]), topic("b", &["  ", "x"])],
                "topics[1].phrases[0]",
                "letter or digit",
            ),
            (
                vec![topic("a", &["ok", "*"])],
                "topics[0].phrases[1]",
                "'*' only",
            ),
            (
                vec![topic("a", &["de*livery"])],
                "topics[0].phrases[0]",
                "'*' only",
            ),
            (
                vec![topic("a", &["ab*"])],
                "topics[0].phrases[0]",
                "'*' only",
            ),
            (
                vec![topic("a", &["Card", "card"])],
                "topics[0].phrases[1]",
                "duplicate phrase",
            ),
            (
                vec![topic("a", &[&"x".repeat(101)])],
                "topics[0].phrases[0]",
                "longer than 100",
            ),
        ];
        for (defs, field, why) in cases {
            let e = Taxonomy::new(defs).expect_err(field);
            assert_eq!(e.field(), field, "{e}");
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
        let many: Vec<TopicDef> = (0..=MAX_TOPICS)
            .map(|i| topic(&format!("t{i}"), &["x"]))
            .collect();
        assert_eq!(
            Taxonomy::new(many).expect_err("too many").to_string(),
            "topics: 201 topics, at most 200"
        );
        let phrases: Vec<String> = (0..=MAX_PHRASES).map(|i| format!("p{i}")).collect();
        let e = Taxonomy::new(vec![TopicDef {
            key: "a".into(),
            phrases,
        }])
        .expect_err("too many");
        assert_eq!(e.field(), "topics[0].phrases");
        // Within each topic's limit, over the limit of all together.
        let per_topic = MAX_ALL_PHRASES / MAX_PHRASES + 1;
        let wide: Vec<TopicDef> = (0..per_topic)
            .map(|t| TopicDef {
                key: format!("t{t}"),
                phrases: (0..MAX_PHRASES).map(|i| format!("p{i}")).collect(),
            })
            .collect();
        let e = Taxonomy::new(wide).expect_err("too many in all");
        assert_eq!(e.field(), "topics");
        assert!(e.to_string().contains("in all"), "{e}");
    }

    /// banking77 and Bitext are requests to a support desk: nearly all are
    /// cries for help. Floors are the rates measured when the cue lists were
    /// last tuned (banking77 test split 0.876, Bitext 0.799), less a little.
    #[test]
    fn support_requests_are_cries_for_help() {
        for (path, text, label, floor) in [
            ("banking77/test.csv", "text", "category", 0.86),
            (
                "bitext-support/bitext_customer_support_sample.csv",
                "instruction",
                "intent",
                0.78,
            ),
        ] {
            let rows = csv_rows(path, text, label);
            let cries = rows.iter().filter(|(t, _)| run(t).actionable).count();
            let rate = cries as f64 / rows.len() as f64;
            println!(
                "{path}: {cries} of {} cries for help ({rate:.3})",
                rows.len()
            );
            assert!(rate >= floor, "{path}: {rate:.3} < {floor}");
        }
    }

    /// VADER ground-truth tweets that people rated positive get high fives
    /// far more often than those they rated negative (sentiment not given:
    /// cues alone).
    #[test]
    fn high_fives_follow_positive_tweets() {
        let tweets = earshot_testkit::corpus::vader_tweets().expect("data/vader-icwsm2014");
        let mut fives = [0usize; 3];
        let mut totals = [0usize; 3];
        for tweet in &tweets {
            let label = rated(tweet.mean);
            totals[label] += 1;
            let c = run(&tweet.text);
            fives[label] += usize::from(c.actionability == Actionability::HighFive as i32);
        }
        let rate = |i: usize| fives[i] as f64 / totals[i] as f64;
        println!(
            "high fives: negative {:.3}, neutral {:.3}, positive {:.3}",
            rate(0),
            rate(1),
            rate(2)
        );
        // Measured: 0.321 of 1,830 positive, 0.010 of 837 negative.
        assert!(rate(2) >= 0.30, "{:.3}", rate(2));
        assert!(rate(0) <= 0.02, "{:.3}", rate(0));
    }

    /// Topics of labelled support requests: the expected topic is found for
    /// most texts of these categories (measured: 0.857 overall, 0.56 at
    /// worst for Bitext's recover_password with its "pwd", "access key" …).
    #[test]
    fn default_topics_fit_labelled_requests() {
        let expected: &[(&str, &str)] = &[
            ("card_arrival", "card"),
            ("lost_or_stolen_card", "card"),
            ("pending_transfer", "transfer"),
            ("top_up_failed", "top_up"),
            ("Refund_not_showing_up", "refund"),
            ("passcode_forgotten", "login"),
            ("exchange_rate", "transfer"),
            ("atm_support", "cash"),
            ("declined_card_payment", "card"),
            ("transaction_charged_twice", "billing"),
            ("track_order", "order"),
            ("get_refund", "refund"),
            ("recover_password", "login"),
            ("payment_issue", "billing"),
            ("delivery_period", "delivery"),
            ("check_invoice", "billing"),
            ("cancel_order", "cancellation"),
            ("contact_customer_service", "customer_service"),
            ("delete_account", "account"),
        ];
        let mut rows = csv_rows("banking77/test.csv", "text", "category");
        rows.extend(csv_rows(
            "bitext-support/bitext_customer_support_sample.csv",
            "instruction",
            "intent",
        ));
        let (mut hits, mut total) = (0, 0);
        for (category, key) in expected {
            let texts: Vec<&String> = rows
                .iter()
                .filter(|(_, l)| l == category)
                .map(|(t, _)| t)
                .collect();
            let found = texts
                .iter()
                .filter(|t| topic(&run(t), key).is_some())
                .count();
            println!("{category} → {key}: {found} of {}", texts.len());
            assert!(
                found * 100 >= texts.len() * 50,
                "{category}: {found} of {}",
                texts.len()
            );
            hits += found;
            total += texts.len();
        }
        let rate = hits as f64 / total as f64;
        println!("overall {rate:.3}");
        assert!(rate >= 0.84, "{rate:.3}");
    }

    /// One core, the corpus's tweets (TweetEval where `EARSHOT_DATA` has it).
    /// Run with
    /// `cargo test --release -p earshot-listening --lib pipeline::classify::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn throughput() {
        let tweets = earshot_testkit::corpus::tweets().expect("data/ (or EARSHOT_DATA)");
        let taxonomy = default_taxonomy();
        let start = std::time::Instant::now();
        let rounds = 5;
        let mut n = 0usize;
        for _ in 0..rounds {
            for t in &tweets {
                n += std::hint::black_box(classify(t, 100, false, 0.1, taxonomy))
                    .cues
                    .len();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "classify: {:.0} tweets/s ({n})",
            (tweets.len() * rounds) as f64 / secs
        );
    }
}
