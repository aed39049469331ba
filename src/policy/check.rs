//! The check language of Proxmox's API schema (spec §5.3) as a typed enum, and its compiler from
//! the JSON-array form (`["perm", "/vms/{vmid}", ["VM.Audit"], "any", 1]`).

use std::fmt;

use crate::access::{PrivSet, Privilege};

use super::template::Template;

/// A compiled permission check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `["perm", path, [privs], "any", 1, "require_param", name]`.
    Perm {
        /// ACL path template.
        path: Template,
        /// The privileges in schema order (failure messages name them in this order).
        privs: Box<[Privilege]>,
        /// The same privileges as a set.
        set: PrivSet,
        /// One privilege suffices (`"any", 1`); default: all are required.
        any: bool,
        /// Fail unless this request parameter is present (before substituting).
        require_param: Option<Box<str>>,
    },
    /// `["and", check...]`: all must pass.
    And(Box<[Check]>),
    /// `["or", check...]`: one must pass.
    Or(Box<[Check]>),
    /// `["userid-param", "self"]`: parameter `userid` names an existing user that is the caller.
    UseridParamSelf,
    /// `["userid-param", "Realm.AllocateUser"]`: Realm.AllocateUser on the userid's realm.
    UseridParamRealmAllocateUser,
    /// `["userid-group", [privs], "groups_param", "create"|"update"]`.
    UseridGroup {
        /// The privileges in schema order.
        privs: Box<[Privilege]>,
        /// The same privileges as a set (any one suffices).
        set: PrivSet,
        /// How the `groups` parameter takes part, if at all.
        groups_param: Option<GroupsParam>,
    },
    /// `["perm-modify", path]`: may modify the ACL at that path.
    PermModify {
        /// ACL path template (usually `{path}`).
        path: Template,
    },
}

/// The `groups_param` option of `userid-group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupsParam {
    /// Creating a user: it need not exist; every listed group must be delegated.
    Create,
    /// Updating a user: it must exist and be in a delegated group; every listed group too.
    Update,
}

/// A check that does not follow the schema grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError(pub String);

/// A JSON-like value: what a check is written in (TOML array or JSON array).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An array.
    List(Vec<Value<'a>>),
    /// Anything else (tables, floats, dates).
    Other,
}

// === impl Check ===

impl Check {
    /// Compile a check from its array form.
    pub fn parse(v: &Value<'_>) -> Result<Check, CheckError> {
        let Value::List(items) = v else {
            return Err(err(
                "a check must be an array like [\"perm\", \"/\", [\"Sys.Audit\"]]",
            ));
        };
        let Some(Value::Str(kind)) = items.first() else {
            return Err(err(
                "a check must start with its kind (perm, and, or, userid-param, userid-group, perm-modify)",
            ));
        };
        let args = &items[1..];
        match *kind {
            "perm" => parse_perm(args),
            "and" | "or" => {
                if args.is_empty() {
                    return Err(err(format!("`{kind}` needs at least one sub-check")));
                }
                let subs = args
                    .iter()
                    .map(Check::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if *kind == "and" {
                    Check::And(subs.into())
                } else {
                    Check::Or(subs.into())
                })
            }
            "userid-param" => match args {
                [Value::Str("self")] => Ok(Check::UseridParamSelf),
                [Value::Str("Realm.AllocateUser")] => Ok(Check::UseridParamRealmAllocateUser),
                _ => Err(err(
                    "`userid-param` takes exactly one of \"self\" or \"Realm.AllocateUser\"",
                )),
            },
            "userid-group" => {
                let (privs, set) = match args.first() {
                    Some(list) => parse_privs(list)?,
                    None => return Err(err("`userid-group` needs a privilege list")),
                };
                let groups_param = match &args[1..] {
                    [] => None,
                    [Value::Str("groups_param"), Value::Str("create")] => Some(GroupsParam::Create),
                    [Value::Str("groups_param"), Value::Str("update")] => Some(GroupsParam::Update),
                    _ => {
                        return Err(err(
                            "`userid-group` options: only \"groups_param\", \"create\"|\"update\"",
                        ));
                    }
                };
                Ok(Check::UseridGroup {
                    privs,
                    set,
                    groups_param,
                })
            }
            "perm-modify" => match args {
                [Value::Str(t)] => Ok(Check::PermModify {
                    path: Template::parse(t).map_err(|e| CheckError(e.0))?,
                }),
                _ => Err(err("`perm-modify` takes exactly one path template")),
            },
            other => Err(err(format!("unknown check kind `{other}`"))),
        }
    }

    /// Every request parameter this check reads (with repeats), in order.
    pub fn params(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_params(&mut out);
        out
    }

    fn collect_params<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Check::Perm {
                path,
                require_param,
                ..
            } => {
                out.extend(require_param.as_deref());
                out.extend(path.params());
            }
            Check::And(subs) | Check::Or(subs) => subs.iter().for_each(|c| c.collect_params(out)),
            Check::UseridParamSelf | Check::UseridParamRealmAllocateUser => out.push("userid"),
            Check::UseridGroup { groups_param, .. } => {
                if *groups_param != Some(GroupsParam::Create) {
                    out.push("userid");
                }
                if groups_param.is_some() {
                    out.push("groups");
                }
            }
            Check::PermModify { path } => out.extend(path.params()),
        }
    }
}

impl fmt::Display for Check {
    /// The schema's array form, as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |privs: &[Privilege]| {
            privs
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Check::Perm {
                path,
                privs,
                any,
                require_param,
                ..
            } => {
                write!(f, "[\"perm\", \"{path}\", [{}]", names(privs))?;
                if *any {
                    f.write_str(", \"any\", 1")?;
                }
                if let Some(p) = require_param {
                    write!(f, ", \"require_param\", \"{p}\"")?;
                }
                f.write_str("]")
            }
            Check::And(subs) | Check::Or(subs) => {
                let kind = if matches!(self, Check::And(_)) {
                    "and"
                } else {
                    "or"
                };
                write!(f, "[\"{kind}\"")?;
                for s in subs.iter() {
                    write!(f, ", {s}")?;
                }
                f.write_str("]")
            }
            Check::UseridParamSelf => f.write_str("[\"userid-param\", \"self\"]"),
            Check::UseridParamRealmAllocateUser => {
                f.write_str("[\"userid-param\", \"Realm.AllocateUser\"]")
            }
            Check::UseridGroup {
                privs,
                groups_param,
                ..
            } => {
                write!(f, "[\"userid-group\", [{}]", names(privs))?;
                match groups_param {
                    Some(GroupsParam::Create) => f.write_str(", \"groups_param\", \"create\"")?,
                    Some(GroupsParam::Update) => f.write_str(", \"groups_param\", \"update\"")?,
                    None => {}
                }
                f.write_str("]")
            }
            Check::PermModify { path } => write!(f, "[\"perm-modify\", \"{path}\"]"),
        }
    }
}

// === impl Value ===

impl<'a> Value<'a> {
    /// View a TOML value.
    pub fn from_toml(v: &'a toml::Value) -> Value<'a> {
        match v {
            toml::Value::String(s) => Value::Str(s),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Array(a) => Value::List(a.iter().map(Value::from_toml).collect()),
            _ => Value::Other,
        }
    }

    /// View a JSON value.
    pub fn from_json(v: &'a serde_json::Value) -> Value<'a> {
        match v {
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Number(n) => n.as_i64().map_or(Value::Other, Value::Int),
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            _ => Value::Other,
        }
    }
}

// === helpers ===

fn parse_perm(args: &[Value<'_>]) -> Result<Check, CheckError> {
    let (Some(Value::Str(t)), Some(list)) = (args.first(), args.get(1)) else {
        return Err(err(
            "`perm` needs a path template and a privilege list: [\"perm\", \"/vms/{vmid}\", [\"VM.Audit\"]]",
        ));
    };
    let path = Template::parse(t).map_err(|e| CheckError(e.0))?;
    let (privs, set) = parse_privs(list)?;
    let mut any = false;
    let mut require_param = None;
    let mut opts = args[2..].chunks(2);
    for opt in opts.by_ref() {
        match opt {
            [Value::Str("any"), v] => {
                any = match v {
                    Value::Int(0) | Value::Bool(false) => false,
                    Value::Int(1) | Value::Bool(true) => true,
                    _ => return Err(err("option \"any\" takes 0 or 1")),
                }
            }
            [Value::Str("require_param"), Value::Str(name)]
                if super::template::is_param_name(name) =>
            {
                require_param = Some((*name).into());
            }
            [Value::Str(k), _] => return Err(err(format!("unknown `perm` option `{k}`"))),
            _ => return Err(err("`perm` options are key/value pairs such as \"any\", 1")),
        }
    }
    Ok(Check::Perm {
        path,
        privs,
        set,
        any,
        require_param,
    })
}

fn parse_privs(v: &Value<'_>) -> Result<(Box<[Privilege]>, PrivSet), CheckError> {
    let Value::List(items) = v else {
        return Err(err(
            "privileges must be a list of names like [\"VM.Audit\"]",
        ));
    };
    if items.is_empty() {
        return Err(err("the privilege list is empty"));
    }
    let mut privs = Vec::with_capacity(items.len());
    for item in items {
        let Value::Str(name) = item else {
            return Err(err("privileges must be strings"));
        };
        let p: Privilege = name
            .parse()
            .map_err(|_| err(format!("unknown privilege `{name}`")))?;
        privs.push(p);
    }
    let set = privs.iter().copied().collect();
    Ok((privs.into(), set))
}

fn err(msg: impl Into<String>) -> CheckError {
    CheckError(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Check, CheckError> {
        let v: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        Check::parse(&Value::from_json(&v))
    }

    #[test]
    fn round_trips_through_display() {
        for json in [
            r#"["perm", "/vms/{vmid}", ["VM.Audit"]]"#,
            r#"["perm", "/", ["Sys.Audit", "Sys.Modify"], "any", 1]"#,
            r#"["perm", "/vms/{newid}", ["VM.Clone"], "require_param", "pool"]"#,
            r#"["or", ["userid-param", "self"], ["and", ["userid-param", "Realm.AllocateUser"], ["userid-group", ["User.Modify"]]]]"#,
            r#"["userid-group", ["User.Modify"], "groups_param", "create"]"#,
            r#"["perm-modify", "{path}"]"#,
        ] {
            let c = parse(json).unwrap_or_else(|e| panic!("{json}: {e:?}"));
            assert_eq!(c.to_string(), json, "display of {json}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for (json, want) in [
            (
                r#"["perm", "/", ["VM.Nope"]]"#,
                "unknown privilege `VM.Nope`",
            ),
            (r#"["perm", "/", []]"#, "the privilege list is empty"),
            (r#"["perm", "/"]"#, "`perm` needs"),
            (r#"["perm", "/", ["VM.Audit"], "any"]"#, "key/value"),
            (
                r#"["perm", "/", ["VM.Audit"], "all", 1]"#,
                "unknown `perm` option `all`",
            ),
            (r#"["and"]"#, "at least one"),
            (
                r#"["nand", ["perm", "/", ["VM.Audit"]]]"#,
                "unknown check kind `nand`",
            ),
            (r#"["userid-param", "other"]"#, "userid-param"),
            (
                r#"["userid-group", ["User.Modify"], "groups_param", "x"]"#,
                "groups_param",
            ),
            (r#"["perm-modify", "/a//b"]"#, "normalised"),
            (r#""perm""#, "must be an array"),
        ] {
            let e = parse(json).expect_err(json);
            assert!(e.0.contains(want), "{json}: got `{}`, want `{want}`", e.0);
        }
    }

    #[test]
    fn params_read() {
        let c = parse(r#"["and", ["perm", "/vms/{newid}", ["VM.Clone"], "require_param", "pool"], ["userid-group", ["User.Modify"], "groups_param", "update"]]"#)
            .expect("valid");
        assert_eq!(c.params(), ["pool", "newid", "userid", "groups"]);
    }
}
