//! Shards: how a lab's nodes are split across the pods (or machines) that run them, purely.
//!
//! A spec that places its nodes (`vm_host`, or newtron's server pools) is split as it says: one
//! shard per host. Otherwise [`split`] makes `n` shards that balance each node's weight (its
//! memory plus half a GiB per vCPU: memory is what a shard's pod must reserve, and a TCG vCPU
//! keeps a core busy while it boots) and keep links between shards few, by growing each shard
//! in turn from the heaviest node not yet placed: it takes the unplaced node with the most links
//! into it (the first in topology order among equals) until the next would take it past its
//! share of what is left (by a tenth at most, and only for a node with most of its links into
//! the shard already); the last shard takes the rest. A pod of a fabric that
//! fits a shard ends up whole in one. The same spec always gives the same shards.

/// What a shard split needs of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardNode {
    pub name: String,
    pub cpus: u32,
    pub memory_mb: u64,
    /// The host the spec places the node on, if it does.
    pub host: Option<String>,
}

impl ShardNode {
    /// The weight balanced across shards: memory in MiB plus 512 per vCPU.
    pub fn weight(&self) -> u64 {
        self.memory_mb + 512 * u64::from(self.cpus)
    }
}

/// A split: each shard's name and its nodes (indices into the input, in input order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shards {
    pub shards: Vec<(String, Vec<usize>)>,
}

impl Shards {
    /// The shard of node `i`.
    pub fn of(&self, i: usize) -> Option<usize> {
        self.shards.iter().position(|(_, nodes)| nodes.contains(&i))
    }

    /// How many of `links` (node index pairs) run between two shards.
    pub fn crossing(&self, links: &[(usize, usize)]) -> usize {
        links
            .iter()
            .filter(|(a, z)| self.of(*a) != self.of(*z))
            .count()
    }
}

/// Why a split cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// The spec places its nodes on hosts, and a number of shards was asked for as well.
    PlacedAndCounted { hosts: usize, asked: usize },
    /// Some nodes are placed on hosts and some are not.
    PartlyPlaced { unplaced: String },
    /// Zero shards, or more shards than nodes.
    Count { asked: usize, nodes: usize },
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::PlacedAndCounted { hosts, asked } => write!(
                f,
                "the spec places its nodes on {hosts} hosts, which are its shards; --shards {asked} \
                 cannot split it another way (leave --shards out, or remove the placement)"
            ),
            SplitError::PartlyPlaced { unplaced } => write!(
                f,
                "node {unplaced} is placed on no host while others are: place every node \
                 (vm_host) or none"
            ),
            SplitError::Count { asked, nodes } => write!(
                f,
                "--shards {asked} for a lab of {nodes} nodes: ask for 1 to {nodes} shards"
            ),
        }
    }
}

/// Splits `nodes` (linked by `links`, pairs of node indices) into shards: the spec's hosts when
/// it places its nodes, else `count` balanced shards named `s0`, `s1`, … (`None`: one).
pub fn split(
    nodes: &[ShardNode],
    links: &[(usize, usize)],
    count: Option<usize>,
) -> Result<Shards, SplitError> {
    let placed = nodes.iter().filter(|n| n.host.is_some()).count();
    if placed > 0 {
        if let Some(n) = nodes.iter().find(|n| n.host.is_none()) {
            return Err(SplitError::PartlyPlaced {
                unplaced: n.name.clone(),
            });
        }
        let mut shards: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let host = n.host.clone().unwrap_or_default();
            match shards.iter_mut().find(|(h, _)| *h == host) {
                Some((_, v)) => v.push(i),
                None => shards.push((host, vec![i])),
            }
        }
        if let Some(asked) = count.filter(|c| *c != shards.len()) {
            return Err(SplitError::PlacedAndCounted {
                hosts: shards.len(),
                asked,
            });
        }
        return Ok(Shards { shards });
    }
    let n = count.unwrap_or(1);
    if n == 0 || n > nodes.len().max(1) {
        return Err(SplitError::Count {
            asked: n,
            nodes: nodes.len(),
        });
    }
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for &(a, z) in links {
        if a < nodes.len() && z < nodes.len() && a != z {
            neighbours[a].push(z);
            neighbours[z].push(a);
        }
    }
    let mut shard_of: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut left: u64 = nodes.iter().map(ShardNode::weight).sum();
    for k in 0..n {
        // This shard's share of what is left, and a tenth more.
        let share = left / (n - k) as u64;
        let room = share + share / 10;
        // Links from each unplaced node into this shard.
        let mut gain = vec![0usize; nodes.len()];
        let mut load = 0u64;
        loop {
            let next = (0..nodes.len())
                .filter(|i| shard_of[*i].is_none())
                .max_by_key(|i| {
                    // The node with most links into the shard; a new start is the heaviest.
                    let seed = if gain[*i] == 0 { nodes[*i].weight() } else { 0 };
                    (gain[*i], seed, std::cmp::Reverse(*i))
                });
            let Some(i) = next else { break };
            let w = nodes[i].weight();
            // Up to the share; past it (by a tenth at most) only for a node with most of its
            // links into the shard already.
            let fits = load == 0
                || load + w <= share
                || (load + w <= room && 2 * gain[i] > neighbours[i].len());
            if !fits && k + 1 < n {
                break;
            }
            shard_of[i] = Some(k);
            load += w;
            left -= w;
            for &m in &neighbours[i] {
                gain[m] += 1;
            }
        }
    }
    let shards = (0..n)
        .map(|s| {
            let members = (0..nodes.len())
                .filter(|i| shard_of[*i] == Some(s))
                .collect();
            (format!("s{s}"), members)
        })
        .collect();
    Ok(Shards { shards })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, memory_mb: u64, host: Option<&str>) -> ShardNode {
        ShardNode {
            name: name.into(),
            cpus: 1,
            memory_mb,
            host: host.map(str::to_string),
        }
    }

    #[test]
    fn a_placed_spec_is_split_by_its_hosts_in_order() {
        let nodes = [
            node("a", 512, Some("h2")),
            node("b", 512, Some("h1")),
            node("c", 512, Some("h2")),
        ];
        let s = split(&nodes, &[(0, 1)], None).unwrap();
        assert_eq!(
            s.shards,
            vec![("h2".to_string(), vec![0, 2]), ("h1".to_string(), vec![1])]
        );
        assert_eq!(s.crossing(&[(0, 1), (0, 2)]), 1);
        assert_eq!(split(&nodes, &[], Some(2)).unwrap(), s);
        let e = split(&nodes, &[], Some(3)).unwrap_err();
        assert!(e.to_string().contains("2 hosts"), "{e}");
        let partly = [node("a", 512, Some("h1")), node("b", 512, None)];
        let e = split(&partly, &[], None).unwrap_err();
        assert!(e.to_string().contains("node b"), "{e}");
    }

    #[test]
    fn two_pods_of_a_ring_keep_neighbours_together() {
        // Eight equal nodes in a ring: two shards of four consecutive nodes cut two links.
        let nodes: Vec<ShardNode> = (0..8).map(|i| node(&format!("n{i}"), 1024, None)).collect();
        let links: Vec<(usize, usize)> = (0..8).map(|i| (i, (i + 1) % 8)).collect();
        let s = split(&nodes, &links, Some(2)).unwrap();
        assert_eq!(s.shards.len(), 2);
        assert_eq!(s.shards[0].1.len(), 4, "{s:?}");
        assert_eq!(s.shards[1].1.len(), 4, "{s:?}");
        assert_eq!(s.crossing(&links), 2, "{s:?}");
        // The same spec, the same split.
        assert_eq!(split(&nodes, &links, Some(2)).unwrap(), s);
    }

    #[test]
    fn weights_are_balanced_within_a_tenth() {
        // Spine-leaf: 2 spines of 4 GiB, 8 leaves of 1 GiB, every leaf to every spine.
        let mut nodes = vec![node("sp1", 4096, None), node("sp2", 4096, None)];
        nodes.extend((0..8).map(|i| node(&format!("lf{i}"), 1024, None)));
        let links: Vec<(usize, usize)> = (2..10).flat_map(|l| [(0, l), (1, l)]).collect();
        let s = split(&nodes, &links, Some(2)).unwrap();
        let load = |k: usize| -> u64 { s.shards[k].1.iter().map(|i| nodes[*i].weight()).sum() };
        let total: u64 = nodes.iter().map(ShardNode::weight).sum();
        for k in 0..2 {
            assert!(load(k) <= total / 2 + total / 20, "{s:?}");
        }
        // Every node is in exactly one shard.
        let mut all: Vec<usize> = s.shards.iter().flat_map(|(_, v)| v.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn each_pod_of_a_fabric_lands_whole_in_a_shard() {
        // Five pods of 2 spines and 6 leaves (every leaf to both spines), the pods' first
        // spines in a ring: five shards cut only the five ring links.
        let mut nodes = Vec::new();
        let mut links = Vec::new();
        for p in 0..5 {
            let base = nodes.len();
            nodes.extend((0..8).map(|i| node(&format!("p{p}n{i}"), 1024, None)));
            for leaf in 2..8 {
                links.push((base + leaf, base));
                links.push((base + leaf, base + 1));
            }
        }
        for p in 0..5 {
            links.push((8 * p, 8 * ((p + 1) % 5)));
        }
        let s = split(&nodes, &links, Some(5)).unwrap();
        assert_eq!(s.crossing(&links), 5, "{s:?}");
        for (k, (_, members)) in s.shards.iter().enumerate() {
            assert_eq!(members, &(8 * k..8 * k + 8).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_count_out_of_range_is_refused() {
        let nodes = [node("a", 512, None), node("b", 512, None)];
        assert!(split(&nodes, &[], Some(0)).is_err());
        let e = split(&nodes, &[], Some(3)).unwrap_err();
        assert!(e.to_string().contains("1 to 2"), "{e}");
        let one = split(&nodes, &[(0, 1)], None).unwrap();
        assert_eq!(one.shards, vec![("s0".to_string(), vec![0, 1])]);
    }
}
