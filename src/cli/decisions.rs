//! `switchboard decisions`: read the decision log.
//!
//! "Why did this call go there?" in one command: each record shows when
//! the webhook came, the call and caller, the rule that decided (name,
//! file and line), the actions, the contact lookup, and what became of
//! each action. Reads the store named by `--state`, else by the config
//! file's `state:`, else the default `data/switchboard.db`. Never writes.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;

use super::{ExitStatus, Format};
use crate::config::parse_duration;
use crate::lang::phone;
use crate::store::query::{DecisionEntry, DecisionQuery, MAX_LIMIT};
use crate::store::record::actions_from_json;
use crate::store::{Disposition, StateLocation, Store};

/// Options of `switchboard decisions`.
#[derive(Debug, Clone, Args)]
pub struct DecisionsArgs {
    /// The serve config file whose `state:` to read.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The store itself: a SQLite file or a postgres:// URL (overrides
    /// the config).
    #[arg(long, value_name = "PATH_OR_URL")]
    pub state: Option<String>,
    /// Only this call (Aircall's call id).
    #[arg(long = "call", value_name = "ID")]
    pub call_id: Option<i64>,
    /// Only this caller (any format; compared in E.164).
    #[arg(long, value_name = "NUMBER")]
    pub caller: Option<String>,
    /// Only records newer than this, e.g. 30m, 1h, 7d.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: u32,
    /// Every webhook recorded, not only call.created.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Runs the command.
pub fn run(args: &DecisionsArgs) -> ExitStatus {
    let location = match resolve_state(args) {
        Ok(location) => location,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Failure;
        }
    };
    let caller = args
        .caller
        .as_deref()
        .map(|raw| phone::normalize(raw, None).map_or_else(|| raw.trim().to_owned(), |n| n.e164));
    let query = DecisionQuery {
        call_id: args.call_id,
        caller,
        since: args
            .since
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .and_then(|age| Utc::now().checked_sub_signed(age)),
        limit: args.limit.clamp(1, MAX_LIMIT),
        all_events: args.all,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitStatus::Failure;
        }
    };
    let entries = runtime.block_on(async {
        let store = Store::open_existing(&location).await?;
        let entries = store.decisions(&query).await;
        store.close().await;
        entries
    });
    let entries = match entries {
        Ok(entries) => entries,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &entries)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        Format::Human => out.write_all(render(&entries).as_bytes()),
    };
    match written {
        Ok(()) => ExitStatus::Success,
        // A closed pipe (`| head`) is not a failure.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(error) => {
            eprintln!("error: {error}");
            ExitStatus::Failure
        }
    }
}

/// The store to read: `--state`, else the config's `state:`, else the default.
fn resolve_state(args: &DecisionsArgs) -> Result<StateLocation, String> {
    if let Some(state) = &args.state {
        return StateLocation::parse(state).map_err(|problem| format!("--state: {problem}"));
    }
    match &args.config {
        Some(path) => crate::config::Config::from_file(path)
            .map(|config| config.state)
            .map_err(|error| error.to_string()),
        None => Ok(StateLocation::default()),
    }
}

/// The human form: one block per record, newest first.
pub fn render(entries: &[DecisionEntry]) -> String {
    if entries.is_empty() {
        return "no decisions recorded that match\n".to_owned();
    }
    let mut out = String::new();
    for entry in entries {
        render_entry(&mut out, entry);
        out.push('\n');
    }
    out
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn render_entry(out: &mut String, entry: &DecisionEntry) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}  {}", time(entry.received_at), entry.event);
    if let Some(call_id) = entry.call_id {
        let _ = write!(out, "  call {call_id}");
    }
    if let Some(caller) = &entry.caller {
        let _ = write!(out, "  from {caller}");
    }
    if let Some(number) = &entry.number {
        let _ = write!(out, "  to {number}");
    }
    out.push('\n');
    let rule = entry.rule.as_ref().map(|rule| {
        let at = match &rule.file {
            Some(file) => format!("{file}:{}", rule.line),
            None => format!("line {}", rule.line),
        };
        match &rule.name {
            Some(name) => format!("rule {name:?} ({at})"),
            None => format!("the rule at {at}"),
        }
    });
    let revision = entry
        .revision
        .as_deref()
        .map(|r| format!(", rules revision {r}"))
        .unwrap_or_default();
    let verdict = match (entry.disposition, rule) {
        (Disposition::Decided, Some(rule)) => format!("decided by {rule}{revision}"),
        (Disposition::Decided, None) => format!("no rule matched{revision}"),
        (Disposition::Duplicate, _) => {
            "duplicate delivery: the call was already claimed; nothing done".to_owned()
        }
        (Disposition::Rejected, _) => {
            "decided, but the dispatch queue was full: answered 503 for Aircall to deliver again"
                .to_owned()
        }
        (Disposition::Skipped, _) => "not decided by rules (not an inbound call)".to_owned(),
        (Disposition::Applied, _) => "used for history, availability or the directory".to_owned(),
        (Disposition::Ignored, _) => "acknowledged; not used".to_owned(),
    };
    let _ = writeln!(out, "  {verdict}");
    if let Some(actions) = entry.actions.as_ref().and_then(actions_from_json) {
        if matches!(
            entry.disposition,
            Disposition::Decided | Disposition::Rejected
        ) {
            let _ = writeln!(
                out,
                "  actions: {}",
                crate::server::webhook::describe_actions(&actions)
            );
        }
    }
    let mut facts = Vec::new();
    if let Some(contact) = &entry.contact {
        match &contact.detail {
            Some(detail) => facts.push(format!("contact: {} ({detail})", contact.status)),
            None => facts.push(format!("contact: {}", contact.status)),
        }
    }
    if let Some(ms) = entry.decide_ms {
        facts.push(format!("decided in {ms:.2} ms"));
    }
    facts.push(format!("replica {}", entry.replica));
    let _ = writeln!(out, "  {}", facts.join("; "));
    for outcome in &entry.outcomes {
        let target = outcome
            .target
            .as_deref()
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        let reason = outcome
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  -> {}{target}: {}{reason}; {} attempt{}, {:.1} ms",
            outcome.action,
            outcome.status,
            outcome.attempts,
            if outcome.attempts == 1 { "" } else { "s" },
            outcome.latency.as_secs_f64() * 1000.0
        );
    }
    if entry.disposition == Disposition::Decided && entry.outcomes.is_empty() {
        let keep_only = entry
            .actions
            .as_ref()
            .and_then(actions_from_json)
            .is_some_and(|actions| {
                actions
                    .iter()
                    .all(|action| matches!(action, crate::lang::Action::Keep { .. }))
            });
        if keep_only {
            let _ = writeln!(out, "  -> kept: left to Aircall's own distribution");
        } else {
            let _ = writeln!(out, "  -> no outcome recorded yet");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ContactLookupRecord, OutcomeRecord, RuleLabel};
    use chrono::TimeZone;

    #[test]
    fn a_decision_reads_as_why() {
        let entry = DecisionEntry {
            id: 1,
            received_at: Utc.timestamp_opt(1_646_389_739, 0).unwrap(),
            event: "call.created".into(),
            call_id: Some(780_836_754),
            caller: Some("+443308186690".into()),
            number: Some("+43720880079".into()),
            disposition: Disposition::Decided,
            revision: Some("abc123".into()),
            rule: Some(RuleLabel {
                name: Some("VIP".into()),
                file: Some("rules/main.rules".into()),
                line: 12,
            }),
            actions: Some(
                serde_json::json!([{"type":"transfer","to":{"user":"alice@example.com"},"fallbacks":[{"team":"Sales"}]}]),
            ),
            call_started_at: None,
            contact: Some(ContactLookupRecord {
                status: "found".into(),
                detail: Some("sql #1".into()),
            }),
            decide_ms: Some(0.42),
            replica: "a".into(),
            outcomes: vec![OutcomeRecord {
                call_id: 780_836_754,
                recorded_at: Utc::now(),
                action: "transfer".into(),
                target: Some("user 42 (alice@example.com)".into()),
                status: "sent".into(),
                reason: None,
                attempts: 1,
                latency: std::time::Duration::from_millis(120),
            }],
        };
        let text = render(&[entry]);
        assert_eq!(
            text,
            "2022-03-04 10:28:59 UTC  call.created  call 780836754  from +443308186690  to +43720880079\n  \
             decided by rule \"VIP\" (rules/main.rules:12), rules revision abc123\n  \
             actions: transfer to agent alice@example.com (then team \"Sales\")\n  \
             contact: found (sql #1); decided in 0.42 ms; replica a\n  \
             -> transfer user 42 (alice@example.com): sent; 1 attempt, 120.0 ms\n\n"
        );
        assert_eq!(render(&[]), "no decisions recorded that match\n");
    }
}
