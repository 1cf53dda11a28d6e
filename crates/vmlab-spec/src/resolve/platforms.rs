//! The platforms a spec defines, from either layout: platforms.json's `platforms` object (the
//! design's), or newtron's registry of one file per platform (`platforms/<name>.json`, whose
//! `name` must be its base name). Each definition knows its file and how its fields are named
//! in errors, so a node resolves the same way from both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{SpecError, SpecErrors};

/// A registry file: its base name, its path and its parsed document (`None`: it did not
/// parse, already reported).
pub(super) type RegistryFile = (String, PathBuf, Option<Map<String, Value>>);

/// One platform's definition.
pub(super) struct PlatformDef<'a> {
    pub(super) doc: &'a Map<String, Value>,
    /// The file that defines it.
    pub(super) file: &'a Path,
    /// How its fields are named in errors: `platforms.<name>.` in platforms.json, nothing in
    /// a registry file of its own.
    pub(super) prefix: String,
}

impl PlatformDef<'_> {
    /// The error name of field `f`.
    pub(super) fn field(&self, f: &str) -> String {
        format!("{}{f}", self.prefix)
    }
}

/// Every platform of the spec, by name.
pub(super) struct Platforms<'a> {
    pub(super) defs: BTreeMap<&'a str, PlatformDef<'a>>,
    /// Where platforms are defined (platforms.json, or the registry folder).
    pub(super) place: PathBuf,
    /// No definitions can be read (a missing platforms.json; a broken one was reported).
    pub(super) missing: bool,
    /// platforms.json exists but could not be used (already reported once).
    pub(super) broken: bool,
    /// newtron's registry (its wording in errors).
    pub(super) registry: bool,
}

impl<'a> Platforms<'a> {
    /// platforms.json's `platforms` object (`doc`: the parsed file, `None` when missing or
    /// broken).
    pub(super) fn from_file(
        doc: Option<&'a Map<String, Value>>,
        path: &'a Path,
        exists: bool,
        errs: &mut SpecErrors,
    ) -> Self {
        let mut out = Platforms {
            defs: BTreeMap::new(),
            place: path.to_path_buf(),
            missing: !exists,
            broken: false,
            registry: false,
        };
        match doc.map(|d| d.get("platforms")) {
            Some(Some(Value::Object(m))) => {
                for (name, def) in m {
                    match def {
                        Value::Object(d) => {
                            out.defs.insert(
                                name.as_str(),
                                PlatformDef {
                                    doc: d,
                                    file: path,
                                    prefix: format!("platforms.{name}."),
                                },
                            );
                        }
                        _ => errs.push(SpecError::new(
                            path,
                            format!("platforms.{name}"),
                            "must be an object",
                            "define the platform as {\"vm_image\": ..., ...}",
                        )),
                    }
                }
            }
            Some(_) => {
                errs.push(SpecError::new(
                    path,
                    "platforms",
                    "missing or not an object",
                    "put the platform definitions under a top-level \"platforms\" object",
                ));
                out.broken = true;
            }
            None => out.broken = exists,
        }
        out
    }

    /// newtron's registry: `files` are (base name, path, parsed document).
    pub(super) fn from_registry(
        files: &'a [RegistryFile],
        registry: &Path,
        errs: &mut SpecErrors,
    ) -> Self {
        let mut out = Platforms {
            defs: BTreeMap::new(),
            place: registry.to_path_buf(),
            missing: false,
            broken: false,
            registry: true,
        };
        for (base, path, doc) in files {
            let Some(doc) = doc else { continue };
            match doc.get("name") {
                Some(Value::String(n)) if n == base => {}
                Some(Value::String(n)) => {
                    errs.push(SpecError::new(
                        path,
                        "name",
                        format!("the platform is named {n:?}, but its file is {base}.json"),
                        format!("rename the file to {n}.json, or set \"name\": \"{base}\""),
                    ));
                    continue;
                }
                _ => {
                    errs.push(SpecError::new(
                        path,
                        "name",
                        "a registry platform needs its name",
                        format!("set \"name\": \"{base}\" (the file's base name)"),
                    ));
                    continue;
                }
            }
            out.defs.insert(
                base.as_str(),
                PlatformDef {
                    doc,
                    file: path,
                    prefix: String::new(),
                },
            );
        }
        out
    }

    /// The names defined, sorted.
    pub(super) fn names(&self) -> Vec<&str> {
        self.defs.keys().copied().collect()
    }
}
