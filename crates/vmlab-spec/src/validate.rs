//! A lab's checks (`validate.json` beside the spec, or any file named): what `vmlab validate`
//! runs against a running lab. Each check targets nodes (by name, platform or all) with a
//! command and what its result must show, or a link with the state and counters it must have.
//! Parsed purely and strictly: an unknown key, a bad pattern or a target that is not one is an
//! error naming the check and the field, all at once.

use std::path::Path;

use regex::Regex;
use serde_json::{Map, Value};

use super::error::{SpecError, SpecErrors};
use super::source::SpecText;

/// The checks of one file, in order.
#[derive(Debug, Clone)]
pub struct Checks {
    /// Where they were read (a file, or a client's request), for errors about them.
    pub source: std::path::PathBuf,
    pub checks: Vec<Check>,
}

/// One check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub target: Target,
    pub expect: Expect,
    /// Keep retrying (with back-off) this many seconds until it passes.
    pub wait_secs: u64,
    /// A failure stops the run.
    pub stop_on_error: bool,
}

/// What a check looks at.
#[derive(Debug, Clone)]
pub enum Target {
    /// `command` on these nodes (in parallel).
    Nodes { nodes: Nodes, command: String },
    /// A link (an end, its number, as `vmlab links` names it).
    Link(String),
}

/// Which nodes a command runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nodes {
    Named(Vec<String>),
    Platform(String),
    All,
}

/// What the result must show.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The command's exit status (default 0).
    pub exit: Option<i32>,
    pub stdout: Option<Pattern>,
    pub stderr: Option<Pattern>,
    pub not_stdout: Option<Pattern>,
    pub json: Vec<JsonExpect>,
    /// A link's state (`up`, `down`, `waiting`).
    pub state: Option<String>,
    /// At least this many frames delivered on the link (both ways together).
    pub frames_min: Option<u64>,
}

/// A regular expression as written, compiled (multi-line: `^` and `$` match at each line).
#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    pub re: Regex,
}

/// A value inside the command's JSON output.
#[derive(Debug, Clone)]
pub struct JsonExpect {
    /// RFC 6901 pointer.
    pub pointer: String,
    pub equals: Option<Value>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub matches: Option<Pattern>,
}

const CHECK_KEYS: &[&str] = &[
    "name",
    "nodes",
    "platform",
    "all",
    "exec",
    "link",
    "expect",
    "wait",
    "stop_on_error",
];
const EXPECT_KEYS: &[&str] = &[
    "exit",
    "stdout",
    "stderr",
    "not_stdout",
    "json",
    "state",
    "frames_min",
];
const JSON_KEYS: &[&str] = &["pointer", "equals", "min", "max", "matches"];

/// Parses a checks file; every problem at once, each naming the check and the field.
pub fn parse(text: &SpecText) -> Result<Checks, SpecErrors> {
    let mut errs = SpecErrors::default();
    let path = &text.path;
    let doc: Value = match serde_json::from_str(&text.text) {
        Ok(v) => v,
        Err(e) => {
            errs.push(SpecError::new(
                path,
                format!("line {}, column {}", e.line(), e.column()),
                "malformed JSON",
                "fix the JSON syntax there",
            ));
            return Err(errs);
        }
    };
    let Some(list) = doc.get("checks").and_then(Value::as_array) else {
        errs.push(SpecError::new(
            path,
            "checks",
            "missing or not a list",
            "write {\"checks\": [{\"name\": ..., \"nodes\": [...], \"exec\": ..., \"expect\": {...}}]}",
        ));
        return Err(errs);
    };
    if list.is_empty() {
        errs.push(SpecError::new(
            path,
            "checks",
            "is empty: a run would test nothing and pass",
            "write at least one check: {\"name\": ..., \"all\": true, \"exec\": ..., \"expect\": {...}}",
        ));
        return Err(errs);
    }
    let mut checks = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let Some(c) = c.as_object() else {
            errs.push(SpecError::new(
                path,
                format!("checks[{i}]"),
                "must be an object",
                "write {\"name\": ..., ...}",
            ));
            continue;
        };
        let name = match c.get("name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() => n.to_string(),
            _ => format!("checks[{i}]"),
        };
        let at = |field: &str| format!("checks[{i}] ({name}).{field}");
        let named = c
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.trim().is_empty());
        if !named {
            errs.push(SpecError::new(
                path,
                at("name"),
                "missing",
                "give every check a name",
            ));
        } else if !names.insert(name.clone()) {
            errs.push(SpecError::new(
                path,
                at("name"),
                "is the name of another check too",
                "give each check its own name (--only picks checks by name)",
            ));
        }
        unknown(c, CHECK_KEYS, path, &at(""), &mut errs);
        if let Some(c) = parse_check(c, &name, path, &at, &mut errs) {
            checks.push(c);
        }
    }
    if errs.is_empty() {
        Ok(Checks {
            source: path.clone(),
            checks,
        })
    } else {
        Err(errs)
    }
}

fn parse_check(
    c: &Map<String, Value>,
    name: &str,
    path: &Path,
    at: &dyn Fn(&str) -> String,
    errs: &mut SpecErrors,
) -> Option<Check> {
    let before = errs.len();
    let nodes = match (c.get("nodes"), c.get("platform"), c.get("all")) {
        (Some(Value::Array(n)), None, None) => {
            let list: Option<Vec<String>> =
                n.iter().map(|v| v.as_str().map(str::to_string)).collect();
            match list.filter(|l| !l.is_empty()) {
                Some(l) => Some(Nodes::Named(l)),
                None => {
                    errs.push(SpecError::new(
                        path,
                        at("nodes"),
                        "must be a list of node names",
                        "write [\"r1\", \"r2\"]",
                    ));
                    None
                }
            }
        }
        (None, Some(Value::String(p)), None) => Some(Nodes::Platform(p.clone())),
        (None, None, Some(Value::Bool(true))) => Some(Nodes::All),
        (None, None, None) => None,
        _ => {
            errs.push(SpecError::new(
                path,
                at("nodes"),
                "name the nodes once: nodes, platform or all: true",
                "keep one of nodes, platform and all",
            ));
            None
        }
    };
    let target = match (nodes, c.get("exec"), c.get("link")) {
        (Some(nodes), Some(Value::String(cmd)), None) if !cmd.trim().is_empty() => {
            Some(Target::Nodes {
                nodes,
                command: cmd.clone(),
            })
        }
        (None, None, Some(Value::String(l))) if !l.is_empty() => Some(Target::Link(l.clone())),
        (Some(_), None, _) => {
            errs.push(SpecError::new(
                path,
                at("exec"),
                "the check names nodes but no command",
                "add \"exec\": \"the command to run\"",
            ));
            None
        }
        _ => {
            errs.push(SpecError::new(
                path,
                at(""),
                "is neither a command on nodes (nodes/platform/all with exec) nor a link check \
                 (link)",
                "write {\"nodes\": [\"r1\"], \"exec\": \"...\"} or {\"link\": \"r1:Ethernet0\"}",
            ));
            None
        }
    };
    let expect = match c.get("expect") {
        None => Expect::default(),
        Some(Value::Object(e)) => {
            unknown(e, EXPECT_KEYS, path, &at("expect"), errs);
            parse_expect(e, path, &|f: &str| at(&format!("expect.{f}")), errs)
        }
        Some(_) => {
            errs.push(SpecError::new(
                path,
                at("expect"),
                "must be an object",
                "write {\"exit\": 0, \"stdout\": \"pattern\"}",
            ));
            Expect::default()
        }
    };
    if let Some(Target::Link(_)) = &target
        && (expect.exit.is_some()
            || expect.stdout.is_some()
            || expect.stderr.is_some()
            || expect.not_stdout.is_some()
            || !expect.json.is_empty())
    {
        errs.push(SpecError::new(
            path,
            at("expect"),
            "a link check has no command output to look at",
            "expect state and frames_min of a link",
        ));
    }
    if let Some(Target::Nodes { .. }) = &target
        && (expect.state.is_some() || expect.frames_min.is_some())
    {
        errs.push(SpecError::new(
            path,
            at("expect"),
            "state and frames_min are a link's",
            "use \"link\": \"r1:Ethernet0\" for them",
        ));
    }
    let wait_secs = match c.get("wait") {
        None => 0,
        Some(v) => match v.as_u64().filter(|w| *w <= 3600) {
            Some(w) => w,
            None => {
                errs.push(SpecError::new(
                    path,
                    at("wait"),
                    "must be seconds, 0 to 3600",
                    "write \"wait\": 30",
                ));
                0
            }
        },
    };
    let stop_on_error = match c.get("stop_on_error") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errs.push(SpecError::new(
                path,
                at("stop_on_error"),
                "must be true or false",
                "write \"stop_on_error\": true",
            ));
            false
        }
    };
    if errs.len() != before {
        return None;
    }
    Some(Check {
        name: name.to_string(),
        target: target?,
        expect,
        wait_secs,
        stop_on_error,
    })
}

/// One entry of an expectation's `json` list (`here` names its fields in errors).
fn parse_json_expect(
    item: &Value,
    path: &Path,
    here: &dyn Fn(&str) -> String,
    errs: &mut SpecErrors,
) -> Option<JsonExpect> {
    let Some(o) = item.as_object() else {
        errs.push(SpecError::new(
            path,
            here(""),
            "must be an object",
            "write {\"pointer\": \"/a/b\", \"equals\": 2}",
        ));
        return None;
    };
    unknown(o, JSON_KEYS, path, &here(""), errs);
    let pointer = match o.get("pointer").and_then(Value::as_str) {
        Some(p) if p.is_empty() || p.starts_with('/') => p.to_string(),
        _ => {
            errs.push(SpecError::new(
                path,
                here(".pointer"),
                "must be a JSON pointer (RFC 6901): \"\" or starting with /",
                "write \"/ipv4Unicast/peerCount\"",
            ));
            return None;
        }
    };
    let num = |key: &str, errs: &mut SpecErrors| match o.get(key) {
        None => None,
        Some(v) => {
            let n = v.as_f64();
            if n.is_none() {
                errs.push(SpecError::new(
                    path,
                    here(&format!(".{key}")),
                    "must be a number",
                    "write 2",
                ));
            }
            n
        }
    };
    let (min, max) = (num("min", errs), num("max", errs));
    let matches = match o.get("matches") {
        None => None,
        Some(Value::String(p)) => compile(p, path, &here(".matches"), errs),
        Some(_) => {
            errs.push(SpecError::new(
                path,
                here(".matches"),
                "must be a regular expression",
                "write \"^Established$\"",
            ));
            None
        }
    };
    let equals = o.get("equals").cloned();
    if equals.is_none() && min.is_none() && max.is_none() && matches.is_none() {
        errs.push(SpecError::new(
            path,
            here(""),
            "says nothing about the value",
            "add equals, min, max or matches",
        ));
    }
    Some(JsonExpect {
        pointer,
        equals,
        min,
        max,
        matches,
    })
}

fn parse_expect(
    e: &Map<String, Value>,
    path: &Path,
    at: &dyn Fn(&str) -> String,
    errs: &mut SpecErrors,
) -> Expect {
    let pattern = |key: &str, errs: &mut SpecErrors| -> Option<Pattern> {
        match e.get(key)? {
            Value::String(p) => compile(p, path, &at(key), errs),
            _ => {
                errs.push(SpecError::new(
                    path,
                    at(key),
                    "must be a regular expression",
                    "write \"stdout\": \"^r[0-9]$\"",
                ));
                None
            }
        }
    };
    let exit = match e.get("exit") {
        None => None,
        Some(v) => match v.as_i64().filter(|x| (0..=255).contains(x)) {
            Some(x) => Some(x as i32),
            None => {
                errs.push(SpecError::new(
                    path,
                    at("exit"),
                    "must be an exit status, 0 to 255",
                    "write \"exit\": 0",
                ));
                None
            }
        },
    };
    let mut json = Vec::new();
    match e.get("json") {
        None => {}
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let here = |f: &str| at(&format!("json[{k}]{f}"));
                if let Some(j) = parse_json_expect(item, path, &here, errs) {
                    json.push(j);
                }
            }
        }
        Some(_) => errs.push(SpecError::new(
            path,
            at("json"),
            "must be a list",
            "write [{\"pointer\": \"/a\", \"equals\": 1}]",
        )),
    }
    let state = match e.get("state") {
        None => None,
        Some(Value::String(s)) if matches!(s.as_str(), "up" | "down" | "waiting") => {
            Some(s.clone())
        }
        Some(_) => {
            errs.push(SpecError::new(
                path,
                at("state"),
                "must be up, down or waiting",
                "write \"state\": \"up\"",
            ));
            None
        }
    };
    let frames_min = match e.get("frames_min") {
        None => None,
        Some(v) => {
            let n = v.as_u64();
            if n.is_none() {
                errs.push(SpecError::new(
                    path,
                    at("frames_min"),
                    "must be a whole number",
                    "write \"frames_min\": 1",
                ));
            }
            n
        }
    };
    Expect {
        exit,
        stdout: pattern("stdout", errs),
        stderr: pattern("stderr", errs),
        not_stdout: pattern("not_stdout", errs),
        json,
        state,
        frames_min,
    }
}

fn compile(p: &str, path: &Path, field: &str, errs: &mut SpecErrors) -> Option<Pattern> {
    match regex::RegexBuilder::new(p).multi_line(true).build() {
        Ok(re) => Some(Pattern {
            text: p.to_string(),
            re,
        }),
        Err(e) => {
            let why = e.to_string();
            errs.push(SpecError::new(
                path,
                field,
                format!(
                    "is not a regular expression: {}",
                    why.lines().last().unwrap_or(&why)
                ),
                "fix the pattern (Rust regex syntax)",
            ));
            None
        }
    }
}

fn unknown(o: &Map<String, Value>, known: &[&str], path: &Path, at: &str, errs: &mut SpecErrors) {
    for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
        errs.push(SpecError::new(
            path,
            format!(
                "{}{k}",
                if at.is_empty() || at.ends_with('.') {
                    at.to_string()
                } else {
                    format!("{at}.")
                }
            ),
            "is not a key vmlab knows here",
            format!("use one of: {}", known.join(", ")),
        ));
    }
}

/// Does `json` (a command's output) meet `e`? `Err` says what came instead.
pub fn json_holds(output: &Value, e: &JsonExpect) -> Result<(), String> {
    let Some(v) = output.pointer(&e.pointer) else {
        return Err(format!("{} is not in the output", e.pointer));
    };
    if let Some(want) = &e.equals
        && !(v == want || v.as_f64().zip(want.as_f64()).is_some_and(|(a, b)| a == b))
    {
        return Err(format!("{} is {v}, not {want}", e.pointer));
    }
    if let Some(min) = e.min {
        match v.as_f64() {
            Some(n) if n >= min => {}
            _ => return Err(format!("{} is {v}, less than {min}", e.pointer)),
        }
    }
    if let Some(max) = e.max {
        match v.as_f64() {
            Some(n) if n <= max => {}
            _ => return Err(format!("{} is {v}, more than {max}", e.pointer)),
        }
    }
    if let Some(p) = &e.matches {
        let text = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        if !p.re.is_match(&text) {
            return Err(format!(
                "{} is {v}, which does not match {}",
                e.pointer, p.text
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> SpecText {
        SpecText {
            path: "/s/validate.json".into(),
            text: t.into(),
        }
    }

    #[test]
    fn a_good_file_parses_with_every_kind_of_check() {
        let c = parse(&text(
            r#"{"checks": [
              {"name": "reach", "nodes": ["r1"], "exec": "ping -c 1 10.0.0.1",
               "expect": {"exit": 0, "stdout": "1 packets received"}, "wait": 30},
              {"name": "names", "platform": "tiny", "exec": "hostname", "expect": {"stdout": "^r[0-9]$"}},
              {"name": "bgp", "all": true, "exec": "show", "stop_on_error": true,
               "expect": {"json": [{"pointer": "/peers", "equals": 2}, {"pointer": "/s", "matches": "^Est"}]}},
              {"name": "link", "link": "r1:Ethernet0", "expect": {"state": "up", "frames_min": 1}}
            ]}"#,
        ))
        .unwrap();
        assert_eq!(c.checks.len(), 4);
        assert_eq!(c.checks[0].wait_secs, 30);
        assert!(c.checks[2].stop_on_error);
        assert!(matches!(&c.checks[3].target, Target::Link(l) if l == "r1:Ethernet0"));
        assert!(
            c.checks[1]
                .expect
                .stdout
                .as_ref()
                .unwrap()
                .re
                .is_match("x\nr2\n"),
            "multi-line"
        );
    }

    #[test]
    fn every_error_names_the_check_and_the_field() {
        let err = parse(&text(
            r#"{"checks": [
              {"name": "a", "nodes": ["r1"], "exec": "x", "expect": {"stdot": "y", "exit": 300}},
              {"name": "b", "nodes": ["r1"], "platform": "p", "exec": "x"},
              {"name": "c", "link": "r1:e0", "expect": {"stdout": "z"}},
              {"name": "d", "nodes": ["r1"], "exec": "x", "expect": {"json": [{"pointer": "a"}], "stdout": "("}},
              {"name": "a", "all": true, "exec": "x", "wait": -1, "colour": 1}
            ]}"#,
        ))
        .unwrap_err()
        .to_string();
        for says in [
            "checks[0] (a).expect.stdot: is not a key vmlab knows here",
            "checks[0] (a).expect.exit: must be an exit status",
            "checks[1] (b).nodes: name the nodes once",
            "checks[2] (c).expect: a link check has no command output",
            "checks[3] (d).expect.json[0].pointer: must be a JSON pointer",
            "checks[3] (d).expect.stdout: is not a regular expression",
            "checks[4] (a).name: is the name of another check too",
            "checks[4] (a).wait: must be seconds",
            "checks[4] (a).colour: is not a key vmlab knows here",
        ] {
            assert!(err.contains(says), "does not say {says:?}:\n{err}");
        }
    }

    #[test]
    fn json_expectations_compare_values_ranges_and_patterns() {
        let out: Value = serde_json::from_str(r#"{"a": {"n": 2, "s": "Established"}}"#).unwrap();
        let e = |t: &str| -> JsonExpect {
            let c = parse(&text(&format!(
                r#"{{"checks": [{{"name": "x", "all": true, "exec": "x", "expect": {{"json": [{t}]}}}}]}}"#
            )))
            .unwrap();
            c.checks[0].expect.json[0].clone()
        };
        assert!(json_holds(&out, &e(r#"{"pointer": "/a/n", "equals": 2}"#)).is_ok());
        assert!(json_holds(&out, &e(r#"{"pointer": "/a/n", "equals": 2.0}"#)).is_ok());
        assert!(json_holds(&out, &e(r#"{"pointer": "/a/n", "min": 3}"#)).is_err());
        assert!(json_holds(&out, &e(r#"{"pointer": "/a/n", "max": 2}"#)).is_ok());
        assert!(json_holds(&out, &e(r#"{"pointer": "/a/s", "matches": "^Est"}"#)).is_ok());
        let missing = json_holds(&out, &e(r#"{"pointer": "/b", "equals": 1}"#)).unwrap_err();
        assert!(missing.contains("/b is not in the output"), "{missing}");
    }
}
