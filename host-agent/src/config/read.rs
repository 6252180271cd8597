//! Step 1 of reading a config: TOML syntax, key spelling and value types,
//! with the one problem found named by its key path.

use super::{Problem, RawConfig};

/// Parses TOML text into the raw config; the one problem names the key path.
pub fn parse(text: &str) -> Result<RawConfig, Problem> {
    let deserializer = match toml::de::Deserializer::parse(text) {
        Ok(d) => d,
        Err(e) => return Err(syntax_problem(text, &e)),
    };
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        serde_problem(&path, &inner)
    })
}

/// A TOML syntax error: the key is the line and column.
fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let key = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        }
        None => "toml".to_owned(),
    };
    Problem::new(key, format!("invalid TOML: {}", e.message().trim()))
}

/// A serde error at `path`: unknown keys, missing keys, wrong types.
fn serde_problem(path: &str, e: &toml::de::Error) -> Problem {
    let message = e.message().trim();
    // serde_path_to_error writes "." for the root and counts array items
    // from 0; keys here count [[member]] tables from 1, as people do.
    let key = if path.is_empty() || path == "." {
        String::new()
    } else {
        one_based(path)
    };
    let join = |name: &str| {
        if key.is_empty() {
            name.to_owned()
        } else {
            format!("{key}.{name}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let full = if key.ends_with(name) && !key.is_empty() {
            key.clone()
        } else {
            join(name)
        };
        let expected = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        let rule = if expected.is_empty() || expected.starts_with("there are no fields") {
            "unknown key".to_owned()
        } else {
            format!("unknown key (known keys: {expected})")
        };
        return Problem::new(full, rule);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Problem::new(join(name), "is required");
    }
    let key = if key.is_empty() {
        "toml".to_owned()
    } else {
        key
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let want = match expected {
            "i64" => "an integer",
            "a boolean" => "true or false",
            "a string" => "a string",
            other if other.starts_with("struct") || other.contains("map") => "a table",
            other if other.contains("sequence") => "an array of tables ([[...]])",
            other => other,
        };
        return Problem::new(
            key,
            format!("must be {want}, not {}", found.replace('`', "")),
        );
    }
    Problem::new(key, message.replace('`', ""))
}

/// Rewrites every `[N]` in a serde path as `[N+1]`.
fn one_based(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(']').unwrap_or(rest.len());
        match rest[..close].parse::<usize>() {
            Ok(n) => out.push_str(&(n + 1).to_string()),
            Err(_) => out.push_str(&rest[..close]),
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}
