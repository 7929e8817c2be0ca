//! A realistic mixed corpus for benchmarks and tests, read from the public
//! data sets in `shared/data` (see its README for sources and licences):
//! TweetEval tweets (opinion and noise) interleaved with banking77 and Bitext
//! customer-support requests (cries for help).

use std::path::{Path, PathBuf};

pub const DATA_VAR: &str = "EARSHOT_DATA";

/// `EARSHOT_DATA`, else `shared/data` beside the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var_os(DATA_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
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

/// Where a text of the corpus comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// TweetEval sentiment tweets (SemEval 2017): opinion and noise.
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
    let mut tweets = lines(&dir.join("tweeteval-sentiment/test_text.txt"))?;
    tweets.extend(lines(&dir.join("tweeteval-sentiment/val_text.txt"))?);
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
    #[test]
    fn the_corpus_mixes_tweets_and_requests() {
        // The data sets sit beside the repository (CI has them); a bare clone may not.
        if !super::data_dir().exists() {
            eprintln!("skipped: no {}", super::data_dir().display());
            return;
        }
        let corpus = super::load().expect("shared/data is readable");
        assert!(corpus.len() > 30_000, "{}", corpus.len());
        assert!(
            corpus[..2]
                .iter()
                .any(|t| t.starts_with("@user") || t.contains(' '))
        );
    }
}
