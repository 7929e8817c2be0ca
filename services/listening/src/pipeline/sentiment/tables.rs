//! VADER 3.3.2's data: the two lexicon files bundled in the `vaderSentiment`
//! 3.3.2 wheel (byte for byte, MIT, see `LICENSE-VADER.txt`) and the word
//! lists written into its source (`NEGATE`, `BOOSTER_DICT`, `SPECIAL_CASES`),
//! folded into one table keyed by lower-case word so that scoring a token
//! costs one hash lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use super::python::{Item, is_space};

pub(crate) const VADER_LEXICON: &str = include_str!("vader_lexicon.txt");
pub(crate) const EMOJI_LEXICON: &str = include_str!("emoji_utf8_lexicon.txt");

/// Empirically derived increase for booster words, and decrease for dampeners.
pub(crate) const B_INCR: f64 = 0.293;
pub(crate) const B_DECR: f64 = -0.293;
/// Increase for a sentiment word in ALL CAPS among words that are not.
pub(crate) const C_INCR: f64 = 0.733;
/// Factor applied to a negated valence.
pub(crate) const N_SCALAR: f64 = -0.74;

/// `NEGATE` from vaderSentiment.py.
const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// The one-word entries of `BOOSTER_DICT`; the two-word ones ("kind of",
/// "sort of", "just enough") are matched by [`booster_bigram`].
const BOOSTERS: &[(&str, f64)] = &[
    ("absolutely", B_INCR),
    ("amazingly", B_INCR),
    ("awfully", B_INCR),
    ("completely", B_INCR),
    ("considerable", B_INCR),
    ("considerably", B_INCR),
    ("decidedly", B_INCR),
    ("deeply", B_INCR),
    ("effing", B_INCR),
    ("enormous", B_INCR),
    ("enormously", B_INCR),
    ("entirely", B_INCR),
    ("especially", B_INCR),
    ("exceptional", B_INCR),
    ("exceptionally", B_INCR),
    ("extreme", B_INCR),
    ("extremely", B_INCR),
    ("fabulously", B_INCR),
    ("flipping", B_INCR),
    ("flippin", B_INCR),
    ("frackin", B_INCR),
    ("fracking", B_INCR),
    ("fricking", B_INCR),
    ("frickin", B_INCR),
    ("frigging", B_INCR),
    ("friggin", B_INCR),
    ("fully", B_INCR),
    ("fuckin", B_INCR),
    ("fucking", B_INCR),
    ("fuggin", B_INCR),
    ("fugging", B_INCR),
    ("greatly", B_INCR),
    ("hella", B_INCR),
    ("highly", B_INCR),
    ("hugely", B_INCR),
    ("incredible", B_INCR),
    ("incredibly", B_INCR),
    ("intensely", B_INCR),
    ("major", B_INCR),
    ("majorly", B_INCR),
    ("more", B_INCR),
    ("most", B_INCR),
    ("particularly", B_INCR),
    ("purely", B_INCR),
    ("quite", B_INCR),
    ("really", B_INCR),
    ("remarkably", B_INCR),
    ("so", B_INCR),
    ("substantially", B_INCR),
    ("thoroughly", B_INCR),
    ("total", B_INCR),
    ("totally", B_INCR),
    ("tremendous", B_INCR),
    ("tremendously", B_INCR),
    ("uber", B_INCR),
    ("unbelievably", B_INCR),
    ("unusually", B_INCR),
    ("utter", B_INCR),
    ("utterly", B_INCR),
    ("very", B_INCR),
    ("almost", B_DECR),
    ("barely", B_DECR),
    ("hardly", B_DECR),
    ("kinda", B_DECR),
    ("kindof", B_DECR),
    ("kind-of", B_DECR),
    ("less", B_DECR),
    ("little", B_DECR),
    ("marginal", B_DECR),
    ("marginally", B_DECR),
    ("occasional", B_DECR),
    ("occasionally", B_DECR),
    ("partly", B_DECR),
    ("scarce", B_DECR),
    ("scarcely", B_DECR),
    ("slight", B_DECR),
    ("slightly", B_DECR),
    ("somewhat", B_DECR),
    ("sorta", B_DECR),
    ("sortof", B_DECR),
    ("sort-of", B_DECR),
];

/// Words the rules name, each with its own tag so that the rules compare
/// one byte instead of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub(crate) enum Tag {
    #[default]
    None,
    No,
    Or,
    Nor,
    But,
    Kind,
    Of,
    Least,
    At,
    Very,
    Never,
    So,
    This,
    Without,
    Doubt,
    The,
    Shit,
    Bomb,
    Bad,
    Ass,
    Bus,
    Stop,
    Yeah,
    Right,
    Kiss,
    Death,
    To,
    Die,
    For,
    Beating,
    Heart,
    Just,
    Enough,
    Sort,
}

const TAGS: &[(&str, Tag)] = &[
    ("no", Tag::No),
    ("or", Tag::Or),
    ("nor", Tag::Nor),
    ("but", Tag::But),
    ("kind", Tag::Kind),
    ("of", Tag::Of),
    ("least", Tag::Least),
    ("at", Tag::At),
    ("very", Tag::Very),
    ("never", Tag::Never),
    ("so", Tag::So),
    ("this", Tag::This),
    ("without", Tag::Without),
    ("doubt", Tag::Doubt),
    ("the", Tag::The),
    ("shit", Tag::Shit),
    ("bomb", Tag::Bomb),
    ("bad", Tag::Bad),
    ("ass", Tag::Ass),
    ("bus", Tag::Bus),
    ("stop", Tag::Stop),
    ("yeah", Tag::Yeah),
    ("right", Tag::Right),
    ("kiss", Tag::Kiss),
    ("death", Tag::Death),
    ("to", Tag::To),
    ("die", Tag::Die),
    ("for", Tag::For),
    ("beating", Tag::Beating),
    ("heart", Tag::Heart),
    ("just", Tag::Just),
    ("enough", Tag::Enough),
    ("sort", Tag::Sort),
];

/// A `SPECIAL_CASES` idiom: its text (for cue words) and valence, an int
/// for "the shit", "the bomb", "to die for" and "yeah right" as in Python.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idiom {
    pub(crate) text: &'static str,
    pub(crate) item: Item,
}

const fn idiom(text: &'static str, value: f64, int: bool) -> Option<Idiom> {
    Some(Idiom {
        text,
        item: Item { value, int },
    })
}

/// The two-word `SPECIAL_CASES` ("badass" is listed there too, but a single
/// word never equals a joined sequence, so Python never applies it).
pub(crate) fn special_bigram(a: Tag, b: Tag) -> Option<Idiom> {
    match (a, b) {
        (Tag::The, Tag::Shit) => idiom("the shit", 3.0, true),
        (Tag::The, Tag::Bomb) => idiom("the bomb", 3.0, true),
        (Tag::Bad, Tag::Ass) => idiom("bad ass", 1.5, false),
        (Tag::Bus, Tag::Stop) => idiom("bus stop", 0.0, false),
        (Tag::Yeah, Tag::Right) => idiom("yeah right", -2.0, true),
        (Tag::Beating, Tag::Heart) => idiom("beating heart", 3.5, false),
        _ => None,
    }
}

/// The three-word `SPECIAL_CASES`.
pub(crate) fn special_trigram(a: Tag, b: Tag, c: Tag) -> Option<Idiom> {
    match (a, b, c) {
        (Tag::Kiss, Tag::Of, Tag::Death) => idiom("kiss of death", -1.5, false),
        (Tag::To, Tag::Die, Tag::For) => idiom("to die for", 3.0, true),
        _ => None,
    }
}

/// The two-word `BOOSTER_DICT` entries, all dampeners.
pub(crate) fn booster_bigram(a: Tag, b: Tag) -> Option<f64> {
    match (a, b) {
        (Tag::Just, Tag::Enough) | (Tag::Kind, Tag::Of) | (Tag::Sort, Tag::Of) => Some(B_DECR),
        _ => None,
    }
}

/// Everything the rules need to know about one lower-case word.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Word {
    /// The lexicon entry, as written there (a cue word).
    pub(crate) key: &'static str,
    /// Its valence, if the lexicon has the word.
    pub(crate) valence: f64,
    pub(crate) in_lexicon: bool,
    /// Its `BOOSTER_DICT` scalar, if it is a one-word booster or dampener.
    pub(crate) booster: f64,
    pub(crate) is_booster: bool,
    /// In `NEGATE`. (Words holding "n't" negate too; the caller checks that.)
    pub(crate) negation: bool,
    pub(crate) tag: Tag,
}

/// FxHash (rustc's hasher): a multiply and a rotate per eight bytes, plenty
/// for a fixed table of short words and much cheaper than SipHash.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some((chunk, rest)) = bytes.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*chunk));
            bytes = rest;
        }
        if let Some((chunk, rest)) = bytes.split_first_chunk::<4>() {
            self.add(u64::from(u32::from_le_bytes(*chunk)));
            bytes = rest;
        }
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

pub(crate) struct Tables {
    words: HashMap<&'static str, Word, FxBuild>,
    emojis: HashMap<char, Emoji, FxBuild>,
}

/// A single-character entry of the emoji lexicon.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emoji {
    /// The emoji as the lexicon writes it (a cue).
    pub(crate) key: &'static str,
    /// Its description, which replaces it in the text before scoring.
    pub(crate) description: &'static str,
}

pub(crate) static TABLES: LazyLock<Tables> = LazyLock::new(Tables::load);

static NO_WORD: Word = Word {
    key: "",
    valence: 0.0,
    in_lexicon: false,
    booster: 0.0,
    is_booster: false,
    negation: false,
    tag: Tag::None,
};

/// `line.strip()` with Python's notion of whitespace.
fn py_strip(line: &str) -> &str {
    line.trim_matches(is_space)
}

impl Tables {
    fn load() -> Tables {
        let mut words: HashMap<&'static str, Word, FxBuild> = HashMap::default();
        // make_lex_dict: later lines win over earlier ones with the same word.
        for line in VADER_LEXICON.trim_end_matches('\n').split('\n') {
            if line.is_empty() {
                continue;
            }
            let mut fields = py_strip(line).split('\t');
            let (Some(word), Some(measure)) = (fields.next(), fields.next()) else {
                panic!("vader_lexicon.txt: a line without a tab: {line:?}");
            };
            let valence: f64 = measure
                .parse()
                .unwrap_or_else(|_| panic!("vader_lexicon.txt: bad valence {measure:?}"));
            let entry = words.entry(word).or_default();
            entry.key = word;
            entry.valence = valence;
            entry.in_lexicon = true;
        }
        for &(word, scalar) in BOOSTERS {
            let entry = words.entry(word).or_default();
            entry.booster = scalar;
            entry.is_booster = true;
        }
        for &word in NEGATE {
            words.entry(word).or_default().negation = true;
        }
        for &(word, tag) in TAGS {
            words.entry(word).or_default().tag = tag;
        }
        let mut emojis: HashMap<char, Emoji, FxBuild> = HashMap::default();
        for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
            let mut fields = py_strip(line).split('\t');
            let (Some(key), Some(description)) = (fields.next(), fields.next()) else {
                panic!("emoji_utf8_lexicon.txt: a line without a tab: {line:?}");
            };
            // Python replaces emoji one character at a time, so entries of
            // several characters (flags, skin tones, ZWJ sequences) never apply.
            let mut chars = key.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                emojis.insert(c, Emoji { key, description });
            }
        }
        Tables { words, emojis }
    }

    /// What the rules know about `lower`, a lower-case token.
    #[inline]
    pub(crate) fn word(&self, lower: &str) -> &Word {
        self.words.get(lower).unwrap_or(&NO_WORD)
    }

    #[inline]
    pub(crate) fn emoji(&self, c: char) -> Option<&Emoji> {
        self.emojis.get(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_what_python_loads() {
        let t = &*TABLES;
        // 7,520 lines, 14 words listed twice: the later line wins.
        assert_eq!(t.words.values().filter(|w| w.in_lexicon).count(), 7_506);
        assert_eq!(t.word("good").valence, 1.9);
        assert_eq!(t.word("lol").valence, 1.8);
        assert!(t.word("so").is_booster && t.word("so").tag == Tag::So);
        assert!(t.word("kind").in_lexicon && t.word("kind").tag == Tag::Kind);
        assert!(!t.word("least").in_lexicon);
        assert!(t.word("uh-uh").negation && !t.word("no").negation);
        assert_eq!(t.word("kinda").booster, B_DECR);
        assert!(!t.word("unknownword").in_lexicon);
        assert_eq!(t.emoji('😀').map(|e| e.description), Some("grinning face"));
        assert!(t.emoji('a').is_none());
        // CRLF line ends are stripped like Python's line.strip().
        assert!(t.emojis.values().all(|e| !e.description.ends_with('\r')));
    }
}
