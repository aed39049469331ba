//! `--output-format yaml`: a JSON value written as pveum writes it with `YAML::XS::Dump` —
//! a `---` document marker, keys sorted, two-space indent, sequences inside mappings not
//! indented, `~` for null, `true`/`false`, strings that would read back as something else
//! (numbers, booleans, null, indicators) single-quoted, multi-line strings as `|-` blocks.

use serde_json::Value;

/// The YAML document for `value` (ends with a newline).
pub fn dump(value: &Value) -> String {
    let mut out = String::from("---");
    match value {
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(a, 0, &mut out);
        }
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            mapping(m, 0, &mut out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn mapping(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for (i, key) in keys.into_iter().enumerate() {
        // The first key of a mapping in a sequence item follows the `- ` already written.
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&string(key, indent));
        out.push(':');
        value_after_key(&map[key], indent, out);
    }
}

fn value_after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            mapping(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn sequence(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        if !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => mapping(m, indent + 2, out),
            Value::Array(a) if !a.is_empty() => sequence(a, indent + 2, out),
            other => {
                out.push_str(&scalar(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "~".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string scalar: plain when it reads back as the same string, else quoted.
fn string(s: &str, indent: usize) -> String {
    if s.contains('\n') && !s.contains(|c: char| c.is_control() && c != '\n') {
        let pad = " ".repeat(indent.max(2));
        let body: Vec<String> = s.lines().map(|l| format!("{pad}{l}")).collect();
        let chomp = if s.ends_with('\n') { "" } else { "-" };
        return format!("|{chomp}\n{}", body.join("\n"));
    }
    if s.contains(|c: char| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if plain_ok(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn plain_ok(s: &str) -> bool {
    const SPECIAL: [&str; 14] = [
        "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "n",
        "yes", "no",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    !SPECIAL.contains(&s)
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !first.is_whitespace()
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !looks_like_number(s)
}

fn looks_like_number(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    t.parse::<f64>().is_ok() || t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("nan")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents() {
        for (value, want) in [
            (json!([]), "--- []\n"),
            (json!("x"), "--- x\n"),
            (
                json!([{"userid": "joe@pve", "enable": 1, "groups": ["a", "b"], "x": null}]),
                "---\n- enable: 1\n  groups:\n  - a\n  - b\n  userid: joe@pve\n  x: ~\n",
            ),
            (
                json!({"b": {"c": "1", "d": true}, "a": "it's: here", "e": ""}),
                "---\na: 'it''s: here'\nb:\n  c: '1'\n  d: true\ne: ''\n",
            ),
            (json!({"k": "two\nlines"}), "---\nk: |-\n  two\n  lines\n"),
        ] {
            assert_eq!(dump(&value), want, "{value}");
        }
    }
}
