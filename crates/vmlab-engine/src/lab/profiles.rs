//! Profile patching (HLD §6): after deploy, each `profiles/<node>.json` gets `mgmt_ip`,
//! `ssh_port` and (with TCP consoles only) `console_port` so newtron and other tools can
//! connect.
//!
//! Only those keys change: every other field, the key order and the file's indentation stay as
//! they were, and the file is replaced atomically. A profile may be a symlink (it is read
//! through it); it is patched through it only when the file it leads to is inside the spec
//! directory: vmlab never writes outside the spec directory it was given.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::events::{Event, EventSink};
use crate::fsutil::atomic_write;
use crate::plan::NodePlan;

/// The values vmlab owns in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePatch {
    pub mgmt_ip: String,
    pub ssh_port: u16,
    /// `None` (a console on the lab's unix socket): a `console_port` from an earlier deploy
    /// is removed, so no tool connects to a port nothing serves.
    pub console_port: Option<u16>,
}

/// Applies `patch` to the profile text; `None` when nothing would change.
pub fn patched_text(text: &str, patch: &ProfilePatch) -> Result<Option<String>, String> {
    let mut doc: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let before = doc.clone();
    doc.insert("mgmt_ip".into(), Value::from(patch.mgmt_ip.clone()));
    doc.insert("ssh_port".into(), Value::from(patch.ssh_port));
    match patch.console_port {
        Some(p) => {
            doc.insert("console_port".into(), Value::from(p));
        }
        None => {
            doc.shift_remove("console_port");
        }
    }
    if doc == before {
        return Ok(None);
    }
    let indent = detect_indent(text);
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    doc.serialize(&mut ser).map_err(|e| e.to_string())?;
    let mut s = String::from_utf8(out).map_err(|e| e.to_string())?;
    if text.ends_with('\n') {
        s.push('\n');
    }
    Ok(Some(s))
}

/// Patches the profile file in place.
pub fn patch_file(path: &Path, patch: &ProfilePatch) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    match patched_text(&text, patch)? {
        None => Ok(false),
        Some(new) => atomic_write(path, new.as_bytes(), None)
            .map(|_| true)
            .map_err(|e| format!("cannot write: {e}")),
    }
}

/// Patches the profile at `path`, if the file it is (through any symlink) lies inside
/// `spec_dir`.
pub fn patch_in(spec_dir: &Path, path: &Path, patch: &ProfilePatch) -> Result<bool, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve: {e}"))?;
    let dir = std::fs::canonicalize(spec_dir).map_err(|e| format!("cannot resolve: {e}"))?;
    if !real.starts_with(&dir) {
        return Err(format!(
            "it leads to {}, outside the spec directory, which vmlab does not write to (`vmlab \
             status` shows the node's address and ports)",
            real.display()
        ));
    }
    patch_file(path, patch)
}

/// Patches `node`'s profile with where the plan put it; a failure is a warning (the lab runs).
pub fn patch_node(spec_dir: &Path, node: &NodePlan, events: &EventSink) {
    let patch = ProfilePatch {
        mgmt_ip: node.mgmt_addr.to_string(),
        ssh_port: node.ssh_port,
        console_port: node.console_port,
    };
    if let Err(e) = patch_in(spec_dir, &node.profile, &patch) {
        events.send(Event::Warning(format!(
            "could not patch {}: {e}",
            node.profile.display()
        )));
    }
}

/// The indentation of the first indented line (two spaces if none).
fn detect_indent(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!ws.is_empty() && ws.len() < l.len()).then_some(ws)
        })
        .unwrap_or_else(|| "  ".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch() -> ProfilePatch {
        ProfilePatch {
            mgmt_ip: "127.0.0.1".into(),
            ssh_port: 40000,
            console_port: Some(30000),
        }
    }

    #[test]
    fn keeps_order_fields_and_indent() {
        let text = "{\n    \"zeta\": 1,\n    \"mgmt_ip\": \"PLACEHOLDER\",\n    \"platform\": \"vs\",\n    \"nested\": {\"b\": 1, \"a\": 2}\n}\n";
        let out = patched_text(text, &patch()).unwrap().unwrap();
        insta::assert_snapshot!(out, @r#"
        {
            "zeta": 1,
            "mgmt_ip": "127.0.0.1",
            "platform": "vs",
            "nested": {
                "b": 1,
                "a": 2
            },
            "ssh_port": 40000,
            "console_port": 30000
        }
        "#);
    }

    #[test]
    fn a_profile_linked_outside_the_spec_dir_is_not_written() {
        let root = tempfile::tempdir().unwrap();
        let (spec, outside) = (root.path().join("spec"), root.path().join("elsewhere"));
        std::fs::create_dir_all(spec.join("profiles")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let text = "{\"platform\": \"vs\"}\n";
        std::fs::write(outside.join("r1.json"), text).unwrap();
        std::os::unix::fs::symlink(outside.join("r1.json"), spec.join("profiles/r1.json")).unwrap();
        let e = patch_in(&spec, &spec.join("profiles/r1.json"), &patch()).unwrap_err();
        assert!(e.contains("outside the spec directory"), "{e}");
        assert_eq!(
            std::fs::read_to_string(outside.join("r1.json")).unwrap(),
            text
        );
        // A link that stays inside is followed, and the link stays a link.
        std::fs::write(spec.join("r2.real.json"), text).unwrap();
        std::os::unix::fs::symlink(spec.join("r2.real.json"), spec.join("profiles/r2.json"))
            .unwrap();
        assert_eq!(
            patch_in(&spec, &spec.join("profiles/r2.json"), &patch()),
            Ok(true)
        );
        assert!(
            std::fs::read_to_string(spec.join("r2.real.json"))
                .unwrap()
                .contains("\"ssh_port\": 40000")
        );
        assert!(
            spec.join("profiles/r2.json")
                .symlink_metadata()
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn unchanged_profile_is_not_rewritten() {
        let text = "{\"mgmt_ip\": \"127.0.0.1\", \"ssh_port\": 40000, \"console_port\": 30000}";
        assert_eq!(patched_text(text, &patch()).unwrap(), None);
    }
}
