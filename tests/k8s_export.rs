//! `vmlab export k8s`: the manifests of the demo split into two shards and of a newtron network
//! split by its server pool, read back with a YAML parser and checked for what they must say —
//! every spec file back at its path, secrets only in the Secret, the pods unprivileged, their
//! requests the sum of their nodes, the links between shards named by the headless Service —
//! and checked against Kubernetes' own schemas (`kubernetes-validate`, pinned in .ci/run); and
//! `vmlab shard plan` in two network namespaces standing in for two pods, finding its peer by
//! the name the Service would give it.

// Tests drive the vmlab binary and look at what it wrote: the front ends' rules in clippy.toml
// (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;
#[path = "common/k8s.rs"]
mod k8s;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use k8s::{documents, mounted, of_kind, two_shards};
use serde_json::{Value, json};

fn export(args: &[&str]) -> (Vec<Value>, String, String) {
    let o = Command::new(vmlab_bin())
        .arg("export")
        .arg("k8s")
        .args(args)
        .output()
        .expect("run vmlab");
    let out = ok(&o, &format!("vmlab export k8s {args:?}"));
    (documents(&out), out, stderr(&o))
}

/// The pod's container of a StatefulSet.
fn container(sts: &Value) -> &Value {
    &sts["spec"]["template"]["spec"]["containers"][0]
}

/// What Kubernetes' "restricted" Pod Security Standard asks of a pod and its containers.
fn assert_restricted(sts: &Value) {
    let pod = &sts["spec"]["template"]["spec"];
    let name = &sts["metadata"]["name"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
    assert_ne!(pod["securityContext"]["runAsUser"], 0, "{name}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{name}"
    );
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod.get(key).is_none_or(|v| v == false), "{name}: {key}");
    }
    let all: Vec<&Value> = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["initContainers"].as_array().into_iter().flatten())
        .collect();
    for c in all {
        let sc = &c["securityContext"];
        assert_eq!(
            sc["allowPrivilegeEscalation"], false,
            "{name}: {}",
            c["name"]
        );
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}");
        assert!(sc["capabilities"].get("add").is_none(), "{name}");
        assert!(sc.get("privileged").is_none_or(|v| v == false), "{name}");
        assert_eq!(sc["runAsNonRoot"], true, "{name}");
    }
    for v in pod["volumes"].as_array().unwrap() {
        assert!(v.get("hostPath").is_none(), "{name}: no hostPath volume");
    }
}

/// `kubernetes-validate` (PyPI, in target/k8s-venv as .ci/run installs it): strict, against
/// the version .ci/run pins.
fn kubernetes_validate(file: &Path) {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/k8s-venv/bin/kubernetes-validate");
    assert!(
        bin.is_file(),
        "{} is missing: .ci/run installs it (python3 -m venv target/k8s-venv && \
         target/k8s-venv/bin/pip install kubernetes-validate)",
        bin.display()
    );
    let o = Command::new(&bin)
        .args(["--strict", "-k", "1.31.0"])
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    assert!(
        o.status.success(),
        "kubernetes-validate refused {}:\n{}{}",
        file.display(),
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("passed"), "{}", stdout(&o));
}

#[test]
fn the_demo_in_two_shards_says_what_a_cluster_needs() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let (docs, yaml, said) = export(&[
        "-S",
        demo.to_str().unwrap(),
        "--shards",
        "2",
        "--images-claim",
        "lab-images",
        "--namespace",
        "labs",
    ]);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Secret",
            "Service",
            "StatefulSet",
            "StatefulSet"
        ]
    );
    assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "labs"));
    // Two shards of a spine and a leaf each: two of the four links cross.
    assert!(
        said.contains("4 nodes in 2 shards; 2 of 4 links between shards"),
        "{said}"
    );

    // Every spec file is back at its path, byte for byte; the key of the links between shards
    // is made for the export and is only in the Secret.
    let sts = of_kind(&docs, "StatefulSet");
    let mut want = files_under(&demo);
    let got = mounted(&docs, sts[0]);
    let key = got
        .get("vmlab.key")
        .expect("a lab key for the links between shards");
    assert_eq!(key.len(), 65, "64 hex digits and a newline");
    want.insert("vmlab.key".into(), key.clone());
    // How the export split the lab travels beside the spec, for the shards to place by.
    let split: Value = serde_json::from_slice(&got["k8s-shards.json"]).unwrap();
    assert_eq!(split["service"], "demo");
    assert_eq!(split["shards"]["s0"]["address"], "demo-s0-0.demo");
    let placed: Vec<&str> = ["s0", "s1"]
        .iter()
        .flat_map(|s| split["shards"][s]["nodes"].as_array().unwrap())
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(placed.len(), 4, "{split}");
    want.insert("k8s-shards.json".into(), got["k8s-shards.json"].clone());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, want);
    let secret = of_kind(&docs, "Secret")[0];
    assert!(secret["data"]["api-token"].is_string());
    assert!(secret["data"]["vmlab.key"].is_string());
    for cm in of_kind(&docs, "ConfigMap") {
        let keys: Vec<&String> = cm["data"].as_object().unwrap().keys().collect();
        assert!(
            !keys
                .iter()
                .any(|k| k.contains("vmlab.key") || k.contains("token")),
            "{keys:?}"
        );
    }
    assert!(!yaml.contains("YourPaSsWoRd") || demo_has_password(&demo));

    // The Service names each shard for its peers, ready or not, and carries the crossing
    // links' UDP ports (link_port_base + index).
    let svc = of_kind(&docs, "Service")[0];
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
    let udp: Vec<i64> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["protocol"] == "UDP")
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(udp.len(), 2, "{udp:?}");

    // Each shard: its own StatefulSet of one pod, unprivileged, reserving its nodes' memory
    // (each node's own plus QEMU's 128 MiB, and 256 MiB for the shard) and vCPUs.
    let platforms: Value =
        serde_json::from_str(&std::fs::read_to_string(demo.join("platforms.json")).unwrap())
            .unwrap();
    let memory_of = |_: &str| -> u64 {
        platforms["platforms"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["vm_memory"]
            .as_u64()
            .unwrap()
    };
    for (k, s) in sts.iter().enumerate() {
        assert_eq!(s["metadata"]["name"], format!("demo-s{k}"));
        assert_eq!(s["spec"]["serviceName"], "demo");
        assert_eq!(s["spec"]["replicas"], 1);
        assert_restricted(s);
        let c = container(s);
        assert_eq!(c["command"], json!(["vmlab", "shard", "run"]));
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--shard", &format!("s{k}")]),
            "{args:?}"
        );
        let nodes = 2;
        let memory = 2 * (memory_of("") + 128) + 256;
        assert_eq!(c["resources"]["requests"]["memory"], format!("{memory}Mi"));
        assert_eq!(c["resources"]["limits"]["memory"], format!("{memory}Mi"));
        assert!(
            c["resources"]["limits"].get("cpu").is_none(),
            "no CPU limit"
        );
        assert!(
            c["resources"]["requests"]
                .get("devices.kubevirt.io/kvm")
                .is_none(),
            "TCG asks for no KVM"
        );
        assert_eq!(
            s["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            30 + 5 * nodes
        );
        for probe in ["readinessProbe", "livenessProbe"] {
            assert!(c[probe]["exec"]["command"].is_array(), "{probe}");
        }
        let images = s["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "images")
            .unwrap();
        assert_eq!(images["persistentVolumeClaim"]["claimName"], "lab-images");
        assert_eq!(images["persistentVolumeClaim"]["readOnly"], true);
    }

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &yaml).unwrap();
    kubernetes_validate(file.path());
}

/// Does the demo's spec itself hold the guest password (then the ConfigMap may too)?
fn demo_has_password(dir: &Path) -> bool {
    files_under(dir)
        .values()
        .any(|b| String::from_utf8_lossy(b).contains("YourPaSsWoRd"))
}

#[test]
fn kvm_an_image_container_and_a_folder_of_files() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("k8s");
    let o = Command::new(vmlab_bin())
        .args([
            "export",
            "k8s",
            "-S",
            demo.to_str().unwrap(),
            "--accel",
            "kvm",
        ])
        .args(["--images-image", "registry.example/lab-images:1", "-o"])
        .arg(&dir)
        .output()
        .unwrap();
    ok(&o, "export into a folder");
    assert!(stdout(&o).is_empty(), "the manifests went to the folder");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "00-configmap-demo-spec.yaml",
            "01-secret-demo-secret.yaml",
            "02-service-demo.yaml",
            "03-statefulset-demo-s0.yaml"
        ]
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files[1]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the Secret's file is its owner's alone");
    let docs: Vec<Value> = files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(f).unwrap()))
        .collect();
    // One shard: no link crosses, no key is made.
    assert!(
        of_kind(&docs, "Secret")[0]["data"]
            .get("vmlab.key")
            .is_none()
    );
    let sts = of_kind(&docs, "StatefulSet")[0];
    assert_restricted(sts);
    let c = container(sts);
    assert_eq!(c["resources"]["requests"]["devices.kubevirt.io/kvm"], "1");
    assert_eq!(c["resources"]["limits"]["devices.kubevirt.io/kvm"], "1");
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "VMLAB_ACCEL", "value": "kvm"}))
    );
    let init = &sts["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(init["image"], "registry.example/lab-images:1");
    for f in &files {
        kubernetes_validate(f);
    }
}

#[test]
fn a_newtron_network_is_split_by_its_server_pool_and_its_secrets_stay_secret() {
    let root = tempfile::tempdir().unwrap();
    let net = root.path().join("networks/pool");
    let w = |p: &Path, v: Value| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    w(
        &root.path().join("platforms/sw.json"),
        json!({"name": "sw", "device_type": "switch", "vm_image": "/images/sw.qcow2",
               "vm_memory": 2048, "vm_cpus": 2, "vm_nic_driver": "virtio-net-pci",
               "ports": [{"name": "Ethernet0", "nic_index": 1}, {"name": "Ethernet4", "nic_index": 2}],
               "credentials": {"user": "admin", "pass": "platform"}, "dataplane": ""}),
    );
    w(
        &net.join("topology.json"),
        json!({"nodes": {"sw1": {}, "sw2": {}, "sw3": {}, "sw4": {}},
               "links": [{"a": "sw1:Ethernet0", "z": "sw2:Ethernet0"},
                         {"a": "sw3:Ethernet0", "z": "sw4:Ethernet0"},
                         {"a": "sw2:Ethernet4", "z": "sw3:Ethernet4"}],
               "newtlab": {"link_port_base": 21000, "console_port_base": 22000,
                           "ssh_port_base": 23000,
                           "servers": [{"name": "rack-a", "address": "10.0.0.1", "max_nodes": 2},
                                       {"name": "rack-b", "address": "10.0.0.2", "max_nodes": 2}]}}),
    );
    for n in ["sw1", "sw2", "sw3", "sw4"] {
        w(
            &net.join(format!("nodes/{n}.json")),
            json!({"platform": "sw", "ssh_pass": "${secret:pass}"}),
        );
    }
    w(&net.join("network.json"), json!({"version": "1.0"}));
    w(&net.join("secrets.json"), json!({"pass": "s3cr3t-Pa55"}));
    let (docs, yaml, said) = export(&["-S", net.to_str().unwrap(), "--images-claim", "imgs"]);
    assert!(said.contains("shard rack-a"), "{said}");
    assert!(said.contains("shard rack-b"), "{said}");
    let sts = of_kind(&docs, "StatefulSet");
    let names: Vec<&str> = sts
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pool-rack-a", "pool-rack-b"]);
    // The password is in the Secret (base64), never in the clear.
    assert!(!yaml.contains("s3cr3t-Pa55"), "the secret leaked:\n{yaml}");
    for cm in of_kind(&docs, "ConfigMap") {
        assert!(cm["data"].get("secrets.json").is_none());
    }
    let files = mounted(&docs, sts[0]);
    assert_eq!(
        String::from_utf8_lossy(&files["secrets.json"]),
        std::fs::read_to_string(net.join("secrets.json")).unwrap()
    );
    // newtron's platform travels with the network, as to another host.
    assert!(
        files.contains_key("platforms/sw.json"),
        "{:?}",
        files.keys()
    );
    for s in &sts {
        assert_restricted(s);
        // Two 2 GiB, 2-vCPU switches a shard.
        let c = container(s);
        assert_eq!(
            c["resources"]["requests"]["memory"],
            format!("{}Mi", 2 * (2048 + 128) + 256)
        );
        assert_eq!(c["resources"]["requests"]["cpu"], "4250m");
    }
    // A split asked for on top of the pool's is refused, naming why.
    let o = Command::new(vmlab_bin())
        .args([
            "export",
            "k8s",
            "-S",
            net.to_str().unwrap(),
            "--images-claim",
            "i",
        ])
        .args(["--shards", "3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 hosts"), "{}", stderr(&o));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &yaml).unwrap();
    kubernetes_validate(file.path());
}

#[test]
fn names_kubernetes_cannot_take_are_refused_with_the_fix() {
    let lab = TestLab::new("Bad_Name");
    lab.write(
        "topology.json",
        r#"{ "name": "Bad_Name", "devices": { "a": {} }, "links": [] }"#,
    );
    lab.write(
        "platforms.json",
        r#"{ "platforms": { "p": { "vm_image": "/x.qcow2" } } }"#,
    );
    lab.write("profiles/a.json", r#"{ "platform": "p" }"#);
    let o = lab.vmlab(&[
        "export",
        "k8s",
        "-S",
        lab.specs().to_str().unwrap(),
        "--images-claim",
        "i",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Bad_Name") && err.contains("lower-case"),
        "{err}"
    );
    assert!(
        stdout(&o).is_empty(),
        "nothing half-written: {}",
        stdout(&o)
    );
    // Without a place for the images, clap says which options give one.
    let o = lab.vmlab(&["export", "k8s", "-S", lab.specs().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--images-claim"), "{}", stderr(&o));
}

#[test]
fn a_shard_finds_its_peers_by_name_and_plans_its_part() {
    let image = guest_image();
    let lab = TestLab::new("ab");
    let (_, said, mnt) = two_shards(&lab, &image);
    assert!(said.contains("1 of 1 link between shards"), "{said}");
    let pods = Pods::new("10.251.0.1 ab-s0-0.ab\n10.251.0.2 ab-s1-0.ab\n");
    let home = lab.root.path().join("pod0");
    std::fs::create_dir_all(&home).unwrap();
    let mnt_s = mnt.to_str().unwrap();
    let o = pods.vmlab(
        0,
        &home,
        &[
            "shard", "plan", "--spec", mnt_s, "--shard", "s0", "--wait", "5",
        ],
    );
    let plan = ok(&o, "shard plan in pod 0");
    // Its node here, the other shard's there, the link between them over UDP between the pods'
    // addresses, as the names resolved.
    assert!(plan.contains("host: s0 (runs 1 of the 2 nodes"), "{plan}");
    assert!(
        plan.lines()
            .any(|l| l.contains(" a ") && l.contains("s0 (here)")),
        "{plan}"
    );
    assert!(
        plan.lines()
            .any(|l| l.contains(" b ") && l.contains(" s1 ")),
        "{plan}"
    );
    assert!(
        plan.contains("to host s1 (udp 10.251.0.1:24950 → 10.251.0.2:24950)"),
        "{plan}"
    );
    // The shard's spec is a copy it may change; the mounted one is left as it was.
    let copied: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("specs/ab/profiles/a.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(copied["vm_host"], "s0");
    assert!(
        !std::fs::read_to_string(mnt.join("profiles/a.json"))
            .unwrap()
            .contains("vm_host")
    );
    // The other pod sees the same lab from its side.
    let home1 = lab.root.path().join("pod1");
    std::fs::create_dir_all(&home1).unwrap();
    let o = pods.vmlab(
        1,
        &home1,
        &[
            "shard", "plan", "--spec", mnt_s, "--shard", "s1", "--wait", "5",
        ],
    );
    let plan = ok(&o, "shard plan in pod 1");
    assert!(
        plan.contains("to host s0 (udp 10.251.0.2:24950 → 10.251.0.1:24950)"),
        "{plan}"
    );
    // A shard the export did not make is named, with the ones it did.
    let o = pods.vmlab(
        0,
        &home,
        &[
            "shard", "plan", "--spec", mnt_s, "--shard", "s9", "--wait", "1",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("s0, s1"), "{}", stderr(&o));
    // A peer whose name does not resolve is waited for, then named.
    std::fs::write(
        format!("/etc/netns/{}/hosts", pods.names[0]),
        "10.251.0.1 ab-s0-0.ab\n",
    )
    .unwrap();
    let o = pods.vmlab(
        0,
        &home,
        &[
            "shard", "plan", "--spec", mnt_s, "--shard", "s0", "--wait", "1",
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("ab-s1-0.ab"), "{}", stderr(&o));
}
