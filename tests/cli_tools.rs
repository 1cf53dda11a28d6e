//! The command line as tools see it, without VMs: completions that a shell accepts, a man
//! page that `man` renders, doctor's JSON, `--progress json` to the last line (a failing
//! deploy ends with an `error` event), `-q`, and the graph of a spec that is not deployed.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn bash_completions_parse_and_know_the_commands() {
    let lab = TestLab::new("c");
    let o = lab.vmlab(&["completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = o.stdout;
    for cmd in [
        "deploy",
        "exec",
        "inventory",
        "graph",
        "doctor",
        "ssh-config",
    ] {
        assert!(
            String::from_utf8_lossy(&script).contains(cmd),
            "completion lacks {cmd}"
        );
    }
    let check = run_with_stdin(Command::new("bash").arg("-n"), &script);
    assert!(
        check.status.success(),
        "bash -n rejects the completion script: {}",
        stderr(&check)
    );
    // A script that is not bash is caught: the check can fail.
    let bad = run_with_stdin(Command::new("bash").arg("-n"), b"_vmlab() { if; }\n");
    assert!(!bad.status.success());
}

#[test]
fn man_page_renders() {
    let lab = TestLab::new("m");
    let o = lab.vmlab(&["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = lab.root.path().join("vmlab.1");
    std::fs::write(&page, &o.stdout).expect("write page");
    let r = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .stdin(Stdio::null())
        .output()
        .expect("run man (scripts/setup installs man-db)");
    assert!(r.status.success(), "man -l: {}", stderr(&r));
    let text = stdout(&r);
    for want in ["vmlab", "SYNOPSIS", "deploy", "exec", "doctor"] {
        assert!(text.contains(want), "the man page lacks {want}:\n{text}");
    }
    assert!(stderr(&r).trim().is_empty(), "man warns: {}", stderr(&r));
}

#[test]
fn doctor_json_names_every_check() {
    let lab = TestLab::new("d");
    let o = lab.vmlab(&["doctor", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("doctor JSON ({e}): {}", stdout(&o)));
    let names: Vec<&str> = v
        .as_array()
        .expect("an array")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    for want in [
        "qemu",
        "qemu-img",
        "qemu versions",
        "kvm",
        "ssh client",
        "memory",
        "disk",
    ] {
        assert!(names.contains(&want), "no {want} check: {names:?}");
    }
    for c in v.as_array().expect("array") {
        assert!(
            ["ok", "warn", "fail"].contains(&c["verdict"].as_str().unwrap_or("")),
            "{c}"
        );
    }
    let failed = v
        .as_array()
        .expect("array")
        .iter()
        .any(|c| c["verdict"] == "fail");
    assert_eq!(o.status.code(), Some(if failed { 8 } else { 0 }), "{v}");
}

#[test]
fn doctor_names_a_missing_image_and_exits_8() {
    let lab = TestLab::new("dimg");
    lab.write(
        "topology.json",
        r#"{ "name": "dimg", "devices": { "r1": {} }, "links": [],
             "vmlab": { "link_port_base": 23600, "console_port_base": 26600, "ssh_port_base": 28600 } }"#,
    );
    lab.write(
        "platforms.json",
        r#"{ "platforms": { "p": { "vm_image": "/nonexistent/x.qcow2" } } }"#,
    );
    lab.write("profiles/r1.json", r#"{ "platform": "p" }"#);
    let o = lab.vmlab(&["doctor", "-S", lab.specs().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(8), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.contains("images") && l.contains("FAIL") && l.contains("vm_image")),
        "{out}"
    );
    assert!(stderr(&o).contains("images"), "{}", stderr(&o));
}

#[test]
fn failed_deploy_ends_its_json_progress_with_an_error_event() {
    let lab = TestLab::new("pj");
    lab.write(
        "topology.json",
        r#"{ "name": "pj", "devices": { "r1": {} }, "links": [ { "a": "r1:Ethernet0", "z": "r9:Ethernet0" } ] }"#,
    );
    lab.write("platforms.json", r#"{ "platforms": { "p": {} } }"#);
    lab.write("profiles/r1.json", r#"{ "platform": "p" }"#);
    let specs = lab.specs();
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        specs.to_str().expect("utf-8"),
        "--progress",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let last = lines.last().expect("at least the error");
    assert_eq!(last["event"], "error");
    assert_eq!(last["exit_code"], 2);
    assert!(
        last["message"].as_str().unwrap_or("").contains("r9"),
        "{last}"
    );
    // -q: the same failure says only the error.
    let o = lab.vmlab(&["-q", "deploy", "-S", specs.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

#[test]
fn graph_of_a_spec_not_deployed() {
    let lab = TestLab::new("g");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    for (format, want) in [
        ("ascii", "spine1 Ethernet0 (eth1) ── leaf1 Ethernet0 (eth1)"),
        ("dot", "graph"),
        ("mermaid", "graph"),
    ] {
        let o = lab.vmlab(&[
            "graph",
            "-S",
            demo.to_str().expect("utf-8"),
            "--format",
            format,
        ]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        assert!(stdout(&o).contains(want), "{format}:\n{}", stdout(&o));
    }
    assert!(
        !lab.home().join("labs").exists(),
        "drawing a spec deploys nothing"
    );
}

/// `-S` and `--lab` go after a command's own arguments everywhere, `link`'s subcommands
/// included: the lab is then looked for (not deployed here: exit 3, naming it), never a usage
/// error (exit 2).
#[test]
fn the_lab_is_named_after_any_commands_arguments() {
    let lab = TestLab::new("sel");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let demo = demo.to_str().expect("utf-8");
    for args in [
        vec!["link", "down", "spine1:Ethernet0", "-S", demo],
        vec![
            "link",
            "set",
            "spine1:Ethernet0",
            "--delay",
            "5ms",
            "-S",
            demo,
        ],
        vec!["link", "up", "spine1:Ethernet0", "--lab", "demo"],
        vec!["stop", "spine1", "-S", demo],
        vec!["status", "-S", demo],
    ] {
        let o = lab.vmlab(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("demo"), "{args:?}: {}", stderr(&o));
    }
    // Both at once is still refused as usage.
    let o = lab.vmlab(&[
        "link",
        "down",
        "spine1:Ethernet0",
        "-S",
        demo,
        "--lab",
        "demo",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A reader that goes away (`| head -3`) ends vmlab quietly, with no panic, whatever it
/// writes: the check is repeated because the race between the writer and `head` closing the
/// pipe does not always go the same way.
#[test]
fn a_closed_stdout_ends_vmlab_quietly() {
    let lab = TestLab::new("pipe");
    for args in [
        "completions zsh",
        "completions bash",
        "completions fish",
        "man",
        "--help",
        "deploy --help",
    ] {
        for _ in 0..10 {
            let o = Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "'{}' {args} | head -c 10 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
                    vmlab_bin()
                ))
                .env("VMLAB_HOME", lab.home())
                .output()
                .expect("run bash");
            let err = stderr(&o);
            let out = String::from_utf8_lossy(&o.stdout).to_string();
            assert!(!err.contains("panicked"), "vmlab {args} | head: {err}");
            // 0 when it finished before the pipe closed; 141 (SIGPIPE) is what other Unix
            // tools end with, and also quiet.
            assert!(
                out.contains("status=0") || out.contains("status=141"),
                "vmlab {args} | head: {out} {err}"
            );
        }
    }
}

/// Every page the man pages name under SEE ALSO can be had: `vmlab man link down` prints
/// `vmlab-link-down(1)`, whose own references can be had too. An unknown page is a usage
/// error (exit 2) that lists the pages.
#[test]
fn every_man_page_named_can_be_generated() {
    let lab = TestLab::new("mp");
    let refs = |page: &str| -> Vec<String> {
        let mut out = Vec::new();
        for part in page.split("vmlab\\-").skip(1) {
            if let Some(end) = part.find("(1)") {
                out.push(format!("vmlab-{}", part[..end].replace("\\-", "-")));
            }
        }
        out
    };
    let main = lab.vmlab(&["man"]);
    assert!(main.status.success(), "{}", stderr(&main));
    let mut todo = refs(&stdout(&main));
    assert!(todo.len() > 20, "SEE ALSO names the commands: {todo:?}");
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        // `vmlab-ssh-config` is one word, `vmlab-link-down` two: try each way to cut it.
        let words: Vec<&str> = name["vmlab-".len()..].split('-').collect();
        let mut found = None;
        for cuts in 0..(1u32 << (words.len() - 1)) {
            let mut args = vec!["man".to_string()];
            let mut cur = words[0].to_string();
            for (i, w) in words.iter().enumerate().skip(1) {
                if cuts & (1 << (i - 1)) != 0 {
                    args.push(std::mem::take(&mut cur));
                    cur = w.to_string();
                } else {
                    cur = format!("{cur}-{w}");
                }
            }
            args.push(cur);
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = lab.vmlab(&a);
            if o.status.success() && stdout(&o).contains(&format!(".TH {name} 1")) {
                found = Some(stdout(&o));
                break;
            }
        }
        let page = found.unwrap_or_else(|| panic!("no `vmlab man ...` prints {name}(1)"));
        todo.extend(refs(&page));
    }
    assert!(seen.contains("vmlab-link-down"), "{seen:?}");
    let o = lab.vmlab(&["man", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no page for \"nope\""),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("deploy"), "{}", stderr(&o));
}

/// The shapes people type: `vmlab ssh r1 uname -r` and `vmlab exec --all uname -r` are read
/// as a node and a command (they get as far as looking for the lab), and `exec` without a
/// selector names all three.
#[test]
fn commands_after_a_node_are_taken_as_ssh_takes_them() {
    let lab = TestLab::new("shapes");
    for args in [
        vec!["ssh", "r1", "uname", "-r"],
        vec!["ssh", "r1", "--", "uname", "-r"],
        vec!["exec", "--all", "uname", "-r"],
        vec!["exec", "--nodes", "r1,r2", "ip", "-o", "link"],
        vec!["exec", "--platform", "x", "--", "uname"],
    ] {
        let o = lab.vmlab(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no lab is deployed"),
            "{args:?} is parsed, then finds no lab: {}",
            stderr(&o)
        );
    }
    let o = lab.vmlab(&["exec", "--", "uname"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for flag in ["--nodes", "--platform", "--all"] {
        assert!(stderr(&o).contains(flag), "{flag}: {}", stderr(&o));
    }
    let o = lab.vmlab(&["exec", "--all", "--platform", "x", "uname"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "one selector at a time: {}",
        stderr(&o)
    );
}

/// Names where people type them: `vmlab destroy demo`, `vmlab snapshot s2`, `vmlab restore
/// s1`, several nodes or `--all` for start/stop/restart. Each is parsed and gets as far as
/// looking for its lab.
#[test]
fn names_are_taken_where_people_type_them() {
    let lab = TestLab::new("names");
    let o = lab.vmlab(&["destroy", "demo"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\"demo\" is not deployed"),
        "{}",
        stderr(&o)
    );
    for args in [
        vec!["snapshot", "s2"],
        vec!["snapshot", "--name", "s2"],
        vec!["restore", "s1"],
        vec!["restore", "--name", "s1"],
        vec!["stop", "leaf1", "leaf2"],
        vec!["stop", "--all"],
        vec!["start", "--all"],
        vec!["restart", "leaf1", "leaf2"],
    ] {
        let o = lab.vmlab(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no lab is deployed"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    for args in [
        vec!["restore"],
        vec!["stop"],
        vec!["stop", "--all", "leaf1"],
        vec!["snapshot", "s2", "--name", "s3"],
        vec!["destroy", "demo", "--lab", "other"],
    ] {
        let o = lab.vmlab(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = lab.vmlab(&["destroy", "--all"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("similar argument"), "{}", stderr(&o));
}

/// The spec is found where people give it: as an argument (`vmlab deploy specs/`), or the
/// current directory when it holds a topology.json; elsewhere, without one, the error says
/// both ways.
#[test]
fn the_spec_is_found_where_you_stand() {
    let lab = TestLab::new("here");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let o = lab
        .command(&["deploy", "--dry-run", "--accel", "tcg"])
        .current_dir(&demo)
        .output()
        .expect("run vmlab");
    assert!(
        stdout(&o).contains("# lab demo (4 nodes, 4 links)"),
        "{}",
        stderr(&o)
    );
    let o = lab
        .command(&[
            "deploy",
            demo.to_str().expect("utf-8"),
            "--dry-run",
            "--accel",
            "tcg",
        ])
        .current_dir(lab.root.path())
        .output()
        .expect("run vmlab");
    assert!(
        stdout(&o).contains("# lab demo (4 nodes, 4 links)"),
        "{}",
        stderr(&o)
    );
    let o = lab
        .command(&["deploy", "--dry-run"])
        .current_dir(lab.root.path())
        .output()
        .expect("run vmlab");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no spec directory given"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("vmlab deploy specs/"), "{}", stderr(&o));
    assert!(
        !lab.home().join("labs").exists(),
        "a dry run deploys nothing"
    );
}

/// A command's own options come first in its help; the global ones (-S, --lab, -v, -q)
/// after them, not between them.
#[test]
fn global_options_come_after_a_commands_own() {
    let lab = TestLab::new("help");
    let o = lab.vmlab(&["link", "set", "--help"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let help = stdout(&o);
    let at = |s: &str| {
        help.find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{help}"))
    };
    for own in ["--delay", "--jitter", "--loss", "--rate", "--direction"] {
        for global in ["--specs", "--lab", "--verbose", "--quiet"] {
            assert!(at(own) < at(global), "{own} after {global}:\n{help}");
        }
    }
}

/// A `vm_image` given only as a name is an image of `vmlab image list` (the name given at
/// import), wherever `VMLAB_HOME` is; a name vmlab does not have says how to add it.
#[test]
fn images_are_named_as_vmlab_image_lists_them() {
    let lab = TestLab::new("imgname");
    let file = lab.root.path().join("disk.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&file)
        .arg("16M")
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "qemu-img is needed (scripts/setup installs it)");
    let o = lab.vmlab(&[
        "image",
        "import",
        file.to_str().expect("utf-8"),
        "--name",
        "tiny-x",
    ]);
    assert!(o.status.success(), "import: {}", stderr(&o));
    let platforms =
        tiny_platforms(&file, 60).replace(&format!("{:?}", file.to_str().unwrap()), "\"tiny-x\"");
    assert!(platforms.contains("\"tiny-x\""), "{platforms}");
    lab.write("platforms.json", &platforms);
    lab.write(
        "topology.json",
        r#"{ "name": "imgname", "devices": { "r1": {} }, "vmlab": { "link_port_base": 23190, "console_port_base": 26190, "ssh_port_base": 28190 } }"#,
    );
    lab.write("profiles/r1.json", "{\"platform\": \"tiny-seq\"}");
    let specs = lab.specs();
    let dry = |lab: &TestLab| {
        lab.vmlab(&[
            "deploy",
            "--dry-run",
            "--accel",
            "tcg",
            specs.to_str().unwrap(),
        ])
    };
    let o = dry(&lab);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    // Found, and only VMLAB_HOME/images holds it: the preflight checks the image exists.
    assert!(lab.home().join("images").join("tiny-x.qcow2").is_file());
    assert!(!specs.join("tiny-x").exists() && !specs.join("tiny-x.qcow2").exists());
    lab.write(
        "profiles/r1.json",
        "{\"platform\": \"tiny-seq\", \"vm_image\": \"nope\"}",
    );
    let o = dry(&lab);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("image nope (node r1) is not among vmlab's images"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("vmlab image list"), "{}", stderr(&o));
}

/// With several labs deployed and no -S/--lab, a command picks the lab whose spec is in the
/// current directory; elsewhere it asks which. (The labs here are only their state files,
/// unreadable on purpose: which one the command then reads says which it picked.)
#[test]
fn the_lab_of_the_spec_where_you_stand_is_picked() {
    let lab = TestLab::new("pick");
    for name in ["alpha", "beta"] {
        let dir = lab.home().join("labs").join(name);
        std::fs::create_dir_all(&dir).expect("lab dir");
        std::fs::write(dir.join(".vmlab-lab"), "").expect("marker");
        std::fs::write(dir.join("state.json"), "not json").expect("state");
    }
    lab.write(
        "topology.json",
        r#"{ "name": "beta", "devices": { "r1": {} } }"#,
    );
    let o = lab
        .command(&["status"])
        .current_dir(lab.specs())
        .output()
        .expect("run vmlab");
    let err = stderr(&o);
    assert!(
        err.contains("labs/beta/state.json"),
        "beta was picked: {err}"
    );
    assert!(!err.contains("alpha"), "{err}");
    let o = lab
        .command(&["status"])
        .current_dir(lab.root.path())
        .output()
        .expect("run vmlab");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 labs are deployed"), "{}", stderr(&o));
}

/// `vmlab host-call` (what another host of a multi-host lab runs over ssh) answers in typed
/// lines, and refuses a request of another version, or one it cannot read, naming why.
#[test]
fn a_host_call_of_another_version_is_refused_by_name() {
    let home = tempfile::tempdir().unwrap();
    let call = |input: &str| {
        let mut c = std::process::Command::new(vmlab_bin())
            .arg("host-call")
            .env("VMLAB_HOME", home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        let reply: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
        (o.status.code(), reply)
    };
    let (code, r) = call("{\"version\":99,\"call\":\"status\",\"lab\":\"x\"}\n");
    assert_eq!(code, Some(1));
    assert_eq!(r["reply"], "failed");
    let why = r["reason"].as_str().unwrap();
    assert!(why.contains("v1") && why.contains("v99"), "{why}");
    let (code, r) = call("status --lab x --json\n");
    assert_eq!(code, Some(1));
    assert!(
        r["reason"].as_str().unwrap().contains("not a host call"),
        "{r}"
    );
    // A call it understands: the lab is not deployed on this host.
    let (code, r) = call("{\"version\":1,\"call\":\"status\",\"lab\":\"nolab\"}\n");
    assert_eq!(code, Some(1));
    assert!(r["reason"].as_str().unwrap().contains("nolab"), "{r}");
}
