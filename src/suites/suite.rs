//! The test file as written (`rules/main.test.yaml`).
//!
//! ```yaml
//! rules: main.rules              # optional: the rules, relative to this file
//! zone: Europe/Paris             # optional: the zone of `at:` values without one
//! at: 2026-03-02T10:00           # optional: the default instant of every case
//! call: { number: 1234 }         # optional: call fields every case starts from
//! cases:
//!   - name: a VIP caller goes to the VIP desk
//!     at: 2026-03-02T10:00 Europe/Paris
//!     call: { caller: "+33 6 12 34 56 78", number: 1234 }   # or a payload file
//!     contact: { vip: true }
//!     available: [alice@example.com]
//!     expect:
//!       rule: VIP callers go to the VIP desk
//!       target: alice                 # or { user: alice@example.com }
//!     not_rules: [account manager]
//! ```
//!
//! Every map refuses keys it does not know, so a typo (`expcet:`) is an
//! error naming the key rather than a silently empty expectation. This
//! module only describes the shape; [`super::prepare`] gives it meaning
//! against the rules.

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::lang::call::UserRef;
use crate::lang::value::Contact;

/// A whole test file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// The rules under test (a file or a directory), relative to the test
    /// file. Default: the sibling `NAME.rules` of `NAME.test.yaml`.
    #[serde(default)]
    pub rules: Option<String>,
    /// The zone of `at:` values written without one. Default: the rules'
    /// `timezone`.
    #[serde(default)]
    pub zone: Option<String>,
    /// The instant of cases that give none.
    #[serde(default)]
    pub at: Option<String>,
    /// Call fields (or a payload) that every case starts from.
    #[serde(default)]
    pub call: Option<CallInput>,
    pub cases: Vec<CaseFile>,
}

/// One case as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub name: String,
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub call: Option<CallInput>,
    /// The caller's contact record: field name to value.
    #[serde(default)]
    pub contact: Option<Contact>,
    #[serde(default)]
    pub last_agent: Option<UserInput>,
    #[serde(default)]
    pub available: Vec<UserInput>,
    #[serde(default)]
    pub unavailable: Vec<UserInput>,
    pub expect: ExpectInput,
    /// Rules (by name) that must not decide this call.
    #[serde(default)]
    pub not_rules: Vec<String>,
}

/// The call of a case: a payload file (`call: events/x.json`) or fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallFields {
    /// A webhook body captured from Aircall (or written like one), relative
    /// to the test file; the other fields override what it says.
    #[serde(default)]
    pub payload: Option<String>,
    /// Default `call.created`.
    #[serde(default)]
    pub event: Option<String>,
    /// `inbound` (default) or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    /// `data.raw_digits`: the caller's number as Aircall shows it, or
    /// `anonymous`.
    #[serde(default)]
    pub caller: Option<PhoneText>,
    /// The Aircall line called: an integer is its id, a text its digits.
    #[serde(default)]
    pub number: Option<NumberInput>,
    #[serde(default)]
    pub number_id: Option<u64>,
    #[serde(default)]
    pub number_digits: Option<PhoneText>,
    /// `data.number.country`: the region of national-format digits.
    #[serde(default)]
    pub country: Option<String>,
    /// `data.number.time_zone`.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `data.id`, the call id.
    #[serde(default)]
    pub id: Option<i64>,
}

impl CallFields {
    /// `self` with the fields `over` sets replacing its own.
    pub fn merged(&self, over: &CallFields) -> CallFields {
        CallFields {
            payload: over.payload.clone().or_else(|| self.payload.clone()),
            event: over.event.clone().or_else(|| self.event.clone()),
            direction: over.direction.clone().or_else(|| self.direction.clone()),
            caller: over.caller.clone().or_else(|| self.caller.clone()),
            number: over.number.clone().or_else(|| self.number.clone()),
            number_id: over.number_id.or(self.number_id),
            number_digits: over
                .number_digits
                .clone()
                .or_else(|| self.number_digits.clone()),
            country: over.country.clone().or_else(|| self.country.clone()),
            time_zone: over.time_zone.clone().or_else(|| self.time_zone.clone()),
            id: over.id.or(self.id),
        }
    }
}

/// `call:` as written: a payload path, or [`CallFields`].
#[derive(Debug, Clone, Default)]
pub struct CallInput(pub CallFields);

impl<'de> Deserialize<'de> for CallInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CallVisitor;
        impl<'de> Visitor<'de> for CallVisitor {
            type Value = CallInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a payload file name or a map of call fields")
            }
            fn visit_str<E: de::Error>(self, path: &str) -> Result<CallInput, E> {
                Ok(CallInput(CallFields {
                    payload: Some(path.to_owned()),
                    ..CallFields::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CallInput, A::Error> {
                CallFields::deserialize(MapAccessDeserializer::new(map)).map(CallInput)
            }
        }
        deserializer.deserialize_any(CallVisitor)
    }
}

/// A phone number, which must be quoted in YAML: unquoted, `+33612345678`
/// is read as the integer 33612345678 and its `+` is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneText(pub String);

impl<'de> Deserialize<'de> for PhoneText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PhoneVisitor;
        impl Visitor<'_> for PhoneVisitor {
            type Value = PhoneText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a phone number in quotes")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<PhoneText, E> {
                Ok(PhoneText(text.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<PhoneText, E> {
                Err(E::custom(format!(
                    "write phone numbers in quotes (\"+{number}\"): YAML reads {number} as an integer"
                )))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<PhoneText, E> {
                self.visit_u64(number.unsigned_abs())
            }
        }
        deserializer.deserialize_any(PhoneVisitor)
    }
}

/// `number:`: an integer is the number's Aircall id, a text its digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberInput {
    Id(u64),
    Digits(String),
}

impl<'de> Deserialize<'de> for NumberInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = NumberInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Aircall number id (an integer) or its digits (in quotes)")
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<NumberInput, E> {
                Ok(NumberInput::Id(id))
            }
            fn visit_i64<E: de::Error>(self, id: i64) -> Result<NumberInput, E> {
                u64::try_from(id)
                    .map(NumberInput::Id)
                    .map_err(|_| E::custom("a number id cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, digits: &str) -> Result<NumberInput, E> {
                Ok(NumberInput::Digits(digits.to_owned()))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// An Aircall user: an integer id, or a text (an e-mail, or an id in quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInput(pub UserRef);

impl<'de> Deserialize<'de> for UserInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UserVisitor;
        impl Visitor<'_> for UserVisitor {
            type Value = UserInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Aircall user id or e-mail")
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<UserInput, E> {
                Ok(UserInput(UserRef::Id(id)))
            }
            fn visit_i64<E: de::Error>(self, id: i64) -> Result<UserInput, E> {
                u64::try_from(id)
                    .map(|id| UserInput(UserRef::Id(id)))
                    .map_err(|_| E::custom("a user id cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<UserInput, E> {
                if text.trim().is_empty() {
                    return Err(E::custom("expected an Aircall user id or e-mail"));
                }
                Ok(UserInput(UserRef::parse(text)))
            }
        }
        deserializer.deserialize_any(UserVisitor)
    }
}

/// `expect:` as written: `keep`, `ignored`, or [`ExpectFields`].
#[derive(Debug, Clone)]
pub struct ExpectInput(pub ExpectFields);

/// What must happen to the call. Every key is optional; those given must
/// all hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFields {
    /// The rule that decides, by name; `null` (`~`) for "no rule matched".
    #[serde(default, deserialize_with = "present")]
    pub rule: Option<Option<String>>,
    /// The rule that decides, by the line it starts on (for unnamed rules).
    #[serde(default)]
    pub rule_line: Option<u32>,
    /// `transfer`, `keep` or `ignored`.
    #[serde(default)]
    pub action: Option<ActionKind>,
    /// The target the call goes to (a transfer).
    #[serde(default)]
    pub target: Option<TargetInput>,
    /// The fallbacks after the target, exactly.
    #[serde(default)]
    pub fallbacks: Option<Vec<TargetInput>>,
    /// The tags added, exactly.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The comments added, exactly.
    #[serde(default)]
    pub comments: Option<Vec<String>>,
}

/// Tells a key written as `null` apart from a key not written.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Transfer,
    Keep,
    /// The event is not one rules decide (an outbound call, `call.ended`).
    Ignored,
}

impl<'de> Deserialize<'de> for ExpectInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = ExpectInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`keep`, `ignored`, or a map with rule, action, target, ...")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ExpectInput, E> {
                let action = match text.trim() {
                    "keep" => ActionKind::Keep,
                    "ignored" => ActionKind::Ignored,
                    "transfer" => ActionKind::Transfer,
                    other => {
                        return Err(E::custom(format!(
                            "unknown expectation `{other}`: write `keep`, `ignored`, or a map \
                             such as `{{ rule: NAME, target: TARGET }}`"
                        )))
                    }
                };
                Ok(ExpectInput(ExpectFields {
                    action: Some(action),
                    ..ExpectFields::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ExpectInput, A::Error> {
                ExpectFields::deserialize(MapAccessDeserializer::new(map)).map(ExpectInput)
            }
        }
        deserializer.deserialize_any(ExpectVisitor)
    }
}

/// A target as written: rules syntax (`alice`, `team sales`,
/// `"+18001234567"`, `agent "x@y.z"`, `user 12`, `team "Sales"`), or the
/// shape `explain --format json` prints (`{ user: x@y.z }`, `{ team: Sales,
/// ringing: random }`, `{ number: "+18001234567" }`).
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    Text(String),
    Map(TargetFields),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFields {
    #[serde(default)]
    pub user: Option<UserInput>,
    #[serde(default)]
    pub team: Option<TeamInput>,
    #[serde(default)]
    pub number: Option<PhoneText>,
    /// `longest_idle`, `random` or `simultaneous` (teams only).
    #[serde(default)]
    pub ringing: Option<String>,
}

/// A team by id (integer) or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamInput {
    Id(u64),
    Name(String),
}

impl<'de> Deserialize<'de> for TeamInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TeamVisitor;
        impl Visitor<'_> for TeamVisitor {
            type Value = TeamInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Aircall team id or name")
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<TeamInput, E> {
                Ok(TeamInput::Id(id))
            }
            fn visit_i64<E: de::Error>(self, id: i64) -> Result<TeamInput, E> {
                u64::try_from(id)
                    .map(TeamInput::Id)
                    .map_err(|_| E::custom("a team id cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<TeamInput, E> {
                Ok(TeamInput::Name(name.to_owned()))
            }
        }
        deserializer.deserialize_any(TeamVisitor)
    }
}

impl<'de> Deserialize<'de> for TargetInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;
        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = TargetInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a target such as `alice`, `team \"Sales\"`, or `{ user: x@y.z }`")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TargetInput, E> {
                Ok(TargetInput::Text(text.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<TargetInput, E> {
                Err(E::custom(format!(
                    "write targets as text: `user {number}` for a user id, or a phone number in quotes"
                )))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<TargetInput, E> {
                self.visit_u64(number.unsigned_abs())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TargetInput, A::Error> {
                TargetFields::deserialize(MapAccessDeserializer::new(map)).map(TargetInput::Map)
            }
        }
        deserializer.deserialize_any(TargetVisitor)
    }
}

/// Reads a test file's text. The error names the key path and the line
/// (`cases[3].expect: unknown field `rulle`, expected one of ... at line 14
/// column 7`).
pub fn parse(text: &str) -> Result<SuiteFile, String> {
    serde_yaml::from_str(text).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::lang::value::Value;

    #[test]
    fn a_full_case_reads() {
        let suite = parse(
            r#"
zone: Europe/Paris
call: { number: 1234 }
cases:
  - name: vip
    at: 2026-03-02T10:00
    call: { caller: "+33 6 12 34 56 78", number: "+33 1 76 36 06 95" }
    contact: { vip: true, agent: bob@example.com, score: 2.5, gone: null }
    last_agent: 42
    available: [alice@example.com, 7]
    expect:
      rule: VIP
      target: { team: Sales, ringing: random }
      fallbacks: [alice, "+18001234567"]
      tags: [VIP]
    not_rules: [other]
  - name: payload
    call: events/x.json
    expect: keep
  - name: nothing
    expect: { rule: ~ }
"#,
        )
        .unwrap();
        assert_eq!(suite.cases.len(), 3);
        let vip = &suite.cases[0];
        let call = &vip.call.as_ref().unwrap().0;
        assert_eq!(call.caller, Some(PhoneText("+33 6 12 34 56 78".into())));
        assert_eq!(
            call.number,
            Some(NumberInput::Digits("+33 1 76 36 06 95".into()))
        );
        let contact = vip.contact.as_ref().unwrap();
        assert_eq!(contact.get("vip"), Some(&Value::Bool(true)));
        assert_eq!(contact.get("score"), Some(&Value::Float(2.5)));
        assert_eq!(contact.get("gone"), None);
        assert_eq!(vip.last_agent, Some(UserInput(UserRef::Id(42))));
        assert_eq!(vip.available[1], UserInput(UserRef::Id(7)));
        let expect = &vip.expect.0;
        assert_eq!(expect.rule, Some(Some("VIP".into())));
        assert_eq!(
            expect.target,
            Some(TargetInput::Map(TargetFields {
                team: Some(TeamInput::Name("Sales".into())),
                ringing: Some("random".into()),
                ..TargetFields::default()
            }))
        );
        assert_eq!(
            suite.cases[1].call.as_ref().unwrap().0.payload.as_deref(),
            Some("events/x.json")
        );
        assert_eq!(suite.cases[1].expect.0.action, Some(ActionKind::Keep));
        assert_eq!(suite.cases[2].expect.0.rule, Some(None));
        assert_eq!(vip.expect.0.rule_line, None);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key_and_line() {
        let error = parse("cases:\n  - name: x\n    expect:\n      rulle: VIP\n").unwrap_err();
        assert!(
            error.starts_with("cases[0].expect: unknown field `rulle`"),
            "{error}"
        );
        assert!(error.contains("line 4"), "{error}");
        let error = parse("cases: []\nzones: UTC\n").unwrap_err();
        assert!(error.contains("unknown field `zones`"), "{error}");
        let error = parse("cases:\n  - name: x\n    call: { calller: \"+1\" }\n    expect: keep\n")
            .unwrap_err();
        assert!(
            error.starts_with("cases[0].call: unknown field `calller`"),
            "{error}"
        );
    }

    #[test]
    fn unquoted_phone_numbers_are_refused_with_a_hint() {
        let error =
            parse("cases:\n  - name: x\n    call: { caller: +33612345678 }\n    expect: keep\n")
                .unwrap_err();
        assert!(error.contains("write phone numbers in quotes"), "{error}");
    }

    #[test]
    fn missing_keys_and_bad_expectations() {
        let error = parse("cases:\n  - name: x\n").unwrap_err();
        assert!(error.contains("missing field `expect`"), "{error}");
        let error = parse("cases:\n  - name: x\n    expect: maybe\n").unwrap_err();
        assert!(error.contains("unknown expectation `maybe`"), "{error}");
        let error = parse("cases:\n  - name: x\n    expect: { action: forward }\n").unwrap_err();
        assert!(error.contains("unknown variant `forward`"), "{error}");
    }
}
