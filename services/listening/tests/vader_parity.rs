//! VADER parity: our scores equal Python `vaderSentiment` 3.3.2's, to the
//! bit, on every line of `fixtures/vader/reference.jsonl` (written by
//! `scripts/vader_reference/generate.py`: the real reference with CPython
//! 3.12's `sum()`). Hand-written cases for every rule, random samples of
//! the VADER ground truth, banking77 and Bitext, and the sentences whose
//! scores depend on the interpreter's `sum()`. (TweetEval samples were
//! removed: TweetEval has no redistribution licence.)

use earshot_listening::pipeline::sentiment::{
    Sentiment, polarity_scores, polarity_scores_with_cues,
};

const FIXTURE: &str = include_str!("fixtures/vader/reference.jsonl");

/// The four scores of a JSON object written by Python's `json.dumps`,
/// parsed with Rust's correctly rounded `f64::from_str` (serde_json's
/// default float parser does not promise the nearest double). Each key is
/// taken at its first occurrence: the text comes last in every line.
fn scores(json: &str) -> Sentiment {
    let field = |key: &str| -> f64 {
        let pattern = format!("\"{key}\": ");
        let start = json.find(&pattern).expect("the fixture has every score") + pattern.len();
        let rest = &json[start..];
        let end = rest.find([',', '}']).expect("a number ends");
        rest[..end].parse().expect("a float as Python prints it")
    };
    Sentiment {
        neg: field("neg"),
        neu: field("neu"),
        pos: field("pos"),
        compound: field("compound"),
    }
}

fn bits(s: &Sentiment) -> [u64; 4] {
    [s.neg, s.neu, s.pos, s.compound].map(f64::to_bits)
}

struct Line {
    text: String,
    want: Sentiment,
    /// The scores plain CPython 3.11 summation gives, where they differ.
    py311: Option<Sentiment>,
    /// The scores CPython 3.14's sum gives, where they differ.
    py314: Option<Sentiment>,
}

fn fixture() -> Vec<Line> {
    FIXTURE
        .lines()
        .filter(|line| !line.starts_with("{\"_header\""))
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let other = |key: &str| {
                let marker = format!("\"{key}\": {{");
                line.find(&marker)
                    .filter(|_| value.get(key).is_some())
                    .map(|at| scores(&line[at + marker.len() - 1..]))
            };
            Line {
                text: value["text"].as_str().expect("a text").to_owned(),
                want: scores(line),
                py311: other("py311"),
                py314: other("py314"),
            }
        })
        .collect()
}

#[test]
fn scores_equal_python_vader_sentiment_exactly() {
    let lines = fixture();
    assert!(lines.len() >= 300, "only {} fixture lines", lines.len());
    let mut failures = Vec::new();
    for line in &lines {
        let got = polarity_scores(&line.text);
        // Bits, not `==`: Python prints -0.0 and 0.0 differently.
        if bits(&got) != bits(&line.want) {
            failures.push(format!(
                "{:?}\n    got  {got:?}\n    want {:?}",
                line.text, line.want
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} lines differ from Python:\n{}",
        failures.len(),
        lines.len(),
        failures.join("\n")
    );
}

#[test]
fn the_fixture_tells_cpython_3_12_from_3_11_and_3_14() {
    let lines = fixture();
    let py311: Vec<_> = lines.iter().filter(|l| l.py311.is_some()).collect();
    let py314: Vec<_> = lines.iter().filter(|l| l.py314.is_some()).collect();
    // Sentences whose rounded scores depend on the interpreter's sum():
    // matching them all shows the port reproduces 3.12, not a plain fold.
    assert!(py311.len() >= 20, "{} lines differ under 3.11", py311.len());
    assert!(py314.len() >= 5, "{} lines differ under 3.14", py314.len());
    for line in py311.iter().chain(&py314) {
        let got = bits(&polarity_scores(&line.text));
        for other in [line.py311, line.py314].into_iter().flatten() {
            assert_ne!(got, bits(&other), "{:?}", line.text);
        }
    }
}

#[test]
fn cues_leave_the_scores_alone() {
    for line in fixture() {
        let (scores, cues) = polarity_scores_with_cues(&line.text);
        assert_eq!(bits(&scores), bits(&line.want), "{:?}", line.text);
        assert!(cues.len() <= 5);
        if scores.compound != 0.0 {
            assert!(!cues.is_empty(), "no cue for {:?}", line.text);
        }
    }
}
