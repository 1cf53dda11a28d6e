//! `vmlab export k8s`: a lab as Kubernetes manifests, one shard per pod. This file gathers what
//! the manifests say — the shards (`plan::shards`: the spec's hosts, or a balanced split), the
//! links between shards, the spec's files (as [`super::transfer`] carries them to a host, with
//! newtron's platforms), what only a Secret may hold, a fresh API token — and hands it to the
//! pure renderer (`lab::export::k8s`); writing the files is [`write`]'s.

use std::path::Path;

use crate::error::EngineError;
use crate::lab::export::k8s::{self, CrossLink, ImagesFrom, K8sLab, K8sShard};
use crate::plan::shards::{self, ShardNode, Shards};
use crate::spec::Lab;

use super::transfer;

/// What the user chose.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    pub namespace: String,
    pub image: String,
    pub images: ImagesFrom,
    /// How many shards, for a spec that places no node on a host.
    pub shards: Option<usize>,
    pub kvm: bool,
    pub api_port: u16,
}

/// The manifests and what the split came to.
#[derive(Debug, Clone)]
pub struct K8sExport {
    /// The documents, in the order to apply them.
    pub docs: Vec<serde_json::Value>,
    /// Each shard's name and nodes.
    pub shards: Vec<(String, Vec<String>)>,
    /// How many links run between shards, of how many.
    pub crossing: (usize, usize),
}

impl K8sExport {
    /// The manifests as one YAML stream.
    pub fn yaml(&self) -> Result<String, EngineError> {
        k8s::yaml(&self.docs)
            .map_err(|e| EngineError::io("cannot write YAML", std::io::Error::other(e)))
    }
}

/// Files of the spec only a Secret may carry.
fn secret_file(rel: &str) -> bool {
    rel == crate::lab::key::FILE || rel == "secrets.json"
}

/// The manifests of `spec`.
pub fn export(spec: &Lab, opts: &K8sOptions) -> Result<K8sExport, EngineError> {
    let nodes: Vec<ShardNode> = spec
        .nodes
        .iter()
        .map(|n| ShardNode {
            name: n.name.clone(),
            cpus: n.cpus,
            memory_mb: n.memory_mb,
            host: n.host.clone(),
        })
        .collect();
    let index_of = |name: &str| spec.nodes.iter().position(|n| n.name == name);
    let pairs: Vec<(usize, usize)> = spec
        .links
        .iter()
        .filter_map(|l| Some((index_of(&l.a.node)?, index_of(&l.z.node)?)))
        .collect();
    let split: Shards =
        shards::split(&nodes, &pairs, opts.shards).map_err(|e| EngineError::Usage {
            what: format!("cannot split lab {} into shards: {e}", spec.name),
            fix: "a spec that places its nodes is split by its hosts; any other by --shards N"
                .into(),
        })?;
    let base = spec.settings.link_port_base;
    let mut cross_links = Vec::new();
    for (index, (a, z)) in pairs.iter().enumerate() {
        let (Some(sa), Some(sz)) = (split.of(*a), split.of(*z)) else {
            continue;
        };
        if sa != sz {
            let port = u16::try_from(base + index as u32).map_err(|_| EngineError::Usage {
                what: format!("link {index}'s port ({base} + {index}) is past 65535"),
                fix: "lower link_port_base in topology.json".into(),
            })?;
            cross_links.push(CrossLink {
                index,
                port,
                shards: (sa, sz),
            });
        }
    }
    let mut files = Vec::new();
    let mut secret_files = Vec::new();
    for (rel, path) in spec_files(spec)? {
        let bytes = std::fs::read(&path)
            .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
        if secret_file(&rel) {
            secret_files.push((rel, bytes));
        } else {
            files.push((rel, bytes));
        }
    }
    // Links between shards are keyed: the key the spec carries, or one made for this export
    // (the user's spec directory is left as it is).
    if !cross_links.is_empty()
        && !secret_files
            .iter()
            .any(|(rel, _)| rel == crate::lab::key::FILE)
    {
        secret_files.push((
            crate::lab::key::FILE.to_string(),
            (random_hex()? + "\n").into_bytes(),
        ));
    }
    let lab = K8sLab {
        lab: spec.name.to_string(),
        namespace: opts.namespace.clone(),
        image: opts.image.clone(),
        images: opts.images.clone(),
        kvm: opts.kvm,
        api_port: opts.api_port,
        shards: split
            .shards
            .iter()
            .map(|(name, members)| K8sShard {
                name: name.clone(),
                nodes: members
                    .iter()
                    .map(|i| (nodes[*i].name.clone(), nodes[*i].cpus, nodes[*i].memory_mb))
                    .collect(),
            })
            .collect(),
        cross_links,
        files,
        secret_files,
        token: random_hex()?,
    };
    let docs = k8s::manifests(&lab).map_err(|what| EngineError::Usage {
        what,
        fix: "Kubernetes names the Service, the StatefulSets and the pods after the lab and its \
              shards"
            .into(),
    })?;
    Ok(K8sExport {
        docs,
        shards: lab
            .shards
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.nodes.iter().map(|n| n.0.clone()).collect(),
                )
            })
            .collect(),
        crossing: (lab.cross_links.len(), pairs.len()),
    })
}

/// The spec's files as another host would receive them: newtron's platforms the lab uses
/// under `platforms/`.
fn spec_files(spec: &Lab) -> Result<Vec<(String, std::path::PathBuf)>, EngineError> {
    let mut files = transfer::spec_files(&spec.spec_dir)?;
    if let Some(r) = &spec.registry {
        let mut used: Vec<&str> = spec.nodes.iter().map(|n| n.platform.as_str()).collect();
        used.sort_unstable();
        used.dedup();
        files.extend(
            used.iter()
                .map(|p| (format!("platforms/{p}.json"), r.join(format!("{p}.json")))),
        );
    }
    Ok(files)
}

/// 32 random bytes as 64 hex digits: the API token, and the lab key's form.
fn random_hex() -> Result<String, EngineError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| EngineError::io("cannot read /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the manifests into `dir` (made if missing), one file per document in the order to
/// apply them (`00-configmap-<name>.yaml`, …); the Secret's file readable only by its owner.
pub fn write(dir: &Path, export: &K8sExport) -> Result<Vec<std::path::PathBuf>, EngineError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::io(format!("cannot make {}", dir.display()), e))?;
    let mut written = Vec::new();
    for (k, doc) in export.docs.iter().enumerate() {
        let kind = doc["kind"].as_str().unwrap_or("doc").to_lowercase();
        let name = doc["metadata"]["name"].as_str().unwrap_or("unnamed");
        let path = dir.join(format!("{k:02}-{kind}-{name}.yaml"));
        let text = k8s::yaml(std::slice::from_ref(doc))
            .map_err(|e| EngineError::io("cannot write YAML", std::io::Error::other(e)))?;
        let mode = if kind == "secret" { 0o600 } else { 0o644 };
        crate::fsutil::atomic_write(&path, text.as_bytes(), Some(mode))
            .map_err(|e| EngineError::io(format!("cannot write {}", path.display()), e))?;
        written.push(path);
    }
    Ok(written)
}

/// `k8s-shards.json` as the export wrote it: the lab, and each shard's peers' name for it and
/// its nodes.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ShardsFile {
    pub lab: crate::spec::LabName,
    pub shards: std::collections::BTreeMap<String, ShardEntry>,
}

/// One shard in `k8s-shards.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ShardEntry {
    pub address: String,
    pub nodes: Vec<String>,
}

/// Reads `k8s-shards.json` beside the spec in `mounted`.
pub fn read_shards(mounted: &Path) -> Result<ShardsFile, EngineError> {
    let p = mounted.join(k8s::SHARDS_FILE);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        EngineError::io(
            format!(
                "cannot read {} (what `vmlab export k8s` writes beside the spec)",
                p.display()
            ),
            e,
        )
    })?;
    let file: ShardsFile = serde_json::from_str(&text).map_err(|e| EngineError::Usage {
        what: format!("{} is not a shard split: {e}", p.display()),
        fix: "export the lab again with `vmlab export k8s`".into(),
    })?;
    for (name, s) in &file.shards {
        let host_name = !s.address.is_empty()
            && s.address.len() <= 253
            && s.address
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !s.address.starts_with(['-', '.']);
        if !host_name || crate::spec::name::check_name(name).is_err() {
            return Err(EngineError::Usage {
                what: format!(
                    "{}: shard {name:?} at {:?} is not a shard name and a host name",
                    p.display(),
                    s.address
                ),
                fix: "export the lab again with `vmlab export k8s`".into(),
            });
        }
    }
    Ok(file)
}

/// Each shard's address, looked up as the system looks names up (the cluster's DNS in a pod),
/// waiting up to `patience` for names not there yet (a peer whose pod is still being made).
pub fn resolve_shards(
    file: &ShardsFile,
    patience: std::time::Duration,
) -> Result<std::collections::BTreeMap<String, std::net::IpAddr>, EngineError> {
    use std::net::ToSocketAddrs;
    let until = std::time::Instant::now() + patience;
    let mut found = std::collections::BTreeMap::new();
    loop {
        for (name, s) in &file.shards {
            if found.contains_key(name) {
                continue;
            }
            if let Ok(mut addrs) = (s.address.as_str(), 0).to_socket_addrs()
                && let Some(a) = addrs.next()
            {
                found.insert(name.clone(), a.ip());
            }
        }
        let missing: Vec<&str> = file
            .shards
            .iter()
            .filter(|(n, _)| !found.contains_key(*n))
            .map(|(_, s)| s.address.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        if std::time::Instant::now() >= until {
            return Err(EngineError::LabState(format!(
                "cannot find the address of {} after {} s (is the headless Service there, and \
                 its pods scheduled?)",
                missing.join(", "),
                patience.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The spec of shard `shard`, as a host of a multi-host lab would have it: the mounted spec
/// copied into this home's received specs (checked as a spec another host sent), its hosts
/// the shards at `addrs`, every node placed on its shard (`vm_host`). Its directory.
pub fn shard_spec(
    mounted: &Path,
    file: &ShardsFile,
    shard: &str,
    addrs: &std::collections::BTreeMap<String, std::net::IpAddr>,
) -> Result<std::path::PathBuf, EngineError> {
    if !file.shards.contains_key(shard) {
        return Err(EngineError::Usage {
            what: format!("lab {} has no shard {shard:?}", file.lab),
            fix: format!(
                "the shards are: {}",
                file.shards.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let platforms: Vec<(String, std::path::PathBuf)> =
        match std::fs::read_dir(mounted.join("platforms")) {
            Ok(dir) => dir
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let stem = name.strip_suffix(".json")?.to_string();
                    (!stem.starts_with('.')).then(|| (stem, e.path()))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
    let bundle = transfer::pack(mounted, &platforms)?;
    let dir = transfer::unpack(bundle.as_slice(), &file.lab)?;
    let newtron = crate::spec::source::is_newtron(&dir);
    let topo_path = dir.join("topology.json");
    let mut topo = read_json(&topo_path)?;
    let key = if newtron { "newtlab" } else { "vmlab" };
    let section = topo
        .as_object_mut()
        .ok_or_else(|| EngineError::LabState(format!("{} is not an object", topo_path.display())))?
        .entry(key)
        .or_insert_with(|| serde_json::json!({}));
    if let Some(s) = section.as_object_mut() {
        let hosts: serde_json::Map<String, serde_json::Value> = addrs
            .iter()
            .map(|(n, ip)| (n.clone(), serde_json::json!(ip.to_string())))
            .collect();
        s.insert("hosts".into(), serde_json::Value::Object(hosts));
        // Every node is placed below; a server pool would place them again.
        s.remove("servers");
    }
    write_json(&topo_path, &topo)?;
    let folder = if newtron { "nodes" } else { "profiles" };
    for (name, s) in &file.shards {
        for node in &s.nodes {
            crate::spec::name::check_name(node).map_err(|why| EngineError::Usage {
                what: format!("shard {name}: node {node:?} {why}"),
                fix: "export the lab again with `vmlab export k8s`".into(),
            })?;
            let p = dir.join(folder).join(format!("{node}.json"));
            let mut profile = if p.is_file() {
                read_json(&p)?
            } else {
                serde_json::json!({})
            };
            if let Some(o) = profile.as_object_mut() {
                o.insert("vm_host".into(), serde_json::json!(name));
            }
            write_json(&p, &profile)?;
        }
    }
    Ok(dir)
}

fn read_json(p: &Path) -> Result<serde_json::Value, EngineError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| EngineError::io(format!("cannot read {}", p.display()), e))?;
    serde_json::from_str(&text).map_err(|e| EngineError::LabState(format!("{}: {e}", p.display())))
}

fn write_json(p: &Path, v: &serde_json::Value) -> Result<(), EngineError> {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| EngineError::io(format!("cannot make {}", parent.display()), e))?;
    }
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| EngineError::io("cannot encode JSON", std::io::Error::other(e)))?;
    crate::fsutil::atomic_write(p, (text + "\n").as_bytes(), Some(0o644))
        .map_err(|e| EngineError::io(format!("cannot write {}", p.display()), e))
}

/// `$VMLAB_HOME/shard.pid`: the running `vmlab shard run` of this home.
fn shard_pid_file() -> std::path::PathBuf {
    crate::home::vmlab_home().join("shard.pid")
}

/// Says this process is the home's shard process (for `vmlab shard alive`).
pub fn mark_shard_process() -> Result<(), EngineError> {
    let p = shard_pid_file();
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| EngineError::io(format!("cannot make {}", parent.display()), e))?;
    }
    crate::fsutil::atomic_write(
        &p,
        format!("{}\n", std::process::id()).as_bytes(),
        Some(0o644),
    )
    .map_err(|e| EngineError::io(format!("cannot write {}", p.display()), e))
}

/// Is the home's shard process running (the pid it wrote is alive and is `vmlab shard run`)?
pub fn shard_process_alive() -> bool {
    let Some(pid) = std::fs::read_to_string(shard_pid_file())
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    else {
        return false;
    };
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let words: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            words.windows(2).any(|w| w[0] == b"shard" && w[1] == b"run")
        })
        .unwrap_or(false)
}

/// The API token from the Secret's volume, copied into this home with mode 0600 (a Secret
/// volume's files are the kubelet's to own, and with an `fsGroup` they are readable by the
/// group, which `vmlab serve` refuses for a token file). The copy's path.
pub fn private_token(mounted: &Path) -> Result<std::path::PathBuf, EngineError> {
    let text = std::fs::read_to_string(mounted)
        .map_err(|e| EngineError::io(format!("cannot read {}", mounted.display()), e))?;
    let p = crate::home::vmlab_home().join("shard.token");
    crate::fsutil::atomic_write(&p, text.as_bytes(), Some(0o600))
        .map_err(|e| EngineError::io(format!("cannot write {}", p.display()), e))?;
    Ok(p)
}
