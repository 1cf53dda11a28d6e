//! newtron's boot patches on real VMs: a newtron network of a sonic-vs switch, a vpp switch
//! and a host, each a router guest whose `sudo`, `docker`, `systemctl`, `redis-cli` and
//! `config` are stand-ins that log their arguments. After deploy each switch's log holds its
//! patches' commands in order, the files are where `dest` says with the rendered content,
//! VPP's PCI list is the VM's own data-NIC addresses, the host got nothing; a restart applies
//! them again and a snapshot restore does not. A patch that fails fails the deploy, saying
//! which patch, which command and what it printed, and leaves nothing running.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn write_json(path: &Path, v: &Value) {
    write(path, &serde_json::to_string_pretty(v).unwrap());
}

/// The guest's stand-ins (run by the router guest's /init before SSH starts): each logs its
/// name and its arguments, each in `<>`, to /var/log/standins.log; `sudo` then runs the
/// command; `docker` answers what newtron's waits look for.
const STANDINS: &str = r#"#!/bin/sh
log=/var/log/standins.log
: > "$log"
mk() {
  cat > "/usr/bin/$1" <<EOF
#!/bin/sh
{ printf '%s' "\${0##*/}"; for a in "\$@"; do printf ' <%s>' "\$a"; done; echo; } >> $log
$2
EOF
  chmod 755 "/usr/bin/$1"
}
mk sudo 'exec "$@"'
mk systemctl 'exit 0'
mk config 'exit 0'
mk redis-cli 'exit 0'
mk docker 'case "$1" in
  ps) echo "CONTAINER ID  IMAGE  NAMES"; echo "0a1b docker-fpm-frr bgp"; echo "2c3d docker-orchagent swss" ;;
  exec) case "$*" in *"supervisorctl status"*) echo "frrcfgd  RUNNING  pid 42" ;; esac ;;
esac'
mkdir -p /etc/sonic/vpp /usr/share/sonic/device/x86_64-kvm_x86_64-r0/Force10-S6000 \
  /etc/config-setup/factory-default-hooks.d
echo 'factory hook' > /etc/config-setup/factory-default-hooks.d/10-01-vpp-cfg-init
touch /run/config-setup.done
"#;

const HWSKU_DIR: &str = "/usr/share/sonic/device/x86_64-kvm_x86_64-r0/Force10-S6000";

/// Patch sets in the layout and constructs of newtron's pkg/newtlab/patches.
fn write_patches(root: &Path) {
    let p = root.join("patches");
    write_json(
        &p.join("sonic-vs/always/00-frrcfgd-mode.json"),
        &json!({
            "description": "Enable frrcfgd",
            "pre_commands": ["for i in $(seq 1 60); do docker ps 2>/dev/null | grep -q ' bgp$' && break; sleep 5; done"],
            "redis": [{"db": 4, "template": "frrcfgd_mode.tmpl"}],
            "post_commands": [
                "sudo systemctl restart bgp",
                "for i in $(seq 1 60); do docker exec bgp supervisorctl status frrcfgd 2>&1 | grep -q RUNNING && break; sleep 3; done"
            ]
        }),
    );
    write(
        &p.join("sonic-vs/always/frrcfgd_mode.tmpl"),
        "HSET \"DEVICE_METADATA|localhost\" \"docker_routing_config_mode\" \"unified\"\nHSET \"DEVICE_METADATA|localhost\" \"frr_mgmt_framework_config\" \"true\"\n",
    );
    write_json(
        &p.join("sonic-vs/always/01-clean-factory-config.json"),
        &json!({
            "description": "Remove factory CONFIG_DB entries",
            "post_commands": [
                "redis-cli -n 4 KEYS 'BGP_NEIGHBOR|*' | xargs -r redis-cli -n 4 DEL",
                "sudo config save -y"
            ]
        }),
    );
    write_json(
        &p.join("vpp/always/01-disable-factory-hook.json"),
        &json!({
            "description": "Disable the factory hook",
            "pre_commands": ["for i in $(seq 1 30); do [ -e /run/config-setup.done ] && break; sleep 1; done"],
            "disable_files": [
                "/etc/config-setup/factory-default-hooks.d/10-01-vpp-cfg-init",
                "/etc/config-setup/no-such-hook"
            ]
        }),
    );
    write_json(
        &p.join("vpp/always/02-port-config.json"),
        &json!({
            "description": "Write VPP's port files",
            "files": [
                {"template": "syncd_vpp_env.tmpl", "dest": "/etc/sonic/vpp/syncd_vpp_env"},
                {"template": "port_config.ini.tmpl", "dest": "{{.HWSkuDir}}/port_config.ini"},
                {"template": "sonic_vpp_ifmap.ini.tmpl", "dest": "{{.HWSkuDir}}/sonic_vpp_ifmap.ini"}
            ],
            "redis": [{"db": 4, "template": "port_entries.tmpl"}],
            "post_commands": ["sudo config save -y", "sudo systemctl restart syncd", "sudo systemctl restart swss"]
        }),
    );
    write(
        &p.join("vpp/always/syncd_vpp_env.tmpl"),
        "DPDK_DISABLE=n\nVPP_DPDK_PORTS={{range $i, $addr := .PCIAddrs}}{{if $i}},{{end}}{{$addr}}{{end}}\nSONIC_NUM_PORTS={{.NumPorts}}\nVPP_PORT_LIST={{range $i, $_ := .PCIAddrs}}{{if $i}},{{end}}eth{{add $i 1}}{{end}}\nNO_LINUX_NL=y\n",
    );
    write(
        &p.join("vpp/always/port_config.ini.tmpl"),
        "# name  lanes  alias  index  speed\n{{- range $i, $p := .Ports}}\n{{$p.Name}}  {{$i}}  {{$p.Name}}  {{$i}}  {{$.PortSpeed}}\n{{- end}}\n",
    );
    write(
        &p.join("vpp/always/sonic_vpp_ifmap.ini.tmpl"),
        "{{- range $i, $p := .Ports}}\n{{$p.Name}} bobm{{$i}}\n{{- end}}\n",
    );
    write(
        &p.join("vpp/always/port_entries.tmpl"),
        "EVAL \"for _,k in ipairs(redis.call('KEYS','PORT|*')) do redis.call('DEL',k) end\" 0\n{{- range $i, $p := .Ports}}\nHSET \"PORT|{{$p.Name}}\" admin_status up alias {{$p.Name}} index {{$i}} lanes {{$i}} speed {{$.PortSpeed}}\n{{- end}}\n",
    );
    write(
        &p.join("vpp/always/README.md"),
        "not a patch: only *.json are\n",
    );
    write_json(
        &p.join("vpp/202405/03-release.json"),
        &json!({"description": "Release 202405 only", "post_commands": ["sudo systemctl restart vpp-202405"]}),
    );
    // Another release's patches are not this platform's.
    write_json(
        &p.join("vpp/202311/03-other.json"),
        &json!({"description": "Not ours", "post_commands": ["sudo systemctl restart wrong-release"]}),
    );
}

/// A newtron network beside its platforms registry and the patch folder (`patches/`, where
/// vmlab looks when nothing names one).
fn write_network(root: &Path) -> std::path::PathBuf {
    let image = router_image();
    let platform = |name: &str, extra: Value, ports: Vec<(String, u32)>| {
        let mut p = json!({
            "name": name, "description": "router guest with stand-ins",
            "port_count": ports.len(),
            "ports": ports.iter().map(|(n, k)| json!({"name": n, "nic_index": k})).collect::<Vec<_>>(),
            "vm_image": image, "vm_memory": 512, "vm_cpus": 1,
            "vm_nic_driver": "virtio-net-pci",
            "credentials": {"user": "admin", "pass": "YourPaSsWoRd"},
            "vm_boot_timeout": 300,
            "vm_files": {"setup.sh": "files/standins.sh"}
        });
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    let reg = root.join("platforms");
    write_json(
        &reg.join("Test-S6000_vs.json"),
        &platform(
            "Test-S6000_vs",
            json!({"hwsku": "Force10-S6000", "default_speed": "40000", "dataplane": "sonic-vs"}),
            (0..4)
                .map(|i| (format!("Ethernet{}", 4 * i), i + 1))
                .collect(),
        ),
    );
    write_json(
        &reg.join("Test-S6000_vpp.json"),
        &platform(
            "Test-S6000_vpp",
            json!({"hwsku": "Force10-S6000", "default_speed": "100G", "dataplane": "vpp",
                   "vm_image_release": "202405"}),
            (0..8).map(|i| (format!("Ethernet{i}"), i + 1)).collect(),
        ),
    );
    // newtlab never patches a host, whatever its platform says; nor does vmlab.
    write_json(
        &reg.join("Test-host.json"),
        &platform(
            "Test-host",
            json!({"device_type": "host", "dataplane": "sonic-vs"}),
            vec![("eth0".into(), 1)],
        ),
    );
    let net = root.join("networks/patchlab");
    write_json(
        &net.join("topology.json"),
        &json!({
            "version": "1.0",
            "nodes": {"sw1": {}, "sw2": {}, "host1": {}},
            "links": [
                {"a": "sw1:Ethernet0", "z": "sw2:Ethernet0"},
                {"a": "sw1:Ethernet8", "z": "sw2:Ethernet2"},
                {"a": "sw1:Ethernet4", "z": "host1:eth0"}
            ],
            "newtlab": {"link_port_base": 25100, "console_port_base": 25200,
                        "ssh_port_base": 25300, "coalesce_hosts": false}
        }),
    );
    for (node, platform) in [
        ("sw1", "Test-S6000_vs"),
        ("sw2", "Test-S6000_vpp"),
        ("host1", "Test-host"),
    ] {
        write_json(
            &net.join(format!("nodes/{node}.json")),
            &json!({"platform": platform}),
        );
    }
    write(&net.join("files/standins.sh"), STANDINS);
    net
}

const SW1_LOG: &str = "docker <ps>
redis-cli <-n> <4> <HSET> <DEVICE_METADATA|localhost> <docker_routing_config_mode> <unified>
redis-cli <-n> <4> <HSET> <DEVICE_METADATA|localhost> <frr_mgmt_framework_config> <true>
sudo <systemctl> <restart> <bgp>
systemctl <restart> <bgp>
docker <exec> <bgp> <supervisorctl> <status> <frrcfgd>
redis-cli <-n> <4> <KEYS> <BGP_NEIGHBOR|*>
sudo <config> <save> <-y>
config <save> <-y>
";

fn sw2_log() -> String {
    let hook = "/etc/config-setup/factory-default-hooks.d/10-01-vpp-cfg-init";
    let mut s = format!(
        "sudo <mv> <--> <{hook}> <{hook}.disabled>
sudo <mv> <--> </etc/config-setup/no-such-hook> </etc/config-setup/no-such-hook.disabled>
sudo <tee> <--> </etc/sonic/vpp/syncd_vpp_env>
sudo <tee> <--> <{HWSKU_DIR}/port_config.ini>
sudo <tee> <--> <{HWSKU_DIR}/sonic_vpp_ifmap.ini>
redis-cli <-n> <4> <EVAL> <for _,k in ipairs(redis.call('KEYS','PORT|*')) do redis.call('DEL',k) end> <0>
"
    );
    for i in 0..3 {
        s.push_str(&format!(
            "redis-cli <-n> <4> <HSET> <PORT|Ethernet{i}> <admin_status> <up> <alias> \
             <Ethernet{i}> <index> <{i}> <lanes> <{i}> <speed> <100000>\n"
        ));
    }
    for (cmd, args) in [
        ("config", "<save> <-y>"),
        ("systemctl", "<restart> <syncd>"),
        ("systemctl", "<restart> <swss>"),
        ("systemctl", "<restart> <vpp-202405>"),
    ] {
        s.push_str(&format!("sudo <{cmd}> {args}\n{cmd} {args}\n"));
    }
    s
}

const LOG: &str = "cat /var/log/standins.log";

#[test]
fn boot_patches_reach_newtrons_switches_in_order_and_again_after_a_restart() {
    require_qemu();
    let _image = router_image();
    let _lock = vm_lock();
    let lab = TestLab::new("patchlab");
    let root = lab.root.path().to_path_buf();
    write_patches(&root);
    let net = write_network(&root);
    let net_arg = net.to_str().unwrap();

    // The dry run shows what each switch will get, rendered for its NICs; the host gets none.
    let dry = stdout(&lab.ok(&["deploy", net_arg, "--dry-run"]));
    let section = |node: &str| {
        let start = dry
            .find(&format!("\n# {node}\n"))
            .unwrap_or_else(|| panic!("no {node} in the dry run:\n{dry}"));
        let rest = &dry[start + 1..];
        let end = rest.find("\n\n# ").map_or(rest.len(), |e| e + 1);
        rest[..end].to_string()
    };
    let (s1, s2, h1) = (section("sw1"), section("sw2"), section("host1"));
    assert!(s1.contains("# boot patches (2)"), "{s1}");
    assert!(s2.contains("# boot patches (3)"), "{s2}");
    assert!(!h1.contains("boot patches"), "{h1}");
    for want in [
        "addr=0x09",
        "addr=0x0a",
        "addr=0x0b",
        "#      | VPP_DPDK_PORTS=0000:00:09.0,0000:00:0a.0,0000:00:0b.0",
        "#   3. vpp/202405/03-release.json — Release 202405 only",
        "redis-cli -n 4 HSET 'PORT|Ethernet1' admin_status up alias Ethernet1 index 1 lanes 1 speed 100000",
    ] {
        assert!(s2.contains(want), "sw2's dry run lacks {want:?}:\n{s2}");
    }
    assert!(
        !dry.contains("wrong-release") && !dry.contains("README"),
        "{dry}"
    );

    let o = lab.ok(&["deploy", net_arg, "--progress", "json"]);
    let events: Vec<Value> = stderr(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |node: &str| -> Vec<&Value> { events.iter().filter(|e| e["node"] == node).collect() };
    for (node, total) in [("sw1", 2), ("sw2", 3)] {
        let mine = of(node);
        let patches: Vec<u64> = mine
            .iter()
            .filter(|e| e["event"] == "node_patch")
            .map(|e| {
                assert_eq!(e["total"], total, "{e}");
                e["index"].as_u64().unwrap()
            })
            .collect();
        assert_eq!(patches, (1..=total).collect::<Vec<u64>>(), "{node}");
        let at = |pred: &dyn Fn(&Value) -> bool| mine.iter().position(|e| pred(e));
        let banner = at(&|e| e["stage"] == "ssh-banner").expect("ssh banner");
        let patching = at(&|e| e["stage"] == "patching").expect("patching stage");
        let first = at(&|e| e["event"] == "node_patch").expect("a patch");
        let ready = at(&|e| e["stage"] == "ready").expect("ready");
        assert!(
            banner < patching && patching < first && first < ready,
            "{node}: {mine:?}"
        );
    }
    assert!(
        of("host1")
            .iter()
            .all(|e| e["event"] != "node_patch" && e["stage"] != "patching"),
        "{:?}",
        of("host1")
    );

    // Each switch ran its patches' commands, in order; the host ran none.
    assert_eq!(on(&lab, "sw1", LOG), SW1_LOG);
    assert_eq!(on(&lab, "sw2", LOG), sw2_log());
    assert_eq!(on(&lab, "host1", LOG), "");

    // The files are where dest says, with the rendered content; VPP's PCI list is the VM's
    // data NICs as the guest's own kernel sees them (every NIC but the management one).
    let pci = on(
        &lab,
        "sw2",
        // A virtio NIC's device is the virtio device on its PCI function.
        "for d in /sys/class/net/*; do [ -e $d/device ] && [ ${d##*/} != eth0 ] || continue; \
         p=$(readlink -f $d/device); case ${p##*/} in virtio*) p=${p%/*};; esac; \
         echo ${p##*/}; done | sort | paste -sd, -",
    );
    assert_eq!(pci.trim(), "0000:00:09.0,0000:00:0a.0,0000:00:0b.0");
    assert_eq!(
        on(&lab, "sw2", "cat /etc/sonic/vpp/syncd_vpp_env"),
        format!(
            "DPDK_DISABLE=n\nVPP_DPDK_PORTS={}\nSONIC_NUM_PORTS=3\nVPP_PORT_LIST=eth1,eth2,eth3\nNO_LINUX_NL=y\n",
            pci.trim()
        )
    );
    assert_eq!(
        on(&lab, "sw2", &format!("cat {HWSKU_DIR}/port_config.ini")),
        "# name  lanes  alias  index  speed\nEthernet0  0  Ethernet0  0  100000\n\
         Ethernet1  1  Ethernet1  1  100000\nEthernet2  2  Ethernet2  2  100000\n"
    );
    assert_eq!(
        on(&lab, "sw2", &format!("cat {HWSKU_DIR}/sonic_vpp_ifmap.ini")),
        "\nEthernet0 bobm0\nEthernet1 bobm1\nEthernet2 bobm2\n"
    );
    assert_eq!(
        on(&lab, "sw2", "ls /etc/config-setup/factory-default-hooks.d/"),
        "10-01-vpp-cfg-init.disabled\n"
    );

    // A restart boots sw2 afresh (its root lives in RAM) and applies its patches again.
    let o = lab.ok(&["restart", "--lab", "patchlab", "sw2"]);
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("sw2: boot patch 3/3: Release 202405 only"),
        "{said}"
    );
    assert_eq!(on(&lab, "sw2", LOG), sw2_log());

    // A restore puts the guest back as it was: nothing is applied again.
    lab.ok(&["snapshot", "--lab", "patchlab", "patched"]);
    on(
        &lab,
        "sw2",
        "echo after-the-snapshot >> /var/log/standins.log",
    );
    let o = lab.ok(&["restore", "--lab", "patchlab", "patched"]);
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!said.contains("boot patch"), "{said}");
    assert_eq!(on(&lab, "sw2", LOG), sw2_log());
    assert_eq!(on(&lab, "sw1", LOG), SW1_LOG);
    lab.ok(&["destroy", "--lab", "patchlab"]);
}

#[test]
fn a_failing_boot_patch_fails_the_deploy_naming_the_patch_the_command_and_its_output() {
    let lab = vm_lab("patchfail", 120);
    // The design's layout: the platform names its own patch folder.
    let plats: Value = serde_json::from_str(&lab.read("platforms.json")).unwrap();
    let mut plats = plats;
    plats["platforms"]["tiny-seq"]["dataplane"] = json!("fragile");
    plats["platforms"]["tiny-seq"]["vm_patches"] = json!("my-patches");
    lab.write("platforms.json", &plats.to_string());
    lab.write(
        "topology.json",
        r#"{ "name": "patchfail", "devices": { "a": {} },
             "vmlab": { "link_port_base": 25400, "console_port_base": 25500, "ssh_port_base": 25600 } }"#,
    );
    lab.write("profiles/a.json", r#"{"platform": "tiny-seq"}"#);
    lab.write(
        "my-patches/fragile/always/00-ok.json",
        r#"{"description": "Works", "pre_commands": ["true"]}"#,
    );
    lab.write(
        "my-patches/fragile/always/01-fail.json",
        r#"{"description": "Fails on purpose",
            "pre_commands": ["echo about to fail; echo and why >&2; exit 3"],
            "post_commands": ["echo never"]}"#,
    );
    let specs = lab.specs();
    let specs = specs.to_str().unwrap();

    // A folder named on the command line must be there.
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        specs,
        "--dry-run",
        "--patches",
        "/nonexistent/p",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/p") && stderr(&o).contains("is not a folder"),
        "{}",
        stderr(&o)
    );

    let o = lab.vmlab(&["deploy", "-S", specs, "--progress", "plain"]);
    assert!(!o.status.success(), "the deploy must fail");
    let err = stderr(&o);
    for want in [
        "boot patch fragile/always/01-fail.json (Fails on purpose) failed at pre_command",
        "echo about to fail; echo and why >&2; exit 3",
        "exit 3",
        "about to fail",
        "and why",
        "patching 2/2",
    ] {
        assert!(err.contains(want), "the failure lacks {want:?}:\n{err}");
    }
    assert!(!err.contains("never"), "{err}");
    // Nothing half-deployed is left behind.
    assert!(
        lab.qemus().is_empty(),
        "QEMU left running: {:?}",
        lab.qemus()
    );
    assert!(!lab.lab_dir().exists(), "lab dir left behind");
}
