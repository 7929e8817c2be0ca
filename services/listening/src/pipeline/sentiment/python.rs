//! The few pieces of CPython behaviour that VADER's scores depend on to the
//! last bit: which characters `str.split()` splits on, `str.isupper()`,
//! `str.strip(string.punctuation)`, builtin `sum()` (3.12's algorithm) and
//! `round(x, n)`.

/// `str.isspace()` for one character: what `str.split()` and `str.strip()`
/// treat as whitespace. Wider than `char::is_whitespace` (the ASCII
/// separators U+001C..U+001F count), and the same in CPython 3.11 to 3.14.
pub(crate) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..=' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `str.isspace()` for an ASCII byte.
pub(crate) fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=b' ')
}

/// Titlecase letters (general category Lt), which `str.isupper()` treats as
/// not upper case; Rust's `char` has no predicate for them.
fn is_titlecase(c: char) -> bool {
    matches!(
        c,
        '\u{1c5}'
            | '\u{1c8}'
            | '\u{1cb}'
            | '\u{1f2}'
            | '\u{1f88}'..='\u{1f8f}'
            | '\u{1f98}'..='\u{1f9f}'
            | '\u{1fa8}'..='\u{1faf}'
            | '\u{1fbc}'
            | '\u{1fcc}'
            | '\u{1ffc}'
    )
}

/// `str.isupper()`: at least one upper-case character and no lower-case or
/// titlecase one. CPython uses the same derived `Uppercase`/`Lowercase`
/// properties as Rust's `char`; the two can disagree only on letters added
/// to Unicode after the interpreter's version (15.0 for CPython 3.12).
pub(crate) fn is_upper(token: &str) -> bool {
    let mut cased = false;
    for c in token.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// `string.punctuation`: the ASCII punctuation characters.
fn is_punctuation(b: u8) -> bool {
    b.is_ascii_punctuation()
}

/// `SentiText._strip_punc_if_word`: the byte range of `token` left once
/// leading and trailing ASCII punctuation is stripped, unless that leaves
/// two characters or fewer (an emoticon such as `:)`, or a short word such
/// as `ok!`), then the whole token.
pub(crate) fn strip_punctuation(token: &str) -> std::ops::Range<usize> {
    let bytes = token.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_punctuation(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_punctuation(b))
        .map_or(start, |i| i + 1);
    // Punctuation is ASCII, so these are character boundaries.
    let stripped = &token[start..end];
    let short = match stripped.len() {
        0..=2 => true,
        3..=8 => stripped.chars().nth(2).is_none(),
        _ => false,
    };
    if short { 0..token.len() } else { start..end }
}

/// One item of VADER's `sentiments` list. Python mixes ints (0 for a word
/// without valence; 3 and -2 from the special-case idioms) with floats, and
/// CPython's `sum()` adds the two kinds differently, so the kind rides along.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Item {
    pub(crate) value: f64,
    pub(crate) int: bool,
}

impl Item {
    pub(crate) const ZERO: Item = Item {
        value: 0.0,
        int: true,
    };

    pub(crate) fn float(value: f64) -> Item {
        Item { value, int: false }
    }
}

/// `float(sum(items))` as CPython 3.12 and 3.13 compute it
/// (Python/bltinmodule.c, `builtin_sum_impl`):
///
/// * from the int start 0, a leading run of ints is added exactly;
/// * the first float is added to that int total plainly (`PyNumber_Add`,
///   which also turns a leading -0.0 into +0.0);
/// * every later float takes a Neumaier-compensated step, while an int is
///   added plainly (`f_result += (double)value`) without touching the
///   compensation — CPython 3.14 compensates ints too (gh-122234), which
///   changes the sign of some near-zero sums;
/// * at the end the compensation is added if it is non-zero and finite.
pub(crate) fn sum_3_12(items: &[Item]) -> f64 {
    let mut iter = items.iter();
    // VADER's ints are 0, 3 and -2: far from overflowing a C long.
    let mut int_total: i64 = 0;
    let mut total = loop {
        match iter.next() {
            None => return int_total as f64,
            Some(item) if item.int => int_total += item.value as i64,
            Some(item) => break int_total as f64 + item.value,
        }
    };
    let mut compensation = 0.0f64;
    for item in iter {
        let x = item.value;
        if item.int {
            total += x;
            continue;
        }
        let t = total + x;
        if total.abs() >= x.abs() {
            compensation += (total - t) + x;
        } else {
            compensation += (x - t) + total;
        }
        total = t;
    }
    if compensation != 0.0 && compensation.is_finite() {
        total += compensation;
    }
    total
}

/// CPython's `round(x, digits)` for `digits` of 3 or 4: the exact binary
/// value of `x` rounded to that many decimals, ties to even, then the
/// nearest double to the decimal, with the sign of `x` kept on zero
/// (`round(-0.00004, 3)` is `-0.0`). Exact without formatting: `|x| * 10^d`
/// is split into its rounded product and the exact error (Dekker's product;
/// `10^d` needs no split), which decides the rare cases at a tie.
pub(crate) fn round(x: f64, digits: u32) -> f64 {
    let scale = 10f64.powi(digits as i32);
    // Ties to even are symmetric, so round the magnitude: for p >= 0,
    // p - floor(p) is exact (it is not for negative p near zero).
    let a = x.abs();
    if !a.is_finite() || a >= 1e15 {
        return x;
    }
    let product = a * scale;
    // Veltkamp split of a into two halves of at most 26 significant bits.
    let split = a * 134_217_729.0; // 2^27 + 1
    let high = split - (split - a);
    let low = a - high;
    // a * scale == product + error exactly: high * scale and low * scale are
    // exact (scale has 14 bits at most), and so is the difference.
    let error = (high * scale - product) + low * scale;
    let floor = product.floor();
    let fraction = product - floor;
    let up = if fraction > 0.5 {
        true
    } else if fraction < 0.5 {
        false
    } else if error != 0.0 {
        error > 0.0
    } else {
        // An exact tie: to the even neighbour.
        floor % 2.0 != 0.0
    };
    let rounded = if up { floor + 1.0 } else { floor };
    (rounded / scale).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference composition: Rust's fixed-precision formatting rounds
    /// the exact binary value with ties to even, and `parse` returns the
    /// nearest double, which is what CPython's `round` does.
    fn round_by_formatting(x: f64, digits: usize) -> f64 {
        format!("{x:.digits$}")
            .parse()
            .expect("a formatted float parses")
    }

    #[test]
    fn round_matches_cpython_on_ties_and_signs() {
        // round(0.0625, 3) == 0.062: an exact tie goes to even.
        assert_eq!(round(0.0625, 3), 0.062);
        // round(0.0635, 3) == 0.064: the binary value is just above the tie.
        assert_eq!(round(0.0635, 3), 0.064);
        // 0.0615 is just below the tie in binary, 0.2675 just above.
        assert_eq!(round(0.0615, 3), 0.061);
        assert_eq!(round(0.2675, 3), 0.268);
        assert_eq!(round(-0.2675, 3), -0.268);
        assert_eq!(round(-0.0625, 3), -0.062);
        assert_eq!(round(0.00005, 4), 0.0001);
        assert_eq!(round(-0.00004, 3).to_bits(), (-0.0f64).to_bits());
        assert_eq!(round(-0.0, 4).to_bits(), (-0.0f64).to_bits());
        assert_eq!(round(0.0, 4).to_bits(), 0.0f64.to_bits());
        assert_eq!(round(1.0, 3), 1.0);
        assert_eq!(round(-0.99996, 4), -1.0);
        assert_eq!(round(0.8316, 4), 0.8316);
    }

    #[test]
    fn round_agrees_with_decimal_formatting() {
        // splitmix64: a deterministic sweep over [-1, 1] and over values
        // sitting on or next to the decimal ties.
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        for _ in 0..100_000 {
            let r = next();
            let x = (r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            let tie = ((r % 20_001) as f64 - 10_000.0 + 0.5) / 10_000.0;
            let near = f64::from_bits(tie.to_bits().wrapping_add(r % 3).wrapping_sub(1));
            for v in [x, tie, near, x / 1000.0] {
                for digits in [3, 4] {
                    assert_eq!(
                        round(v, digits).to_bits(),
                        round_by_formatting(v, digits as usize).to_bits(),
                        "round({v:e}, {digits})"
                    );
                }
            }
        }
    }

    #[test]
    fn sum_follows_cpython_3_12() {
        let f = Item::float;
        let i = |v: f64| Item {
            value: v,
            int: true,
        };
        // sum([0.1] * 10) == 1.0 on 3.12 (0.9999999999999999 on 3.11).
        assert_eq!(sum_3_12(&[f(0.1); 10]), 1.0);
        // A leading -0.0 meets the int start: 0 + -0.0 == +0.0.
        assert_eq!(sum_3_12(&[f(-0.0)]).to_bits(), 0.0f64.to_bits());
        assert_eq!(sum_3_12(&[i(0.0), i(3.0)]), 3.0);
        assert_eq!(sum_3_12(&[]), 0.0);
        // An int after floats is added plainly: 3.12 gives
        // sum([1e100, 1, -1e100]) == 0.0 where 3.14 gives 1.0.
        assert_eq!(sum_3_12(&[f(1e100), i(1.0), f(-1e100)]), 0.0);
        assert_eq!(sum_3_12(&[f(1e100), f(1.0), f(-1e100)]), 1.0);
    }

    #[test]
    fn whitespace_and_punctuation_follow_python() {
        assert!(is_space('\u{1c}') && !'\u{1c}'.is_whitespace());
        assert!(is_space('\u{a0}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200b}') && !is_space('\u{180e}'));
        for b in 0..128u8 {
            assert_eq!(is_ascii_space(b), is_space(char::from(b)), "{b}");
        }
        let strip = |t: &'static str| &t[strip_punctuation(t)];
        assert_eq!(strip("'good'"), "good");
        assert_eq!(strip("ok!"), "ok!");
        assert_eq!(strip(":)"), ":)");
        assert_eq!(strip("--"), "--");
        assert_eq!(strip("(été)"), "été");
        assert_eq!(strip("«ok»"), "«ok»");
        assert_eq!(strip("!é!"), "!é!");
        assert!(is_upper("GOOD!") && is_upper("É") && !is_upper("ǅOBRO") && !is_upper("123"));
    }
}
