//! Sentiment: VADER (Hutto & Gilbert, ICWSM 2014), the lexicon-and-rules
//! method validated on social-media text, scoring exactly as the Python
//! reference `vaderSentiment` 3.3.2 does on CPython 3.12 and 3.13.
//!
//! [`polarity_scores`] returns the four numbers of Python's
//! `SentimentIntensityAnalyzer().polarity_scores(text)`, equal to the last
//! bit: `tests/vader_parity.rs` checks them with exact equality against
//! `tests/fixtures/vader/reference.jsonl`, the reference's own output
//! (`scripts/vader_reference/generate.py`). Parity rests on the details that
//! other ports miss: Python's whitespace and `isupper`, the int-or-float
//! kind of each sentiment (CPython's `sum()` treats them differently), 3.12's
//! compensated `sum()`, the quirks of the "but" rule (`list.index` finds the
//! first equal value), and `round()` on the exact binary value.
//!
//! It runs on every mention, so a call allocates nothing once its thread has
//! scored a text of that size: tokens are lower-cased once into a reused
//! buffer, each costs one lookup in a table that folds the lexicon, the
//! boosters, the negations and the words the rules name (FxHash), and there
//! are no regular expressions. Emoji are replaced by their descriptions only
//! in texts that have some.
//!
//! The lexicons are the files of the `vaderSentiment` 3.3.2 wheel, byte for
//! byte, under the MIT licence in `LICENSE-VADER.txt` (copyright C.J. Hutto).

mod python;
mod tables;

use std::cell::RefCell;

use python::Item;
use tables::{B_DECR, C_INCR, N_SCALAR, TABLES, Tables, Tag, Word};

/// VADER's scores for one text, as Python's `polarity_scores` returns them:
/// `neg`, `neu` and `pos` are proportions rounded to three decimals,
/// `compound` the normalised sum in [-1, 1] rounded to four.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sentiment {
    pub neg: f64,
    pub neu: f64,
    pub pos: f64,
    pub compound: f64,
}

/// VADER's scores for `text`, equal to Python `vaderSentiment` 3.3.2's
/// `SentimentIntensityAnalyzer().polarity_scores(text)` on CPython 3.12.
pub fn polarity_scores(text: &str) -> Sentiment {
    with_scratch(|scratch| scratch.analyze(text, false))
}

/// The most cues [`polarity_scores_with_cues`] returns.
pub const MAX_CUES: usize = 5;

/// [`polarity_scores`] and the words that carried the valence, strongest
/// first, at most [`MAX_CUES`], each once: lexicon entries (`"terrible"`),
/// special-case idioms (`"the bomb"`) and emoji (`"😡"`, for the words of
/// its description). So an agent can see why a mention scored as it did.
pub fn polarity_scores_with_cues(text: &str) -> (Sentiment, Vec<&'static str>) {
    with_scratch(|scratch| {
        let sentiment = scratch.analyze(text, true);
        let mut order: Vec<usize> = (0..scratch.items.len())
            .filter(|&i| scratch.items[i].value != 0.0 && scratch.cues[i].is_some())
            .collect();
        order.sort_by(|&a, &b| {
            scratch.items[b]
                .value
                .abs()
                .total_cmp(&scratch.items[a].value.abs())
        });
        let mut cues: Vec<&'static str> = Vec::with_capacity(MAX_CUES);
        for cue in order.into_iter().filter_map(|i| scratch.cues[i]) {
            if cues.len() == MAX_CUES {
                break;
            }
            if !cues.contains(&cue) {
                cues.push(cue);
            }
        }
        (sentiment, cues)
    })
}

/// Loads the lexicons now rather than on the first call (a few
/// milliseconds), e.g. at service start.
pub fn preload() {
    std::sync::LazyLock::force(&TABLES);
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let out = f(&mut scratch);
            scratch.trim();
            out
        }
        // Only reachable if scoring re-entered itself; stay correct anyway.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// One token of `SentiText.words_and_emoticons`, looked up once.
#[derive(Clone, Copy)]
struct Token {
    word: &'static Word,
    /// `str.isupper()` of the token.
    upper: bool,
    /// `negated([token])`: in `NEGATE` or holding "n't".
    negated: bool,
    /// The emoji whose description the token comes from (cues only).
    emoji: Option<&'static str>,
}

impl Token {
    #[inline]
    fn tag(&self) -> Tag {
        self.word.tag
    }

    #[inline]
    fn in_lexicon(&self) -> bool {
        self.word.in_lexicon
    }
}

/// Buffers reused from call to call.
#[derive(Default)]
struct Scratch {
    /// The text with emoji replaced by their descriptions, when it has any.
    replaced: String,
    /// Byte ranges of `replaced` that came from an emoji (cues only).
    emoji_spans: Vec<(usize, usize, &'static str)>,
    lower: String,
    tokens: Vec<Token>,
    /// Python's `sentiments` list, one item per token.
    items: Vec<Item>,
    /// The cue behind each item (filled only when asked for).
    cues: Vec<Option<&'static str>>,
}

impl Scratch {
    /// Keeps a thread's buffers from holding on to one huge text.
    fn trim(&mut self) {
        const KEEP: usize = 1 << 16;
        if self.replaced.capacity() > KEEP || self.tokens.capacity() > KEEP / 8 {
            *self = Scratch::default();
        }
    }

    fn analyze(&mut self, text: &str, want_cues: bool) -> Sentiment {
        let tables: &'static Tables = &TABLES;
        // Moved out and back so that `source` may borrow it while the other
        // buffers fill.
        let mut replaced = std::mem::take(&mut self.replaced);
        let source = if self.replace_emoji(tables, text, &mut replaced, want_cues) {
            replaced.as_str()
        } else {
            text
        };
        self.tokenize(tables, source, want_cues);
        self.valences(want_cues);
        but_check(&self.tokens, &mut self.items);
        let sentiment = score_valence(&self.items, source);
        self.replaced = replaced;
        sentiment
    }

    /// `polarity_scores`' first loop: each emoji character (a single-code-
    /// point entry of the emoji lexicon) becomes its description, preceded
    /// by a space unless the previous character was a space or an emoji.
    /// Returns false, leaving `out` alone, when the text has no emoji: the
    /// lexicon has no ASCII entry, so ASCII text is never copied.
    fn replace_emoji(
        &mut self,
        tables: &Tables,
        text: &str,
        out: &mut String,
        want_cues: bool,
    ) -> bool {
        if text.is_ascii() {
            return false;
        }
        let mut copied = 0;
        let mut any = false;
        let mut prev_space = true;
        for (i, c) in text.char_indices() {
            let Some(emoji) = (!c.is_ascii()).then(|| tables.emoji(c)).flatten() else {
                prev_space = c == ' ';
                continue;
            };
            if !any {
                out.clear();
                self.emoji_spans.clear();
                any = true;
            }
            out.push_str(&text[copied..i]);
            copied = i + c.len_utf8();
            if !prev_space {
                out.push(' ');
            }
            let start = out.len();
            out.push_str(emoji.description);
            if want_cues {
                self.emoji_spans.push((start, out.len(), emoji.key));
            }
            prev_space = false;
        }
        if any {
            out.push_str(&text[copied..]);
        }
        any
    }

    /// `SentiText._words_and_emoticons`: `text.split()` on Python's
    /// whitespace, each piece stripped of punctuation, then looked up.
    fn tokenize(&mut self, tables: &'static Tables, source: &str, want_cues: bool) {
        self.tokens.clear();
        let bytes = source.as_bytes();
        let mut start = None;
        let mut i = 0;
        while i < bytes.len() {
            let (space, width) = if bytes[i].is_ascii() {
                (python::is_ascii_space(bytes[i]), 1)
            } else {
                let Some(c) = source[i..].chars().next() else {
                    break;
                };
                (python::is_space(c), c.len_utf8())
            };
            match (space, start) {
                (true, Some(s)) => {
                    self.push_token(tables, source, s..i, want_cues);
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
            i += width;
        }
        if let Some(s) = start {
            self.push_token(tables, source, s..bytes.len(), want_cues);
        }
    }

    fn push_token(
        &mut self,
        tables: &'static Tables,
        source: &str,
        piece: std::ops::Range<usize>,
        want_cues: bool,
    ) {
        let stripped = python::strip_punctuation(&source[piece.clone()]);
        let start = piece.start + stripped.start;
        let token = &source[start..piece.start + stripped.end];
        let (word, upper, negated);
        if token.is_ascii() {
            let bytes = token.as_bytes();
            let has_upper = bytes.iter().any(u8::is_ascii_uppercase);
            upper = has_upper && !bytes.iter().any(u8::is_ascii_lowercase);
            let lower = if has_upper {
                self.lower.clear();
                self.lower
                    .extend(bytes.iter().map(|b| char::from(b.to_ascii_lowercase())));
                self.lower.as_str()
            } else {
                token
            };
            word = tables.word(lower);
            negated = word.negation || (bytes.contains(&b'\'') && contains_nt(lower));
        } else {
            upper = python::is_upper(token);
            self.lower.clear();
            // Per character, so a final capital sigma lowers to σ where
            // Python writes ς: no table word holds either, so no lookup
            // can tell.
            for c in token.chars() {
                self.lower.extend(c.to_lowercase());
            }
            word = tables.word(&self.lower);
            negated = word.negation || contains_nt(&self.lower);
        }
        let emoji = if want_cues {
            self.emoji_spans
                .iter()
                .find(|&&(s, e, _)| s <= start && start < e)
                .map(|&(_, _, key)| key)
        } else {
            None
        };
        self.tokens.push(Token {
            word,
            upper,
            negated,
            emoji,
        });
    }

    /// `polarity_scores`' second loop: one item per token.
    fn valences(&mut self, want_cues: bool) {
        let tokens = &self.tokens;
        let n = tokens.len();
        // allcap_differential: some, but not all, tokens are ALL CAPS.
        let upper = tokens.iter().filter(|t| t.upper).count();
        let cap_diff = upper > 0 && upper < n;
        self.items.clear();
        self.cues.clear();
        for (i, token) in tokens.iter().enumerate() {
            let kind_of = i + 1 < n && token.tag() == Tag::Kind && tokens[i + 1].tag() == Tag::Of;
            let (item, idiom) = if token.word.is_booster || kind_of || !token.in_lexicon() {
                (Item::ZERO, None)
            } else {
                sentiment_valence(tokens, i, cap_diff)
            };
            self.items.push(item);
            if want_cues {
                let cue = idiom
                    .or(token.emoji)
                    .or((!token.word.key.is_empty()).then_some(token.word.key));
                self.cues.push(cue);
            }
        }
    }
}

/// `"n't" in word`.
fn contains_nt(lower: &str) -> bool {
    lower.as_bytes().windows(3).any(|w| w == b"n't")
}

/// `sentiment_valence` for a lexicon word at `i`: its valence after the
/// "no", ALL CAPS, booster, negation, idiom and "least" rules, and the
/// idiom that replaced it, if one did.
fn sentiment_valence(t: &[Token], i: usize, cap_diff: bool) -> (Item, Option<&'static str>) {
    let n = t.len();
    let lexicon = t[i].word.valence;
    let mut valence = lexicon;
    // "no" before another lexicon word is a negation, not a sentiment.
    if t[i].tag() == Tag::No && i != n - 1 && t[i + 1].in_lexicon() {
        valence = 0.0;
    }
    if (i > 0 && t[i - 1].tag() == Tag::No)
        || (i > 1 && t[i - 2].tag() == Tag::No)
        || (i > 2 && t[i - 3].tag() == Tag::No && matches!(t[i - 1].tag(), Tag::Or | Tag::Nor))
    {
        valence = lexicon * N_SCALAR;
    }
    if t[i].upper && cap_diff {
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }
    // The three preceding words, nearest first, each only if it is not
    // itself a lexicon word.
    let mut item = Item::float(valence);
    let mut idiom = None;
    for start_i in 0..3 {
        let before = i.wrapping_sub(start_i + 1);
        if i <= start_i || t[before].in_lexicon() {
            continue;
        }
        let mut valence = item.value;
        let mut scalar = scalar_inc_dec(&t[before], valence, cap_diff);
        if start_i == 1 && scalar != 0.0 {
            scalar *= 0.95;
        }
        if start_i == 2 && scalar != 0.0 {
            scalar *= 0.9;
        }
        valence += scalar;
        valence = negation_check(valence, t, start_i, i);
        item = Item::float(valence);
        if start_i == 2 {
            (item, idiom) = special_idioms_check(item, t, i, idiom);
        }
    }
    (least_check(item, t, i), idiom)
}

/// `scalar_inc_dec`: the push a booster or dampener gives the valence.
fn scalar_inc_dec(token: &Token, valence: f64, cap_diff: bool) -> f64 {
    if !token.word.is_booster {
        return 0.0;
    }
    let mut scalar = token.word.booster;
    if valence < 0.0 {
        scalar *= -1.0;
    }
    if token.upper && cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

/// `_negation_check`, for the word `start_i + 1` places before `i`.
fn negation_check(valence: f64, t: &[Token], start_i: usize, i: usize) -> f64 {
    let so_or_this = |k: usize| matches!(t[k].tag(), Tag::So | Tag::This);
    match start_i {
        0 if t[i - 1].negated => valence * N_SCALAR,
        1 if t[i - 2].tag() == Tag::Never && so_or_this(i - 1) => valence * 1.25,
        1 if t[i - 2].tag() == Tag::Without && t[i - 1].tag() == Tag::Doubt => valence,
        1 if t[i - 2].negated => valence * N_SCALAR,
        // Python's `a and b or c`: a "so" or "this" right before the word
        // boosts it whatever came three words before.
        2 if (t[i - 3].tag() == Tag::Never && so_or_this(i - 2)) || so_or_this(i - 1) => {
            valence * 1.25
        }
        2 if t[i - 3].tag() == Tag::Without
            && (t[i - 2].tag() == Tag::Doubt || t[i - 1].tag() == Tag::Doubt) =>
        {
            valence
        }
        2 if t[i - 3].negated => valence * N_SCALAR,
        _ => valence,
    }
}

/// `_special_idioms_check` (only reached with `i >= 3`): an idiom around
/// the word replaces its valence, and a dampening bigram before it
/// ("kind of") lowers it.
fn special_idioms_check(
    mut item: Item,
    t: &[Token],
    i: usize,
    mut idiom: Option<&'static str>,
) -> (Item, Option<&'static str>) {
    let n = t.len();
    let tag = |k: usize| t[k].tag();
    let before = [
        tables::special_bigram(tag(i - 1), tag(i)),
        tables::special_trigram(tag(i - 2), tag(i - 1), tag(i)),
        tables::special_bigram(tag(i - 2), tag(i - 1)),
        tables::special_trigram(tag(i - 3), tag(i - 2), tag(i - 1)),
        tables::special_bigram(tag(i - 3), tag(i - 2)),
    ];
    if let Some(found) = before.into_iter().flatten().next() {
        (item, idiom) = (found.item, Some(found.text));
    }
    if n - 1 > i
        && let Some(found) = tables::special_bigram(tag(i), tag(i + 1))
    {
        (item, idiom) = (found.item, Some(found.text));
    }
    if n - 1 > i + 1
        && let Some(found) = tables::special_trigram(tag(i), tag(i + 1), tag(i + 2))
    {
        (item, idiom) = (found.item, Some(found.text));
    }
    // "three two one" has three words and no booster has three.
    for (a, b) in [(i - 3, i - 2), (i - 2, i - 1)] {
        if let Some(scalar) = tables::booster_bigram(tag(a), tag(b)) {
            debug_assert_eq!(scalar, B_DECR);
            item = Item::float(item.value + scalar);
        }
    }
    (item, idiom)
}

/// `_least_check`: "least" before the word negates it, except in
/// "at least" and "very least".
fn least_check(item: Item, t: &[Token], i: usize) -> Item {
    let least = |k: usize| !t[k].in_lexicon() && t[k].tag() == Tag::Least;
    if i > 1 && least(i - 1) {
        if !matches!(t[i - 2].tag(), Tag::At | Tag::Very) {
            return Item::float(item.value * N_SCALAR);
        }
        item
    } else if i > 0 && least(i - 1) {
        Item::float(item.value * N_SCALAR)
    } else {
        item
    }
}

/// `_but_check`, quirks included: for each item in turn, Python finds the
/// FIRST item equal to it (`list.index`) and scales that one, by 0.5 before
/// the first "but" and 1.5 after it; an item equal to an earlier one (every
/// 0, or a repeated word) thus scales the earlier one instead, again.
fn but_check(tokens: &[Token], items: &mut [Item]) {
    let Some(but) = tokens.iter().position(|t| t.tag() == Tag::But) else {
        return;
    };
    for k in 0..items.len() {
        let value = items[k].value;
        let first = items[..=k]
            .iter()
            .position(|item| item.value == value)
            .unwrap_or(k);
        if first < but {
            items[first] = Item::float(value * 0.5);
        } else if first > but {
            items[first] = Item::float(value * 1.5);
        }
    }
}

/// `score_valence`: the compound score and the three proportions.
fn score_valence(items: &[Item], text: &str) -> Sentiment {
    if items.is_empty() {
        return Sentiment::default();
    }
    let mut sum = python::sum_3_12(items);
    let (mut exclamations, mut questions) = (0u32, 0u32);
    for &b in text.as_bytes() {
        exclamations += u32::from(b == b'!');
        questions += u32::from(b == b'?');
    }
    let ep_amplifier = f64::from(exclamations.min(4)) * 0.292;
    let qm_amplifier = match questions {
        0 | 1 => 0.0,
        2 | 3 => f64::from(questions) * 0.18,
        _ => 0.96,
    };
    let emphasis = ep_amplifier + qm_amplifier;
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    let compound = normalize(sum);
    let (mut pos_sum, mut neg_sum, mut neu_count) = (0.0f64, 0.0f64, 0u32);
    for item in items {
        let s = item.value;
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += emphasis;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= emphasis;
    }
    let total = pos_sum + neg_sum.abs() + f64::from(neu_count);
    Sentiment {
        neg: python::round((neg_sum / total).abs(), 3),
        neu: python::round((f64::from(neu_count) / total).abs(), 3),
        pos: python::round((pos_sum / total).abs(), 3),
        compound: python::round(compound, 4),
    }
}

/// `normalize(score, alpha=15)`: into [-1, 1].
fn normalize(score: f64) -> f64 {
    (score / (score * score + 15.0).sqrt()).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores as Python vaderSentiment 3.3.2 printed them (CPython 3.12 sum).
    fn assert_scores(text: &str, neg: f64, neu: f64, pos: f64, compound: f64) {
        let want = Sentiment {
            neg,
            neu,
            pos,
            compound,
        };
        let got = polarity_scores(text);
        let bits = |s: Sentiment| s.compound.to_bits();
        assert!(
            got == want && bits(got) == bits(want),
            "{text:?}: {got:?}, want {want:?}"
        );
    }

    #[test]
    fn negations_and_never_so() {
        assert_scores("Not bad at all", 0.0, 0.513, 0.487, 0.431);
        assert_scores(
            "At least it isn't a horrible book.",
            0.0,
            0.678,
            0.322,
            0.431,
        );
        assert_scores("I have never been so happy.", 0.0, 0.513, 0.487, 0.6948);
        assert_scores(
            "Without a doubt, excellent idea.",
            0.0,
            0.341,
            0.659,
            0.7013,
        );
        // "no" before a lexicon word negates it rather than scoring itself;
        // "no X or Y" reaches Y too.
        assert_scores("no good", 0.706, 0.294, 0.0, -0.3412);
        assert_scores(
            "There is no joy or love in this.",
            0.518,
            0.482,
            0.0,
            -0.7536,
        );
    }

    #[test]
    fn least_and_kind_of() {
        assert_scores("The book was only kind of good.", 0.0, 0.697, 0.303, 0.3832);
        let least = "Roger Dodger is one of the least compelling variations on this theme.";
        assert_scores(least, 0.132, 0.868, 0.0, -0.1695);
        let at_least = "Roger Dodger is at least compelling as a variation on the theme.";
        assert_scores(at_least, 0.0, 0.853, 0.147, 0.2263);
        // U+212A KELVIN SIGN lowers to "k": "Kind of good" with a dampener.
        assert_scores("\u{212a}ind of good", 0.0, 0.408, 0.592, 0.4404);
    }

    #[test]
    fn but_scales_the_first_equal_item() {
        // Python's list.index finds the first "good" each time: the later
        // ones are never scaled by 1.5.
        assert_scores("good good but good good", 0.0, 0.079, 0.921, 0.891);
        let mixed = "The service was great but the food was awful.";
        assert_scores(mixed, 0.295, 0.517, 0.188, -0.3506);
    }

    #[test]
    fn caps_punctuation_and_idioms() {
        assert_scores("This is GREAT!!!", 0.0, 0.259, 0.741, 0.7723);
        // All words in caps: no emphasis.
        assert_scores("THIS IS GREAT", 0.0, 0.328, 0.672, 0.6249);
        assert_scores("Good????", 0.0, 0.0, 1.0, 0.594);
        let blocked = "Why is my card blocked??? Terrible!!!";
        assert_scores(blocked, 0.623, 0.377, 0.0, -0.7661);
        // "the shit" is Python's int 3, replacing "shit".
        assert_scores("the food here is the shit", 0.0, 0.556, 0.444, 0.6124);
    }

    #[test]
    fn tokens_split_and_strip_like_python() {
        assert_scores("", 0.0, 0.0, 0.0, 0.0);
        assert_scores("ok", 0.0, 0.0, 1.0, 0.296);
        // "ok!" stripped would be two characters, so it stays "ok!": no match.
        assert_scores("ok!", 0.0, 1.0, 0.0, 0.0);
        // U+001C is whitespace to Python's str.split().
        assert_scores("good\u{1c}bad", 0.547, 0.0, 0.453, -0.1531);
        // 😡 is "pouting face": no lexicon word.
        assert_scores("😡😡 worst bank ever", 0.406, 0.594, 0.0, -0.6249);
        assert_scores("worst bank ever 😂", 0.405, 0.338, 0.257, -0.296);
    }

    #[test]
    fn sum_is_cpython_3_12s() {
        // The valences cancel to exactly 0.0 with 3.12's sum, so the "!"
        // adds no emphasis; 3.14's sum leaves -4e-16 and scores -0.0752.
        let text = "it that confronted the shit despairingly!";
        assert_scores(text, 0.431, 0.244, 0.325, 0.0);
    }

    #[test]
    fn cues_name_the_words_that_carried_valence() {
        let (s, cues) = polarity_scores_with_cues("The service was great but the food was awful.");
        assert_eq!(
            s,
            polarity_scores("The service was great but the food was awful.")
        );
        // "awful" (-2.0, after "but": x1.5) outweighs "great" (3.1, x0.5).
        assert_eq!(cues, ["awful", "great"]);
        // 😂 is "face with tears of joy": "joy" (2.8) and "tears" (-0.9).
        let (_, cues) = polarity_scores_with_cues("worst bank ever 😂");
        assert_eq!(cues, ["worst", "😂"]);
        let (_, cues) = polarity_scores_with_cues("you are the bomb");
        assert_eq!(cues, ["the bomb"]);
        let (_, cues) = polarity_scores_with_cues("nothing to see here");
        assert!(cues.is_empty());
        let many = "love hate good bad great awful happy sad";
        assert_eq!(polarity_scores_with_cues(many).1.len(), MAX_CUES);
    }
}
