//! The canonical `domains.cfg` writer (`PVE::SectionConfig::write_config`).
//!
//! Sections in order, each `<type>: <realm>`, then `comment` (percent-encoded), then the
//! required options sorted by key, then the optional ones sorted by key, each as
//! `\t<key> <value>`, and a blank line after every section.

use super::{DomainsConfig, options};
use crate::config::text::encode_text;

pub(super) fn write(cfg: &DomainsConfig) -> String {
    let mut out = String::new();
    for r in &cfg.realms {
        out.push_str(r.kind.as_str());
        out.push_str(": ");
        out.push_str(r.realm.as_str());
        out.push('\n');
        if let Some(comment) = r.comment() {
            push_line(&mut out, "comment", &encode_text(comment));
        }
        let mut specs: Vec<_> = options::all(r.kind)
            .filter(|s| s.key != "comment")
            .collect();
        specs.sort_by_key(|s| (!s.required, s.key));
        for spec in specs {
            if let Some(v) = r.option(spec.key) {
                push_line(&mut out, spec.key, v);
            }
        }
        out.push('\n');
    }
    out
}

fn push_line(out: &mut String, key: &str, value: &str) {
    out.push('\t');
    out.push_str(key);
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}
