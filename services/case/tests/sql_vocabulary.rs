//! No SQL statement of the service spells a status, lane, priority or any
//! other stored enum by its number or word: each binds the Rust enum (see
//! `src/vocabulary.rs`), so the mapping lives in one place. This reads every
//! source file and fails on the first literal compared with or assigned to
//! such a column.

use std::path::{Path, PathBuf};

/// Columns holding a vocabulary enum.
const ENUM_COLUMNS: [&str; 7] = [
    "status",
    "lane",
    "state",
    "target",
    "direction",
    "kind",
    "priority",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `rest` (what follows a column name) compares or sets it to a
/// literal: an operator, then a digit or a quoted word.
fn literal_follows(rest: &str) -> bool {
    let rest = rest.trim_start();
    let Some(rest) = ["<>", "<=", ">=", "=", "<", ">", "IN (", "IN("]
        .iter()
        .find_map(|op| rest.strip_prefix(op))
    else {
        return false;
    };
    let rest = rest.trim_start();
    rest.starts_with(|c: char| c.is_ascii_digit())
        || (rest.starts_with('\'') && !rest.starts_with("''"))
}

/// `table.column` or `column` as a whole word in `line`, followed by a literal.
fn offending(line: &str) -> Option<&'static str> {
    ENUM_COLUMNS.into_iter().find(|column| {
        line.match_indices(column).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let whole_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            whole_word && literal_follows(&line[at + column.len()..])
        })
    })
}

#[test]
fn sql_binds_the_vocabulary_and_never_spells_it() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20, "read the sources: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source readable");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(column) = offending(code) {
                found.push(format!(
                    "{}:{}: {column}: {}",
                    file.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(found.is_empty(), "literals in SQL:\n{}", found.join("\n"));
}

#[test]
fn the_check_itself_catches_what_the_review_found() {
    for sql in [
        "AND c.status <> 6",
        "lane = 2, version = c.version + 1",
        "WHERE state IN (1, 4)",
        "t.target = 3",
        "AND c.priority = 'urgent'",
    ] {
        assert!(offending(sql).is_some(), "{sql}");
    }
    for fine in [
        "WHERE status < $3",
        "lane = u.lane",
        "state = EXCLUDED.state",
        "topic <> ''",
        "Some(status) => statuses.push(status)",
    ] {
        assert!(offending(fine).is_none(), "{fine}");
    }
}
