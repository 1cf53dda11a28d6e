//! The real `vmlab tui` binary in a real terminal (tmux), against a real 2-node lab: the
//! dashboard lists both nodes; `V` runs the lab's checks into a panel; Enter opens the console
//! where typed commands run; Ctrl-] and `s` open SSH; Ctrl-] and `q` exit 0 with the terminal
//! left sane.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "tmux is not installed: the TUI end-to-end test needs it (run .ci/run or scripts/setup)"
        );
        Tmux {
            socket: format!("vmlab-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits until the screen shows `needle`.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "screen never showed {needle:?}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn tui_console_and_ssh_in_a_real_terminal() {
    let lab = vm_lab("tuilab", 120);
    lab.write(
        "topology.json",
        r#"{ "name": "tuilab", "devices": { "r1": {}, "r2": {} },
             "links": [ { "a": "r1:Ethernet0", "z": "r2:Ethernet0" } ],
             "vmlab": { "link_port_base": 22500, "console_port_base": 25500, "ssh_port_base": 27500 } }"#,
    );
    lab.write("profiles/r1.json", "{\"platform\": \"tiny-stride\"}");
    lab.write("profiles/r2.json", "{\"platform\": \"tiny-seq\"}");
    // The lab's checks, for V: one passes on both nodes, one fails on r2.
    lab.write(
        "validate.json",
        r#"{ "checks": [
             { "name": "kernel-is-linux", "all": true, "exec": "uname -s",
               "expect": { "stdout": "^Linux$" } },
             { "name": "r2-says-hello", "nodes": ["r2"], "exec": "echo goodbye",
               "expect": { "stdout": "^hello$" } } ] }"#,
    );
    lab.deploy();

    let tmux = Tmux::new();
    let script = format!(
        "VMLAB_HOME='{}' VMLAB_ACCEL=tcg '{}' tui --lab tuilab; echo \"EXIT=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{{0,1\\}}icanon'; sleep 600",
        lab.home().display(),
        vmlab_bin()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "35",
        &script,
    ]);

    let s = tmux.wait_for("ready 2/2", Duration::from_secs(20));
    assert!(s.contains("r1") && s.contains("r2"), "{s}");
    assert!(
        s.contains("r1:Ethernet0") && s.contains("r2:Ethernet0"),
        "links table: {s}"
    );
    // The interface map, the topology view and the filter, on the live lab.
    assert!(s.contains("Ethernet0=eth1"), "interface map: {s}");
    tmux.keys(&["T"]);
    tmux.wait_for("T back to the dashboard", Duration::from_secs(5));
    let t = tmux.wait_for(
        "0  r1 Ethernet0 (eth1) ── r2 Ethernet0 (eth1)",
        Duration::from_secs(5),
    );
    assert_eq!(
        t.matches("running").count(),
        2,
        "both boxes say running: {t}"
    );
    tmux.keys(&["T"]);
    tmux.keys(&["/"]);
    tmux.type_text("r2");
    tmux.keys(&["Enter"]);
    tmux.wait_for("filter: r2 (1/2)", Duration::from_secs(5));
    tmux.keys(&["/"]);
    tmux.keys(&["Escape"]);
    tmux.wait_for("┌ nodes ─", Duration::from_secs(5));

    // V runs the lab's checks over real SSH; the panel fills in and says how they went.
    tmux.keys(&["V"]);
    let v = tmux.wait_for("2 pass · 1 FAIL · ", Duration::from_secs(60));
    assert!(!v.contains("running…"), "{v}");
    assert!(
        v.lines()
            .any(|l| l.contains("r2-says-hello") && l.contains("r2") && l.contains("FAIL")),
        "{v}"
    );
    assert_eq!(
        v.lines()
            // The table's rows (its column is padded; the log's lines say "kernel-is-linux:").
            .filter(|l| l.contains("kernel-is-linux   ") && l.contains(" pass "))
            .count(),
        2,
        "{v}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("checks: 2 of 3 pass", Duration::from_secs(5));

    tmux.keys(&["Enter"]);
    tmux.wait_for("r1 console (connected)", Duration::from_secs(10));
    // The tab shows what the console showed last (the guest's boot banner), as `vmlab
    // console` does, before anything is typed.
    tmux.wait_for("vmlab tiny guest", Duration::from_secs(10));
    // The open tab holds the console: a second viewer is told it is the TUI.
    let second = lab.vmlab(&["console", "--lab", "tuilab", "r1"]);
    assert!(
        stderr(&second).contains("held by vmlab tui (pid"),
        "{}",
        stderr(&second)
    );
    // Wake the shell, then type.
    tmux.keys(&["Enter"]);
    tmux.type_text("echo tui-$((6*7))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("tui-42", Duration::from_secs(20));

    tmux.keys(&["C-]"]);
    tmux.wait_for("↑↓ select", Duration::from_secs(5));
    tmux.keys(&["s"]);
    tmux.wait_for("r1 ssh (connected)", Duration::from_secs(20));
    tmux.wait_for("built-in shell", Duration::from_secs(30));
    tmux.type_text("echo ssh-$((7*7))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ssh-49", Duration::from_secs(20));

    tmux.keys(&["C-]"]);
    tmux.wait_for("↑↓ select", Duration::from_secs(5));
    tmux.keys(&["q"]);
    let s = tmux.wait_for("EXIT=", Duration::from_secs(10));
    assert!(s.contains("EXIT=0"), "tui exit: {s}");
    // The shell prints stty's verdict just after EXIT=: wait for it too.
    let s = tmux.wait_for("icanon", Duration::from_secs(10));
    let after = s
        .lines()
        .skip_while(|l| !l.starts_with("EXIT="))
        .collect::<Vec<_>>();
    assert!(
        after.iter().any(|l| l.trim() == "icanon"),
        "terminal not restored (stty): {s}"
    );
    assert!(
        !after.iter().any(|l| l.trim() == "-icanon"),
        "terminal left raw: {s}"
    );

    // The lab is still up after quitting the TUI.
    let st = lab.vmlab(&["status", "--json"]);
    assert!(stdout(&st).contains("\"running\""), "{}", stdout(&st));
}

#[test]
fn quitting_the_tui_mid_deploy_stops_what_it_started() {
    let lab = two_node_lab("tuiquit", 22550, 25550, 27550);
    let tmux = Tmux::new();
    let script = format!(
        "VMLAB_HOME='{}' '{}' tui -S '{}' --accel tcg; echo \"EXIT=$?\"; sleep 600",
        lab.home().display(),
        vmlab_bin(),
        lab.specs().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "35",
        &script,
    ]);
    // Both QEMUs run and the dashboard says it is deploying: quit now.
    tmux.wait_for("deploying", Duration::from_secs(20));
    let t0 = Instant::now();
    while lab.qemus().len() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(20), "VMs never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.keys(&["q"]);
    let s = tmux.wait_for("EXIT=", Duration::from_secs(30));
    assert!(s.contains("EXIT=0"), "tui exit: {s}");
    assert!(
        lab.qemus().is_empty(),
        "QEMU left running after quitting mid-deploy"
    );
    assert!(!lab.lab_dir().exists(), "lab directory left behind");
}
