//! Interface maps: which QEMU NIC index carries a NOS interface name.
//!
//! NIC 0 is always management; data NICs start at 1. `sequential` puts `Ethernet<N>` on NIC
//! N+1 (VPP images), `stride-4` puts `Ethernet<4k>` on NIC k+1 (SONiC VS, Cisco 8000), and
//! `custom` reads an explicit table (`vm_interface_map_custom`, newtron's field name).

use serde_json::Map;
use serde_json::Value;

/// How a platform names its data NICs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceMap {
    Sequential,
    Stride4,
    /// Interface name → NIC index, in the order the user wrote them.
    Custom(Vec<(String, u32)>),
    /// newtron's port inventory (a registry platform's `ports[{name, nic_index}]`).
    Ports(Vec<(String, u32)>),
}

impl InterfaceMap {
    /// The name used in spec files.
    pub fn kind(&self) -> &'static str {
        match self {
            InterfaceMap::Sequential => "sequential",
            InterfaceMap::Stride4 => "stride-4",
            InterfaceMap::Custom(_) => "custom",
            InterfaceMap::Ports(_) => "ports",
        }
    }

    /// The NIC index for `iface`, or a sentence saying why it cannot be placed.
    pub fn nic_for(&self, iface: &str) -> Result<u32, String> {
        match self {
            InterfaceMap::Custom(table) => table
                .iter()
                .find(|(name, _)| name == iface)
                .map(|(_, nic)| *nic)
                .ok_or_else(|| {
                    format!(
                        "interface \"{iface}\" is not in the platform's vm_interface_map_custom"
                    )
                }),
            InterfaceMap::Ports(table) => table
                .iter()
                .find(|(name, _)| name == iface)
                .map(|(_, nic)| *nic)
                .ok_or_else(|| format!("interface \"{iface}\" is not in the platform's ports[]")),
            InterfaceMap::Sequential | InterfaceMap::Stride4 => {
                let n = ethernet_number(iface).ok_or_else(|| {
                    format!(
                        "interface \"{iface}\" is not named Ethernet<N>, which the {} map needs",
                        self.kind()
                    )
                })?;
                match self {
                    InterfaceMap::Sequential => n
                        .checked_add(1)
                        .ok_or_else(|| format!("interface \"{iface}\" is out of range")),
                    _ if n % 4 != 0 => Err(format!(
                        "interface \"{iface}\" cannot be placed by the stride-4 map (it places \
                         Ethernet0, Ethernet4, Ethernet8, ...: multiples of 4)"
                    )),
                    _ => Ok(n / 4 + 1),
                }
            }
        }
    }

    /// The interface name the map gives data NIC `nic` (1 and up), if it gives one: the
    /// inverse of [`InterfaceMap::nic_for`].
    pub fn name_for(&self, nic: u32) -> Option<String> {
        let k = nic.checked_sub(1)?;
        match self {
            InterfaceMap::Sequential => Some(format!("Ethernet{k}")),
            InterfaceMap::Stride4 => Some(format!("Ethernet{}", k.checked_mul(4)?)),
            InterfaceMap::Custom(table) | InterfaceMap::Ports(table) => table
                .iter()
                .find(|(_, n)| *n == nic)
                .map(|(name, _)| name.clone()),
        }
    }

    /// Parses `vm_interface_map` (and, for `custom`, the table) from a platform or profile.
    pub fn parse(kind: &str, custom: Option<&Map<String, Value>>) -> Result<Self, String> {
        match kind {
            "sequential" => Ok(InterfaceMap::Sequential),
            "stride-4" | "stride4" => Ok(InterfaceMap::Stride4),
            "custom" => {
                let table = custom.ok_or_else(|| {
                    "the custom map needs vm_interface_map_custom, an object such as \
                     {\"Ethernet0\": 1, \"Ethernet4\": 2}"
                        .to_string()
                })?;
                let mut out = Vec::with_capacity(table.len());
                for (name, v) in table {
                    let nic = v.as_u64().filter(|n| (1..=u64::from(u32::MAX)).contains(n));
                    match nic {
                        Some(nic) => out.push((name.clone(), nic as u32)),
                        None => {
                            return Err(format!(
                                "vm_interface_map_custom.{name} must be a NIC index of 1 or more \
                                 (NIC 0 is management), not {v}"
                            ));
                        }
                    }
                }
                Ok(InterfaceMap::Custom(out))
            }
            other => Err(format!(
                "unknown interface map \"{other}\" (use sequential, stride-4 or custom)"
            )),
        }
    }
}

/// `Ethernet12` → 12.
fn ethernet_number(iface: &str) -> Option<u32> {
    let digits = iface.strip_prefix("Ethernet")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A registry platform's `ports[{name, nic_index}]` as a map, or why it cannot be one (the
/// index in `ports` and the problem).
pub fn parse_ports(ports: &[Value]) -> Result<InterfaceMap, (usize, String)> {
    let mut out = Vec::with_capacity(ports.len());
    for (i, p) in ports.iter().enumerate() {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let nic = p
            .get("nic_index")
            .and_then(Value::as_u64)
            .filter(|n| (1..=u64::from(u32::MAX)).contains(n));
        match (name, nic) {
            (Some(n), Some(k)) => out.push((n.to_string(), k as u32)),
            (None, _) => return Err((i, "has no \"name\"".into())),
            (_, None) => {
                return Err((
                    i,
                    "needs a \"nic_index\" of 1 or more (NIC 0 is management)".into(),
                ));
            }
        }
    }
    Ok(InterfaceMap::Ports(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_places_every_ethernet() {
        let m = InterfaceMap::Sequential;
        assert_eq!(m.nic_for("Ethernet0"), Ok(1));
        assert_eq!(m.nic_for("Ethernet1"), Ok(2));
        assert_eq!(m.nic_for("Ethernet3"), Ok(4));
    }

    #[test]
    fn stride4_places_multiples_of_four() {
        let m = InterfaceMap::Stride4;
        assert_eq!(m.nic_for("Ethernet0"), Ok(1));
        assert_eq!(m.nic_for("Ethernet4"), Ok(2));
        assert_eq!(m.nic_for("Ethernet12"), Ok(4));
        assert!(m.nic_for("Ethernet5").unwrap_err().contains("stride-4"));
    }

    #[test]
    fn names_that_are_not_ethernet_n_are_refused() {
        for bad in [
            "eth0",
            "Ethernet",
            "Ethernet-1",
            "Ethernet1/1",
            "PortChannel1",
        ] {
            assert!(InterfaceMap::Stride4.nic_for(bad).is_err(), "{bad}");
            assert!(InterfaceMap::Sequential.nic_for(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_reads_the_table_and_refuses_nic_zero() {
        let table: Map<String, Value> =
            serde_json::from_str(r#"{"Ethernet0": 1, "Ethernet8": 3}"#).unwrap();
        let m = InterfaceMap::parse("custom", Some(&table)).unwrap();
        assert_eq!(m.nic_for("Ethernet8"), Ok(3));
        assert!(m.nic_for("Ethernet4").is_err());
        let zero: Map<String, Value> = serde_json::from_str(r#"{"Ethernet0": 0}"#).unwrap();
        assert!(InterfaceMap::parse("custom", Some(&zero)).is_err());
        assert!(InterfaceMap::parse("custom", None).is_err());
        assert!(InterfaceMap::parse("stride-8", None).is_err());
    }
}
