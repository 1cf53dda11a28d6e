//! What the renderers share: quoting for ssh_config and YAML, group and diagram names that
//! stay apart once escaped, the lab's nodes here, its links as edges and its hosts. Pure.

use std::collections::HashMap;
use std::path::Path;

use crate::lab::state::LabState;
use crate::node::{NodeState, NodeStatus};

/// A path as an ssh_config value: `%` escaped, quoted when it holds white space.
pub(super) fn cfg_path(p: &Path) -> String {
    let s = p.to_string_lossy().replace('%', "%%");
    if s.contains(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s
    }
}

/// Nodes this host runs (all of them, in a one-host lab), in topology order.
pub(super) fn local_nodes(state: &LabState) -> impl Iterator<Item = (&String, &NodeState)> {
    state
        .ordered_nodes()
        .filter(|(_, n)| n.status != NodeStatus::Remote)
}

/// An Ansible group name: letters, digits and `_` (platform `sonic-vs` → `sonic_vs`).
pub(super) fn group(name: &str) -> String {
    let g: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if g.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{g}")
    } else {
        g
    }
}

/// Identifiers made from names by [`group`], kept distinct: names that differ only in what
/// `group` replaces (`leaf-1`, `leaf_1`), or a node named like another kind's identifier
/// (`host_h1`), would otherwise become one group or one diagram node. The first to ask keeps
/// the readable form; a later one gets `_2`, `_3`, ….
#[derive(Default)]
pub(super) struct Ids {
    used: std::collections::HashSet<String>,
    given: HashMap<(&'static str, String), String>,
}

impl Ids {
    /// The identifier of `name` of `kind`, readable form `readable`.
    pub(super) fn of(&mut self, kind: &'static str, name: &str, readable: String) -> String {
        if let Some(id) = self.given.get(&(kind, name.to_string())) {
            return id.clone();
        }
        let mut id = readable.clone();
        let mut k = 2;
        while self.used.contains(&id) {
            id = format!("{readable}_{k}");
            k += 1;
        }
        self.used.insert(id.clone());
        self.given.insert((kind, name.to_string()), id.clone());
        id
    }
}

/// A YAML scalar: double-quoted JSON strings are valid YAML and escape everything.
pub(super) fn yq(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Links grouped for drawing: each as `(index, a node, a label, z node, z label)`.
pub(super) fn edges(state: &LabState) -> Vec<(usize, String, String, String, String)> {
    state
        .links
        .iter()
        .map(|l| {
            let [(an, ai, anic, _), (zn, zi, znic, _)] = l.ends();
            (
                l.index,
                an.to_string(),
                format!("{ai} (eth{anic})"),
                zn.to_string(),
                format!("{zi} (eth{znic})"),
            )
        })
        .collect()
}

pub(super) fn hosts(state: &LabState) -> Vec<(Option<String>, Vec<String>)> {
    let mut out: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for (name, n) in state.ordered_nodes() {
        match out.iter_mut().find(|(h, _)| *h == n.host) {
            Some((_, v)) => v.push(name.clone()),
            None => out.push((n.host.clone(), vec![name.clone()])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_suit_ansible() {
        assert_eq!(group("sonic-vs"), "sonic_vs");
        assert_eq!(group("9k"), "_9k");
    }
}
