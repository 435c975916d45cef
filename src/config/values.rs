//! The value syntaxes every config section shares: durations, counts,
//! secrets, and URLs with their password hidden.
//!
//! A leaf: it imports nothing from the rest of the crate, so `config`,
//! `store::config` and `contacts::config` can all use it without using
//! each other, and a `30d` means the same under every key.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The units [`parse_duration`] accepts, as error messages list them.
const DURATION_UNITS: &str = "ms, s, m, h or d";

/// The whole duration syntax, for messages about a value that is not one.
const DURATION_SYNTAX: &str =
    "a number with one of the units ms, s, m, h or d (`500ms`, `30s`, `5m`, `1h`, `30d`), or a bare number of seconds";

/// Parses `250ms`, `30s`, `5m`, `1h`, `30d`, or a bare number of seconds;
/// fractions are allowed (`1.5s`) and `min` is `m`. The one duration syntax
/// of the config file, the CLI flags and `GET /decisions?since=`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write {DURATION_SYNTAX}"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use {DURATION_UNITS})"
            ))
        }
    };
    Duration::try_from_secs_f64(amount * seconds_per_unit)
        .map_err(|error| format!("`{text}`: {error}"))
}

/// A duration field: a number of seconds, or text for [`parse_duration`].
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// A duration field that must be more than 0 (a timeout, an interval).
pub fn positive_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = duration(deserializer)?;
    if value.is_zero() {
        return Err(de::Error::custom("must be more than 0"));
    }
    Ok(value)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration: {DURATION_SYNTAX}")
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Duration, E> {
        u64::try_from(seconds)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("{seconds} is negative: write {DURATION_SYNTAX}")))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(seconds)
            .map_err(|error| E::custom(format!("{seconds}: {error}: write {DURATION_SYNTAX}")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).map_err(E::custom)
    }
}

/// A whole number, or a string holding one (what `${VAR}` produces).
pub fn number_or_string<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + TryFrom<u64>,
{
    match Count::deserialize(deserializer)? {
        Count::Number(number) => {
            T::try_from(number).map_err(|_| de::Error::custom(format!("{number} is out of range")))
        }
        Count::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("`{text}` is not a whole number"))),
    }
}

/// A whole number that must be at least 1 (a capacity, a pool size), as
/// [`number_or_string`] reads it.
pub fn positive_count<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let count: u64 = number_or_string(deserializer)?;
    if count == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    T::try_from(count).map_err(|_| de::Error::custom(format!("{count} is out of range")))
}

/// An optional count: absent or `auto` is `None`.
pub fn optional_count<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    match Count::deserialize(deserializer)? {
        Count::Number(number) => usize::try_from(number)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("{number} is out of range"))),
        Count::Text(text) if text.trim() == "auto" => Ok(None),
        Count::Text(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("`{text}` is not a whole number or `auto`"))),
    }
}

/// A count as YAML gives it: a number, or text (from `${VAR}` or `auto`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Count {
    Number(u64),
    Text(String),
}

/// A secret string (API token, webhook token, admin token).
///
/// `Debug` prints `***` and there is no `Display`, so the value only leaves
/// this type through [`Secret::expose`], which is easy to search for.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret's text, for the few places that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(Secret(value))
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`, for
/// logs and messages about database URLs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(2_592_000)
        );
        assert_eq!(
            parse_duration("1.5d").unwrap(),
            Duration::from_secs(129_600)
        );
        assert_eq!(parse_duration(" 30 s ").unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn duration_errors_list_the_units() {
        for text in ["s", "xd", "3 days", "5w", "-1s", "1e3s"] {
            let message = parse_duration(text).unwrap_err();
            assert!(message.contains("ms, s, m, h or d"), "{text}: {message}");
        }
        let message = parse_duration("99999999999999999999999d").unwrap_err();
        assert!(message.contains("99999999999999999999999d"), "{message}");
    }

    #[test]
    fn duration_fields_take_numbers_and_text() {
        #[derive(Deserialize)]
        struct Field {
            #[serde(deserialize_with = "duration")]
            value: Duration,
        }
        #[derive(Deserialize)]
        struct Positive {
            #[serde(deserialize_with = "positive_duration")]
            value: Duration,
        }
        let read = |yaml: &str| serde_yaml::from_str::<Field>(yaml).map(|field| field.value);
        assert_eq!(read("value: 90").unwrap(), Duration::from_secs(90));
        assert_eq!(read("value: 0.25").unwrap(), Duration::from_millis(250));
        assert_eq!(read("value: 1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(read("value: 0").unwrap(), Duration::ZERO);
        for yaml in [
            "value: -3",
            "value: true",
            "value: [1]",
            "value: 3 weeks",
            "value: -0.5",
        ] {
            let message = read(yaml).unwrap_err().to_string();
            assert!(
                message.contains("ms, s, m, h or d") || message.contains("`30d`"),
                "{yaml}: {message}"
            );
        }
        let positive = serde_yaml::from_str::<Positive>("value: 0s").map(|field| field.value);
        assert!(positive.unwrap_err().to_string().contains("more than 0"));
    }

    #[test]
    fn counts() {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(deserialize_with = "number_or_string")]
            count: u32,
            #[serde(default, deserialize_with = "optional_count")]
            cap: Option<usize>,
        }
        let fields: Fields = serde_yaml::from_str("count: '12'\ncap: auto\n").unwrap();
        assert_eq!((fields.count, fields.cap), (12, None));
        let fields: Fields = serde_yaml::from_str("count: 3\ncap: '40'\n").unwrap();
        assert_eq!((fields.count, fields.cap), (3, Some(40)));
        assert!(serde_yaml::from_str::<Fields>("count: 5000000000\n").is_err());
        assert!(serde_yaml::from_str::<Fields>("count: 1\ncap: many\n").is_err());
        #[derive(Debug, Deserialize)]
        struct Positive {
            #[serde(deserialize_with = "positive_count")]
            #[expect(dead_code, reason = "only decoded")]
            count: u8,
        }
        assert!(serde_yaml::from_str::<Positive>("count: '2'").is_ok());
        let zero = serde_yaml::from_str::<Positive>("count: 0").unwrap_err();
        assert!(zero.to_string().contains("at least 1"), "{zero}");
        let big = serde_yaml::from_str::<Positive>("count: 256").unwrap_err();
        assert!(big.to_string().contains("out of range"), "{big}");
    }

    #[test]
    fn secrets_and_passwords_never_show() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
        assert!(serde_yaml::from_str::<Secret>("' '").is_err());
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/sb"),
            "postgres://app:***@db:5432/sb"
        );
        assert_eq!(redact_url("postgres://db/sb"), "postgres://db/sb");
        assert_eq!(redact_url("mysql://user@db/crm"), "mysql://user@db/crm");
    }
}
