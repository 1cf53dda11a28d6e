//! Names that become paths. A lab's name is checked once, at the edge where it enters (`--lab`,
//! a spec directory, a topology `name`, a state file), and only a [`LabName`] can name a lab
//! directory: a name can never climb out of `$VMLAB_HOME/labs/` or pass for a command-line
//! option.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::error::SpecError;

/// The longest name vmlab accepts (names end up in socket paths, which are short).
pub const MAX_NAME_LEN: usize = 64;

/// Why a name was refused: a sentence to put after "the name ... ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName(pub String);

impl fmt::Display for BadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a name used as one path component: 1 to 64 of letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit (so never empty, `.`, `..`, a path, or an option).
pub fn check_name(s: &str) -> Result<(), BadName> {
    if s.is_empty() {
        return Err(BadName("is empty".into()));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(BadName(format!(
            "is {} characters long, more than {MAX_NAME_LEN}",
            s.len()
        )));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(BadName(format!(
            "holds {c:?}; only letters, digits, '.', '_' and '-' are allowed"
        )));
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(BadName(format!(
            "starts with {:?}; it must start with a letter or digit",
            &s[..1]
        )));
    }
    Ok(())
}

/// The error for a refused name given on the command line (`kind`: "image name",
/// "snapshot name"): what is wrong with it and the rule to follow.
pub fn refused(kind: &str, name: &str, why: BadName) -> SpecError {
    SpecError::new(
        kind,
        "",
        format!("the {kind} {name:?} {why}"),
        "use letters, digits, '.', '_' and '-', starting with a letter or digit",
    )
}

/// Is `s` safe as one path component, a QEMU `-name` value and a state key?
pub fn is_safe_name(s: &str) -> bool {
    check_name(s).is_ok()
}

/// A checked lab name: the only way to a lab directory.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct LabName(String);

impl LabName {
    /// Checks `s` as a lab name.
    pub fn parse(s: &str) -> Result<Self, BadName> {
        check_name(s).map(|()| LabName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for LabName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for LabName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LabName::parse(&s).map_err(|why| serde::de::Error::custom(format!("lab name {s:?} {why}")))
    }
}

/// The lab name a spec directory deploys as: the topology's `name`, else the name of the
/// directory itself (`dir_name`, taken from its canonical path so `-S ..` or `-S .` name the
/// real directory). Deploy, `-S` and every other edge call this one function.
pub fn derive_lab_name(
    topology_name: Option<&Value>,
    dir_name: Option<&str>,
    topology_path: &Path,
) -> Result<LabName, SpecError> {
    match topology_name {
        None | Some(Value::Null) => {
            let Some(dir) = dir_name else {
                return Err(SpecError::new(
                    topology_path,
                    "name",
                    "the topology has no name and its directory has none to lend",
                    "set \"name\" in topology.json, for example \"name\": \"spine-leaf\"",
                ));
            };
            LabName::parse(dir).map_err(|why| {
                SpecError::new(
                    topology_path,
                    "name",
                    format!(
                        "the topology has no name, and its directory's name {dir:?} {why}, so it \
                         cannot name the lab"
                    ),
                    "set \"name\" in topology.json, for example \"name\": \"spine-leaf\"",
                )
            })
        }
        Some(Value::String(s)) => LabName::parse(s).map_err(|why| {
            SpecError::new(
                topology_path,
                "name",
                format!("lab name {s:?} {why}"),
                "use letters, digits, '.', '_' and '-' only, starting with a letter or digit",
            )
        }),
        Some(other) => Err(SpecError::new(
            topology_path,
            "name",
            format!("must be a string, not {other}"),
            "write the lab name as a string",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_names_only() {
        for good in ["demo", "spine-leaf", "lab_2", "a.b", "0x"] {
            assert!(LabName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "-rf",
            "--lab",
            ".hidden",
            "a b",
            "a\nb",
            "é",
            &"x".repeat(65),
        ] {
            assert!(LabName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn state_files_cannot_smuggle_a_name() {
        let bad: Result<LabName, _> = serde_json::from_str("\"..\"");
        assert!(bad.is_err());
        let good: LabName = serde_json::from_str("\"duo\"").unwrap();
        assert_eq!(good.as_str(), "duo");
    }

    #[test]
    fn derivation_prefers_the_topology_name_and_checks_both() {
        let topo = Path::new("/s/topology.json");
        let n = derive_lab_name(Some(&Value::from("fab")), Some("dir"), topo).unwrap();
        assert_eq!(n.as_str(), "fab");
        let n = derive_lab_name(None, Some("specs"), topo).unwrap();
        assert_eq!(n.as_str(), "specs");
        let e = derive_lab_name(Some(&Value::from("")), Some("specs"), topo).unwrap_err();
        assert!(e.problem.contains("is empty"), "{e}");
        let e = derive_lab_name(None, Some("my specs"), topo).unwrap_err();
        assert!(e.fix.contains("set \"name\""), "{e}");
        assert!(derive_lab_name(None, None, topo).is_err());
        assert!(derive_lab_name(Some(&Value::from(3)), Some("x"), topo).is_err());
    }
}
