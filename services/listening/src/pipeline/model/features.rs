//! The one tokeniser of the learned models: training and inference both call
//! [`features`], so what a model learnt from is exactly what it reads.
//!
//! A mention becomes hashed features (fastText's "hashing trick"): every
//! word, every pair of neighbouring words (with the text's start and end as
//! words), VADER's compound score in one of eight bins, and the intent the
//! cues decided. Words are lowercased runs of letters, digits and inner
//! apostrophes (`don't`, with `dont` its own word); a handle becomes
//! `@user` (and `@lead` when the text opens with it: addressed to someone),
//! a URL `<url>`, a number of three digits or more `<num>`; `?` and `!` are
//! words, other punctuation is not; each emoji or other symbol is a word.
//! Hashes are xxh3, which is specified and the same on every platform and
//! version, so stored weights keep their meaning.

use earshot_proto::common::v1::Intent;
use xxhash_rust::xxh3::xxh3_64;

/// Features per mention are bounded: a long e-mail is read from its start.
pub const MAX_TOKENS: usize = 256;

const START: u64 = 0x9e37_79b9_7f4a_7c15;
const END: u64 = 0xc2b2_ae3d_27d4_eb4f;
const BIGRAM: u64 = 0x1656_67b1_9e37_79f9;
const VADER: u64 = 0x27d4_eb2f_1656_67c5;
const CUE: u64 = 0x94d0_49bb_1331_11eb;

/// What the models read besides the words.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    /// VADER's compound score, -1..=1.
    pub vader_compound: f64,
    /// The intent the cue lists decided.
    pub cue_intent: Intent,
}

fn mix(a: u64, b: u64) -> u64 {
    // A multiply-xorshift of the pair: order matters ("not good" ≠ "good not").
    let x = a.rotate_left(23) ^ b.wrapping_mul(BIGRAM);
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// The token hashes of `text`, in order, into `out` (cleared first).
pub fn tokens(text: &str, out: &mut Vec<u64>) {
    out.clear();
    let mut word = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if out.len() >= MAX_TOKENS {
            return;
        }
        if is_word_char(c) {
            word.clear();
            let mut end = i + c.len_utf8();
            push_lower(&mut word, c);
            while let Some(&(j, n)) = chars.peek() {
                let inner_apostrophe = matches!(n, '\'' | '\u{2019}')
                    && text[j + n.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(is_word_char);
                if is_word_char(n) || inner_apostrophe {
                    if !inner_apostrophe {
                        push_lower(&mut word, n);
                    } else {
                        word.push('\'');
                    }
                    end = j + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let starts_url = (word == "http" || word == "https") && text[end..].starts_with("://")
                || (word == "www" && text[end..].starts_with('.'));
            if starts_url {
                out.push(xxh3_64(b"<url>"));
                while chars.peek().is_some_and(|&(_, n)| !n.is_whitespace()) {
                    chars.next();
                }
            } else if word.len() >= 3 && word.bytes().all(|b| b.is_ascii_digit()) {
                out.push(xxh3_64(b"<num>"));
            } else {
                out.push(xxh3_64(word.as_bytes()));
                if word.contains('\'') {
                    out.push(xxh3_64(word.replace('\'', "").as_bytes()));
                }
            }
        } else if c == '@'
            && chars
                .peek()
                .is_some_and(|&(_, n)| is_word_char(n) || n == '_')
        {
            out.push(xxh3_64(if out.is_empty() { b"@lead" } else { b"@user" }));
            while chars
                .peek()
                .is_some_and(|&(_, n)| is_word_char(n) || n == '_' || n == '.')
            {
                chars.next();
            }
        } else if c == '?'
            || c == '!'
            || (!c.is_ascii() && !c.is_whitespace() && !is_punctuation(c))
        {
            let mut buf = [0u8; 4];
            out.push(xxh3_64(c.encode_utf8(&mut buf).as_bytes()));
        }
    }
}

fn push_lower(word: &mut String, c: char) {
    if c.is_ascii() {
        word.push(c.to_ascii_lowercase());
    } else {
        word.extend(c.to_lowercase());
    }
}

/// Typographic punctuation carries no meaning of its own here; emoji and
/// other symbols do.
fn is_punctuation(c: char) -> bool {
    matches!(
        c,
        '\u{2018}'
            ..='\u{201F}'
                | '\u{2026}'
                | '\u{00AB}'
                | '\u{00BB}'
                | '\u{2013}'
                | '\u{2014}'
                | '\u{FE0F}'
                | '\u{200D}'
    )
}

/// VADER's compound in eight bins of 0.25.
fn vader_bin(compound: f64) -> u64 {
    let bin = ((compound.clamp(-1.0, 1.0) + 1.0) * 4.0).floor().min(7.0);
    bin as u64
}

/// The hashed features of a mention, reduced to bucket numbers below
/// `buckets` (a power of two), into `out` (cleared first). `scratch` holds
/// the token hashes.
pub fn features(
    text: &str,
    signals: Signals,
    buckets: u32,
    scratch: &mut Vec<u64>,
    out: &mut Vec<u32>,
) {
    debug_assert!(buckets.is_power_of_two());
    tokens(text, scratch);
    out.clear();
    let mask = u64::from(buckets - 1);
    let mut previous = START;
    for &token in scratch.iter() {
        out.push((token & mask) as u32);
        out.push((mix(previous, token) & mask) as u32);
        previous = token;
    }
    out.push((mix(previous, END) & mask) as u32);
    out.push((mix(VADER, vader_bin(signals.vader_compound)) & mask) as u32);
    out.push((mix(CUE, signals.cue_intent as u64) & mask) as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        tokens(text, &mut out);
        out
    }

    fn h(s: &str) -> u64 {
        xxh3_64(s.as_bytes())
    }

    #[test]
    fn words_handles_urls_numbers_and_symbols() {
        assert_eq!(
            words("@AcmeAir Flight 2234 CANCELLED?! https://t.co/x 😡 don’t"),
            vec![
                h("@lead"),
                h("flight"),
                h("<num>"),
                h("cancelled"),
                h("?"),
                h("!"),
                h("<url>"),
                h("😡"),
                h("don't"),
                h("dont"),
            ]
        );
        assert_eq!(words("thanks @acme"), vec![h("thanks"), h("@user")]);
        assert_eq!(words("bob@acme.com"), vec![h("bob"), h("@user")]);
        assert_eq!(words("“quoted” — really…"), vec![h("quoted"), h("really")]);
    }

    #[test]
    fn features_are_deterministic_and_bounded() {
        let signals = Signals {
            vader_compound: -0.7,
            cue_intent: Intent::Complaint,
        };
        let (mut scratch, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        features(
            "on hold for 2 hours",
            signals,
            1 << 10,
            &mut scratch,
            &mut a,
        );
        features(
            "on hold for 2 hours",
            signals,
            1 << 10,
            &mut scratch,
            &mut b,
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 5 * 2 + 3);
        assert!(a.iter().all(|&f| f < 1 << 10));
        let long = "word ".repeat(10_000);
        features(&long, signals, 1 << 10, &mut scratch, &mut a);
        assert_eq!(a.len(), MAX_TOKENS * 2 + 3);
    }

    #[test]
    fn vader_bins_cover_the_range() {
        assert_eq!(vader_bin(-1.0), 0);
        assert_eq!(vader_bin(-0.01), 3);
        assert_eq!(vader_bin(0.0), 4);
        assert_eq!(vader_bin(1.0), 7);
    }
}
