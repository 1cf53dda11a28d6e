//! Pure logic, no VMs: spec resolution order, interface maps, ports and the QEMU command
//! lines a plan holds (snapshots: a change to what vmlab would run shows up in review).

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use vmlab::plan::{self, Accel, LinkTransport, NicRole, PlanOptions};
use vmlab::spec::source::SpecText;
use vmlab::spec::{self, InterfaceMap, SpecSources};

fn text(dir: &str, rel: &str, t: &str) -> SpecText {
    SpecText {
        path: Path::new(dir).join(rel),
        text: t.to_string(),
    }
}

fn sources(topology: &str, platforms: &str, profiles: &[(&str, &str)]) -> SpecSources {
    let dir = "/specs/lab";
    SpecSources {
        dir: PathBuf::from(dir),
        dir_name: Some("lab".into()),
        topology: text(dir, "topology.json", topology),
        platforms: Some(text(dir, "platforms.json", platforms)),
        profiles: profiles
            .iter()
            .map(|(n, t)| (n.to_string(), text(dir, &format!("profiles/{n}.json"), t)))
            .collect(),
        newtron: None,
    }
}

const PLATFORMS: &str = r#"{ "platforms": {
  "sonic-vs": { "vm_image": "~/.vmlab/images/sonic-vs.qcow2", "vm_memory": 4096, "vm_cpus": 2,
                "vm_nic_driver": "e1000", "vm_interface_map": "stride-4",
                "vm_credentials": { "user": "admin", "pass": "YourPaSsWoRd" }, "vm_boot_timeout": 180,
                "hwsku": "Force10-S6000", "port_count": 32 },
  "sonic-vpp": { "vm_image": "images/vpp.qcow2", "vm_cpus": 4, "vm_nic_driver": "virtio-net-pci",
                 "vm_interface_map": "sequential", "vm_cpu_features": "+sse4.2",
                 "vm_credentials": { "user": "admin", "pass": "vpp" } },
  "vendor": { "vm_image": "/img/v.qcow2", "vm_interface_map": "custom",
              "vm_interface_map_custom": { "Ethernet0": 1, "Ethernet8": 4 } }
} }"#;

const TOPOLOGY: &str = r#"{
  "version": "1.0",
  "devices": {
    "spine1": { "interfaces": { "Ethernet0": { "link": "leaf1:Ethernet0", "service": "fabric-underlay" } } },
    "leaf1": {},
    "edge": {}
  },
  "links": [
    { "a": "spine1:Ethernet0", "z": "leaf1:Ethernet0" },
    { "a": "spine1:Ethernet8", "z": "leaf1:Ethernet2" },
    { "a": "edge:Ethernet8", "z": "spine1:Ethernet12" }
  ],
  "newtlab": { "link_port_base": 20100, "console_port_base": 30100, "ssh_port_base": 40100,
               "hosts": { "server-a": "192.168.1.10" } },
  "network_extra": { "kept": true }
}"#;

fn lab() -> spec::Lab {
    let src = sources(
        TOPOLOGY,
        PLATFORMS,
        &[
            (
                "spine1",
                r#"{"platform": "sonic-vs", "vm_memory": 8192, "ssh_pass": "override", "mgmt_ip": "x"}"#,
            ),
            ("leaf1", r#"{"platform": "sonic-vpp", "vm_memory": 0}"#),
            ("edge", r#"{"platform": "vendor"}"#),
        ],
    );
    spec::resolve(&src, Some(Path::new("/home/u"))).expect("valid spec")
}

#[test]
fn resolution_follows_profile_then_platform_then_defaults() {
    let lab = lab();
    assert_eq!(
        lab.name.as_str(),
        "lab",
        "no topology name: the spec dir's name"
    );
    assert_eq!(
        lab.settings.link_port_base, 20100,
        "newtlab section accepted"
    );
    let spine = &lab.nodes[0];
    assert_eq!(spine.memory_mb, 8192, "profile wins");
    assert_eq!(spine.cpus, 2);
    assert_eq!(
        spine.image,
        PathBuf::from("/home/u/.vmlab/images/sonic-vs.qcow2"),
        "~ expands"
    );
    let creds = spine.credentials.clone().unwrap();
    assert_eq!(
        (creds.user.as_str(), creds.pass.as_str()),
        ("admin", "override")
    );
    let leaf = &lab.nodes[1];
    assert_eq!(
        leaf.memory_mb, 4096,
        "an empty profile value falls through to the built-in default"
    );
    assert_eq!(leaf.cpus, 4, "platform wins over built-in");
    assert_eq!(
        leaf.image,
        PathBuf::from("/specs/lab/images/vpp.qcow2"),
        "relative to the spec dir"
    );
    assert_eq!(leaf.cpu_features.as_deref(), Some("+sse4.2"));
    assert_eq!(leaf.host, None, "a one-host lab places nothing");
    let edge = &lab.nodes[2];
    assert_eq!(edge.nic_driver, "e1000", "built-in default");
    assert_eq!(edge.boot_timeout_secs, 180);
    assert!(edge.credentials.is_none());
    assert!(matches!(edge.interface_map, InterfaceMap::Custom(_)));
}

#[test]
fn nics_fill_gaps_and_follow_each_map() {
    let lab = lab();
    let plan = plan::build(&lab, &opts()).unwrap();
    let roles = |n: &str| -> Vec<String> {
        plan.node(n)
            .unwrap()
            .nics
            .iter()
            .map(|nic| match &nic.role {
                NicRole::Management => "mgmt".to_string(),
                NicRole::Link { iface, .. } => iface.clone(),
                NicRole::Unconnected => "-".to_string(),
            })
            .collect()
    };
    // stride-4: Ethernet0 → 1, Ethernet8 → 3, Ethernet12 → 4; NIC 2 fills the gap.
    assert_eq!(
        roles("spine1"),
        ["mgmt", "Ethernet0", "-", "Ethernet8", "Ethernet12"]
    );
    // sequential: Ethernet0 → 1, Ethernet2 → 3.
    assert_eq!(roles("leaf1"), ["mgmt", "Ethernet0", "-", "Ethernet2"]);
    // custom: Ethernet8 → 4.
    assert_eq!(roles("edge"), ["mgmt", "-", "-", "-", "Ethernet8"]);
    let spine = plan.node("spine1").unwrap();
    let slots: Vec<u32> = spine.nics.iter().map(|n| n.pci_slot).collect();
    assert_eq!(
        slots,
        [8, 9, 10, 11, 12],
        "increasing PCI addresses in NIC order"
    );
}

#[test]
fn ports_follow_node_and_link_order() {
    // Consoles are unix sockets unless `consoles: "tcp"`: then they take ports too.
    let unix = plan::build(&lab(), &opts()).unwrap();
    assert!(unix.nodes.iter().all(|n| n.console_port.is_none()));
    assert!(
        !unix
            .ports
            .iter()
            .any(|p| matches!(p.role, plan::PortRole::Console { .. }))
    );
    let mut tcp = lab();
    tcp.settings.tcp_consoles = true;
    let plan = plan::build(&tcp, &opts()).unwrap();
    let ports: Vec<(String, u16, Option<u16>)> = plan
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.ssh_port, n.console_port))
        .collect();
    assert_eq!(
        ports,
        [
            ("spine1".into(), 40100, Some(30100)),
            ("leaf1".into(), 40101, Some(30101)),
            ("edge".into(), 40102, Some(30102))
        ]
    );
    let links: Vec<u16> = plan.links.iter().map(|l| l.port).collect();
    assert_eq!(links, [20100, 20101, 20102]);
}

/// The `-netdev` value of a node's link NIC.
fn netdev(plan: &plan::LabPlan, node: &str, link: usize) -> String {
    let n = plan.node(node).unwrap();
    let id = format!("id=link{link},");
    n.argv
        .iter()
        .find(|a| a.starts_with("dgram,") && a.contains(&id))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn links_are_unix_datagram_sockets_in_the_lab_directory() {
    let plan = plan::build(&lab(), &opts()).unwrap();
    // edge is the a end of link 2: it binds 2a.vm and sends to the relay's 2a.rl.
    assert_eq!(
        netdev(&plan, "edge", 2),
        "dgram,id=link2,local.type=unix,local.path=/home/u/.vmlab/labs/lab/links/2a.vm,remote.type=unix,\
         remote.path=/home/u/.vmlab/labs/lab/links/2a.rl"
    );
    assert_eq!(
        netdev(&plan, "spine1", 2),
        "dgram,id=link2,local.type=unix,local.path=/home/u/.vmlab/labs/lab/links/2z.vm,remote.type=unix,\
         remote.path=/home/u/.vmlab/labs/lab/links/2z.rl"
    );
    assert!(
        plan.links
            .iter()
            .all(|l| l.transport == LinkTransport::Relay)
    );
    for l in &plan.links {
        for p in [
            &l.sockets.a_vm,
            &l.sockets.a_relay,
            &l.sockets.z_vm,
            &l.sockets.z_relay,
        ] {
            assert!(
                p.starts_with("/home/u/.vmlab/labs/lab/links"),
                "{}",
                p.display()
            );
        }
    }

    // vmlab.links: "direct" wires the two VMs to each other.
    let topo = TOPOLOGY.replace(
        "\"network_extra\"",
        "\"vmlab\": {\"links\": \"direct\"}, \"network_extra\"",
    );
    let topo = topo.replace("\"newtlab\"", "\"newtlab_unused\"");
    let src = sources(
        &topo,
        PLATFORMS,
        &[
            ("spine1", r#"{"platform": "sonic-vs"}"#),
            ("leaf1", r#"{"platform": "sonic-vpp"}"#),
            ("edge", r#"{"platform": "vendor"}"#),
        ],
    );
    let direct = plan::build(&spec::resolve(&src, None).unwrap(), &opts()).unwrap();
    assert_eq!(
        netdev(&direct, "edge", 2),
        "dgram,id=link2,local.type=unix,local.path=/home/u/.vmlab/labs/lab/links/2a.vm,remote.type=unix,\
         remote.path=/home/u/.vmlab/labs/lab/links/2z.vm"
    );
    assert!(
        direct
            .links
            .iter()
            .all(|l| l.transport == LinkTransport::Direct)
    );
}

#[test]
fn declared_impairments_reach_the_plan() {
    let topo = TOPOLOGY.replace(
        r#"{ "a": "spine1:Ethernet0", "z": "leaf1:Ethernet0" }"#,
        r#"{ "a": "spine1:Ethernet0", "z": "leaf1:Ethernet0",
             "impair": { "delay": "20ms", "jitter": "5ms", "loss": "0.5%", "rate": "10mbit", "direction": "a-to-z" } }"#,
    );
    let src = sources(
        &topo,
        PLATFORMS,
        &[
            ("spine1", r#"{"platform": "sonic-vs"}"#),
            ("leaf1", r#"{"platform": "sonic-vpp"}"#),
            ("edge", r#"{"platform": "vendor"}"#),
        ],
    );
    let plan = plan::build(&spec::resolve(&src, None).unwrap(), &opts()).unwrap();
    let i = plan.links[0].impair;
    assert_eq!(
        (
            i.a_to_z.delay_us,
            i.a_to_z.jitter_us,
            i.a_to_z.loss_ppm,
            i.a_to_z.rate_bps
        ),
        (20_000, 5_000, 5_000, 10_000_000)
    );
    assert!(i.z_to_a.is_clean(), "direction a-to-z only");
    assert!(plan.links[1].impair.is_clean());
}

#[test]
fn overlapping_port_ranges_are_refused() {
    // Console ports exist (and may overlap) only with TCP consoles.
    let topo = TOPOLOGY.replace(
        "\"console_port_base\": 30100",
        "\"console_port_base\": 20101, \"consoles\": \"tcp\"",
    );
    let src = sources(
        &topo,
        PLATFORMS,
        &[
            ("spine1", r#"{"platform": "sonic-vs"}"#),
            ("leaf1", r#"{"platform": "sonic-vpp"}"#),
            ("edge", r#"{"platform": "vendor"}"#),
        ],
    );
    let lab = spec::resolve(&src, None).unwrap();
    let errs = plan::build(&lab, &opts()).unwrap_err();
    let msg = errs
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(msg.contains("port 20101 would serve both"), "{msg}");
}

fn opts() -> PlanOptions {
    PlanOptions {
        lab_dir: PathBuf::from("/home/u/.vmlab/labs/lab"),
        accel: Accel::Tcg,
        qemu: "qemu-system-x86_64".into(),
        local_host: None,
    }
}

#[test]
fn qemu_command_lines_snapshot() {
    let plan = plan::build(&lab(), &opts()).unwrap();
    // One option and its value per line.
    let render = |argv: &[String]| {
        let mut out = argv[0].clone();
        for a in &argv[1..] {
            out.push_str(if a.starts_with('-') { " \\\n  " } else { " " });
            out.push_str(a);
        }
        out
    };
    let lines: Vec<String> = plan.nodes.iter().map(|n| render(&n.argv)).collect();
    insta::assert_snapshot!(lines.join("\n\n"));
}

#[test]
fn kvm_uses_the_host_cpu_with_platform_features() {
    let mut o = opts();
    o.accel = Accel::Kvm;
    let plan = plan::build(&lab(), &o).unwrap();
    let leaf = plan.node("leaf1").unwrap();
    let i = leaf.argv.iter().position(|a| a == "-cpu").unwrap();
    assert_eq!(leaf.argv[i + 1], "host,+sse4.2");
    assert!(leaf.argv.contains(&"pc,accel=kvm".to_string()));
}

#[test]
fn custom_map_refuses_nic_collisions() {
    let platforms = PLATFORMS.replace(r#""Ethernet8": 4"#, r#""Ethernet8": 1"#);
    let topo = r#"{ "devices": { "edge": {}, "x": {} }, "links": [
        { "a": "edge:Ethernet0", "z": "x:Ethernet0" }, { "a": "edge:Ethernet8", "z": "x:Ethernet4" } ] }"#;
    let src = sources(
        topo,
        &platforms,
        &[
            ("edge", r#"{"platform": "vendor"}"#),
            ("x", r#"{"platform": "sonic-vs"}"#),
        ],
    );
    let errs = spec::resolve(&src, None).unwrap_err();
    assert!(
        errs.to_string()
            .contains("maps to NIC 1, which links[0].a already uses"),
        "{errs}"
    );
}

#[test]
fn missing_profile_and_platform_are_named() {
    let topo = r#"{ "devices": { "a": {}, "b": {} } }"#;
    let src = sources(topo, PLATFORMS, &[("a", r#"{"site": "x"}"#)]);
    let errs = spec::resolve(&src, None).unwrap_err().to_string();
    assert!(
        errs.contains("profiles/a.json: platform: device a has no platform"),
        "{errs}"
    );
    assert!(
        errs.contains("profiles/b.json: device b has no profile"),
        "{errs}"
    );
}

/// Two hosts: spine1 on server-a, leaf1 and edge on server-b.
fn two_host_lab(check: &str) -> spec::Lab {
    let topo = TOPOLOGY.replace(
        r#""hosts": { "server-a": "192.168.1.10" }"#,
        &format!(r#""hosts": {{ "server-a": "192.168.1.10", "server-b": "192.168.1.11" }}{check}"#),
    );
    let src = sources(
        &topo,
        PLATFORMS,
        &[
            (
                "spine1",
                r#"{"platform": "sonic-vs", "vm_host": "server-a"}"#,
            ),
            (
                "leaf1",
                r#"{"platform": "sonic-vpp", "vm_host": "server-b"}"#,
            ),
            ("edge", r#"{"platform": "vendor", "vm_host": "server-b"}"#),
        ],
    );
    spec::resolve(&src, Some(Path::new("/home/u"))).expect("valid spec")
}

fn opts_on(host: &str) -> PlanOptions {
    PlanOptions {
        local_host: Some(host.into()),
        ..opts()
    }
}

#[test]
fn each_host_plans_the_same_lab_and_runs_only_its_nodes() {
    use plan::{End, LinkTransport};
    let lab = two_host_lab("");
    let a = plan::build(&lab, &opts_on("server-a")).unwrap();
    let b = plan::build(&lab, &opts_on("server-b")).unwrap();
    // Indices and ports are global: both hosts compute the same numbers.
    let ports = |p: &plan::LabPlan| {
        p.nodes
            .iter()
            .map(|n| (n.name.clone(), n.ssh_port, n.console_port))
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(&a), ports(&b));
    let local = |p: &plan::LabPlan| p.local_nodes().map(|n| n.name.clone()).collect::<Vec<_>>();
    assert_eq!(local(&a), ["spine1"]);
    assert_eq!(local(&b), ["leaf1", "edge"]);
    // SSH forwards bind the node's host address; consoles are the lab's unix sockets.
    let spine = &a.nodes[0];
    assert_eq!(spine.mgmt_addr.to_string(), "192.168.1.10");
    let argv = spine.argv.join(" ");
    assert!(
        argv.contains(&format!("hostfwd=tcp:192.168.1.10:{}-:22", spine.ssh_port)),
        "{argv}"
    );
    assert!(
        argv.contains(&format!(
            "socket,id=console,path={},server=on",
            spine.paths.console.display()
        )),
        "{argv}"
    );
    // Every link touches spine1 on server-a and a node on server-b: all cross hosts.
    for (l_a, l_b) in a.links.iter().zip(&b.links) {
        assert_eq!(l_a.transport, LinkTransport::CrossHost);
        assert_eq!(l_b.transport, LinkTransport::CrossHost);
        let (ca, cb) = (l_a.cross.as_ref().unwrap(), l_b.cross.as_ref().unwrap());
        // Each host binds its own address, and sends to the other's, on the link's port.
        assert_eq!(ca.local, cb.peer);
        assert_eq!(cb.local, ca.peer);
        assert_eq!(ca.local.port(), l_a.port);
        assert_ne!(ca.local_end, cb.local_end);
    }
    assert_eq!(a.links[0].cross.as_ref().unwrap().local_end, End::A);
    assert_eq!(
        a.links[2].cross.as_ref().unwrap().local_end,
        End::Z,
        "edge is a"
    );
    assert!(a.cross_host_keyed, "keyed unless turned off");
    assert!(!two_host_lab(r#", "cross_host_check": "none""#).cross_host_keyed_default());
}

trait KeyedDefault {
    fn cross_host_keyed_default(&self) -> bool;
}

impl KeyedDefault for spec::Lab {
    fn cross_host_keyed_default(&self) -> bool {
        self.settings.cross_host_keyed
    }
}

#[test]
fn a_multi_host_lab_needs_a_known_host() {
    let lab = two_host_lab("");
    let msg = |r: Result<plan::LabPlan, Vec<spec::SpecError>>| {
        r.unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let none = msg(plan::build(&lab, &opts()));
    assert!(none.contains("no host was named"), "{none}");
    assert!(none.contains("--host <name>"), "{none}");
    let unknown = msg(plan::build(&lab, &opts_on("server-z")));
    assert!(unknown.contains("\"server-z\" is not a host"), "{unknown}");
    assert!(unknown.contains("server-a, server-b"), "{unknown}");
}

#[test]
fn bad_placement_and_addresses_are_named() {
    let resolve = |hosts: &str, spine: &str| {
        let topo = TOPOLOGY.replace(r#""hosts": { "server-a": "192.168.1.10" }"#, hosts);
        let src = sources(
            &topo,
            PLATFORMS,
            &[
                ("spine1", spine),
                (
                    "leaf1",
                    r#"{"platform": "sonic-vpp", "vm_host": "server-a"}"#,
                ),
                ("edge", r#"{"platform": "vendor", "vm_host": "server-a"}"#),
            ],
        );
        spec::resolve(&src, Some(Path::new("/home/u")))
            .unwrap_err()
            .to_string()
    };
    let hosts = r#""hosts": { "server-a": "192.168.1.10" }"#;
    let e = resolve(hosts, r#"{"platform": "sonic-vs", "vm_host": "server-q"}"#);
    assert!(e.contains("spine1.json"), "{e}");
    assert!(e.contains("vm_host"), "{e}");
    assert!(
        e.contains("\"server-q\", which vmlab.hosts does not name"),
        "{e}"
    );
    let e = resolve(hosts, r#"{"platform": "sonic-vs"}"#);
    assert!(e.contains("spine1 has no vm_host"), "{e}");
    let e = resolve(
        r#""hosts": {}"#,
        r#"{"platform": "sonic-vs", "vm_host": "server-a"}"#,
    );
    assert!(e.contains("topology.json has no vmlab.hosts"), "{e}");
    let e = resolve(
        r#""hosts": { "server-a": "192.168.1.300" }"#,
        r#"{"platform": "sonic-vs", "vm_host": "server-a"}"#,
    );
    assert!(e.contains("hosts.server-a"), "{e}");
    assert!(e.contains("\"192.168.1.300\" is not an IP address"), "{e}");
    let e = resolve(
        r#""hosts": { "server-a": "0.0.0.0" }"#,
        r#"{"platform": "sonic-vs", "vm_host": "server-a"}"#,
    );
    assert!(e.contains("is not one host's address"), "{e}");
    let e = resolve(
        r#""hosts": { "server-a": "10.0.0.1", "server-b": "10.0.0.1" }"#,
        r#"{"platform": "sonic-vs", "vm_host": "server-a"}"#,
    );
    assert!(e.contains("already the address of another host"), "{e}");
    let e = resolve(hosts, r#"{"platform": "sonic-vs", "vm_host": "../etc"}"#);
    assert!(e.contains("vm_host"), "{e}");
}

#[test]
fn a_moved_port_block_sits_right_after_the_last_and_stops_before_65535() {
    use vmlab::plan::ports::PortBases;
    let l = lab();
    assert_eq!(
        PortBases::moved(&l, 2),
        Some(PortBases {
            link: 20100,
            console: 30106,
            ssh: 40106
        }),
        "three nodes: two blocks of three further on; link ports stay"
    );
    let mut high = l.clone();
    high.settings.ssh_port_base = 65533;
    assert!(PortBases::moved(&high, 0).is_some());
    assert_eq!(
        PortBases::moved(&high, 1),
        None,
        "65536..65538 does not fit"
    );
    let moved = PortBases::moved(&l, 1).unwrap().apply(&l);
    let p = plan::build(&moved, &opts()).unwrap();
    assert_eq!(p.nodes[0].ssh_port, 40103);
    assert_eq!(p.port_bases, PortBases::moved(&l, 1).unwrap());
}

#[test]
fn a_mistyped_vmlab_setting_is_named_with_the_one_meant() {
    let src = sources(
        r#"{"devices": {"r1": {}}, "vmlab": {"ssh_port_bas": 41000, "ports": "exact"}}"#,
        r#"{"platforms": {"p": {"vm_image": "/i.qcow2"}}}"#,
        &[("r1", r#"{"platform": "p"}"#)],
    );
    let err = spec::resolve(&src, None).unwrap_err().to_string();
    assert!(err.contains("vmlab.ssh_port_bas"), "{err}");
    assert!(err.contains("did you mean \"ssh_port_base\""), "{err}");
    let src = sources(
        r#"{"devices": {"r1": {}}, "vmlab": {"ports": "exact"}}"#,
        r#"{"platforms": {"p": {"vm_image": "/i.qcow2"}}}"#,
        &[("r1", r#"{"platform": "p"}"#)],
    );
    assert!(spec::resolve(&src, None).unwrap().settings.exact_ports);
}

/// A newtron network in memory: `nodes` (name, profile JSON), registry platforms (name, JSON).
fn newtron(topology: &str, nodes: &[(&str, &str)], platforms: &[(&str, &str)]) -> SpecSources {
    let dir = "/n/networks/net1";
    SpecSources {
        dir: PathBuf::from(dir),
        dir_name: Some("net1".into()),
        topology: text(dir, "topology.json", topology),
        platforms: None,
        profiles: nodes
            .iter()
            .map(|(n, t)| (n.to_string(), text(dir, &format!("nodes/{n}.json"), t)))
            .collect(),
        newtron: Some(vmlab::spec::source::NewtronSources {
            registry: PathBuf::from("/n/platforms"),
            platforms: platforms
                .iter()
                .map(|(n, t)| (n.to_string(), text("/n/platforms", &format!("{n}.json"), t)))
                .collect(),
            secrets: Some(text(dir, "secrets.json", r#"{"pw": "s3cret"}"#)),
            zones: Vec::new(),
            network: None,
        }),
    }
}

const SWITCH: &str = r#"{"name": "sw", "vm_image": "/i/sw.qcow2",
    "credentials": {"user": "admin", "pass": "${secret:pw}"},
    "ports": [{"name": "Ethernet0", "nic_index": 1}, {"name": "Ethernet4", "nic_index": 2},
              {"name": "Ethernet8", "nic_index": 3}]}"#;
const HOST: &str = r#"{"name": "h", "device_type": "host", "vm_image": "/i/h.qcow2",
    "vm_memory": 256, "credentials": {"user": "root", "pass": "root"},
    "ports": [{"name": "eth0", "nic_index": 1}, {"name": "eth1", "nic_index": 2}]}"#;

#[test]
fn newtron_hosts_on_one_server_share_a_vm_each_in_its_namespace() {
    let src = newtron(
        r#"{"nodes": {"host2": {}, "sw1": {}, "host1": {}},
            "links": [{"a": "sw1:Ethernet0", "z": "host1:eth0"},
                      {"a": "host2:eth0", "z": "sw1:Ethernet4"},
                      {"a": "sw1:Ethernet8", "z": "host1:eth1"}]}"#,
        &[
            ("sw1", r#"{"platform": "sw"}"#),
            ("host1", r#"{"platform": "h", "host_ip": "10.0.0.2/31"}"#),
            ("host2", r#"{"platform": "h", "vm_memory": 512}"#),
        ],
        &[("sw", SWITCH), ("h", HOST)],
    );
    let lab = spec::resolve(&src, None).expect("valid newtron network");
    assert_eq!(
        lab.name.as_str(),
        "net1",
        "the network's directory names the lab"
    );
    assert!(lab.newtron);
    let sw1 = lab.nodes.iter().find(|n| n.name == "sw1").unwrap();
    let creds = sw1.credentials.as_ref().unwrap();
    assert_eq!(creds.secret.as_deref(), Some("pw"));
    assert!(
        !format!("{lab:?}").contains("s3cret"),
        "a secret in a debug print"
    );
    let p = plan::build(&lab, &opts()).expect("plan");
    // host2 (topology first) becomes hostvm-0, in its place; the VMs are renumbered.
    let names: Vec<&str> = p.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["hostvm-0", "sw1"]);
    let vm = &p.nodes[0];
    assert_eq!(vm.memory_mb, 512, "the largest member's memory");
    assert_eq!(p.virtual_hosts.len(), 2);
    let h1 = &p.virtual_hosts[0];
    assert_eq!((h1.name.as_str(), h1.vm.as_str()), ("host1", "hostvm-0"));
    assert_eq!(
        h1.ifaces,
        [("eth0".to_string(), 1), ("eth1".to_string(), 2)],
        "host1's interfaces, in link order, take the VM's first NICs"
    );
    assert_eq!(p.virtual_hosts[1].ifaces, [("eth0".to_string(), 3)]);
    assert_eq!(p.links[1].a.to_string(), "hostvm-0:host2/eth0");
    assert_eq!(p.links[1].a.nic, 3);
    let script = plan::coalesce::setup_script(&p.virtual_hosts.iter().collect::<Vec<_>>());
    assert!(
        script.contains("$ip link set eth2 netns host1; $ip -n host1 link set eth2 name eth1"),
        "{script}"
    );
    assert!(
        script.contains("$ip -n host1 addr replace 10.0.0.2/31 dev eth0"),
        "{script}"
    );
    assert!(
        !script.contains("host2 addr"),
        "host2 has no address: {script}"
    );
    // Off: a VM each.
    let mut apart = lab.clone();
    apart.settings.coalesce_hosts = Some(false);
    let p = plan::build(&apart, &opts()).expect("plan");
    assert_eq!(p.nodes.len(), 3);
    assert!(p.virtual_hosts.is_empty());
}

#[test]
fn newtron_credentials_and_addresses_are_checked_without_showing_a_secret() {
    let src = newtron(
        r#"{"nodes": {"sw1": {}, "h1": {}},
            "links": [{"a": "sw1:Ethernet0", "z": "h1:eth0"}]}"#,
        &[
            ("sw1", r#"{"platform": "sw", "ssh_user": "${secret:pw}"}"#),
            ("h1", r#"{"platform": "h", "host_ip": "10.0.0.300"}"#),
        ],
        &[("sw", SWITCH), ("h", HOST)],
    );
    let err = spec::resolve(&src, None).unwrap_err().to_string();
    assert!(
        err.contains("nodes/sw1.json: ssh_user: the user name names a secret"),
        "{err}"
    );
    assert!(
        err.contains("nodes/h1.json: host_ip: must be an IP address"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn a_cable_from_a_node_back_to_itself_has_two_netdevs_of_their_own() {
    let src = sources(
        r#"{"devices": {"r1": {}}, "links": [{"a": "r1:Ethernet0", "z": "r1:Ethernet4"}]}"#,
        r#"{"platforms": {"p": {"vm_image": "/i.qcow2"}}}"#,
        &[("r1", r#"{"platform": "p"}"#)],
    );
    let p = plan::build(&spec::resolve(&src, None).unwrap(), &opts()).unwrap();
    let argv = p.nodes[0].argv.join(" ");
    assert!(argv.contains("dgram,id=link0,"), "{argv}");
    assert!(argv.contains("dgram,id=link0z,"), "{argv}");
    assert!(argv.contains("netdev=link0z"), "{argv}");
}

/// A guest's management network is closed by default (`restrict=on`); the lab's
/// `vmlab.guest_network` opens it for every node, a platform or profile's `vm_guest_network`
/// for its nodes either way, and a wrong word is named with its field and the choices.
#[test]
fn guests_reach_nothing_on_the_host_unless_the_spec_says_so() {
    let restrict = |topology: &str, r2: &str| {
        let src = sources(
            topology,
            r#"{"platforms": {"p": {"vm_image": "/i.qcow2"},
                              "open": {"vm_image": "/i.qcow2", "vm_guest_network": "outbound"}}}"#,
            &[("r1", r#"{"platform": "p"}"#), ("r2", r2)],
        );
        let lab = spec::resolve(&src, None).map_err(|e| e.to_string())?;
        let plan = plan::build(&lab, &opts()).map_err(|e| format!("{e:?}"))?;
        Ok::<Vec<bool>, String>(
            plan.nodes
                .iter()
                .map(|n| {
                    n.argv
                        .iter()
                        .any(|a| a.contains("user,id=mgmt,restrict=on,"))
                })
                .collect(),
        )
    };
    let plain = r#"{"devices": {"r1": {}, "r2": {}}}"#;
    assert_eq!(
        restrict(plain, r#"{"platform": "p"}"#),
        Ok(vec![true, true])
    );
    assert_eq!(
        restrict(plain, r#"{"platform": "open"}"#),
        Ok(vec![true, false])
    );
    let open = r#"{"devices": {"r1": {}, "r2": {}}, "vmlab": {"guest_network": "outbound"}}"#;
    assert_eq!(
        restrict(open, r#"{"platform": "p", "vm_guest_network": "isolated"}"#),
        Ok(vec![false, true])
    );
    let err = restrict(
        plain,
        r#"{"platform": "p", "vm_guest_network": "internet"}"#,
    )
    .unwrap_err();
    assert!(err.contains("vm_guest_network"), "{err}");
    assert!(err.contains("\"isolated\" or \"outbound\""), "{err}");
    let bad = r#"{"devices": {"r1": {}, "r2": {}}, "vmlab": {"guest_network": true}}"#;
    let err = restrict(bad, r#"{"platform": "p"}"#).unwrap_err();
    assert!(err.contains("vmlab.guest_network"), "{err}");
}

/// The lab of [`TOPOLOGY`] with `platforms`, each node on its own platform of them.
fn one_platform_each(platforms: &str) -> SpecSources {
    sources(
        TOPOLOGY,
        platforms,
        &[
            ("spine1", r#"{"platform": "sonic-vs"}"#),
            ("leaf1", r#"{"platform": "sonic-vpp"}"#),
            ("edge", r#"{"platform": "vendor"}"#),
        ],
    )
}

/// A platform's dataplane reaches its nodes' plans with newtlab's variables: `PCIAddrs` are
/// the slots the node's own QEMU command line gives its data NICs (gap NICs too), `Ports`
/// follow each NIC's index, `PortSpeed` reads units.
#[test]
fn boot_patch_variables_are_the_nics_qemu_really_gets() {
    let platforms = PLATFORMS
        .replace(
            r#""hwsku": "Force10-S6000", "port_count": 32 }"#,
            r#""hwsku": "Force10-S6000", "port_count": 32, "dataplane": "sonic-vs",
                "default_speed": "40G" }"#,
        )
        .replace(
            r#""vm_credentials": { "user": "admin", "pass": "vpp" } }"#,
            r#""vm_credentials": { "user": "admin", "pass": "vpp" }, "dataplane": "vpp",
                 "vm_image_release": "202405", "hwsku": "Force10-S6000" }"#,
        );
    let src = one_platform_each(&platforms);
    let lab = spec::resolve(&src, Some(Path::new("/home/u"))).expect("valid spec");
    let plan = plan::build(&lab, &opts()).unwrap();
    let node = |n: &str| plan.nodes.iter().find(|x| x.name == n).unwrap();
    assert!(
        node("edge").patches.is_none(),
        "a platform without a dataplane"
    );
    for name in ["spine1", "leaf1"] {
        let n = node(name);
        let p = n.patches.as_ref().expect("patch variables");
        // Every data NIC's `addr=` in the argv, in NIC order.
        let argv_addrs: Vec<String> = n
            .argv
            .iter()
            .filter(|a| a.contains(",id=nic") && !a.contains(",id=nic0,"))
            .filter_map(|a| a.split(",addr=").nth(1))
            .map(|s| {
                let slot =
                    u32::from_str_radix(s.split(',').next().unwrap().trim_start_matches("0x"), 16)
                        .unwrap();
                format!("0000:00:{slot:02x}.0")
            })
            .collect();
        assert_eq!(p.vars.pci_addrs, argv_addrs, "{name}: {:?}", n.argv);
        assert_eq!(p.vars.num_ports, n.nics.len() - 1);
        assert_eq!(p.vars.ports.len(), p.vars.num_ports);
    }
    let spine = &node("spine1").patches.as_ref().unwrap().vars;
    // stride-4: NIC k is Ethernet(4(k-1)); spine1 uses Ethernet0, 8 and 12, so NIC 2 fills a gap.
    let names: Vec<&str> = spine.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"]);
    assert_eq!(spine.port_speed, 40_000);
    assert_eq!(
        spine.hwsku_dir,
        "/usr/share/sonic/device/x86_64-kvm_x86_64-r0/Force10-S6000"
    );
    let leaf = &node("leaf1").patches.as_ref().unwrap().vars;
    assert_eq!(
        (leaf.dataplane.as_str(), leaf.release.as_str()),
        ("vpp", "202405")
    );
    assert_eq!(
        leaf.port_speed, 25_000,
        "newtlab's default without default_speed"
    );
}

#[test]
fn a_dataplane_that_would_climb_out_of_its_folder_is_refused() {
    let platforms = PLATFORMS.replace(
        r#""port_count": 32 }"#,
        r#""port_count": 32, "dataplane": "../../etc", "vm_image_release": "a/b",
            "hwsku": "x y", "default_speed": "fast" }"#,
    );
    let src = one_platform_each(&platforms);
    let errs = spec::resolve(&src, None).unwrap_err().to_string();
    for field in [
        "platforms.sonic-vs.dataplane",
        "platforms.sonic-vs.vm_image_release",
        "platforms.sonic-vs.hwsku",
        "platforms.sonic-vs.default_speed",
    ] {
        assert!(errs.contains(field), "{field} not named:\n{errs}");
    }
    assert!(errs.contains("platforms.json"), "{errs}");
}
