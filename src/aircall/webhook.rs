//! Aircall webhook payloads and their translation into [`Call`] facts.
//!
//! Every webhook is an envelope `{resource, event, timestamp, token, data}`;
//! `data` is a snapshot of the resource (a call, a user, ...). Payloads
//! vary by event and by account, so every field that is not essential is
//! optional and unknown fields are ignored.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::lang::call::{Call, Caller, Direction};
use crate::lang::phone;

/// The envelope of every webhook. `data` is kept raw and decoded by the
/// event's family, so unknown families cost nothing to acknowledge.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub resource: Option<String>,
    pub event: String,
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// The webhook's secret. Never log it.
    #[serde(default)]
    pub token: Option<String>,
    pub data: Box<RawValue>,
}

/// Why a body is not a usable webhook; the message names the problem.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is not an Aircall webhook: {0}")]
    Shape(String),
}

impl Envelope {
    /// Decodes a webhook body, naming the offending field on failure
    /// (e.g. `data.id: invalid type: string "x", expected i64`).
    pub fn from_slice(body: &[u8]) -> Result<Envelope, PayloadError> {
        decode(body)
    }

    /// The event family: `call`, `user`, ... (the part before the first dot).
    pub fn family(&self) -> &str {
        self.event.split('.').next().unwrap_or("")
    }

    /// Decodes `data` as a call (for `call.*` events).
    pub fn call_data(&self) -> Result<CallData, PayloadError> {
        decode(self.data.get().as_bytes()).map_err(|error| prefix("data", error))
    }

    /// Decodes `data` as a user (for `user.*` events).
    pub fn user_data(&self) -> Result<UserData, PayloadError> {
        decode(self.data.get().as_bytes()).map_err(|error| prefix("data", error))
    }

    /// The facts rules test, for a call event. The instant of the call is
    /// `data.started_at`, else the envelope's `timestamp`, else `received_at`.
    pub fn to_call(&self, data: &CallData, received_at: DateTime<Utc>) -> Call {
        let instant = data
            .started_at
            .or(self.timestamp)
            .and_then(unix_seconds)
            .unwrap_or(received_at);
        let number = data.number.as_ref();
        let region = number.and_then(|n| n.country.as_deref());
        let caller = data
            .raw_digits
            .as_deref()
            .and_then(|raw| phone::normalize(raw, region))
            .map(|n| Caller {
                e164: n.e164,
                country: n.country,
            });
        Call {
            event: self.event.clone(),
            id: Some(data.id),
            direction: match data.direction.as_deref() {
                Some("inbound") => Some(Direction::Inbound),
                Some("outbound") => Some(Direction::Outbound),
                _ => None,
            },
            instant,
            caller,
            number_id: number.and_then(|n| n.id),
            number_e164: number
                .and_then(|n| n.digits.as_deref())
                .and_then(|digits| phone::normalize(digits, region))
                .map(|n| n.e164),
            number_zone: number
                .and_then(|n| n.time_zone.as_deref())
                .and_then(|zone| zone.parse().ok()),
        }
    }
}

/// Timestamps are UNIX seconds; a value too large to be seconds is read as
/// milliseconds (some Aircall callbacks use them).
pub fn unix_seconds(value: i64) -> Option<DateTime<Utc>> {
    let seconds = if value > 100_000_000_000 {
        value / 1000
    } else {
        value
    };
    Utc.timestamp_opt(seconds, 0).single()
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, PayloadError> {
    // Tracking the path costs a fifth of decoding, on every webhook; only
    // a body that fails needs it, so that one is decoded a second time.
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match T::deserialize(&mut deserializer).and_then(|decoded| {
        // Only whitespace may follow the value: `{...}garbage` is not a
        // webhook, whatever its first object says.
        deserializer.end()?;
        Ok(decoded)
    }) {
        Ok(decoded) => Ok(decoded),
        Err(_) => decode_naming_the_field(body),
    }
}

fn decode_naming_the_field<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let decoded = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            PayloadError::Json(inner.to_string())
        } else if path == "." {
            PayloadError::Shape(inner.to_string())
        } else {
            PayloadError::Shape(format!("{path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| PayloadError::Json(error.to_string()))?;
    Ok(decoded)
}

fn prefix(field: &str, error: PayloadError) -> PayloadError {
    match error {
        PayloadError::Shape(message)
            if message.contains(": ") && !message.starts_with("missing") =>
        {
            PayloadError::Shape(format!("{field}.{message}"))
        }
        PayloadError::Shape(message) => PayloadError::Shape(format!("{field}: {message}")),
        other => other,
    }
}

/// `data` of a `call.*` event (the Call object).
#[derive(Debug, Clone, Deserialize)]
pub struct CallData {
    /// Int64 in Aircall's reference: never read through a float. Always
    /// positive: a call id of 0 or below is a malformed payload, never
    /// a call to decide (or to transfer as `/v1/calls/-1/transfers`).
    #[serde(deserialize_with = "positive_call_id")]
    pub id: i64,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub answered_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// The caller's number in display format, or `anonymous`.
    #[serde(default)]
    pub raw_digits: Option<String>,
    #[serde(default)]
    pub number: Option<NumberData>,
    /// The agent who took (or is being rung for) the call.
    #[serde(default)]
    pub user: Option<UserData>,
}

fn positive_call_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let id = i64::deserialize(deserializer)?;
    if id > 0 {
        Ok(id)
    } else {
        Err(serde::de::Error::custom(format_args!(
            "{id} is not a call id (call ids are positive)"
        )))
    }
}

/// The Aircall line of a call.
#[derive(Debug, Clone, Deserialize)]
pub struct NumberData {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub digits: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `data` of a `user.*` event, or a call's `user`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserData {
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub availability_status: Option<String>,
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const CREATED: &str = r#"{"resource":"call","event":"call.created","timestamp":1646389739,
        "token":"58ffd2bc","data":{"id":780836754,"direction":"inbound","status":"initial",
        "started_at":1646389739,"raw_digits":"+44 330 818 6690","number":{"id":397375,
        "digits":"+43 720 880079","country":"AT","time_zone":"Europe/Vienna"}}}"#;

    #[test]
    fn call_created_becomes_call_facts() {
        let envelope = Envelope::from_slice(CREATED.as_bytes()).unwrap();
        let data = envelope.call_data().unwrap();
        let call = envelope.to_call(&data, Utc::now());
        assert!(call.is_decidable());
        assert_eq!(call.id, Some(780_836_754));
        assert_eq!(call.instant.timestamp(), 1_646_389_739);
        let caller = call.caller.unwrap();
        assert_eq!(caller.e164, "+443308186690");
        assert_eq!(caller.country.as_deref(), Some("GB"));
        assert_eq!(call.number_id, Some(397_375));
        assert_eq!(call.number_e164.as_deref(), Some("+43720880079"));
        assert_eq!(call.number_zone, Some(chrono_tz::Europe::Vienna));
    }

    #[test]
    fn errors_name_the_field() {
        let err = Envelope::from_slice(b"{\"event\":1}").unwrap_err();
        assert!(err.to_string().contains("event"), "{err}");
        let err = Envelope::from_slice(b"{not json").unwrap_err();
        assert!(matches!(err, PayloadError::Json(_)));
        let envelope =
            Envelope::from_slice(br#"{"event":"call.created","data":{"id":"x"}}"#).unwrap();
        let err = envelope.call_data().unwrap_err();
        assert!(err.to_string().contains("data.id"), "{err}");
    }

    #[test]
    fn issue_15_trailing_bytes_after_the_envelope_are_malformed() {
        let body = format!("{CREATED}garbage");
        let err = Envelope::from_slice(body.as_bytes()).unwrap_err();
        assert!(matches!(err, PayloadError::Json(_)), "{err:?}");
        assert!(err.to_string().contains("trailing characters"), "{err}");
        let err = Envelope::from_slice(format!("{CREATED} {{}}").as_bytes()).unwrap_err();
        assert!(matches!(err, PayloadError::Json(_)), "{err:?}");
        // Whitespace after the value is still fine (a trailing newline).
        Envelope::from_slice(format!("{CREATED}\r\n ").as_bytes()).unwrap();
    }

    #[test]
    fn issue_15_a_call_id_of_zero_or_below_is_malformed() {
        for id in ["0", "-1", "-780836754"] {
            let body = CREATED.replace("780836754", id);
            let envelope = Envelope::from_slice(body.as_bytes()).unwrap();
            let err = envelope.call_data().unwrap_err();
            assert!(matches!(err, PayloadError::Shape(_)), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains("data.id") && message.contains("positive"),
                "{message}"
            );
        }
    }
}
