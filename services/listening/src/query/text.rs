//! Text normalisation and tokenisation, shared by queries and mentions so
//! that both sides agree on what a "word" is.
//!
//! * Normalisation: lowercase (char-wise, final sigma folded to `σ`), then
//!   Unicode NFC, so "Café", "CAFÉ" and "Cafe\u{301}" all become "café".
//! * Words: maximal runs of letters, digits and combining marks. Everything
//!   else (spaces, punctuation, apostrophes, `#`, `@`, `_`, …) separates words,
//!   so "can't" is the two words `can t` and "card-arrival" is `card arrival`.
//! * Han ideographs, kana and emoji are one word each (these scripts do not
//!   put spaces between words); emoji skin-tone modifiers and variation
//!   selectors are ignored, so "👍🏽" is the word "👍".

use unicode_normalization::{IsNormalized, UnicodeNormalization, char::is_combining_mark};

/// A half-open byte range into a normalised buffer.
pub(crate) type Span = (u32, u32);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// Separates words.
    Sep,
    /// Part of a word.
    Word,
    /// A word on its own (ideograph, kana, emoji).
    Single,
}

fn class(c: char) -> Class {
    if c.is_ascii() {
        return if c.is_ascii_alphanumeric() {
            Class::Word
        } else {
            Class::Sep
        };
    }
    let u = u32::from(c);
    match u {
        // Emoji modifiers (skin tones) and variation selectors: ignore.
        0x1F3FB..=0x1F3FF | 0xFE00..=0xFE0F | 0x200D => Class::Sep,
        // Hiragana, katakana, CJK unified ideographs (+ extension A),
        // compatibility ideographs, CJK extensions B and later.
        0x3040..=0x30FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x323AF => Class::Single,
        // Emoji and pictographs, dingbats and miscellaneous symbols.
        0x1F000..=0x1FAFF | 0x2600..=0x27BF => Class::Single,
        _ if c.is_alphanumeric() || is_combining_mark(c) => Class::Word,
        _ => Class::Sep,
    }
}

/// True when `c` can be part of a word (or is a word on its own).
pub(crate) fn is_word_char(c: char) -> bool {
    class(c) != Class::Sep
}

/// Appends the normalised (lowercase, NFC) form of `src` to `out`.
pub(crate) fn normalize_into(src: &str, out: &mut String) {
    let start = out.len();
    if src.is_ascii() {
        out.push_str(src);
        out[start..].make_ascii_lowercase();
        return;
    }
    out.reserve(src.len());
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Runs of ASCII in bulk, the rest char by char.
        let ascii = bytes[i..].iter().take_while(|b| b.is_ascii()).count();
        if ascii > 0 {
            let at = out.len();
            out.push_str(&src[i..i + ascii]);
            out[at..].make_ascii_lowercase();
            i += ascii;
            continue;
        }
        let c = src[i..]
            .chars()
            .next()
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        if c == 'ς' {
            out.push('σ');
        } else {
            out.extend(c.to_lowercase());
        }
        i += c.len_utf8();
    }
    if unicode_normalization::is_nfc_quick(out[start..].chars()) != IsNormalized::Yes {
        let composed: String = out[start..].nfc().collect();
        out.truncate(start);
        out.push_str(&composed);
    }
}

/// The normalised form of `src`.
pub(crate) fn normalize(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    normalize_into(src, &mut out);
    out
}

/// Appends `src` (already normalised) with its accents and other
/// combining marks removed to `out`: `niño` becomes `nino`, `crème` `creme`.
/// Letters of their own (`ø`, `ł`, `ß`, `æ`) stay as they are. Word
/// boundaries do not move, so a folded text has the same words, in order.
pub(crate) fn fold_accents_into(src: &str, out: &mut String) {
    if src.is_ascii() {
        out.push_str(src);
        return;
    }
    let start = out.len();
    out.extend(src.nfd().filter(|&c| !is_combining_mark(c)));
    if unicode_normalization::is_nfc_quick(out[start..].chars()) != IsNormalized::Yes {
        let composed: String = out[start..].nfc().collect();
        out.truncate(start);
        out.push_str(&composed);
    }
}

/// The accent-folded form of normalised `src`.
pub(crate) fn fold_accents(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    fold_accents_into(src, &mut out);
    out
}

/// Does `word` fit `pattern`, where `?` is exactly one character and `*`
/// any number of them (none included)? Both normalised.
pub(crate) fn glob_matches(pattern: &str, word: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let w: Vec<char> = word.chars().collect();
    let (mut pi, mut wi) = (0, 0);
    // Where the last `*` was, and the word position it has absorbed up to.
    let mut star: Option<(usize, usize)> = None;
    while wi < w.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == w[wi]) {
            pi += 1;
            wi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, wi));
            pi += 1;
        } else if let Some((sp, sw)) = star {
            pi = sp + 1;
            wi = sw + 1;
            star = Some((sp, sw + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn span(start: usize, end: usize) -> Span {
    // Documents are capped well below 4 GiB by `Document`; the cast cannot truncate.
    (start as u32, end as u32)
}

/// Appends the word spans of (already normalised) `text` to `out`.
pub(crate) fn tokenize(text: &str, out: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() {
            start.get_or_insert(i);
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        if b.is_ascii() {
            if let Some(s) = start.take() {
                out.push(span(s, i));
            }
            i += 1;
            continue;
        }
        let c = text[i..]
            .chars()
            .next()
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        let w = c.len_utf8();
        match class(c) {
            Class::Word => {
                if start.is_none() {
                    start = Some(i);
                }
            }
            Class::Sep => {
                if let Some(s) = start.take() {
                    out.push(span(s, i));
                }
            }
            Class::Single => {
                if let Some(s) = start.take() {
                    out.push(span(s, i));
                }
                out.push(span(i, i + w));
            }
        }
        i += w;
    }
    if let Some(s) = start {
        out.push(span(s, bytes.len()));
    }
}

/// Hashtags (`#name`) and handles (`@name`) written in normalised `text`:
/// calls `found(is_handle, name)` for each. A `#`/`@` right after a word
/// character (as in `bob@acme.com`) does not start one.
pub(crate) fn scan_tags(text: &str, mut found: impl FnMut(bool, &str)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'#' && b != b'@' {
            i += 1;
            continue;
        }
        let handle = b == b'@';
        let after_word = text[..i].chars().next_back().is_some_and(is_word_char);
        let name_start = i + 1;
        let mut end = name_start;
        for (off, c) in text[name_start..].char_indices() {
            if is_word_char(c) || c == '_' || (handle && c == '.') {
                end = name_start + off + c.len_utf8();
            } else {
                break;
            }
        }
        let name = if handle {
            text[name_start..end].trim_end_matches('.')
        } else {
            &text[name_start..end]
        };
        if !after_word && !name.is_empty() {
            found(handle, name);
        }
        i = end.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let n = normalize(s);
        let mut spans = Vec::new();
        tokenize(&n, &mut spans);
        spans
            .iter()
            .map(|&(a, b)| n[a as usize..b as usize].to_owned())
            .collect()
    }

    #[test]
    fn normalises_case_and_composition() {
        assert_eq!(normalize("Café"), "café");
        assert_eq!(normalize("CAFE\u{301}"), "café");
        assert_eq!(normalize("Cafe\u{301}"), normalize("CAFÉ"));
        assert_eq!(normalize("ΟΔΟΣ"), normalize("οδος"));
        assert_eq!(normalize("οδός"), normalize("ΟΔΌΣ"));
        assert_eq!(normalize("Hello World"), "hello world");
    }

    #[test]
    fn splits_on_punctuation_and_keeps_scripts_whole() {
        assert_eq!(words("I can't log-in!!"), ["i", "can", "t", "log", "in"]);
        assert_eq!(words("#Acme @acme_help"), ["acme", "acme", "help"]);
        assert_eq!(words("Zürich naïve Ελλάδα"), ["zürich", "naïve", "ελλάδα"]);
        assert_eq!(words("नमस्ते दुनिया"), ["नमस्ते", "दुनिया"]);
        assert_eq!(
            words("東京タワー行く"),
            ["東", "京", "タ", "ワ", "ー", "行", "く"]
        );
        assert_eq!(words("love it👍🏽!"), ["love", "it", "👍"]);
        assert_eq!(words("  "), Vec::<String>::new());
    }

    #[test]
    fn folds_accents_without_moving_words() {
        assert_eq!(fold_accents("niño crème brûlée"), "nino creme brulee");
        assert_eq!(fold_accents(&normalize("Cafe\u{301}")), "cafe");
        assert_eq!(fold_accents("søren łódź straße"), "søren łodz straße");
        assert_eq!(fold_accents("plain"), "plain");
        assert_eq!(words(&fold_accents("ça va, élan")), ["ca", "va", "elan"]);
    }

    #[test]
    fn globs_match_one_or_any_characters() {
        for (pattern, word, expected) in [
            ("customi?e", "customise", true),
            ("customi?e", "customize", true),
            ("customi?e", "customie", false),
            ("colo*r", "color", true),
            ("colo*r", "colour", true),
            ("colo*r", "colouring", false),
            ("colo*r*", "colouring", true),
            ("caf?", "café", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("why?", "why", false),
        ] {
            assert_eq!(glob_matches(pattern, word), expected, "{pattern} vs {word}");
        }
    }

    #[test]
    fn finds_hashtags_and_handles() {
        let mut tags = Vec::new();
        scan_tags(
            "@acme. #fail! mail bob@acme.com or #x_y ## @ @a.b.",
            |h, n| tags.push((h, n.to_owned())),
        );
        assert_eq!(
            tags,
            [
                (true, "acme".to_owned()),
                (false, "fail".to_owned()),
                (false, "x_y".to_owned()),
                (true, "a.b".to_owned()),
            ]
        );
    }
}
