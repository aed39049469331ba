//! Printing results as pveum does (pve-common `PVE/CLIFormatter.pm`): `--output-format json`
//! (compact, sorted keys), `json-pretty` (Perl JSON's pretty layout: 3-space indent, `" : "`),
//! `yaml` (YAML::XS's layout, [`super::yaml`]) and `text`: bordered tables, one row per item,
//! sorted by the first column; an object prints as a key/value table. `--human-readable` is
//! accepted (default 1): the columns aclgate prints have no renderer it would switch off.

use std::io::Write;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

use super::value::parse_bool;
use super::{table, yaml};

/// `--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    JsonPretty,
    Yaml,
}

/// The pveum output options, accepted anywhere on the command line.
#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output_format: OutputFormat,
    /// Do not print the table header (text format).
    #[arg(long, global = true, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub noheader: Option<bool>,
    /// Do not draw table borders (text format).
    #[arg(long, global = true, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub noborder: Option<bool>,
    /// Print nothing on success.
    #[arg(long, global = true, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub quiet: Option<bool>,
    /// Call renderers for human-readable values (text format; default 1).
    #[arg(long, global = true, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "1")]
    pub human_readable: Option<bool>,
}

/// One column of a list result: its key in the items, and whether it renders as a boolean or
/// is an integer (right-aligned).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub key: &'static str,
    pub title: &'static str,
    pub boolean: bool,
    pub integer: bool,
}

/// A column titled by its key.
pub const fn col(key: &'static str, boolean: bool) -> Column {
    Column {
        key,
        title: key,
        boolean,
        integer: false,
    }
}

/// An integer column titled by its key (right-aligned, as CLIFormatter aligns numbers).
pub const fn int(key: &'static str) -> Column {
    Column {
        key,
        title: key,
        boolean: false,
        integer: true,
    }
}

/// Prints results in the chosen format to stdout.
#[derive(Debug, Clone)]
pub struct Printer {
    args: FormatArgs,
    /// `Some`: output is kept until [`Printer::release`] (a change not committed yet).
    held: Option<Held>,
}

// === impl Printer ===

impl Printer {
    /// A printer for the given options.
    pub fn new(args: FormatArgs) -> Printer {
        Printer { args, held: None }
    }

    /// A printer that keeps its output until [`Printer::release`]: a command that runs on a
    /// copy of the state (the etcd backend) prints only once its change is committed, so a
    /// token secret is never shown for a token that was not made.
    pub fn held(args: FormatArgs) -> Printer {
        Printer {
            args,
            held: Some(Held::default()),
        }
    }

    /// Print what was kept (the change is committed); clones share one buffer.
    pub fn release(&self) {
        if let Some(held) = &self.held {
            let text = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));
            emit(&text);
        }
    }

    /// Print `text` as it is (commands with their own layout).
    pub fn raw(&self, text: &str) {
        self.emit(text);
    }

    fn emit(&self, text: &str) {
        match &self.held {
            Some(held) => held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(text),
            None => emit(text),
        }
    }

    /// Print a list of objects: JSON as is, text as a table with `columns` (in this order).
    pub fn list(&self, items: Vec<Value>, columns: &[Column]) {
        if let Some(text) = self.json(&Value::Array(items.clone())) {
            return self.emit(&text);
        }
        if self.quiet() || items.is_empty() {
            return;
        }
        let rows = items
            .iter()
            .map(|item| {
                columns
                    .iter()
                    .map(|c| cell(item.get(c.key), c.boolean))
                    .collect()
            })
            .collect();
        let titles: Vec<&str> = columns.iter().map(|c| c.title).collect();
        let right: Vec<bool> = columns.iter().map(|c| c.integer).collect();
        self.emit(&self.table(&titles, &right, rows));
    }

    /// Print an object: JSON as is, text as a key/value table of the keys that are set.
    pub fn object(&self, data: Value) {
        if let Some(text) = self.json(&data) {
            return self.emit(&text);
        }
        if self.quiet() {
            return;
        }
        let Value::Object(map) = data else {
            return self.emit(&format!("{}\n", cell(Some(&data), false)));
        };
        let rows = map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| vec![k.clone(), cell(Some(v), false)])
            .collect();
        self.emit(&self.table(&["key", "value"], &[], rows));
    }

    /// Print the result of a task (pveum prints a worker's log): JSON as is, text as `lines`.
    pub fn task(&self, data: Value, lines: &[String]) {
        if let Some(text) = self.json(&data) {
            return self.emit(&text);
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        self.emit(&text);
    }

    /// Print a `{path: {priv: 0|1}}` permission map; text mode as pveum's permissions printer.
    pub fn permissions(&self, data: Value) {
        if let Some(text) = self.json(&data) {
            return self.emit(&text);
        }
        if self.quiet() {
            return;
        }
        let mut out = String::new();
        if let Value::Object(paths) = &data {
            let rows: Vec<Vec<String>> = paths
                .iter()
                .map(|(path, privs)| {
                    let mut lines: Vec<String> = match privs {
                        Value::Object(m) => m
                            .iter()
                            .map(|(p, flag)| match flag.as_u64() {
                                Some(1) => format!("{p} (*)"),
                                _ => p.clone(),
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    lines.sort();
                    vec![path.clone(), lines.join("\n")]
                })
                .collect();
            if !rows.is_empty() {
                out = self.table(&["ACL path", "Permissions"], &[], rows);
            }
        }
        out.push_str("Permissions marked with '(*)' have the 'propagate' flag set.\n");
        self.emit(&out);
    }

    fn quiet(&self) -> bool {
        self.args.quiet == Some(true)
    }

    /// The JSON text for the JSON formats, `None` for text.
    fn json(&self, data: &Value) -> Option<String> {
        if self.quiet() {
            return Some(String::new());
        }
        let sorted = sort_keys(data);
        match self.args.output_format {
            OutputFormat::Text => None,
            OutputFormat::Json => Some(format!("{sorted}\n")),
            OutputFormat::JsonPretty => {
                let mut out = String::new();
                perl_pretty(&sorted, 0, &mut out);
                out.push('\n');
                Some(out)
            }
            OutputFormat::Yaml => Some(yaml::dump(data)),
        }
    }

    fn table(&self, titles: &[&str], right: &[bool], rows: Vec<Vec<String>>) -> String {
        table::render(
            titles,
            right,
            rows,
            table::Style {
                border: self.args.noborder != Some(true),
                header: self.args.noheader != Some(true),
                utf8: locale_is_utf8(),
            },
        )
    }
}

/// A cell's text as CLIFormatter's `data_to_text`: missing → empty, booleans → 1/0, objects
/// and arrays → canonical compact JSON.
fn cell(value: Option<&Value>, boolean: bool) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if !boolean => s.clone(),
        Some(v) if boolean => match v {
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::Number(n) => u8::from(n.as_f64() != Some(0.0)).to_string(),
            Value::String(s) => u8::from(!s.is_empty() && s != "0").to_string(),
            _ => "1".to_owned(),
        },
        Some(v) => sort_keys(v).to_string(),
    }
}

/// A copy of `value` with every object's keys sorted (Perl's `canonical`).
pub fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Perl JSON's `pretty` layout: 3-space indent, `"key" : value`, empty containers inline.
fn perl_pretty(value: &Value, depth: usize, out: &mut String) {
    let pad = |d: usize| "   ".repeat(d);
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (k, v)) in map.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(" : ");
                perl_pretty(v, depth + 1, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                perl_pretty(v, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether the locale's codeset is UTF-8 (CLIFormatter then draws box characters).
fn locale_is_utf8() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    locale.contains("utf-8") || locale.contains("utf8")
}

fn emit(text: &str) {
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Output kept back until the change it belongs to is committed (see [`Printer::held`]).
type Held = std::sync::Arc<std::sync::Mutex<String>>;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn perl_pretty_layout() {
        let mut out = String::new();
        perl_pretty(&json!({"a": {"x": 1}, "b": [], "c": {}}), 0, &mut out);
        assert_eq!(
            out,
            "{\n   \"a\" : {\n      \"x\" : 1\n   },\n   \"b\" : [],\n   \"c\" : {}\n}"
        );
    }

    #[test]
    fn keys_are_sorted_recursively() {
        let v = sort_keys(&json!({"b": 1, "a": {"d": 1, "c": [{"z": 1, "y": 2}]}}));
        assert_eq!(v.to_string(), r#"{"a":{"c":[{"y":2,"z":1}],"d":1},"b":1}"#);
    }

    #[test]
    fn cells() {
        for (value, boolean, want) in [
            (json!(null), false, ""),
            (json!("x"), false, "x"),
            (json!(1), true, "1"),
            (json!(0), true, "0"),
            (json!(7), false, "7"),
            (json!({"b": 1, "a": 2}), false, r#"{"a":2,"b":1}"#),
        ] {
            assert_eq!(
                cell(Some(&value), boolean),
                want,
                "cell({value}, {boolean})"
            );
        }
    }
}
