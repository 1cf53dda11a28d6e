//! The checks every spec field shares: where a value came from ([`Found`]: file and field, for
//! the error), whole numbers in a range, one of a few words, the wording of type errors, the
//! built-in defaults (HLD §4) and paths as the spec writes them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::SpecError;
use crate::error::SpecErrors;

/// Where a resolved value came from, so errors name the right file and field.
pub(super) struct Found<'a> {
    pub(super) value: &'a Value,
    pub(super) file: &'a Path,
    pub(super) field: String,
}

pub(super) fn uint_field(
    found: Option<Found<'_>>,
    default: u64,
    min: u64,
    max: u64,
    errs: &mut SpecErrors,
) -> u64 {
    match found {
        None => default,
        Some(f) => match f.value.as_u64() {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                errs.push(SpecError::new(
                    f.file,
                    &f.field,
                    format!(
                        "must be a whole number from {min} to {max}, not {}",
                        f.value
                    ),
                    "write a plain number without quotes",
                ));
                default
            }
        },
    }
}

pub(super) fn type_error(f: &Found<'_>, want: &str, example: &str) -> SpecError {
    SpecError::new(
        f.file,
        &f.field,
        format!("must be {want}, not {}", f.value),
        format!("write for example {example}"),
    )
}

/// Empty values do not count in "first non-empty wins".
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_u64() == Some(0),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(_) => false,
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn value_error(f: &Found<'_>, why: &str, example: &str) -> SpecError {
    SpecError::new(
        f.file,
        &f.field,
        format!("{} {why}", f.value),
        format!("write for example {example}"),
    )
}

/// `section[field]` as a [`Found`], unless it is absent or null.
pub(super) fn field<'a>(
    section: &'a serde_json::Map<String, Value>,
    file: &'a Path,
    prefix: &str,
    field: &str,
) -> Option<Found<'a>> {
    match section.get(field) {
        None | Some(Value::Null) => None,
        Some(value) => Some(Found {
            value,
            file,
            field: format!("{prefix}.{field}"),
        }),
    }
}

/// A whole number in `range`, named `what` in the error (`a port number`, `a whole number`);
/// `None` when absent or wrong (the error is pushed, with `fix`).
pub(super) fn bounded(
    found: Option<Found<'_>>,
    range: std::ops::RangeInclusive<u64>,
    what: &str,
    fix: &str,
    errs: &mut SpecErrors,
) -> Option<u64> {
    let f = found?;
    match f.value.as_u64() {
        Some(n) if range.contains(&n) => Some(n),
        _ => {
            errs.push(SpecError::new(
                f.file,
                &f.field,
                format!(
                    "must be {what} from {} to {}, not {}",
                    range.start(),
                    range.end(),
                    f.value
                ),
                fix,
            ));
            None
        }
    }
}

/// One of a few words, each with its value; `None` when absent or wrong (the error lists the
/// words and gives `fix`).
pub(super) fn choice<T: Copy>(
    found: Option<Found<'_>>,
    words: &[(&str, T)],
    fix: &str,
    errs: &mut SpecErrors,
) -> Option<T> {
    let f = found?;
    if let Some(w) = f.value.as_str()
        && let Some((_, v)) = words.iter().find(|(word, _)| *word == w)
    {
        return Some(*v);
    }
    let listed: Vec<String> = words.iter().map(|(w, _)| format!("\"{w}\"")).collect();
    let listed = match listed.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    errs.push(SpecError::new(
        f.file,
        &f.field,
        format!("must be {listed}, not {}", f.value),
        fix,
    ));
    None
}

/// Built-in defaults (HLD §4).
pub const DEFAULT_MEMORY_MB: u64 = 4096;
pub const DEFAULT_CPUS: u32 = 2;
pub const DEFAULT_NIC_DRIVER: &str = "e1000";
pub const DEFAULT_BOOT_TIMEOUT_SECS: u64 = 180;
/// The highest data NIC index a VM can have: NICs sit one per PCI slot, 0x08..=0x1f.
pub const MAX_NIC_INDEX: u32 = 23;

/// `~/x` → `$HOME/x`; relative paths resolve against the spec directory.
pub fn expand_path(s: &str, spec_dir: &Path, home: Option<&Path>) -> PathBuf {
    let p = match (s.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ if s == "~" => home
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(s)),
        _ => PathBuf::from(s),
    };
    if p.is_absolute() { p } else { spec_dir.join(p) }
}

/// Is `typed` a likely typo of `known` (a few edits apart, for "did you mean")?
pub(super) fn close(typed: &str, known: &str) -> bool {
    strsim::damerau_levenshtein(typed, known) <= (known.len() / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found<'a>(v: &'a Value, file: &'a Path) -> Option<Found<'a>> {
        Some(Found {
            value: v,
            file,
            field: "vmlab.x".into(),
        })
    }

    #[test]
    fn ranges_and_choices_say_what_fits() {
        let file = Path::new("topology.json");
        let mut errs = SpecErrors::default();
        let v = serde_json::json!(70000);
        assert_eq!(
            bounded(
                found(&v, file),
                1..=65535,
                "a port number",
                "fix",
                &mut errs
            ),
            None
        );
        let v = serde_json::json!(20000);
        assert_eq!(
            bounded(
                found(&v, file),
                1..=65535,
                "a port number",
                "fix",
                &mut errs
            ),
            Some(20000)
        );
        let v = serde_json::json!("serial");
        let words = [("unix", false), ("tcp", true)];
        assert_eq!(choice(found(&v, file), &words, "fix", &mut errs), None);
        let v = serde_json::json!("tcp");
        assert_eq!(
            choice(found(&v, file), &words, "fix", &mut errs),
            Some(true)
        );
        let text = errs.to_string();
        assert!(
            text.contains("must be a port number from 1 to 65535, not 70000"),
            "{text}"
        );
        assert!(
            text.contains("must be \"unix\" or \"tcp\", not \"serial\""),
            "{text}"
        );
        assert_eq!(errs.0.len(), 2, "{text}");
    }
}
