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
