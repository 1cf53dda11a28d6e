//! The topology as Graphviz dot and as a Mermaid graph, hosts as clusters. Pure.

use std::fmt::Write;

use super::text::{Ids, edges, group, hosts};
use crate::lab::state::LabState;

/// Graphviz: nodes (grouped in a cluster per host), links labelled with both ends'
/// interfaces. `dot -Tsvg`.
pub fn dot(state: &LabState) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut s = format!(
        "graph {} {{\n  graph [label={}, labelloc=t];\n  node [shape=box, style=rounded];\n",
        q(state.name.as_str()),
        q(&format!("vmlab lab {}", state.name))
    );
    for (i, (host, members)) in hosts(state).iter().enumerate() {
        let indent = if host.is_some() { "    " } else { "  " };
        if let Some(h) = host {
            let _ = writeln!(s, "  subgraph cluster_{i} {{\n    label={};", q(h));
        }
        for m in members {
            let platform = state
                .nodes
                .get(m)
                .map(|n| n.platform.as_str())
                .unwrap_or("");
            let _ = writeln!(
                s,
                "{indent}{} [label={}];",
                q(m),
                q(&format!("{m}\n{platform}"))
            );
        }
        if host.is_some() {
            let _ = writeln!(s, "  }}");
        }
    }
    for (_, a, al, z, zl) in edges(state) {
        let _ = writeln!(
            s,
            "  {} -- {} [taillabel={}, headlabel={}];",
            q(&a),
            q(&z),
            q(&al),
            q(&zl)
        );
    }
    s.push_str("}\n");
    s
}

/// Mermaid (`graph TD`), for Markdown docs: a subgraph per host, links labelled with both
/// ends' interfaces.
pub fn mermaid(state: &LabState) -> String {
    // Mermaid ids: letters, digits, `_`; labels in quotes with `"` as `#quot;`.
    let mut ids = Ids::default();
    let mut id = |kind: &'static str, n: &str| {
        let readable = match kind {
            "host" => format!("n_{}", group(&format!("host_{n}"))),
            _ => format!("n_{}", group(n)),
        };
        ids.of(kind, n, readable)
    };
    let label = |s: &str| s.replace('"', "#quot;");
    let mut s = String::from("graph TD\n");
    for (host, members) in hosts(state) {
        let indent = if host.is_some() { "    " } else { "  " };
        if let Some(h) = &host {
            let _ = writeln!(s, "  subgraph {}[\"{}\"]", id("host", h), label(h));
        }
        for m in members {
            let _ = writeln!(s, "{indent}{}[\"{}\"]", id("node", &m), label(&m));
        }
        if host.is_some() {
            let _ = writeln!(s, "  end");
        }
    }
    for (_, a, al, z, zl) in edges(state) {
        let _ = writeln!(
            s,
            "  {} ---|\"{} — {}\"| {}",
            id("node", &a),
            label(&al),
            label(&zl),
            id("node", &z)
        );
    }
    s
}
