//! Learning call history from webhooks, for `last_agent`.
//!
//! An inbound call answered by an agent (`call.answered`, or `call.ended`
//! with a `user` and an `answered_at`) becomes a [`HistoryEntry`]: the
//! caller's E.164, the agent's id and e-mail, the call id and when it was
//! answered. Entries are keyed by call id, so a duplicate delivery writes
//! the same row again; the newest *event* about a call decides its agent
//! (a late `call.answered` does not undo the `call.ended` after a
//! transfer), and `last_agent` orders calls by `answered_at`, so a late
//! event about an older call never hides a newer one. Pure: no I/O.

use chrono::{DateTime, Utc};

use super::record::HistoryEntry;
use crate::aircall::webhook::{unix_seconds, CallData, Envelope};
use crate::lang::phone;

/// The history entry a call webhook teaches, if any.
pub fn entry_from(
    envelope: &Envelope,
    data: &CallData,
    received_at: DateTime<Utc>,
) -> Option<HistoryEntry> {
    let event = envelope.event.as_str();
    if !matches!(event, "call.answered" | "call.ended") {
        return None;
    }
    if data.direction.as_deref() != Some("inbound") {
        return None;
    }
    let user = data.user.as_ref()?;
    let answered_at = match data.answered_at.and_then(unix_seconds) {
        Some(at) => at,
        // `call.answered` is itself the news; `call.ended` without an
        // answer time is a missed call.
        None if event == "call.answered" => envelope
            .timestamp
            .and_then(unix_seconds)
            .unwrap_or(received_at),
        None => return None,
    };
    let region = data.number.as_ref().and_then(|n| n.country.as_deref());
    let caller = phone::normalize(data.raw_digits.as_deref()?, region)?.e164;
    let event_at = envelope
        .timestamp
        .and_then(unix_seconds)
        .or_else(|| match event {
            "call.ended" => data.ended_at.and_then(unix_seconds),
            _ => None,
        })
        .unwrap_or(answered_at);
    Some(HistoryEntry {
        call_id: data.id,
        caller,
        agent_id: Some(user.id),
        agent_email: user.email.clone().filter(|email| !email.trim().is_empty()),
        answered_at,
        event_at,
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn entry(body: &str) -> Option<HistoryEntry> {
        let envelope = Envelope::from_slice(body.as_bytes()).unwrap();
        let data = envelope.call_data().unwrap();
        entry_from(&envelope, &data, Utc::now())
    }

    #[test]
    fn answered_inbound_call_is_history() {
        let e = entry(
            r#"{"event":"call.answered","timestamp":1646389745,"data":{"id":7,"direction":"inbound",
            "answered_at":1646389744,"raw_digits":"+44 330 818 6690",
            "user":{"id":731416,"email":"koen@example.com"}}}"#,
        )
        .unwrap();
        assert_eq!(e.call_id, 7);
        assert_eq!(e.caller, "+443308186690");
        assert_eq!(e.agent_id, Some(731_416));
        assert_eq!(e.agent_email.as_deref(), Some("koen@example.com"));
        assert_eq!(e.answered_at.timestamp(), 1_646_389_744);
        assert_eq!(e.event_at.timestamp(), 1_646_389_745);
    }

    #[test]
    fn what_is_not_history() {
        // Outbound: raw_digits is the callee.
        assert!(entry(
            r#"{"event":"call.ended","timestamp":1,"data":{"id":7,"direction":"outbound",
            "answered_at":1646389744,"raw_digits":"+44 330 818 6690","user":{"id":1}}}"#
        )
        .is_none());
        // Missed: ended without an answer.
        assert!(entry(
            r#"{"event":"call.ended","timestamp":1,"data":{"id":7,"direction":"inbound",
            "raw_digits":"+44 330 818 6690","user":{"id":1}}}"#
        )
        .is_none());
        // No agent.
        assert!(entry(
            r#"{"event":"call.answered","timestamp":1,"data":{"id":7,"direction":"inbound",
            "answered_at":5,"raw_digits":"+44 330 818 6690"}}"#
        )
        .is_none());
        // Anonymous caller.
        assert!(entry(
            r#"{"event":"call.answered","timestamp":1,"data":{"id":7,"direction":"inbound",
            "answered_at":5,"raw_digits":"anonymous","user":{"id":1}}}"#
        )
        .is_none());
        // Other events.
        assert!(entry(
            r#"{"event":"call.hungup","timestamp":1,"data":{"id":7,"direction":"inbound",
            "answered_at":5,"raw_digits":"+44 330 818 6690","user":{"id":1}}}"#
        )
        .is_none());
    }
}
