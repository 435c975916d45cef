//! The VS Code extension in `editors/vscode/` against the pest grammar: the
//! TextMate keyword patterns name exactly the grammar's `kw_*` keywords,
//! and its days, ringing strategies and booleans are the grammar's, so the
//! highlighting cannot drift from the language.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn pest() -> String {
    read("grammar/switchboard.pest")
}

/// The `kw_*` rules of `true` and `false`: highlighted as constants, not
/// keywords.
const BOOLEAN_RULES: [&str; 2] = ["kw_true", "kw_false"];

/// The word each `kw_NAME = @{ ^"word" ~ !ident_char }` rule matches, but
/// the booleans'.
fn pest_keywords() -> BTreeSet<String> {
    let rule = Regex::new(r#"(?m)^(kw_\w+)\s*=\s*@\{\s*\^"([^"]+)""#).unwrap();
    rule.captures_iter(&pest())
        .filter(|c| !BOOLEAN_RULES.contains(&&c[1]))
        .map(|c| c[2].to_ascii_lowercase())
        .collect()
}

/// The `^"word"` alternatives of one pest rule's body.
fn pest_words(rule_name: &str) -> BTreeSet<String> {
    let grammar = pest();
    let start = Regex::new(&format!(r"(?m)^{rule_name}\s*=\s*@?\{{"))
        .unwrap()
        .find(&grammar)
        .unwrap_or_else(|| panic!("no rule `{rule_name}` in the grammar"))
        .end();
    let body = &grammar[start..];
    let body = &body[..body.find('}').unwrap()];
    Regex::new(r#"\^"(\w+)""#)
        .unwrap()
        .captures_iter(body)
        .map(|c| c[1].to_ascii_lowercase())
        .collect()
}

/// The words of the `(?:a|b|c)` alternations in TextMate `match` regexes.
fn textmate_words(patterns: &[&Value]) -> BTreeSet<String> {
    let group = Regex::new(r"\(\?:([A-Za-z_|]+)\)").unwrap();
    let mut words = BTreeSet::new();
    for pattern in patterns {
        let text = pattern["match"].as_str().unwrap();
        assert!(
            text.starts_with("(?i)"),
            "keywords are case-insensitive in the grammar: {text}"
        );
        for capture in group.captures_iter(text) {
            words.extend(capture[1].split('|').map(str::to_owned));
        }
    }
    words
}

fn grammar_repository() -> Value {
    json("editors/vscode/syntaxes/switchboard.tmLanguage.json")["repository"].clone()
}

#[test]
fn the_keyword_patterns_are_exactly_the_grammar_keywords() {
    let expected = pest_keywords();
    assert!(expected.len() >= 30, "{expected:?}");
    assert!(expected.contains("last_agent") && expected.contains("transfer"));
    let repository = grammar_repository();
    let patterns: Vec<&Value> = repository["keywords"]["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let found = textmate_words(&patterns);
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "TextMate keywords differ from grammar/switchboard.pest: missing {missing:?}, not keywords {extra:?}"
    );
}

#[test]
fn days_strategies_and_booleans_are_the_grammars() {
    let repository = grammar_repository();
    assert_eq!(textmate_words(&[&repository["days"]]), pest_words("day"));
    let constants: Vec<&Value> = repository["constants"]["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let mut expected = pest_words("strategy");
    for rule in BOOLEAN_RULES {
        expected.extend(pest_words(rule));
    }
    assert!(expected.contains("true") && expected.contains("false"));
    assert_eq!(textmate_words(&constants), expected);
}

#[test]
fn every_pattern_is_a_valid_regex_and_every_include_exists() {
    let grammar = json("editors/vscode/syntaxes/switchboard.tmLanguage.json");
    let repository = grammar["repository"].as_object().unwrap();
    fn walk(value: &Value, repository: &serde_json::Map<String, Value>) {
        match value {
            Value::Object(map) => {
                for key in ["match", "begin", "end"] {
                    if let Some(pattern) = map.get(key).and_then(Value::as_str) {
                        // TextMate uses Oniguruma; these patterns stay within
                        // what the regex crate also reads.
                        Regex::new(pattern).unwrap_or_else(|error| panic!("{pattern}: {error}"));
                    }
                }
                if let Some(include) = map.get("include").and_then(Value::as_str) {
                    let name = include.trim_start_matches('#');
                    assert!(
                        repository.contains_key(name),
                        "no repository entry {include}"
                    );
                }
                for child in map.values() {
                    walk(child, repository);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, repository)),
            _ => {}
        }
    }
    walk(&grammar, repository);
    assert_eq!(grammar["scopeName"], "source.switchboard");
}

#[test]
fn the_extension_manifest_points_at_its_files() {
    let manifest = json("editors/vscode/package.json");
    let language = &manifest["contributes"]["languages"][0];
    assert_eq!(language["extensions"][0], ".rules");
    let configuration = language["configuration"].as_str().unwrap();
    let grammar = &manifest["contributes"]["grammars"][0];
    assert_eq!(grammar["language"], language["id"]);
    assert_eq!(grammar["scopeName"], "source.switchboard");
    let grammar_path = grammar["path"].as_str().unwrap();
    for path in [configuration, grammar_path] {
        assert!(
            root().join("editors/vscode").join(path).is_file(),
            "{path} is missing"
        );
    }
    let configuration = json(&format!("editors/vscode/{configuration}"));
    assert_eq!(configuration["comments"]["lineComment"], "#");
    assert_eq!(
        configuration["brackets"],
        serde_json::json!([["(", ")"], ["[", "]"]])
    );
    let closes_quotes = configuration["autoClosingPairs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|pair| pair["open"] == "\"");
    assert!(closes_quotes);
}
