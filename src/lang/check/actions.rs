//! Actions: `transfer to` targets (and their `ringing`) and `keep`.
//!
//! A transfer ends as one Aircall API request, so every target must be
//! something that request can carry: an E.164 number, a user (by id or
//! e-mail, fixed or taken from the contact or the call history) or a team.
//! A `number` definition given by its Aircall id has no digits to dial,
//! and hours or holidays are not destinations at all.

use super::names::Kind;
use super::{Checker, NumberAlias};
use crate::lang::ast::{self, RoutingAction, TargetRef};
use crate::lang::call::{TeamRef, UserRef};
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;
use crate::lang::phone;
use crate::lang::rule_set::{DecisionTemplate, TargetTemplate, UserSource};
use crate::lang::span::{Span, Spanned};

impl Checker<'_> {
    pub(super) fn lower_decision(&mut self, action: &RoutingAction) -> DecisionTemplate {
        match action {
            RoutingAction::Keep(_) => DecisionTemplate::Keep,
            RoutingAction::Transfer { targets, .. } => DecisionTemplate::Transfer(
                targets
                    .iter()
                    .filter_map(|target| self.lower_target(target))
                    .collect(),
            ),
        }
    }

    fn lower_target(&mut self, target: &ast::Target) -> Option<TargetTemplate> {
        let lowered = match &target.kind {
            TargetRef::Phone(text) => self.transfer_number(text),
            TargetRef::Name(ident) => self.named_target(ident),
            TargetRef::TeamAlias(ident) => self.named_team(ident),
            TargetRef::ContactAgent(_) => {
                self.reads_contact_field("agent");
                Some(TargetTemplate::User(UserSource::ContactAgent))
            }
            TargetRef::LastAgent(_) => {
                self.uses_last_agent = true;
                Some(TargetTemplate::User(UserSource::LastAgent))
            }
            TargetRef::UserId(id) => Some(TargetTemplate::User(UserSource::Fixed(UserRef::Id(
                id.node,
            )))),
            TargetRef::UserEmail(email) => {
                self.check_email(email.span, &email.node);
                Some(TargetTemplate::User(UserSource::Fixed(UserRef::Email(
                    email.node.clone(),
                ))))
            }
            TargetRef::TeamName(name) => Some(TargetTemplate::Team {
                team: TeamRef::Name(name.node.clone()),
                ringing: None,
            }),
            TargetRef::TeamId(id) => Some(TargetTemplate::Team {
                team: TeamRef::Id(id.node),
                ringing: None,
            }),
        };
        match (lowered, &target.ringing) {
            (Some(TargetTemplate::Team { team, .. }), ringing) => Some(TargetTemplate::Team {
                team,
                ringing: ringing.as_ref().map(|ringing| ringing.node),
            }),
            (lowered, None) => lowered,
            (lowered, Some(ringing)) => {
                // Report only when the target itself was fine: an unknown
                // name already has its own error.
                if lowered.is_some() {
                    let target_span = target_span(&target.kind);
                    self.report(
                        Diagnostic::new(
                            Code::RingingNotTeam,
                            ringing.span,
                            format!(
                                "`ringing {}` applies only to teams, and `{}` is not one",
                                ringing.node.as_str(),
                                self.text(target_span)
                            ),
                        )
                        .with_help("remove `ringing ...`, or transfer to a team"),
                    );
                }
                None
            }
        }
    }

    /// A quoted transfer number must be written as E.164 already: it is
    /// sent to Aircall as written, and a rules file is the place to be exact.
    fn transfer_number(&mut self, text: &Spanned<String>) -> Option<TargetTemplate> {
        if phone::is_strict_e164(&text.node) {
            return Some(TargetTemplate::Number(text.node.clone()));
        }
        match self.normalize_phone(&text.node) {
            Some(e164) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidPhoneNumber,
                        text.span,
                        format!("{} is not written as E.164", self.text(text.span)),
                    )
                    .with_help(format!(
                        "write it as \"{}\" (+, the country code and the number, no spaces), \
                         or define it with `number NAME = {}` and transfer to NAME",
                        e164,
                        self.text(text.span)
                    )),
                );
            }
            None => self.not_a_phone_number(text.span, &text.node),
        }
        None
    }

    fn named_target(&mut self, ident: &ast::Ident) -> Option<TargetTemplate> {
        let Some(found) = self.names.lookup(&ident.node) else {
            self.unknown_name(
                ident,
                "agent, team or number",
                &[Kind::Agent, Kind::Team, Kind::Number],
            );
            return None;
        };
        match found.kind {
            Kind::Agent => self
                .agents
                .get(found.slot)
                .cloned()
                .map(|user| TargetTemplate::User(UserSource::Fixed(user))),
            Kind::Team => self.team_target(found.slot),
            Kind::Number => match self.numbers.get(found.slot)? {
                NumberAlias::E164(e164) => Some(TargetTemplate::Number(e164.clone())),
                NumberAlias::Invalid => None,
                NumberAlias::Id(_) => {
                    self.report(
                        Diagnostic::new(
                            Code::NumberIdTransfer,
                            ident.span,
                            format!(
                                "cannot transfer to `{}`: it is an Aircall number given by its id, \
                                 and a transfer needs digits",
                                ident.node
                            ),
                        )
                        .with_help(format!(
                            "define `{}` by its digits (`number {} = \"+33 1 76 36 06 95\"`), \
                             or transfer to a quoted E.164 number",
                            ident.node, ident.node
                        ))
                        .with_note(found.span, "defined by id here"),
                    );
                    None
                }
            },
            Kind::Hours | Kind::Holidays => {
                self.wrong_kind(
                    ident,
                    found,
                    "an agent, a team or a number",
                    Some("a call can be transferred to a number, an agent or a team".to_owned()),
                );
                None
            }
        }
    }

    /// The team defined at `slot`, as a transfer target (its `ringing` is
    /// added by `lower_target`).
    fn team_target(&self, slot: usize) -> Option<TargetTemplate> {
        self.teams
            .get(slot)
            .cloned()
            .map(|team| TargetTemplate::Team {
                team,
                ringing: None,
            })
    }

    /// `team sales`: the name must be a team's.
    fn named_team(&mut self, ident: &ast::Ident) -> Option<TargetTemplate> {
        match self.names.lookup(&ident.node) {
            Some(found) if found.kind == Kind::Team => self.team_target(found.slot),
            Some(found) => {
                let help = format!("remove `team` to transfer to `{}`", ident.node);
                let transferable = matches!(found.kind, Kind::Agent | Kind::Number);
                self.wrong_kind(ident, found, "a team", transferable.then_some(help));
                None
            }
            None => {
                self.unknown_name(ident, "team", &[Kind::Team]);
                None
            }
        }
    }

    /// A fix for text that is not a phone number, when one is obvious:
    /// digits that only lack their `+`.
    pub(super) fn phone_help(&mut self, text: &str) -> Option<String> {
        let trimmed = text.trim();
        if trimmed.starts_with('+') || !trimmed.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let with_plus = format!("+{trimmed}");
        self.normalize_phone(&with_plus).map(|e164| {
            format!("numbers are read with their country code: did you mean \"{e164}\"?")
        })
    }
}

/// The span of a target's own text, without `ringing ...`.
fn target_span(target: &TargetRef) -> Span {
    match target {
        TargetRef::Phone(text) | TargetRef::UserEmail(text) | TargetRef::TeamName(text) => {
            text.span
        }
        TargetRef::Name(ident) | TargetRef::TeamAlias(ident) => ident.span,
        TargetRef::ContactAgent(span) | TargetRef::LastAgent(span) => *span,
        TargetRef::UserId(id) | TargetRef::TeamId(id) => id.span,
    }
}
