//! NICs of a node: management NIC 0, data NICs 1..=highest used, gaps filled, PCI slots and MACs.
//!
//! Every NIC index from 1 to the highest one a node's links use exists, unused ones left
//! unconnected, so the guest sees `Ethernet8` at the same position whether or not `Ethernet4`
//! is wired. NIC k sits alone in PCI slot `0x08 + k` (guest NIC order = PCI order), and gets a
//! deterministic, locally administered MAC that is unique per lab, node and NIC.

use super::model::End;
pub use super::model::{Mac, NicPlan, NicRole};
use vmlab_spec::{Link, Node};

/// First PCI slot used for NICs; NIC k is in slot `FIRST_NIC_SLOT + k`.
pub const FIRST_NIC_SLOT: u32 = 0x08;

/// `02:LL:LL:NN:NN:II`: locally administered unicast; LL = hash of the lab name (so two labs
/// on one L2 segment differ), NN = node index, II = NIC index.
pub fn mac_for(lab: &str, node_index: usize, nic: u32) -> Mac {
    let h = fnv1a(lab.as_bytes());
    let n = node_index as u16;
    Mac([
        0x02,
        (h >> 8) as u8,
        h as u8,
        (n >> 8) as u8,
        n as u8,
        nic as u8,
    ])
}

/// FNV-1a folded to 16 bits: stable across releases and platforms (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    ((h >> 16) ^ (h & 0xffff)) as u16
}

/// The NICs of `node`, index order. `links` are the links with an end on `node`.
pub fn plan_nics(lab_name: &str, node: &Node, links: &[&Link]) -> Vec<NicPlan> {
    let mut roles: Vec<NicRole> = vec![NicRole::Management];
    for l in links {
        for (me, peer, end) in [(&l.a, &l.z, End::A), (&l.z, &l.a, End::Z)] {
            if me.node != node.name {
                continue;
            }
            let k = me.nic as usize;
            if roles.len() <= k {
                roles.resize(k + 1, NicRole::Unconnected);
            }
            roles[k] = NicRole::Link {
                link: l.index,
                iface: me.iface.clone(),
                peer: peer.to_string(),
                end,
            };
        }
    }
    roles
        .into_iter()
        .enumerate()
        .map(|(k, role)| NicPlan {
            index: k as u32,
            mac: mac_for(lab_name, node.index, k as u32),
            pci_slot: FIRST_NIC_SLOT + k as u32,
            role,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn macs_are_locally_administered_unicast_and_unique() {
        let mut seen = HashSet::new();
        for node in 0..300 {
            for nic in 0..24 {
                let m = mac_for("spine-leaf", node, nic);
                assert_eq!(m.0[0] & 0x01, 0, "unicast");
                assert_eq!(m.0[0] & 0x02, 0x02, "locally administered");
                assert!(seen.insert(m), "duplicate {m}");
            }
        }
        assert_ne!(mac_for("lab-a", 0, 1), mac_for("lab-b", 0, 1));
        assert_eq!(
            mac_for("lab-a", 3, 2).to_string(),
            mac_for("lab-a", 3, 2).to_string()
        );
    }
}
