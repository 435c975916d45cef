//! (in progress)
use std::sync::Arc;
use super::{ast, diagnostic::Diagnostic, rule_set::RuleSet, source::Sources, CheckOptions};

pub fn check(_files: &[ast::File], _sources: &Arc<Sources>, _options: &CheckOptions) -> (Option<RuleSet>, Vec<Diagnostic>) {
    (None, Vec::new())
}
