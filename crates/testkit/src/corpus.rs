//! A realistic mixed corpus for benchmarks and tests, read from public data
//! sets (see `data/README.md` for sources and licences): tweets (opinion and
//! noise) interleaved with banking77 and Bitext customer-support requests
//! (cries for help).
//!
//! The repository's `data/` carries only what may be redistributed, so a
//! fresh clone tests itself: its tweets are the VADER ground truth (MIT).
//! `EARSHOT_DATA` may name a folder that also holds `tweeteval-sentiment/`
//! (TweetEval, which may not be committed): benchmarks then read its tweets,
//! as earlier published figures did. No test needs TweetEval.

use std::path::{Path, PathBuf};

pub const DATA_VAR: &str = "EARSHOT_DATA";

const TWEETEVAL: &str = "tweeteval-sentiment";
const VADER_TWEETS: &str = "vader-icwsm2014/tweets_GroundTruth.txt";

/// `EARSHOT_DATA`, else the repository's `data/`.
pub fn data_dir() -> PathBuf {
    std::env::var_os(DATA_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"))
}

fn lines(path: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn column(path: &Path, name: &str) -> std::io::Result<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
    let index = reader
        .headers()
        .map_err(std::io::Error::other)?
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| std::io::Error::other(format!("{}: no column {name}", path.display())))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(std::io::Error::other)?;
        if let Some(text) = record.get(index).map(str::trim).filter(|t| !t.is_empty()) {
            out.push(text.to_owned());
        }
    }
    Ok(out)
}

/// A tweet of the VADER ground truth (Hutto & Gilbert, ICWSM 2014, MIT) with
/// the mean of about 20 people's ratings, from −4 (most negative) to +4.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedTweet {
    pub mean: f64,
    pub text: String,
}

/// The 4,200 VADER ground-truth tweets, in file order (`id`, mean, text,
/// tab-separated).
pub fn vader_tweets() -> std::io::Result<Vec<RatedTweet>> {
    let path = data_dir().join(VADER_TWEETS);
    let mut out = Vec::new();
    for (n, line) in lines(&path)?.into_iter().enumerate() {
        let mut fields = line.splitn(3, '\t');
        let (_id, mean, text) = (fields.next(), fields.next(), fields.next());
        let bad =
            || std::io::Error::other(format!("{}:{}: not id, mean, text", path.display(), n + 1));
        let mean = mean.and_then(|m| m.trim().parse().ok()).ok_or_else(bad)?;
        let text = text
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(bad)?;
        out.push(RatedTweet {
            mean,
            text: text.to_owned(),
        });
    }
    Ok(out)
}

/// The corpus's tweets: TweetEval's test and validation tweets when the data
/// folder has them, else the VADER ground-truth tweets.
pub fn tweets() -> std::io::Result<Vec<String>> {
    let tweeteval = data_dir().join(TWEETEVAL);
    if tweeteval.is_dir() {
        let mut tweets = lines(&tweeteval.join("test_text.txt"))?;
        tweets.extend(lines(&tweeteval.join("val_text.txt"))?);
        return Ok(tweets);
    }
    Ok(vader_tweets()?.into_iter().map(|t| t.text).collect())
}

/// Where a text of the corpus comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Tweets (see [`tweets`]): opinion and noise.
    Tweet,
    /// banking77 queries to a bank (PolyAI, CC BY 4.0).
    Banking77,
    /// Bitext customer-support requests (CDLA-Sharing 1.0).
    Bitext,
}

/// Every text of the corpus with its origin, the sources interleaved so any
/// prefix is mixed.
pub fn load_labelled() -> std::io::Result<Vec<(String, Origin)>> {
    let dir = data_dir();
    let tweets = tweets()?;
    let mut banking = column(&dir.join("banking77/train.csv"), "text")?;
    banking.extend(column(&dir.join("banking77/test.csv"), "text")?);
    let bitext = column(
        &dir.join("bitext-support/bitext_customer_support_sample.csv"),
        "instruction",
    )?;
    let mut sources = [
        (tweets.into_iter(), Origin::Tweet),
        (banking.into_iter(), Origin::Banking77),
        (bitext.into_iter(), Origin::Bitext),
    ];
    let mut mixed = Vec::new();
    loop {
        let before = mixed.len();
        for (texts, origin) in &mut sources {
            if let Some(text) = texts.next() {
                mixed.push((text, *origin));
            }
        }
        if mixed.len() == before {
            return Ok(mixed);
        }
    }
}

/// Every text of the corpus, the sources interleaved.
pub fn load() -> std::io::Result<Vec<String>> {
    Ok(load_labelled()?.into_iter().map(|(text, _)| text).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_mixes_tweets_and_requests() {
        let corpus = load_labelled().expect("the data folder is readable");
        let origins: Vec<Origin> = corpus[..3].iter().map(|(_, o)| *o).collect();
        assert_eq!(origins, [Origin::Tweet, Origin::Banking77, Origin::Bitext]);
        let count = |origin| corpus.iter().filter(|(_, o)| *o == origin).count();
        // Every request of both sets (banking77: 10,003 train + 3,080 test).
        assert_eq!(count(Origin::Banking77), 13_083);
        assert_eq!(count(Origin::Bitext), 6_480);
        assert!(count(Origin::Tweet) >= 4_200, "{}", count(Origin::Tweet));
    }

    #[test]
    fn vader_tweets_carry_their_ratings() {
        let tweets = vader_tweets().expect("data/vader-icwsm2014 is readable");
        assert_eq!(tweets.len(), 4_200);
        assert!(tweets.iter().all(|t| (-4.0..=4.0).contains(&t.mean)));
        assert_eq!(tweets[1].text, "Yay. Another good phone interview.");
        assert!((tweets[1].mean - 1.443_298_969).abs() < 1e-12);
    }
}
