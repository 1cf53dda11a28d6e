//! Kubernetes manifests of a lab split into shards, purely (what `vmlab export k8s` writes):
//! the spec as ConfigMaps, the lab's secrets as a Secret, a headless Service that names each
//! shard for its peers, and one StatefulSet of one pod per shard running `vmlab shard run`.
//!
//! Why a StatefulSet per shard, each of one pod, rather than one StatefulSet of N: a pod's
//! requests come from its own nodes (shards differ in size, and one template would reserve the
//! largest shard's share N times), and a StatefulSet still gives its pod a stable name
//! (`<lab>-<shard>-0.<lab>`, through the headless Service) and brings it back when it dies, which
//! a bare pod does not.
//!
//! The pods meet the "restricted" Pod Security Standard: not root, no privilege escalation,
//! every capability dropped, the runtime's default seccomp profile, and a read-only root file
//! system (the lab lives in an `emptyDir`). QEMU runs under TCG, or under KVM through the
//! KubeVirt device plugin's `devices.kubevirt.io/kvm` resource, which needs no privilege.

use base64::Engine as _;
use serde_json::{Value, json};

/// Where the shards' pods find the lab's disk images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagesFrom {
    /// A PersistentVolumeClaim the user made and filled, mounted read-only.
    Claim(String),
    /// A container image the user built with the disk images under `/images`: an init
    /// container copies them into the pod.
    Image(String),
}

/// One shard: its name and its nodes (name, vCPUs, memory in MiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sShard {
    pub name: String,
    pub nodes: Vec<(String, u32, u64)>,
}

/// A link between two shards: its index, its UDP port and the two shards' indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossLink {
    pub index: usize,
    pub port: u16,
    pub shards: (usize, usize),
}

/// Everything the manifests say.
#[derive(Debug, Clone)]
pub struct K8sLab {
    pub lab: String,
    pub namespace: String,
    /// The container image with QEMU and vmlab (`assets/k8s/Containerfile`).
    pub image: String,
    pub images: ImagesFrom,
    pub kvm: bool,
    /// The port each shard's API listens on.
    pub api_port: u16,
    pub shards: Vec<K8sShard>,
    pub cross_links: Vec<CrossLink>,
    /// The spec's files: (path inside the spec directory, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// What only the Secret may hold: (path inside the spec directory, contents) of the lab
    /// key and newtron's secrets.json, and the API token.
    pub secret_files: Vec<(String, Vec<u8>)>,
    pub token: String,
}

/// Where the pod mounts the spec (read-only; the shard copies it into its home).
pub const SPEC_MOUNT: &str = "/etc/vmlab/spec";
/// Where the pod finds the API token.
pub const TOKEN_MOUNT: &str = "/etc/vmlab/token";
/// The lab's home inside the pod.
pub const HOME_MOUNT: &str = "/var/lib/vmlab";
/// Where the disk images are: a platform's `vm_image` names its image under this path.
pub const IMAGES_MOUNT: &str = "/var/lib/vmlab-images";
/// The file beside the spec that says how the export split the lab: each shard's nodes and
/// the name its peers reach it by (what `vmlab shard run` places the nodes by).
pub const SHARDS_FILE: &str = "k8s-shards.json";

fn shards_file(l: &K8sLab) -> Vec<u8> {
    let shards: serde_json::Map<String, Value> = l
        .shards
        .iter()
        .map(|s| {
            let nodes: Vec<&str> = s.nodes.iter().map(|n| n.0.as_str()).collect();
            (
                s.name.clone(),
                json!({ "address": shard_address(&l.lab, &s.name), "nodes": nodes }),
            )
        })
        .collect();
    let doc = json!({
        "lab": l.lab,
        "namespace": l.namespace,
        "service": l.lab,
        "api_port": l.api_port,
        "shards": shards,
    });
    serde_json::to_string_pretty(&doc)
        .unwrap_or_default()
        .into_bytes()
}

/// The user the pod runs as (not root; any non-zero id does).
const RUN_AS: u64 = 10_000;
/// A ConfigMap holds at most 1 MiB; files are packed into maps of at most this many bytes.
const CONFIGMAP_BYTES: usize = 900 * 1024;
/// QEMU's own memory beside a guest's (TCG's translation cache, device state), in MiB.
const QEMU_OVERHEAD_MB: u64 = 128;
/// vmlab's shard process and the link relay, in MiB.
const SHARD_OVERHEAD_MB: u64 = 256;

/// The name of shard `s`'s StatefulSet (its pod is this with `-0`).
pub fn workload_name(lab: &str, shard: &str) -> String {
    format!("{lab}-{shard}")
}

/// The name shard `s`'s peers reach it by, inside the namespace.
pub fn shard_address(lab: &str, shard: &str) -> String {
    format!("{}-0.{lab}", workload_name(lab, shard))
}

/// Is `s` a name Kubernetes takes for a Service, a StatefulSet and a pod's host name (an
/// RFC 1123 label: lower-case letters, digits and `-`, at most `max` characters)?
fn dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The manifests, in the order to apply them; or why the lab's names cannot be Kubernetes'.
pub fn manifests(l: &K8sLab) -> Result<Vec<Value>, String> {
    check_names(l)?;
    let mut l = l.clone();
    l.files.push((SHARDS_FILE.to_string(), shards_file(&l)));
    let l = &l;
    let mut docs = config_maps(l);
    docs.push(secret(l));
    docs.push(service(l));
    for k in 0..l.shards.len() {
        docs.push(stateful_set(l, k));
    }
    Ok(docs)
}

fn check_names(l: &K8sLab) -> Result<(), String> {
    if !dns_label(&l.lab, 40) {
        return Err(format!(
            "lab {:?} is not a Kubernetes name: use lower-case letters, digits and '-', at most \
             40 characters (set \"name\" in topology.json)",
            l.lab
        ));
    }
    if !dns_label(&l.namespace, 63) {
        return Err(format!(
            "namespace {:?} is not a Kubernetes name (lower-case letters, digits and '-')",
            l.namespace
        ));
    }
    for s in &l.shards {
        if !dns_label(&s.name, 63) || workload_name(&l.lab, &s.name).len() > 52 {
            return Err(format!(
                "shard {:?} of lab {} does not make a Kubernetes name ({}-{} must be lower-case \
                 letters, digits and '-', at most 52 characters): rename the host",
                s.name, l.lab, l.lab, s.name
            ));
        }
    }
    Ok(())
}

fn labels(l: &K8sLab) -> Value {
    json!({
        "app.kubernetes.io/name": "vmlab",
        "app.kubernetes.io/instance": l.lab,
    })
}

fn metadata(l: &K8sLab, name: &str, component: &str) -> Value {
    let mut labels = labels(l);
    labels["app.kubernetes.io/component"] = json!(component);
    json!({ "name": name, "namespace": l.namespace, "labels": labels })
}

/// A ConfigMap key for a spec file: its path with `/` as `__` (keys allow no `/`).
pub fn file_key(rel: &str) -> String {
    rel.replace('/', "__")
}

/// The spec's files packed into ConfigMaps in order: each map's name and its files' indices.
fn packed(l: &K8sLab) -> Vec<(String, Vec<usize>)> {
    let mut maps: Vec<Vec<usize>> = vec![Vec::new()];
    let mut size = 0;
    for (i, f) in l.files.iter().enumerate() {
        if size + f.1.len() > CONFIGMAP_BYTES && !maps.last().is_some_and(Vec::is_empty) {
            maps.push(Vec::new());
            size = 0;
        }
        size += f.1.len();
        if let Some(m) = maps.last_mut() {
            m.push(i);
        }
    }
    maps.into_iter()
        .enumerate()
        .map(|(k, files)| match k {
            0 => (format!("{}-spec", l.lab), files),
            k => (format!("{}-spec-{k}", l.lab), files),
        })
        .collect()
}

/// The spec's files, in as many ConfigMaps as their size needs (`<lab>-spec`, `<lab>-spec-1`,
/// …): text as `data`, anything else as `binaryData`.
fn config_maps(l: &K8sLab) -> Vec<Value> {
    packed(l)
        .into_iter()
        .map(|(name, files)| {
            let mut data = serde_json::Map::new();
            let mut binary = serde_json::Map::new();
            for (rel, bytes) in files.iter().map(|i| (&l.files[*i].0, &l.files[*i].1)) {
                match std::str::from_utf8(bytes) {
                    Ok(text) => data.insert(file_key(rel), json!(text)),
                    Err(_) => binary.insert(file_key(rel), json!(b64(bytes))),
                };
            }
            let mut doc = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(l, &name, "spec"),
                "data": data,
            });
            if !binary.is_empty() {
                doc["binaryData"] = Value::Object(binary);
            }
            doc
        })
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The lab key, newtron's secrets.json and the API token: never in a ConfigMap.
fn secret(l: &K8sLab) -> Value {
    let mut data = serde_json::Map::new();
    for (rel, bytes) in &l.secret_files {
        data.insert(file_key(rel), json!(b64(bytes)));
    }
    data.insert("api-token".into(), json!(b64(l.token.as_bytes())));
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": metadata(l, &format!("{}-secret", l.lab), "secret"),
        "data": data,
    })
}

/// The headless Service: `<lab>-<shard>-0.<lab>` resolves to each shard's pod, ready or not
/// (a shard's links to its peers come up while the peers still boot).
fn service(l: &K8sLab) -> Value {
    let mut ports = vec![json!({ "name": "api", "port": l.api_port, "protocol": "TCP" })];
    ports.extend(l.cross_links.iter().map(
        |c| json!({ "name": format!("link-{}", c.index), "port": c.port, "protocol": "UDP" }),
    ));
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(l, &l.lab, "shards"),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": labels(l),
            "ports": ports,
        },
    })
}

/// What shard `k`'s pod reserves: its guests' vCPUs and memory, QEMU's own memory beside
/// each, and the shard process's. No CPU limit: a throttled TCG guest misses its timers.
fn resources(l: &K8sLab, k: usize) -> Value {
    let nodes = &l.shards[k].nodes;
    let cpus: u32 = nodes.iter().map(|n| n.1).sum();
    let memory: u64 = nodes.iter().map(|n| n.2 + QEMU_OVERHEAD_MB).sum::<u64>() + SHARD_OVERHEAD_MB;
    let cpu = format!("{}m", u64::from(cpus) * 1000 + 250);
    let memory = format!("{memory}Mi");
    let mut requests = json!({ "cpu": cpu, "memory": memory });
    let mut limits = json!({ "memory": memory });
    if l.kvm {
        requests["devices.kubevirt.io/kvm"] = json!("1");
        limits["devices.kubevirt.io/kvm"] = json!("1");
    }
    json!({ "requests": requests, "limits": limits })
}

/// How long a shard may take to destroy its nodes once told to stop.
pub fn grace_seconds(nodes: usize) -> u64 {
    30 + 5 * nodes as u64
}

/// The spec directory as the pod sees it: every file back at its path, from the ConfigMaps and
/// (only readable by the pod's user) the Secret.
fn spec_volume(l: &K8sLab) -> Value {
    let mut sources: Vec<Value> = packed(l)
        .into_iter()
        .map(|(name, files)| {
            let items: Vec<Value> = files
                .iter()
                .map(|i| json!({ "key": file_key(&l.files[*i].0), "path": l.files[*i].0 }))
                .collect();
            json!({ "configMap": { "name": name, "items": items } })
        })
        .collect();
    let items: Vec<Value> = l
        .secret_files
        .iter()
        .map(|(rel, _)| json!({ "key": file_key(rel), "path": rel, "mode": 0o400 }))
        .collect();
    if !items.is_empty() {
        sources.push(json!({ "secret": { "name": format!("{}-secret", l.lab), "items": items } }));
    }
    json!({ "name": "spec", "projected": { "sources": sources, "defaultMode": 0o444 } })
}

fn stateful_set(l: &K8sLab, k: usize) -> Value {
    let shard = &l.shards[k];
    let name = workload_name(&l.lab, &shard.name);
    let mut pod_labels = labels(l);
    pod_labels["app.kubernetes.io/component"] = json!("shard");
    pod_labels["vmlab/shard"] = json!(shard.name);
    let mut ports = vec![json!({ "name": "api", "containerPort": l.api_port, "protocol": "TCP" })];
    ports.extend(
        l.cross_links
            .iter()
            .filter(|c| c.shards.0 == k || c.shards.1 == k)
            .map(|c| {
                json!({ "name": format!("link-{}", c.index), "containerPort": c.port,
                        "protocol": "UDP" })
            }),
    );
    let container_security = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": { "drop": ["ALL"] },
        "runAsNonRoot": true,
        "readOnlyRootFilesystem": true,
        "seccompProfile": { "type": "RuntimeDefault" },
    });
    let shard_cmd = |what: &str| -> Value {
        json!([
            "vmlab", "shard", what, "--spec", SPEC_MOUNT, "--shard", shard.name
        ])
    };
    let mut volumes = vec![
        spec_volume(l),
        json!({ "name": "token", "secret": { "secretName": format!("{}-secret", l.lab),
                "items": [{ "key": "api-token", "path": "token", "mode": 0o400 }] } }),
        json!({ "name": "home", "emptyDir": {} }),
        json!({ "name": "tmp", "emptyDir": { "medium": "Memory", "sizeLimit": "64Mi" } }),
    ];
    let mut init = Vec::new();
    match &l.images {
        ImagesFrom::Claim(claim) => volumes.push(json!({ "name": "images",
            "persistentVolumeClaim": { "claimName": claim, "readOnly": true } })),
        ImagesFrom::Image(image) => {
            volumes.push(json!({ "name": "images", "emptyDir": {} }));
            init.push(json!({
                "name": "images",
                "image": image,
                "command": ["cp", "-a", "/images/.", IMAGES_MOUNT],
                "volumeMounts": [{ "name": "images", "mountPath": IMAGES_MOUNT }],
                "securityContext": container_security,
            }));
        }
    }
    let mut pod = json!({
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": grace_seconds(shard.nodes.len()),
        "containers": [{
            "name": "shard",
            "image": l.image,
            "command": ["vmlab", "shard", "run"],
            "args": ["--spec", SPEC_MOUNT, "--shard", shard.name, "--listen",
                     format!("0.0.0.0:{}", l.api_port), "--token-file",
                     format!("{TOKEN_MOUNT}/token")],
            "env": [
                { "name": "VMLAB_HOME", "value": HOME_MOUNT },
                { "name": "VMLAB_ACCEL", "value": if l.kvm { "kvm" } else { "tcg" } },
                { "name": "TMPDIR", "value": "/tmp" },
            ],
            "ports": ports,
            "resources": resources(l, k),
            "securityContext": container_security,
            "volumeMounts": [
                { "name": "spec", "mountPath": SPEC_MOUNT, "readOnly": true },
                { "name": "token", "mountPath": TOKEN_MOUNT, "readOnly": true },
                { "name": "home", "mountPath": HOME_MOUNT },
                { "name": "tmp", "mountPath": "/tmp" },
                { "name": "images", "mountPath": IMAGES_MOUNT, "readOnly": true },
            ],
            // Ready once every node of the shard answers SSH; alive while its process answers.
            "readinessProbe": { "exec": { "command": shard_cmd("ready") },
                                "periodSeconds": 10, "timeoutSeconds": 5 },
            "livenessProbe": { "exec": { "command": shard_cmd("alive") },
                               "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3 },
            "startupProbe": { "exec": { "command": shard_cmd("alive") },
                              "periodSeconds": 5, "failureThreshold": 60 },
        }],
        "volumes": volumes,
    });
    if !init.is_empty() {
        pod["initContainers"] = Value::Array(init);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": metadata(l, &name, "shard"),
        "spec": {
            "serviceName": l.lab,
            "replicas": 1,
            "podManagementPolicy": "Parallel",
            "selector": { "matchLabels": pod_labels },
            "template": { "metadata": { "labels": pod_labels }, "spec": pod },
        },
    })
}

/// The manifests as one YAML stream (`---` before each document); spec files as literal
/// blocks.
pub fn yaml(docs: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for d in docs {
        let mut one = String::new();
        let mut e = yaml_rust2::YamlEmitter::new(&mut one);
        e.multiline_strings(true);
        e.dump(&to_yaml(d)).map_err(|e| e.to_string())?;
        out.push_str(&one);
        out.push('\n');
    }
    Ok(out)
}

fn to_yaml(v: &Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        Value::Object(m) => Yaml::Hash(
            m.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}
