//! Typed configuration from environment variables.
//!
//! Every setting has a documented default; a value that does not parse stops
//! start-up with an error naming the variable. Each crate reads its own part of
//! the configuration through [`Env`], so tests can pass a plain map instead of
//! touching the process environment.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A configuration value that was present but unusable, or missing when required.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is required: {hint}")]
    Missing { var: String, hint: String },
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        var: String,
        value: String,
        reason: String,
    },
}

impl ConfigError {
    pub fn invalid(var: &str, value: &str, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            var: var.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// A string that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where configuration values come from: the process environment, or a map
/// (tests, and the all-in-one binary overriding values per service).
#[derive(Clone, Debug, Default)]
pub struct Env {
    overrides: HashMap<String, String>,
    read_process: bool,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            overrides: HashMap::new(),
            read_process: true,
        }
    }

    /// Only the given pairs; the process environment is ignored.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            overrides: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            read_process: false,
        }
    }

    /// The same source with `var` set to `value`, taking precedence.
    pub fn with(mut self, var: &str, value: impl Into<String>) -> Self {
        self.overrides.insert(var.to_owned(), value.into());
        self
    }

    /// The raw value, treating an empty string as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        let value = match self.overrides.get(var) {
            Some(v) => Some(v.clone()),
            None if self.read_process => std::env::var(var).ok(),
            None => None,
        };
        value.filter(|v| !v.trim().is_empty())
    }

    pub fn string_or(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_owned())
    }

    pub fn secret(&self, var: &str) -> Option<Secret> {
        self.get(var).map(Secret)
    }

    /// Parses the value with `FromStr`, or returns `default` when unset.
    pub fn parse_or<T>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::invalid(var, &raw, e)),
        }
    }

    /// A duration written in milliseconds, at least `min_ms`.
    pub fn millis_or(
        &self,
        var: &str,
        default_ms: u64,
        min_ms: u64,
    ) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse_or(var, default_ms)?;
        if ms < min_ms {
            return Err(ConfigError::invalid(
                var,
                &ms.to_string(),
                format_args!("must be at least {min_ms} ms"),
            ));
        }
        Ok(Duration::from_millis(ms))
    }

    /// A positive integer within `range`.
    pub fn count_or(
        &self,
        var: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        let n: u32 = self.parse_or(var, default)?;
        if !range.contains(&n) {
            return Err(ConfigError::invalid(
                var,
                &n.to_string(),
                format_args!("must be between {} and {}", range.start(), range.end()),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let env = Env::from_pairs([("EMPTY", "  ")]);
        assert_eq!(env.parse_or("UNSET", 7u16), Ok(7));
        assert_eq!(env.parse_or("EMPTY", 8u16), Ok(8));
    }

    #[test]
    fn invalid_value_names_the_variable() {
        let env = Env::from_pairs([("EARSHOT_DB_MAX_CONNECTIONS", "many")]);
        let err = env
            .count_or("EARSHOT_DB_MAX_CONNECTIONS", 10, 1..=1000)
            .expect_err("not a number");
        assert!(
            err.to_string()
                .starts_with("EARSHOT_DB_MAX_CONNECTIONS=\"many\" is invalid")
        );

        let env = Env::from_pairs([("EARSHOT_DB_MAX_CONNECTIONS", "0")]);
        let err = env
            .count_or("EARSHOT_DB_MAX_CONNECTIONS", 10, 1..=1000)
            .expect_err("out of range");
        assert!(err.to_string().contains("between 1 and 1000"), "{err}");
    }

    #[test]
    fn millis_enforce_a_minimum() {
        let env = Env::from_pairs([("T", "5")]);
        assert!(env.millis_or("T", 100, 10).is_err());
        assert_eq!(env.millis_or("U", 100, 10), Ok(Duration::from_millis(100)));
    }

    #[test]
    fn secrets_never_print() {
        let env = Env::from_pairs([("S", "hunter2")]);
        let secret = env.secret("S").expect("set");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn overrides_take_precedence() {
        let env = Env::from_pairs([("A", "1")]).with("A", "2");
        assert_eq!(env.get("A").as_deref(), Some("2"));
    }
}
