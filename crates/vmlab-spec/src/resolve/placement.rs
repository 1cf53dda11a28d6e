//! newtron's server pool: a node without `vm_host` is placed on one of `servers`, the same
//! way on every host (pinned nodes first, then each other node, by name, on the least loaded
//! server with room under its `max_nodes`, ties by server name). Every host computes the same
//! answer from the same files, so `--host` needs no coordination.

use std::path::Path;

use crate::error::{SpecError, SpecErrors};
use crate::model::{LabSettings, Node};

/// Places the nodes of a lab with a server pool: fills in `host` of every node without one.
pub(super) fn place_on_servers(
    nodes: &mut [Node],
    settings: &LabSettings,
    topo: &Path,
    errs: &mut SpecErrors,
) {
    if settings.servers.is_empty() {
        return;
    }
    let wanted: Vec<(&str, Option<&str>)> = nodes
        .iter()
        .map(|n| (n.name.as_str(), n.host.as_deref()))
        .collect();
    match pool(&wanted, &settings.servers) {
        Ok(hosts) => {
            for (n, h) in nodes.iter_mut().zip(hosts) {
                n.host = Some(h);
            }
        }
        Err(why) => errs.push(SpecError::new(
            topo,
            "newtlab.servers",
            why,
            "raise that server's max_nodes, add a server, or pin fewer nodes on it (vm_host)",
        )),
    }
}

/// The server of each node (in the order given): a pinned node stays where it is pinned;
/// the others, taken by name, go to the server with the fewest nodes so far among those
/// under their `max_nodes` (`None`: no limit), ties by server name. `Err` says which server
/// is full.
pub fn pool(
    nodes: &[(&str, Option<&str>)],
    servers: &[(String, Option<u32>)],
) -> Result<Vec<String>, String> {
    let mut load: Vec<(String, u32, Option<u32>)> = servers
        .iter()
        .map(|(n, max)| (n.clone(), 0, *max))
        .collect();
    load.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Option<String>> = vec![None; nodes.len()];
    for (i, (_, pin)) in nodes.iter().enumerate() {
        if let Some(h) = pin {
            if let Some(s) = load.iter_mut().find(|s| s.0 == *h) {
                s.1 += 1;
                if s.2.is_some_and(|max| s.1 > max) {
                    return Err(format!(
                        "server {h} is full: more nodes are pinned to it (vm_host) than its \
                         max_nodes {}",
                        s.2.unwrap_or(0)
                    ));
                }
            }
            out[i] = Some((*h).to_string());
        }
    }
    let mut free: Vec<usize> = (0..nodes.len()).filter(|i| out[*i].is_none()).collect();
    free.sort_by(|a, b| nodes[*a].0.cmp(nodes[*b].0));
    for i in free {
        let pick = load
            .iter_mut()
            .filter(|s| s.2.is_none_or(|max| s.1 < max))
            .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let Some(s) = pick else {
            let full: Vec<String> = load
                .iter()
                .map(|s| format!("{} {}/{}", s.0, s.1, s.2.unwrap_or(0)))
                .collect();
            return Err(format!(
                "the lab does not fit its servers: node {} has no room, every server is full \
                 ({})",
                nodes[i].0,
                full.join(", ")
            ));
        };
        s.1 += 1;
        out[i] = Some(s.0.clone());
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(list: &[(&str, Option<u32>)]) -> Vec<(String, Option<u32>)> {
        list.iter().map(|(n, m)| (n.to_string(), *m)).collect()
    }

    #[test]
    fn pinned_first_then_least_loaded_ties_by_name() {
        // newtron's own example: six nodes, two servers of four, leaf1 pinned to server-a.
        let nodes = [
            ("spine1", None),
            ("spine2", None),
            ("spine3", None),
            ("leaf1", Some("server-a")),
            ("leaf2", None),
            ("leaf3", None),
        ];
        let got = pool(
            &nodes,
            &servers(&[("server-b", Some(4)), ("server-a", Some(4))]),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "server-b", "server-a", "server-b", "server-a", "server-b", "server-a"
            ]
        );
    }

    #[test]
    fn a_full_server_is_skipped_and_a_lab_too_big_is_named() {
        let nodes = [("a", None), ("b", None), ("c", None)];
        let got = pool(&nodes, &servers(&[("s1", Some(1)), ("s2", None)])).unwrap();
        assert_eq!(got, ["s1", "s2", "s2"], "s1 holds one, s2 has no limit");
        let err = pool(&nodes, &servers(&[("s1", Some(1)), ("s2", Some(1))])).unwrap_err();
        assert!(err.contains("node c has no room"), "{err}");
        assert!(err.contains("s1 1/1, s2 1/1"), "{err}");
        let err = pool(
            &[("a", Some("s1")), ("b", Some("s1"))],
            &servers(&[("s1", Some(1))]),
        )
        .unwrap_err();
        assert!(err.contains("server s1 is full"), "{err}");
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_nodes_are_listed() {
        let s = servers(&[("x", None), ("y", None)]);
        let a = pool(&[("n1", None), ("n2", None), ("n3", None)], &s).unwrap();
        let b = pool(&[("n3", None), ("n1", None), ("n2", None)], &s).unwrap();
        assert_eq!(a, ["x", "y", "x"]);
        assert_eq!(b, ["x", "x", "y"], "n3 → x, n1 → x, n2 → y, as above");
    }
}
