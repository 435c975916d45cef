//! `${ENV_VAR}` interpolation in the config's string values.
//!
//! Interpolating after parsing, not in the raw text, means a secret
//! containing `:` or `#` cannot change the YAML's structure. A leaf like
//! `values`: it imports nothing from the rest of the crate.

/// Why a string value could not be interpolated.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Interpolation {
    /// `${NAME}` where the variable NAME is not set.
    Missing(String),
    /// `${` without a closing `}`.
    Unclosed,
}

/// Replaces `${VAR}` in every string value (not in keys); `$${` is a
/// literal `${`. `env` looks variables up. On failure, returns the dotted
/// key of the value (`aircall.api_token`, `webhook_tokens[0]`) and why.
pub(super) fn interpolate(
    value: &mut serde_yaml::Value,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), (String, Interpolation)> {
    interpolate_at(value, &mut Vec::new(), env)
}

fn interpolate_at(
    value: &mut serde_yaml::Value,
    path: &mut Vec<String>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), (String, Interpolation)> {
    match value {
        serde_yaml::Value::String(text) => {
            if text.contains('$') {
                *text = substitute(text, env).map_err(|problem| (path.join("."), problem))?;
            }
        }
        serde_yaml::Value::Sequence(items) => {
            // Name items `webhook_tokens[0]`, not `webhook_tokens.[0]`.
            let base = path.pop();
            for (index, item) in items.iter_mut().enumerate() {
                path.push(format!("{}[{index}]", base.as_deref().unwrap_or("")));
                interpolate_at(item, path, env)?;
                path.pop();
            }
            path.extend(base);
        }
        serde_yaml::Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let name = match key {
                    serde_yaml::Value::String(name) => name.clone(),
                    other => format!("{other:?}"),
                };
                path.push(name);
                interpolate_at(item, path, env)?;
                path.pop();
            }
        }
        serde_yaml::Value::Tagged(tagged) => interpolate_at(&mut tagged.value, path, env)?,
        serde_yaml::Value::Null | serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_) => {}
    }
    Ok(())
}

fn substitute(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, Interpolation> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(reference) = after.strip_prefix("${") {
            let end = reference.find('}').ok_or(Interpolation::Unclosed)?;
            let name = &reference[..end];
            let value = env(name).ok_or_else(|| Interpolation::Missing(name.to_owned()))?;
            out.push_str(&value);
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr3t: #x".to_owned())
    }

    #[test]
    fn values_not_keys_are_replaced() {
        let mut value: serde_yaml::Value =
            serde_yaml::from_str("a:\n  ${TOKEN}: ${TOKEN}\nlist: [x, 'a$${b}$c']\n").unwrap();
        interpolate(&mut value, &env).unwrap();
        assert_eq!(value["a"]["${TOKEN}"].as_str(), Some("s3cr3t: #x"));
        assert_eq!(value["list"][1].as_str(), Some("a${b}$c"));
    }

    #[test]
    fn problems_name_the_key() {
        let mut value: serde_yaml::Value =
            serde_yaml::from_str("a:\n  list: [ok, '${NOPE}']\n").unwrap();
        assert_eq!(
            interpolate(&mut value, &env).unwrap_err(),
            (
                "a.list[1]".to_owned(),
                Interpolation::Missing("NOPE".to_owned())
            )
        );
        let mut value: serde_yaml::Value = serde_yaml::from_str("b: ${OPEN\n").unwrap();
        assert_eq!(
            interpolate(&mut value, &env).unwrap_err(),
            ("b".to_owned(), Interpolation::Unclosed)
        );
    }
}
