//! Boot patches, the side effects: which folder holds a node's patch set, reading its
//! descriptors and templates (bounded, inside that folder), rendering them for the plan
//! ([`crate::plan::patches`] does the rendering), keeping what was rendered in the lab
//! (`patches/<node>.json`, so start, restart and repair apply exactly what deploy showed), and
//! applying them over the node's SSH connection after each boot.
//!
//! The folder, first found: `--patches` or `VMLAB_PATCHES`; the platform's `vm_patches`; the
//! topology's `vmlab.patches`; `patches/` beside the platforms (platforms.json, or newtron's
//! registry); newtron's `pkg/newtlab/patches` in the checkout holding the registry. A folder
//! named by the user that is missing is an error; a platform whose dataplane has no patch set
//! there is a warning (newtlab applies none then either).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::LabDir;
use super::state::LabState;
use crate::events::{Event, EventSink};
use crate::fsutil;
use crate::home;
use crate::plan::patches::{self, Descriptor, Loaded, MAX_PATCH_FILE, Rendered};
use crate::plan::{LabPlan, NodePatches};
use crate::spec::{SpecError, SpecErrors};

/// How long one step of a patch may take (newtron's waits loop for up to five minutes).
const STEP_LIMIT: Duration = Duration::from_secs(900);

/// The most output of a failed step an error quotes.
const OUTPUT_TAIL: usize = 2000;

/// Where the rendered patches of `node` are kept in the lab.
pub fn file(lab_dir: &Path, node: &str) -> PathBuf {
    lab_dir.join("patches").join(format!("{node}.json"))
}

/// The folder holding `node`'s patch sets and what named it, or `None` when nothing names one
/// and no default folder exists.
fn root(plan: &LabPlan, node: &NodePatches) -> Result<Option<(PathBuf, String)>, SpecError> {
    let named = home::patches_dir()
        .map(|d| (d, "--patches (or VMLAB_PATCHES)".to_string(), None))
        .or_else(|| {
            node.dataplane.patches.clone().map(|d| {
                let (file, field) = &node.dataplane.from;
                let field = field.replace("dataplane", "vm_patches");
                (
                    d,
                    format!("{field} of {}", file.display()),
                    Some(file.clone()),
                )
            })
        })
        .or_else(|| {
            plan.patches_dir.clone().map(|d| {
                let topo = plan.spec_dir.join("topology.json");
                (d, "vmlab.patches of topology.json".to_string(), Some(topo))
            })
        });
    if let Some((dir, what, file)) = named {
        if !dir.is_dir() {
            return Err(SpecError::new(
                file.unwrap_or_else(|| dir.clone()),
                "",
                format!(
                    "the boot patch folder {} ({what}) is not a folder",
                    dir.display()
                ),
                "name the folder that holds <dataplane>/always/*.json (newtron's \
                 pkg/newtlab/patches)",
            ));
        }
        return Ok(Some((dir, what)));
    }
    Ok(plan
        .patches_default
        .iter()
        .find(|d| d.is_dir())
        .map(|d| (d.clone(), "the default place".to_string())))
}

/// A file of a patch set as text: a regular file (a link is followed only inside `root`),
/// at most [`MAX_PATCH_FILE`] bytes, UTF-8.
fn read_inside(root: &Path, path: &Path) -> Result<String, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot read it: {e}"))?;
    let real_root = std::fs::canonicalize(root).map_err(|e| format!("cannot read it: {e}"))?;
    if !real.starts_with(&real_root) {
        return Err(format!(
            "it leads outside the patch folder (to {})",
            real.display()
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_PATCH_FILE {
        return Err(format!(
            "it has {} bytes, over the {} vmlab reads",
            meta.len(),
            MAX_PATCH_FILE
        ));
    }
    let bytes = std::fs::read(&real).map_err(|e| format!("cannot read it: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into())
}

/// The patch set of a dataplane: `<root>/<dataplane>/always/*.json`, then
/// `<root>/<dataplane>/<release>/*.json`, each folder in file-name order, with the templates
/// each descriptor names. `Ok(None)`: neither folder exists.
fn load(
    root: &Path,
    dataplane: &str,
    release: Option<&str>,
) -> Result<Option<Vec<Loaded>>, SpecError> {
    let mut folders = vec![format!("{dataplane}/always")];
    folders.extend(release.map(|r| format!("{dataplane}/{r}")));
    let mut found_any = false;
    let mut out = Vec::new();
    for folder in folders {
        let dir = root.join(&folder);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        found_any = true;
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let file = format!("{folder}/{name}");
            let bad = |problem: String, fix: &str| SpecError::new(&path, "", problem, fix);
            let text = read_inside(root, &path)
                .map_err(|why| bad(format!("boot patch {file}: {why}"), "fix or remove it"))?;
            let descriptor = Descriptor::parse(&file, &text)
                .map_err(|why| bad(why, "fix the descriptor's JSON"))?;
            let mut templates = BTreeMap::new();
            for t in descriptor.templates() {
                patches::template_name(t).map_err(|why| {
                    bad(
                        format!("boot patch {file}: {why}"),
                        "keep each template beside its descriptor and name it by its file name",
                    )
                })?;
                let text = read_inside(root, &dir.join(t)).map_err(|why| {
                    bad(
                        format!("boot patch {file}: template {t}: {why}"),
                        "put the template beside the descriptor",
                    )
                })?;
                templates.insert(t.to_string(), text);
            }
            out.push(Loaded {
                file,
                descriptor,
                templates,
            });
        }
    }
    Ok(found_any.then_some(out))
}

/// Renders every local node's boot patches into the plan (`plan.boot_patches`). Problems
/// (a folder that is missing, a descriptor or template that does not read or render) are
/// returned, so a deploy stops before it starts anything; a dataplane without a patch set is
/// a warning.
pub fn render_into(plan: &mut LabPlan, events: &EventSink) -> SpecErrors {
    let mut errs = SpecErrors::default();
    let mut sets: BTreeMap<(PathBuf, String, Option<String>), Option<Vec<Loaded>>> =
        BTreeMap::new();
    let mut rendered = BTreeMap::new();
    for node in plan.nodes.iter().filter(|n| n.local) {
        let Some(p) = &node.patches else { continue };
        let dp = &p.dataplane;
        let root = match root(plan, p) {
            Ok(Some((dir, _))) => dir,
            Ok(None) => {
                events.send(Event::Warning(format!(
                    "{}: platform {} has dataplane {:?} but no boot patch folder was found \
                     (looked in {}); it boots unpatched (name one with --patches)",
                    node.name,
                    node.platform,
                    dp.name,
                    plan.patches_default
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
                continue;
            }
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        let key = (root.clone(), dp.name.clone(), dp.release.clone());
        if !sets.contains_key(&key) {
            match load(&root, &dp.name, dp.release.as_deref()) {
                Ok(set) => {
                    sets.insert(key.clone(), set);
                }
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            }
        }
        let Some(Some(set)) = sets.get(&key) else {
            events.send(Event::Warning(format!(
                "{}: no boot patches for dataplane {:?} in {}; it boots unpatched",
                node.name,
                dp.name,
                root.display()
            )));
            continue;
        };
        match patches::render_set(set, &p.vars) {
            Ok(r) => {
                rendered.insert(node.name.clone(), r);
            }
            Err(why) => errs.push(SpecError::new(
                root.join(&dp.name),
                "",
                format!("{}: {why}", node.name),
                "fix the patch's template (it must render with Go's text/template and \
                 newtlab's variables)",
            )),
        }
    }
    plan.boot_patches = rendered;
    errs
}

/// Keeps each node's rendered patches in the lab, for every later boot.
pub fn save(lab: &LabDir, plan: &LabPlan) -> Result<(), crate::error::EngineError> {
    for (node, rendered) in &plan.boot_patches {
        let path = file(lab.path(), node);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                crate::error::EngineError::io(format!("cannot create {}", dir.display()), e)
            })?;
        }
        let text = serde_json::to_vec_pretty(rendered).unwrap_or_default();
        fsutil::atomic_write(&path, &text, Some(0o600)).map_err(|e| {
            crate::error::EngineError::io(format!("cannot write {}", path.display()), e)
        })?;
    }
    Ok(())
}

/// The rendered patches kept for `node` (none: the node has none).
pub fn recorded(lab: &LabDir, node: &str) -> Result<Vec<Rendered>, String> {
    let path = file(lab.path(), node);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("cannot read {}: {e}; redeploy the lab", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Applies `rendered` to `node` (QEMU `pid`, launched at `started`), in order, over its SSH
/// login (the connection its commands share): an event and a recorded progress per patch.
/// The first step that fails ends it, with the patch, the step and what it printed.
pub async fn apply(
    lab: &LabDir,
    (node, pid, started): (&str, i32, Instant),
    rendered: &[Rendered],
    events: &EventSink,
) -> Result<(), String> {
    let total = rendered.len();
    let me = std::env::current_exe().map_err(|e| format!("cannot locate vmlab: {e}"))?;
    // The node's login, read once: a patch's steps do not change it.
    let state = LabState::load(lab).map_err(|e| e.to_string())?;
    for (i, patch) in rendered.iter().enumerate() {
        let _ = LabState::update_node(lab, node, |n| n.patching(pid, i + 1, total));
        events.send(Event::NodePatch {
            node: node.into(),
            index: i + 1,
            total,
            description: patch.description.clone(),
            elapsed: started.elapsed(),
        });
        for step in &patch.steps {
            let (remote, input) = step.remote();
            let cmd = state
                .command_ssh(node, &[remote], &me)
                .map_err(|e| e.to_string())?;
            let fail = |why: String| {
                format!(
                    "boot patch {} ({}) failed at {}: {why}",
                    patch.file,
                    patch.description,
                    step.describe()
                )
            };
            let out = run(cmd, input).await.map_err(fail)?;
            if step.must_succeed() && !out.0 {
                return Err(fail(out.1));
            }
        }
    }
    Ok(())
}

/// Runs one ssh command with `input` on its stdin; whether it exited 0, and its output (the
/// tail, for an error).
async fn run(cmd: std::process::Command, input: Option<&str>) -> Result<(bool, String), String> {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run ssh: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("cannot send the file: {e}"))?;
        drop(stdin);
    }
    let out = tokio::time::timeout(STEP_LIMIT, child.wait_with_output())
        .await
        .map_err(|_| format!("no end within {} s", STEP_LIMIT.as_secs()))?
        .map_err(|e| format!("ssh: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let text = text.trim();
    let tail = match text.char_indices().rev().nth(OUTPUT_TAIL) {
        Some((at, _)) => format!("...{}", &text[at..]),
        None => text.to_string(),
    };
    let status = match out.status.code() {
        Some(c) => format!("exit {c}"),
        None => "killed".to_string(),
    };
    Ok((
        out.status.success(),
        if tail.is_empty() {
            status
        } else {
            format!("{status}: {tail}")
        },
    ))
}
