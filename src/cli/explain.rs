//! `switchboard explain`: how the rules decide one webhook event.
//!
//! It gathers inputs (the rules, the event, `--at`, the contact, the last
//! agent, availability), runs [`crate::lang::RuleSet::explain`] (the same
//! evaluator the server runs, with the condition trace switched on) and
//! prints the outcome. It must not decide anything itself: no rule logic,
//! no target resolution, no defaults beyond what the server would have.
//!
//! Output: the explanation goes to stdout (text, or one JSON document with
//! `--format json`). Anything that stops it (unreadable rules or event, a
//! bad event, invalid rules with their rendered diagnostics) goes to stderr.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::exit::ExitStatus;
use super::{ColorChoice, Format};
use crate::aircall::webhook::Envelope;
use crate::lang::call::{Call, Direction};
use crate::lang::outcome::{ConditionTrace, RuleRef, RuleTrace};
use crate::lang::{
    Action, Agent, AvailabilityList, Contact, Context, Outcome, RuleSet, UserRef, Value,
};

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The rules: a file, or a directory of `*.rules` files.
    #[arg(long, value_name = "PATH")]
    pub rules: PathBuf,

    /// The webhook body, as Aircall sends it (`-` reads stdin).
    #[arg(long, value_name = "EVENT.json")]
    pub event: PathBuf,

    /// Evaluate as if the call happened at this instant (RFC 3339, e.g.
    /// `2026-03-28T19:05:00+01:00`) instead of the event's own time.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,

    /// A field of the caller's contact record (repeatable). VALUE is read
    /// as `true`/`false`, an integer, `null`, or else text.
    #[arg(long = "contact", value_name = "FIELD=VALUE", value_parser = parse_contact_field)]
    pub contact: Vec<(String, Value)>,

    /// The agent who last answered this caller (an Aircall user id or e-mail).
    #[arg(long, value_name = "ID_OR_EMAIL", value_parser = parse_user)]
    pub last_agent: Option<UserRef>,

    /// An agent known to be available (repeatable).
    #[arg(long, value_name = "ID_OR_EMAIL", value_parser = parse_user)]
    pub available: Vec<UserRef>,

    /// An agent known to be unavailable (repeatable).
    #[arg(long, value_name = "ID_OR_EMAIL", value_parser = parse_user)]
    pub unavailable: Vec<UserRef>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Colour diagnostics when the rules are invalid.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|error| {
            format!("{error} (expected RFC 3339, e.g. 2026-03-28T19:05:00+01:00 or 2026-03-28T18:05:00Z)")
        })
}

fn parse_contact_field(text: &str) -> Result<(String, Value), String> {
    let (field, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected FIELD=VALUE, e.g. vip=true, got `{text}`"))?;
    // `contact.vip=true` reads like the rules do; accept it.
    let field = field.trim();
    let field = field.strip_prefix("contact.").unwrap_or(field);
    if field.is_empty() {
        return Err(format!("missing field name in `{text}`"));
    }
    Ok((field.to_owned(), Value::parse_loose(value)))
}

fn parse_user(text: &str) -> Result<UserRef, String> {
    if text.trim().is_empty() {
        return Err("expected an Aircall user id or e-mail".to_owned());
    }
    Ok(UserRef::parse(text))
}

/// Runs `explain` against the real stdout/stderr, with "now" as the
/// receive time of the event.
pub fn run(args: &ExplainArgs) -> ExitStatus {
    let color = args.color.enabled_on_stderr();
    super::on_std_streams(|out, err| execute(args, out, err, color, Utc::now()))
}

/// `explain` with its outputs, colour and clock given, for tests and
/// embedding. `now` stands for the time the event was received: it is the
/// call's instant when neither `--at`, `data.started_at` nor the envelope's
/// `timestamp` gives one, and "today" for the checker.
pub fn execute(
    args: &ExplainArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
    now: DateTime<Utc>,
) -> io::Result<ExitStatus> {
    let consequence = "; nothing to explain";
    let rule_set =
        match super::load_rule_set(&args.rules, now.date_naive(), err, color, consequence)? {
            Ok(rule_set) => rule_set,
            Err(status) => return Ok(status),
        };
    let rule_set = &rule_set;

    let call = match read_event(&args.event).and_then(|body| event_to_call(&body, now)) {
        Ok(call) => call,
        Err(problem) => {
            writeln!(err, "error: {}: {problem}", display_event(&args.event))?;
            return Ok(ExitStatus::Failure);
        }
    };
    let call = Call {
        instant: args.at.unwrap_or(call.instant),
        ..call
    };

    let contact = (!args.contact.is_empty()).then(|| {
        let mut contact = Contact::default();
        for (field, value) in &args.contact {
            contact.insert(field.clone(), value.clone());
        }
        contact
    });
    let last_agent = args.last_agent.as_ref().map(Agent::from_ref);
    let availability = AvailabilityList {
        available: args.available.clone(),
        unavailable: args.unavailable.clone(),
    };
    let context = Context {
        contact: contact.as_ref(),
        last_agent: last_agent.as_ref(),
        availability: &availability,
    };

    let outcome = rule_set.explain(&call, &context);
    match args.format {
        Format::Human => write_human(out, rule_set, &call, &outcome)?,
        Format::Json => {
            let json = ExplainJson::new(rule_set, &call, &context, &availability, &outcome);
            serde_json::to_writer_pretty(&mut *out, &json)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitStatus::Success)
}

fn display_event(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

fn read_event(path: &Path) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let result = if path == Path::new("-") {
        io::stdin().read_to_end(&mut body).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut body).map(|_| ()))
    };
    result.map_err(|error| format!("cannot read the event: {error}"))?;
    Ok(body)
}

/// The call facts of an event. Events that are not about a call (`user.*`,
/// `number.*`) still become a [`Call`] with only their name and instant,
/// so the evaluator, not this command, says they are not decided by rules.
fn event_to_call(body: &[u8], now: DateTime<Utc>) -> Result<Call, String> {
    let envelope = Envelope::from_slice(body).map_err(|error| error.to_string())?;
    if envelope.family() == "call" {
        let data = envelope.call_data().map_err(|error| error.to_string())?;
        Ok(envelope.to_call(&data, now))
    } else {
        let instant = envelope
            .timestamp
            .and_then(crate::aircall::webhook::unix_seconds)
            .unwrap_or(now);
        Ok(Call {
            event: envelope.event.clone(),
            id: None,
            direction: None,
            instant,
            caller: None,
            number_id: None,
            number_e164: None,
            number_zone: None,
        })
    }
}

// ---------------------------------------------------------------- human

fn write_human(
    out: &mut dyn Write,
    rule_set: &RuleSet,
    call: &Call,
    outcome: &Outcome,
) -> io::Result<()> {
    let decision = &outcome.decision;
    let sources = rule_set.sources();
    let multi_file = sources.len() > 1;
    let rule_label = |rule: &RuleRef| {
        let name = match &rule.name {
            Some(name) => format!("rule {name:?}"),
            None => "rule".to_owned(),
        };
        if multi_file {
            format!(
                "{name}, {}:{}",
                sources.file_name(rule.span.file),
                rule.line
            )
        } else {
            format!("{name}, line {}", rule.line)
        }
    };

    // The decision first: what happens to the call, and which rule said so.
    let main_action = decision
        .actions
        .iter()
        .find(|action| matches!(action, Action::Transfer { .. } | Action::Keep { .. }));
    let rule = decision.rule.as_ref().map(rule_label);
    match (decision.ignored, main_action) {
        (Some(reason), _) => writeln!(out, "decision: ignored ({reason})")?,
        (None, Some(Action::Transfer { to, .. })) => match &rule {
            Some(rule) => writeln!(out, "decision: transfer to {to} ({rule})")?,
            None => writeln!(out, "decision: transfer to {to}")?,
        },
        (None, Some(Action::Keep { reason })) => match (&rule, reason) {
            (Some(rule), Some(reason)) => writeln!(out, "decision: keep ({rule}; {reason})")?,
            (Some(rule), None) => writeln!(out, "decision: keep ({rule})")?,
            (None, Some(reason)) => writeln!(out, "decision: keep ({reason})")?,
            (None, None) => writeln!(out, "decision: keep")?,
        },
        (None, _) => match &rule {
            Some(rule) => writeln!(out, "decision: nothing to do ({rule})")?,
            None => writeln!(out, "decision: nothing to do")?,
        },
    }
    for action in &decision.actions {
        match action {
            Action::Transfer {
                fallbacks, skipped, ..
            } => {
                if !fallbacks.is_empty() {
                    let list: Vec<String> = fallbacks.iter().map(ToString::to_string).collect();
                    writeln!(out, "  fallbacks: {}", list.join(", "))?;
                }
                for skipped in skipped {
                    writeln!(out, "  skipped {}: {}", skipped.target, skipped.reason)?;
                }
            }
            Action::Keep { .. } => {}
            Action::Tag { tag } => writeln!(out, "  tag: {tag:?}")?,
            Action::Comment { text } => writeln!(out, "  comment: {text:?}")?,
        }
    }

    writeln!(out)?;
    writeln!(out, "event: {}", describe_call(call))?;
    writeln!(out, "revision: {}", rule_set.revision())?;

    writeln!(out)?;
    if outcome.trace.is_empty() {
        writeln!(out, "no rule was tried")?;
        return Ok(());
    }
    writeln!(out, "rules tried:")?;
    // One gutter width for every source line shown, so the `|` line up.
    let width = outcome
        .trace
        .iter()
        .flat_map(|rule| {
            std::iter::once(rule.rule.line).chain(rule.conditions.iter().map(|c| c.line))
        })
        .max()
        .map_or(1, |line| line.to_string().len());
    for (index, trace) in outcome.trace.iter().enumerate() {
        write_rule_trace(out, rule_set, index, trace, width)?;
    }
    Ok(())
}

fn write_rule_trace(
    out: &mut dyn Write,
    rule_set: &RuleSet,
    index: usize,
    trace: &RuleTrace,
    width: usize,
) -> io::Result<()> {
    let sources = rule_set.sources();
    let rule = &trace.rule;
    let file_id = rule.span.file;
    let name = match &rule.name {
        Some(name) => format!("rule {name:?}"),
        None => "rule".to_owned(),
    };
    writeln!(
        out,
        "{}. {name} at {}:{}: {}",
        index + 1,
        sources.file_name(file_id),
        rule.line,
        if trace.matched { "matched" } else { "no match" }
    )?;
    let source_line = |line: u32| {
        sources
            .get(file_id)
            .map(|file| file.line_text(line as usize).replace('\t', "    "))
            .unwrap_or_default()
    };
    if trace.conditions.is_empty() {
        writeln!(
            out,
            "   {line:>width$} | {}",
            source_line(rule.line),
            line = rule.line
        )?;
        return Ok(());
    }
    // Conditions grouped under the source line they stand on, in the
    // order they were evaluated.
    let mut shown: Option<u32> = None;
    for condition in &trace.conditions {
        if shown != Some(condition.line) {
            writeln!(
                out,
                "   {line:>width$} | {}",
                source_line(condition.line).trim_end(),
                line = condition.line
            )?;
            shown = Some(condition.line);
        }
        writeln!(out, "   {:width$}   {}", "", describe_condition(condition))?;
    }
    Ok(())
}

/// `[pass] outside hours office: true (Sat 19:05 Europe/Paris; ...)`.
fn describe_condition(condition: &ConditionTrace) -> String {
    let mark = if condition.result { "[pass]" } else { "[fail]" };
    // One line per condition, however the rule was laid out.
    let text = condition
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if condition.detail.is_empty() {
        format!("{mark} {text}: {}", condition.result)
    } else {
        format!("{mark} {text}: {} ({})", condition.result, condition.detail)
    }
}

/// `call.created, call 780836754, inbound, from +443308186690 (GB), to
/// +43720880079 (number 397375), at 2022-03-04T10:28:59Z`.
fn describe_call(call: &Call) -> String {
    let mut parts = vec![call.event.clone()];
    if let Some(id) = call.id {
        parts.push(format!("call {id}"));
    }
    if let Some(direction) = call.direction {
        parts.push(
            match direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            }
            .to_owned(),
        );
    }
    if call.event.starts_with("call.") {
        // `raw_digits` is the other party: the caller of an inbound call,
        // the callee of an outbound one; `number` is the Aircall line.
        let party = match &call.caller {
            Some(caller) => match &caller.country {
                Some(country) => format!("{} ({country})", caller.e164),
                None => caller.e164.clone(),
            },
            None => "an anonymous number".to_owned(),
        };
        let line = match (&call.number_e164, call.number_id) {
            (Some(number), Some(id)) => Some(format!("{number} (number {id})")),
            (Some(number), None) => Some(number.clone()),
            (None, Some(id)) => Some(format!("number {id}")),
            (None, None) => None,
        };
        if call.direction == Some(Direction::Outbound) {
            if let Some(line) = line {
                parts.push(format!("from {line}"));
            }
            parts.push(format!("to {party}"));
        } else {
            parts.push(format!("from {party}"));
            if let Some(line) = line {
                parts.push(format!("to {line}"));
            }
        }
    }
    parts.push(format!(
        "at {}",
        call.instant.to_rfc3339_opts(SecondsFormat::Secs, true)
    ));
    parts.join(", ")
}

// ---------------------------------------------------------------- JSON

/// `explain --format json`. `rule`, `actions` and `trace` are the keys
/// issue 2 fixes; the others help a reader audit the inputs.
#[derive(Debug, Serialize)]
struct ExplainJson<'a> {
    rule: Option<JsonRule<'a>>,
    actions: &'a [Action],
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<&'static str>,
    trace: Vec<JsonTrace<'a>>,
    revision: &'a str,
    event: &'a str,
    instant: String,
    call: JsonCall<'a>,
    context: JsonContext<'a>,
}

#[derive(Debug, Serialize)]
struct JsonRule<'a> {
    name: Option<&'a str>,
    line: u32,
}

impl<'a> JsonRule<'a> {
    fn new(rule: &'a RuleRef) -> Self {
        JsonRule {
            name: rule.name.as_deref(),
            line: rule.line,
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonTrace<'a> {
    rule: JsonRule<'a>,
    file: &'a str,
    matched: bool,
    conditions: &'a [ConditionTrace],
}

#[derive(Debug, Serialize)]
struct JsonCall<'a> {
    id: Option<i64>,
    direction: Option<Direction>,
    caller: Option<&'a str>,
    caller_country: Option<&'a str>,
    number_id: Option<u64>,
    number: Option<&'a str>,
    time_zone: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct JsonContext<'a> {
    contact: Option<&'a Contact>,
    last_agent: Option<&'a Agent>,
    available: &'a [UserRef],
    unavailable: &'a [UserRef],
}

impl<'a> ExplainJson<'a> {
    fn new(
        rule_set: &'a RuleSet,
        call: &'a Call,
        context: &Context<'a>,
        availability: &'a AvailabilityList,
        outcome: &'a Outcome,
    ) -> Self {
        let sources = rule_set.sources();
        ExplainJson {
            rule: outcome.decision.rule.as_ref().map(JsonRule::new),
            actions: &outcome.decision.actions,
            ignored: outcome.decision.ignored,
            trace: outcome
                .trace
                .iter()
                .map(|trace| JsonTrace {
                    rule: JsonRule::new(&trace.rule),
                    file: sources.file_name(trace.rule.span.file),
                    matched: trace.matched,
                    conditions: &trace.conditions,
                })
                .collect(),
            revision: rule_set.revision(),
            event: &call.event,
            instant: call.instant.to_rfc3339_opts(SecondsFormat::Secs, true),
            call: JsonCall {
                id: call.id,
                direction: call.direction,
                caller: call.caller.as_ref().map(|caller| caller.e164.as_str()),
                caller_country: call
                    .caller
                    .as_ref()
                    .and_then(|caller| caller.country.as_deref()),
                number_id: call.number_id,
                number: call.number_e164.as_deref(),
                time_zone: call.number_zone.map(|zone| zone.name()),
            },
            context: JsonContext {
                contact: context.contact,
                last_agent: context.last_agent,
                available: &availability.available,
                unavailable: &availability.unavailable,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn contact_fields_parse_like_the_rules_read_them() {
        assert_eq!(
            parse_contact_field("vip=true").unwrap(),
            ("vip".to_owned(), Value::Bool(true))
        );
        assert_eq!(
            parse_contact_field("contact.language=es").unwrap(),
            ("language".to_owned(), Value::Text("es".to_owned()))
        );
        // Only the first `=` splits: values may contain `=`.
        assert_eq!(
            parse_contact_field("note=a=b").unwrap(),
            ("note".to_owned(), Value::Text("a=b".to_owned()))
        );
        assert!(parse_contact_field("vip").is_err());
        assert!(parse_contact_field("=true").is_err());
    }

    #[test]
    fn instants_are_rfc3339_in_any_offset() {
        let instant = parse_instant("2026-03-28T19:05:00+01:00").unwrap();
        assert_eq!(instant.to_rfc3339(), "2026-03-28T18:05:00+00:00");
        assert!(parse_instant("2026-03-28 19:05").is_err());
    }

    #[test]
    fn users_are_ids_or_emails() {
        assert_eq!(parse_user("42").unwrap(), UserRef::Id(42));
        assert_eq!(
            parse_user("alice@example.com").unwrap(),
            UserRef::Email("alice@example.com".to_owned())
        );
        assert!(parse_user(" ").is_err());
    }

    #[test]
    fn non_call_events_keep_their_name_and_time() {
        let body = br#"{"resource":"user","event":"user.opened","timestamp":1646393185,
            "token":"t","data":{"id":749132,"available":true}}"#;
        let call = event_to_call(body, Utc::now()).unwrap();
        assert_eq!(call.event, "user.opened");
        assert_eq!(call.instant.timestamp(), 1_646_393_185);
        assert!(!call.is_decidable());
    }

    #[test]
    fn bad_events_name_the_problem() {
        let problem =
            event_to_call(b"{\"event\":\"call.created\",\"data\":{}}", Utc::now()).unwrap_err();
        assert!(problem.contains("id"), "{problem}");
        let problem = event_to_call(b"not json", Utc::now()).unwrap_err();
        assert!(problem.contains("not valid JSON"), "{problem}");
    }
}
