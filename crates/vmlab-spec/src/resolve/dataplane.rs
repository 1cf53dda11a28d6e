//! A platform's dataplane and what its boot patches read: `dataplane`, `vm_image_release`,
//! `hwsku`, `default_speed`, the `ports[]` inventory and (the design's layout) `vm_patches`.
//! The dataplane and release name folders of a patch set and the SKU a folder in the guest, so
//! all three must be safe names.

use std::path::Path;

use serde_json::{Map, Value};

use super::fields::expand_path;
use super::platforms::PlatformDef;
use crate::error::{SpecError, SpecErrors};
use crate::model::{Dataplane, PlatformPort};
use crate::name::is_safe_name;

/// newtlab's port speed when a platform names none (Mb/s).
pub const DEFAULT_PORT_SPEED: u64 = 25_000;

/// The dataplane of platform `def`, or `None` when it names none (or names it wrongly: then
/// `errs` says why).
pub(super) fn resolve(
    def: &PlatformDef<'_>,
    spec_dir: &Path,
    home: Option<&Path>,
    errs: &mut SpecErrors,
) -> Option<Dataplane> {
    let doc = def.doc;
    if doc.get("dataplane").is_none_or(|v| v.is_null() || v == "") {
        return None;
    }
    // Every field is checked (each problem reported), then a broken one means no dataplane.
    let name = safe_word(doc, def, "dataplane", "\"sonic-vs\" or \"vpp\"", errs);
    let release = safe_word(doc, def, "vm_image_release", "\"202405\"", errs);
    let hwsku = match doc.get("hwsku") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.is_empty() || is_safe_name(s) => s.clone(),
        Some(v) => {
            errs.push(SpecError::new(
                def.file,
                def.field("hwsku"),
                format!("{v} cannot name the SKU's folder in the guest"),
                "use letters, digits, '.', '_' and '-' only, for example \"Force10-S6000\"",
            ));
            String::new()
        }
    };
    let speed_mbps = match doc.get("default_speed") {
        None | Some(Value::Null) => DEFAULT_PORT_SPEED,
        Some(v) => match speed(v) {
            Some(s) => s,
            None => {
                errs.push(SpecError::new(
                    def.file,
                    def.field("default_speed"),
                    format!("{v} is not a port speed"),
                    "write Mb/s (25000) or with a unit (\"100G\", \"400G\", \"1000M\")",
                ));
                DEFAULT_PORT_SPEED
            }
        },
    };
    let patches = match doc.get("vm_patches") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if !p.is_empty() && crate::values::path(p).is_ok() => {
            Some(expand_path(p, spec_dir, home))
        }
        Some(v) => {
            errs.push(SpecError::new(
                def.file,
                def.field("vm_patches"),
                format!("must be a folder's path, not {v}"),
                "name the folder that holds <dataplane>/always/*.json, for example \"patches\"",
            ));
            None
        }
    };
    Some(Dataplane {
        name: name?,
        release,
        hwsku,
        speed_mbps,
        ports: ports(doc),
        patches,
        from: (def.file.to_path_buf(), def.field("dataplane")),
    })
}

/// A string field that names a folder: a safe name, or `None` (absent, or wrong: reported).
fn safe_word(
    doc: &Map<String, Value>,
    def: &PlatformDef<'_>,
    field: &str,
    example: &str,
    errs: &mut SpecErrors,
) -> Option<String> {
    match doc.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if is_safe_name(s) => Some(s.clone()),
        Some(v) => {
            errs.push(SpecError::new(
                def.file,
                def.field(field),
                format!("{v} cannot name a folder of boot patches"),
                format!(
                    "use letters, digits, '.', '_' and '-' only, starting with a letter or \
                     digit, for example {example}"
                ),
            ));
            None
        }
    }
}

/// A speed in Mb/s: a number, or a string of digits with an optional `M` or `G`.
pub fn speed(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return (n > 0).then_some(n);
    }
    let s = v.as_str()?.trim();
    let (digits, mult) = match s.strip_suffix(['G', 'g']) {
        Some(d) => (d, 1000),
        None => (s.strip_suffix(['M', 'm']).unwrap_or(s), 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
}

/// The platform's `ports[]` with every field templates may read (entries that are not
/// objects with a name and a NIC index were reported with the interface map).
fn ports(doc: &Map<String, Value>) -> Vec<PlatformPort> {
    let Some(list) = doc.get("ports").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|p| {
            let p = p.as_object()?;
            Some(PlatformPort {
                name: p.get("name")?.as_str()?.to_string(),
                nic_index: u32::try_from(p.get("nic_index")?.as_u64()?).ok()?,
                speed: p
                    .get("speed")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                lanes: p
                    .get("lanes")
                    .and_then(Value::as_array)
                    .map(|l| l.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn speeds_read_as_a_network_engineer_writes_them() {
        assert_eq!(speed(&json!(25000)), Some(25_000));
        assert_eq!(speed(&json!("25000")), Some(25_000));
        assert_eq!(speed(&json!("100G")), Some(100_000));
        assert_eq!(speed(&json!("1000M")), Some(1_000));
        for bad in [json!("fast"), json!("G"), json!(0), json!("-1"), json!(1.5)] {
            assert_eq!(speed(&bad), None, "{bad}");
        }
    }
}
