//! Bad input is refused before anything starts: the error names the file, the field and the
//! fix, the exit code is non-zero, no lab directory appears and the profiles stay byte-identical.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;

const TOPOLOGY: &str = r#"{
  "name": "bad",
  "devices": { "r1": {}, "r2": {} },
  "links": [ { "a": "r1:Ethernet0", "z": "r2:Ethernet0" } ],
  "vmlab": { "link_port_base": 23100, "console_port_base": 26100, "ssh_port_base": 28100 }
}
"#;

/// A lab whose image exists (an empty qcow2 is enough: nothing boots in these tests).
fn good_lab() -> TestLab {
    let lab = TestLab::new("bad");
    let image = lab.root.path().join("img.qcow2");
    let ok = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&image)
        .arg("16M")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "qemu-img is needed for these tests (run .ci/run or scripts/setup)"
    );
    lab.write("platforms.json", &tiny_platforms(&image, 60));
    lab.write("topology.json", TOPOLOGY);
    lab.write(
        "profiles/r1.json",
        "{\n  \"platform\": \"tiny-stride\",\n  \"mgmt_ip\": \"PLACEHOLDER\"\n}\n",
    );
    lab.write(
        "profiles/r2.json",
        "{\"platform\": \"tiny-seq\", \"site\": \"s\"}",
    );
    lab
}

/// Deploys, expects a refusal mentioning every `needle`, and checks nothing changed.
fn refused(lab: &TestLab, needles: &[&str]) -> String {
    let before: Vec<String> = ["profiles/r1.json", "profiles/r2.json"]
        .iter()
        .map(|p| std::fs::read_to_string(lab.specs().join(p)).unwrap_or_default())
        .collect();
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        lab.specs().to_str().unwrap(),
        "--accel",
        "tcg",
    ]);
    let err = stderr(&o);
    assert!(!o.status.success(), "deploy accepted bad input:\n{err}");
    assert_eq!(o.status.code(), Some(2), "bad input exits 2:\n{err}");
    for n in needles {
        assert!(err.contains(n), "error does not mention {n:?}:\n{err}");
    }
    assert!(!lab.home().join("labs").exists(), "something was deployed");
    assert!(lab.qemus().is_empty());
    let after: Vec<String> = ["profiles/r1.json", "profiles/r2.json"]
        .iter()
        .map(|p| std::fs::read_to_string(lab.specs().join(p)).unwrap_or_default())
        .collect();
    assert_eq!(before, after, "profiles changed");
    err
}

#[test]
fn the_good_lab_passes_a_dry_run() {
    let lab = good_lab();
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("qemu-system-x86_64 -name"), "{out}");
    assert!(
        out.contains("-netdev 'dgram,id=link0,local.type=unix"),
        "{out}"
    );
    assert!(out.contains("no ports are bound for links"), "{out}");
    assert!(
        !lab.home().join("labs").exists(),
        "dry run started something"
    );
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        "{\n  \"devices\": {\n    \"r1\": {},\n  }\n}\n",
    );
    refused(
        &lab,
        &["topology.json", "line 4, column 3", "malformed JSON"],
    );
}

#[test]
fn link_to_an_unknown_device() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        &TOPOLOGY.replace("r2:Ethernet0", "r9:Ethernet0"),
    );
    refused(
        &lab,
        &["topology.json", "links[0].z", "unknown device \"r9\""],
    );
}

#[test]
fn an_interface_on_two_links() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        &TOPOLOGY.replace(
            r#"{ "a": "r1:Ethernet0", "z": "r2:Ethernet0" }"#,
            r#"{ "a": "r1:Ethernet0", "z": "r2:Ethernet0" }, { "a": "r1:Ethernet0", "z": "r2:Ethernet1" }"#,
        ),
    );
    refused(
        &lab,
        &["links[1].a", "r1:Ethernet0 is already on links[0].a"],
    );
}

#[test]
fn unknown_platform() {
    let lab = good_lab();
    lab.write("profiles/r1.json", "{\"platform\": \"sonic-nope\"}");
    refused(
        &lab,
        &[
            "profiles/r1.json",
            "platform",
            "unknown platform \"sonic-nope\"",
            "tiny-stride",
        ],
    );
}

#[test]
fn missing_image() {
    let lab = good_lab();
    lab.write(
        "profiles/r2.json",
        "{\"platform\": \"tiny-seq\", \"vm_image\": \"images/none.qcow2\"}",
    );
    refused(
        &lab,
        &[
            "profiles/r2.json",
            "vm_image",
            "none.qcow2 (node r2) does not exist",
        ],
    );
}

#[test]
fn an_interface_the_map_cannot_place() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        &TOPOLOGY.replace("r1:Ethernet0", "r1:Ethernet2"),
    );
    refused(&lab, &["links[0].a", "Ethernet2", "stride-4"]);
}

#[test]
fn ports_past_65535() {
    let lab = good_lab();
    lab.write("topology.json", &TOPOLOGY.replace("28100", "65535"));
    refused(&lab, &["vmlab.ssh_port_base", "past 65535"]);
}

#[test]
fn a_port_already_in_use() {
    let lab = good_lab();
    // Ports of its own: the other tests here run at the same time, and dry runs check ports.
    // With the ports preferred (the default) the dry run moves to the next free block and
    // says who held the spec's.
    let moving = TOPOLOGY.replace("26100", "26150").replace("28100", "28150");
    lab.write("topology.json", &moving);
    let held = std::net::TcpListener::bind("127.0.0.1:28151").unwrap();
    let o = lab.vmlab(&["deploy", lab.specs().to_str().unwrap(), "--dry-run"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains(&format!(
            "# ports: the spec's ssh ports 28150–28151 are taken (by {}",
            ""
        )) && out.contains(&format!("(pid {}))", std::process::id()))
            && out.contains("this lab uses ssh ports 28152–28153"),
        "{out}"
    );
    assert!(out.contains("hostfwd=tcp:127.0.0.1:28152-:22"), "{out}");
    // `vmlab.ports: "exact"` refuses instead, naming the holder.
    let ports = moving.replace(
        "\"ssh_port_base\"",
        "\"ports\": \"exact\", \"ssh_port_base\"",
    );
    lab.write("topology.json", &ports);
    let err = refused(
        &lab,
        &[
            "topology.json",
            "vmlab.ssh_port_base",
            "port 28151 (ssh of r2) is already in use",
        ],
    );
    assert!(
        err.contains(&format!("(pid {})", std::process::id())),
        "{err}"
    );
    drop(held);
    // Consoles take ports only when asked to (`consoles: "tcp"`); then theirs are checked.
    lab.write(
        "topology.json",
        &ports.replace(
            "\"ssh_port_base\"",
            "\"consoles\": \"tcp\", \"ssh_port_base\"",
        ),
    );
    let _held = std::net::TcpListener::bind("127.0.0.1:26151").unwrap();
    refused(
        &lab,
        &[
            "topology.json",
            "vmlab.console_port_base",
            "port 26151 (console of r2) is already in use",
        ],
    );
}

#[test]
fn a_device_name_unsafe_as_a_file_name() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        &TOPOLOGY.replace("\"r2\": {}", "\"../r2\": {}"),
    );
    refused(&lab, &["devices.../r2", "not safe as a file name"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        &TOPOLOGY
            .replace("r2:Ethernet0", "r9:Ethernet0")
            .replace("28100", "70000"),
    );
    lab.write("profiles/r1.json", "{\"platform\": \"sonic-nope\"}");
    let err = refused(
        &lab,
        &["unknown device", "unknown platform", "ssh_port_base"],
    );
    assert!(err.contains("3 problems"), "{err}");
}

#[test]
fn commands_without_a_lab_list_what_exists() {
    let lab = TestLab::new("none");
    let o = lab.vmlab(&["status"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no lab is deployed"), "{}", stderr(&o));
    let o = lab.vmlab(&["ssh", "--lab", "ghost", "r1"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("lab \"ghost\" is not deployed"));
}

#[test]
fn symlinked_spec_files_are_read() {
    let lab = good_lab();
    // Move the real files elsewhere and leave symlinks in the spec dir.
    let real = lab.root.path().join("shared");
    std::fs::create_dir_all(real.join("profiles")).unwrap();
    for f in ["topology.json", "platforms.json", "profiles/r1.json"] {
        std::fs::rename(lab.specs().join(f), real.join(f)).unwrap();
        std::os::unix::fs::symlink(real.join(f), lab.specs().join(f)).unwrap();
    }
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // "1 link", not "1 links".
    assert!(out.contains("# lab bad (2 nodes, 1 link)"), "{out}");
    assert!(
        lab.specs()
            .join("profiles/r1.json")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_user_name_that_reads_as_an_ssh_option_is_refused() {
    let lab = good_lab();
    let pwned = lab.root.path().join("pwned");
    lab.write(
        "profiles/r1.json",
        &serde_json::json!({
            "platform": "tiny-stride",
            "ssh_user": format!("-oProxyCommand=touch {}", pwned.display())
        })
        .to_string(),
    );
    let err = refused(&lab, &["profiles/r1.json", "ssh_user", "user name"]);
    assert!(err.contains("must start with"), "{err}");
    assert!(!pwned.exists(), "the spec ran a command");
}

#[test]
fn spec_values_never_become_qemu_options() {
    let lab = good_lab();
    lab.write(
        "profiles/r1.json",
        r#"{"platform": "tiny-stride", "vm_nic_driver": "e1000,romfile=/etc/shadow",
            "vm_cpu_features": "+sse4.2,-machine,x=-y", "vm_image": "/tmp/x\n-snapshot"}"#,
    );
    let err = refused(
        &lab,
        &[
            "vm_nic_driver",
            "vm_cpu_features",
            "vm_image",
            "control character",
        ],
    );
    assert!(err.contains("3 problems"), "{err}");
}

#[test]
fn a_value_repeated_by_every_node_is_reported_once() {
    let lab = good_lab();
    // A platform both nodes use, with a string where a number belongs.
    let image = lab.root.path().join("img.qcow2");
    lab.write(
        "platforms.json",
        &serde_json::json!({ "platforms": {
            "tiny-stride": { "vm_image": image, "vm_memory": "256", "vm_interface_map": "stride-4" },
            "tiny-seq": { "vm_image": image, "vm_memory": "256", "vm_interface_map": "sequential" }
        }})
        .to_string(),
    );
    let err = refused(&lab, &["vm_memory"]);
    assert!(
        err.contains("2 problems"),
        "one per platform, not per node:\n{err}"
    );
    // No platforms.json at all: one problem, not one per node.
    std::fs::remove_file(lab.specs().join("platforms.json")).unwrap();
    lab.write("profiles/r2.json", "{\"platform\": \"tiny-stride\"}");
    let err = refused(&lab, &["platforms.json does not exist"]);
    assert!(err.contains("1 problem in"), "{err}");
}

#[test]
fn declared_impairments_are_checked() {
    let lab = good_lab();
    lab.write(
        "topology.json",
        &TOPOLOGY.replace(
            r#"{ "a": "r1:Ethernet0", "z": "r2:Ethernet0" }"#,
            r#"{ "a": "r1:Ethernet0", "z": "r2:Ethernet0",
                 "impair": { "delay": "-5ms", "loss": "120%", "rate": "fast", "direction": "up" } }"#,
        ),
    );
    let err = refused(
        &lab,
        &[
            "links[0].impair.delay",
            "negative",
            "links[0].impair.loss",
            "0% to 100%",
            "links[0].impair.rate",
            "links[0].impair.direction",
        ],
    );
    assert!(err.contains("4 problems"), "{err}");
    // A direct link has nothing to impair it.
    lab.write(
        "topology.json",
        &TOPOLOGY.replace(
            r#"{ "a": "r1:Ethernet0", "z": "r2:Ethernet0" }"#,
            r#"{ "a": "r1:Ethernet0", "z": "r2:Ethernet0", "transport": "direct",
                 "impair": { "delay": "5ms" } }"#,
        ),
    );
    refused(&lab, &["links[0].impair", "direct link"]);
}

#[test]
fn boot_waits_must_name_nodes_and_never_go_round() {
    let lab = good_lab();
    lab.write(
        "profiles/r1.json",
        "{\"platform\": \"tiny-stride\", \"vm_wait_for\": [\"r2\"]}",
    );
    lab.write(
        "profiles/r2.json",
        "{\"platform\": \"tiny-seq\", \"vm_wait_for\": [\"r1\"]}",
    );
    refused(
        &lab,
        &[
            "profiles/r1.json",
            "vm_wait_for",
            "circle",
            "r1 waits for r2 waits for r1",
        ],
    );
    lab.write(
        "profiles/r2.json",
        "{\"platform\": \"tiny-seq\", \"vm_wait_for\": [\"r9\"]}",
    );
    lab.write("profiles/r1.json", "{\"platform\": \"tiny-stride\"}");
    refused(
        &lab,
        &[
            "profiles/r2.json",
            "vm_wait_for",
            "r2 waits for \"r9\", which is not a node",
        ],
    );
    lab.write(
        "topology.json",
        &TOPOLOGY.replace(
            "\"ssh_port_base\": 28100",
            "\"ssh_port_base\": 28100, \"max_parallel_boots\": 0",
        ),
    );
    lab.write("profiles/r2.json", "{\"platform\": \"tiny-seq\"}");
    refused(&lab, &["vmlab.max_parallel_boots", "from 1 to 1024"]);
}

#[test]
fn qemu_args_are_a_checked_list() {
    let lab = good_lab();
    lab.write(
        "profiles/r1.json",
        "{\"platform\": \"tiny-stride\", \"vm_qemu_args\": \"-rtc base=utc\"}",
    );
    refused(&lab, &["vm_qemu_args", "must be a list of strings"]);
    lab.write(
        "profiles/r1.json",
        r#"{"platform": "tiny-stride", "vm_qemu_args": ["-rtc", "base=utc", "-incoming", "exec:touch /tmp/pwned"]}"#,
    );
    refused(
        &lab,
        &[
            "vm_qemu_args[2]",
            "\"-incoming\" is not an option vmlab lets a spec add",
        ],
    );
    // Allowed ones reach the command line, shown by --dry-run.
    lab.write(
        "profiles/r1.json",
        r#"{"platform": "tiny-stride", "vm_qemu_args": ["-rtc", "base=utc,clock=vm", "-no-hpet"]}"#,
    );
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("-rtc 'base=utc,clock=vm' -no-hpet"),
        "{}",
        stdout(&o)
    );
}

fn with_hosts(lab: &TestLab, hosts: &str) {
    lab.write(
        "topology.json",
        &TOPOLOGY.replace(
            r#""ssh_port_base": 28100 }"#,
            &format!(r#""ssh_port_base": 28100, "hosts": {hosts} }}"#),
        ),
    );
}

/// Places r1 on host `r1` and r2 on host `r2` (their profiles' `vm_host`).
fn place(lab: &TestLab, r1: &str, r2: &str) {
    lab.write(
        "profiles/r1.json",
        &format!("{{\"platform\": \"tiny-stride\", \"vm_host\": \"{r1}\"}}"),
    );
    lab.write(
        "profiles/r2.json",
        &format!("{{\"platform\": \"tiny-seq\", \"vm_host\": \"{r2}\"}}"),
    );
}

#[test]
fn a_node_on_an_unknown_host() {
    let lab = good_lab();
    with_hosts(&lab, r#"{ "h1": "127.0.0.2", "h2": "127.0.0.3" }"#);
    place(&lab, "h9", "h2");
    refused(
        &lab,
        &[
            "profiles/r1.json",
            "vm_host",
            "\"h9\"",
            "use one of: h1, h2",
        ],
    );
}

#[test]
fn a_host_missing_from_hosts() {
    let lab = good_lab();
    lab.write(
        "profiles/r1.json",
        "{\"platform\": \"tiny-stride\", \"vm_host\": \"h1\"}",
    );
    refused(&lab, &["profiles/r1.json", "vm_host", "no vmlab.hosts"]);
    // With hosts, a node left unplaced is named too.
    with_hosts(&lab, r#"{ "h1": "127.0.0.2" }"#);
    refused(&lab, &["profiles/r2.json", "r2 has no vm_host"]);
}

#[test]
fn an_invalid_host_address() {
    let lab = good_lab();
    with_hosts(&lab, r#"{ "h1": "127.0.0.300" }"#);
    refused(
        &lab,
        &["topology.json", "vmlab.hosts.h1", "is not an IP address"],
    );
}

#[test]
fn a_multi_host_lab_without_its_host() {
    let lab = good_lab();
    with_hosts(&lab, r#"{ "h1": "127.0.0.2", "h2": "127.0.0.3" }"#);
    place(&lab, "h1", "h2");
    refused(&lab, &["no host was named", "--host <name>"]);
    // A host whose address is not this machine's.
    with_hosts(&lab, r#"{ "h1": "192.0.2.1", "h2": "127.0.0.3" }"#);
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        lab.specs().to_str().unwrap(),
        "--accel",
        "tcg",
        "--host",
        "h1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("192.0.2.1 (host h1) is not an address of this machine"),
        "{}",
        stderr(&o)
    );
    assert!(!lab.lab_dir().exists());
}

/// `qemu-img create` of a qcow2 in `dir` whose backing file is `backing` (not opened: `-u`).
fn qcow2_backed_by(dir: &std::path::Path, name: &str, backing: &str) -> std::path::PathBuf {
    let image = dir.join(name);
    let o = std::process::Command::new("qemu-img")
        .args([
            "create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", backing,
        ])
        .arg(&image)
        .arg("1M")
        .output()
        .expect("qemu-img");
    assert!(o.status.success(), "{}", stderr(&o));
    image
}

#[test]
fn an_image_whose_backing_chain_leaves_its_directory_is_refused() {
    let lab = good_lab();
    // A host file outside the image's directory, a protocol, and a chain that is fine.
    let secret = lab.root.path().join("secret.txt");
    std::fs::write(&secret, "host secret\n").unwrap();
    let imgs = lab.root.path().join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    let stolen = qcow2_backed_by(&imgs, "stolen.qcow2", secret.to_str().unwrap());
    let json = qcow2_backed_by(
        &imgs,
        "json.qcow2",
        r#"json:{"driver":"raw","file":{"driver":"file","filename":"/etc/hostname"}}"#,
    );
    std::fs::write(imgs.join("base.raw"), vec![0u8; 1 << 20]).unwrap();
    let fine = qcow2_backed_by(&imgs, "fine.qcow2", "base.raw");

    // Deploy's preflight (and so doctor) names the node, the image and what it reaches.
    for (image, needle) in [
        (&stolen, "backing file outside its directory"),
        (&json, "through a protocol"),
    ] {
        lab.write("platforms.json", &tiny_platforms(image, 60));
        refused(&lab, &["platforms.json", "vm_image", needle]);
        let o = lab.vmlab(&["doctor", "-S", lab.specs().to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(8), "{}", stdout(&o));
        assert!(stdout(&o).contains(needle), "{}", stdout(&o));
    }
    // Import refuses before converting: no image with the host file's bytes appears.
    for image in [&stolen, &json] {
        let o = lab.vmlab(&["image", "import", image.to_str().unwrap(), "--name", "x"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(!lab.home().join("images/x.qcow2").exists());
    }
    // A chain that stays beside the image is used and imported as before.
    lab.write("platforms.json", &tiny_platforms(&fine, 60));
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lab.vmlab(&["image", "import", fine.to_str().unwrap(), "--name", "ok"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A link written on a device's interface and in `links` must agree: one written only on the
/// interface, a typo in its other end, or one that `links` wires otherwise is named with both
/// places; nothing is silently left unwired.
#[test]
fn links_declared_on_interfaces_agree_with_links() {
    let declared = |r1: &str, r2: &str| {
        TOPOLOGY.replace(
            r#""devices": { "r1": {}, "r2": {} }"#,
            &format!(
                r#""devices": {{ "r1": {{ "interfaces": {{ {r1} }} }}, "r2": {{ "interfaces": {{ {r2} }} }} }}"#
            ),
        )
    };
    // Written the same in both places: a good lab.
    let lab = good_lab();
    lab.write(
        "topology.json",
        &declared(
            r#""Ethernet0": { "link": "r2:Ethernet0" }"#,
            r#""Ethernet0": { "link": "r1:Ethernet0" }"#,
        ),
    );
    let o = lab.vmlab(&["deploy", "--dry-run", "-S", lab.specs().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A second link only on the interfaces, with a typo at one end.
    let lab = good_lab();
    lab.write(
        "topology.json",
        &declared(
            r#""Ethernet0": { "link": "r2:Ethernet0" }, "Ethernet4": { "link": "r2:Ethernet4" }"#,
            r#""Ethernet0": { "link": "r1:Ethernet0" }, "Ethernet4": { "link": "r3:Ethernet4" }"#,
        ),
    );
    refused(
        &lab,
        &[
            "devices.r1.interfaces.Ethernet4.link",
            "no entry of links holds r1:Ethernet4",
            "devices.r2.interfaces.Ethernet4.link",
            "no device \"r3\"",
        ],
    );
    // Declared on the interface one way, wired in `links` another.
    let lab = good_lab();
    lab.write(
        "topology.json",
        &declared(r#""Ethernet0": { "link": "r2:Ethernet4" }"#, ""),
    );
    refused(
        &lab,
        &[
            "devices.r1.interfaces.Ethernet0.link",
            "but links[0] links it to r2:Ethernet0",
        ],
    );
}

/// A network directory with newtron's files but no `nodes/` folder is told what newtron's
/// layout expects (its nodes), not the design's words (devices, profiles).
#[test]
fn a_newtron_network_without_nodes_is_told_about_nodes() {
    let lab = TestLab::new("nonodes");
    std::fs::remove_dir(lab.specs().join("profiles")).unwrap();
    lab.write("topology.json", r#"{"devices": {"r1": {}}}"#);
    lab.write("network.json", "{}");
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no nodes/ folder"), "{err}");
    assert!(err.contains("nodes/<node>.json"), "{err}");
    assert!(!err.contains("platforms.json:"), "{err}");
}

/// Port bases from the command line instead of the spec's (newtron's files are never
/// written): the plan uses them, and checks them as it checks the spec's.
#[test]
fn port_bases_can_be_given_at_deploy() {
    let lab = good_lab();
    let specs = lab.specs();
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        specs.to_str().unwrap(),
        "--dry-run",
        "--ssh-port-base",
        "41234",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("hostfwd=tcp:127.0.0.1:41234-:22"),
        "{}",
        stdout(&o)
    );
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        specs.to_str().unwrap(),
        "--dry-run",
        "--ssh-port-base",
        "65535",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `vm_files` hands a guest files of the spec only: a bad name, a path out of the spec, a
/// symlink out of it or a missing file is refused naming the profile and field; a good one
/// reaches QEMU's command line as fw_cfg, beside the node's name and port names.
#[test]
fn guest_files_stay_inside_the_spec() {
    let lab = good_lab();
    lab.write("files/r1.conf", "hostname r1\n");
    lab.write(
        "profiles/r1.json",
        r#"{"platform": "tiny-stride", "vm_files": {"frr.conf": "files/r1.conf"}}"#,
    );
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let conf = lab.specs().join("files/r1.conf");
    assert!(
        out.contains(&format!("name=opt/vmlab/frr.conf,file={}", conf.display())),
        "{out}"
    );
    assert!(out.contains("name=opt/vmlab/hostname,string=r1"), "{out}");
    assert!(out.contains("Ethernet0'"), "{out}");

    for (files, needles) in [
        (
            r#"{"../x": "files/r1.conf"}"#,
            &["r1.json", "vm_files.../x", "names a guest file badly"][..],
        ),
        (
            r#"{"hostname": "files/r1.conf"}"#,
            &["vm_files.hostname", "vmlab gives every guest itself"][..],
        ),
        (
            r#"{"frr.conf": "../../etc/passwd"}"#,
            &["vm_files.frr.conf", "inside the spec directory"][..],
        ),
        (
            r#"{"frr.conf": "/etc/passwd"}"#,
            &["vm_files.frr.conf", "relative to the spec directory"][..],
        ),
        (
            r#"{"frr.conf": "files/missing.conf"}"#,
            &["vm_files.frr.conf", "does not exist"][..],
        ),
        (
            r#"{"frr.conf": "files/out"}"#,
            &["vm_files.frr.conf", "leads outside the spec directory"][..],
        ),
        (r#"["files/r1.conf"]"#, &["vm_files", "an object"][..]),
    ] {
        let _ = std::fs::remove_file(lab.specs().join("files/out"));
        std::os::unix::fs::symlink("/etc/passwd", lab.specs().join("files/out")).unwrap();
        lab.write(
            "profiles/r1.json",
            &format!(r#"{{"platform": "tiny-stride", "vm_files": {files}}}"#),
        );
        refused(&lab, needles);
    }
}
