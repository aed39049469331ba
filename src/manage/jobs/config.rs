//! `jobs.cfg` (Proxmox's `PVE::Job::Registry`, a section config at `/etc/pve/jobs.cfg`):
//!
//! ```text
//! realm-sync: nightly
//!     realm ldap1
//!     schedule daily
//!     scope both
//!     enable-new 1
//!
//! vzdump: backup-1
//!     ...
//! ```
//!
//! (each option line starts with one tab). Sections keep their order; sections of other types (`vzdump`, ...) are kept as read.
//! Written as SectionConfig writes: the required options first, then the others, each group
//! in key order.

/// One section: `type: id` and its `key value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section type (`realm-sync`).
    pub kind: String,
    /// The job id.
    pub id: String,
    /// Options in file order.
    pub options: Vec<(String, String)>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobsConfig {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

/// The options a realm-sync section must have (written first).
const REQUIRED: [&str; 3] = ["realm", "schedule", "scope"];

// === impl JobsConfig ===

impl JobsConfig {
    /// Parse `text`; a line that fits nowhere is an error naming its number.
    pub fn parse(text: &str) -> Result<JobsConfig, String> {
        let mut out = JobsConfig::default();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_end();
            if trimmed.trim().is_empty() || trimmed.trim_start().starts_with('#') {
                continue;
            }
            if line.starts_with(|c: char| c.is_whitespace()) {
                let Some(section) = out.sections.last_mut() else {
                    return Err(format!("jobs.cfg line {}: option outside a section", n + 1));
                };
                let item = trimmed.trim_start();
                let (key, value) = item.split_once(char::is_whitespace).unwrap_or((item, ""));
                section
                    .options
                    .push((key.to_owned(), value.trim_start().to_owned()));
            } else {
                let Some((kind, id)) = trimmed.split_once(':') else {
                    return Err(format!("jobs.cfg line {}: not `type: id`", n + 1));
                };
                out.sections.push(Section {
                    kind: kind.trim().to_owned(),
                    id: id.trim().to_owned(),
                    options: Vec::new(),
                });
            }
        }
        Ok(out)
    }

    /// The file text.
    pub fn write(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("{}: {}\n", s.kind, s.id));
            let mut opts: Vec<&(String, String)> = s.options.iter().collect();
            if s.kind == super::REALM_SYNC {
                opts.sort_by_key(|(k, _)| (!REQUIRED.contains(&k.as_str()), k.clone()));
            }
            for (k, v) in opts {
                out.push_str(&format!("\t{k} {v}\n"));
            }
        }
        out
    }

    /// The section `id` (of any type).
    pub fn find(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// The section `id`, to edit.
    pub fn find_mut(&mut self, id: &str) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.id == id)
    }
}

// === impl Section ===

impl Section {
    /// The value of `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Set `key` to `value` (replacing it in place).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.options.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.options.push((key.to_owned(), value.to_owned())),
        }
    }

    /// Remove `key`.
    pub fn unset(&mut self, key: &str) {
        self.options.retain(|(k, _)| k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_other_sections() {
        let text = "vzdump: backup-1\n\tschedule sun 01:00\n\tstorage local\n\n\
                    realm-sync: nightly\n\tenable-new 0\n\tscope both\n\trealm ldap1\n\tschedule daily\n";
        let cfg = JobsConfig::parse(text).expect("parses");
        assert_eq!(cfg.sections.len(), 2);
        let job = cfg.find("nightly").expect("job");
        assert_eq!(job.option("realm"), Some("ldap1"));
        assert_eq!(
            cfg.write(),
            "vzdump: backup-1\n\tschedule sun 01:00\n\tstorage local\n\n\
             realm-sync: nightly\n\trealm ldap1\n\tschedule daily\n\tscope both\n\tenable-new 0\n"
        );
        assert!(JobsConfig::parse("\trealm x\n").is_err());
        assert!(JobsConfig::parse("garbage\n").is_err());
    }
}
