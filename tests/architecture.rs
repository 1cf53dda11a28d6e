//! The module rules ARCHITECTURE.md states, checked on the parsed source (syn), not on text:
//! every `use` tree (groups, renames, `super::super::…`, `self::…`), every path written inline
//! (`std::fs::read(…)`), every path through a name a `use` brought in (`use std as s;
//! s::fs::read`, `use crate::plan; plan::build`) and every path inside a macro's tokens
//! (`tokio::select!`, `matches!`) is resolved to an absolute path, then held against the rules
//! of the file's layer and, inside the engine, of its sub-folder. Imports must not go in a
//! circle, neither between files nor between the folders and files side by side in one folder.
//! Code under `#[cfg(test)]` is left out. Each rule is proven able to fail on a planted
//! violation.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One use of a path (or a macro, or a string) in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    /// Absolute: `crate::engine::lab`, `std::fs`, `tokio::process`, `macro::println`,
    /// `str::/proc/…`.
    path: String,
    line: usize,
}

/// Collects every path a file uses, resolved against the file's module path.
struct Collector {
    /// The module the visitor is in (`["engine", "lab", "deploy"]`).
    module: Vec<String>,
    /// Names `use` brought into each module (`fs` → `std::fs`, `s` → `std`, `plan` →
    /// `crate::plan`), gathered before any path is resolved.
    aliases: BTreeMap<Vec<String>, BTreeMap<String, String>>,
    uses: Vec<Use>,
}

/// Gathers, per module, the names its `use` items (and `extern crate … as …`) bring in.
struct AliasCollector {
    module: Vec<String>,
    aliases: BTreeMap<Vec<String>, BTreeMap<String, String>>,
}

impl AliasCollector {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        let bind = |this: &mut Self, name: String, segs: Vec<String>| {
            let c = Collector {
                module: this.module.clone(),
                aliases: BTreeMap::new(),
                uses: Vec::new(),
            };
            if let Some(abs) = c.resolve_plain(&segs) {
                this.aliases
                    .entry(this.module.clone())
                    .or_default()
                    .insert(name, abs);
            }
        };
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut segs = prefix.clone();
                let name = if n.ident == "self" {
                    prefix.last().cloned().unwrap_or_default()
                } else {
                    segs.push(n.ident.to_string());
                    n.ident.to_string()
                };
                bind(self, name, segs);
            }
            syn::UseTree::Rename(r) => {
                let mut segs = prefix.clone();
                if r.ident != "self" {
                    segs.push(r.ident.to_string());
                }
                bind(self, r.rename.to_string(), segs);
            }
            syn::UseTree::Glob(_) => {}
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for AliasCollector {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) {
            return;
        }
        // `mod qemu;` brings the name `qemu` into scope as `use self::qemu;` would.
        let path = std::iter::once("crate".to_string())
            .chain(self.module.iter().cloned())
            .chain(std::iter::once(m.ident.to_string()))
            .collect::<Vec<_>>()
            .join("::");
        self.aliases
            .entry(self.module.clone())
            .or_default()
            .insert(m.ident.to_string(), path);
        self.module.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_test_only(&u.attrs) {
            self.use_tree(&mut Vec::new(), &u.tree);
        }
    }

    fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
        if let Some((_, rename)) = &e.rename {
            self.aliases
                .entry(self.module.clone())
                .or_default()
                .insert(rename.to_string(), e.ident.to_string());
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl Collector {
    /// Turns a path's segments into an absolute path string, through the names `use` brought
    /// into the module (`s::fs::read` after `use std as s;` is `std::fs::read`).
    fn resolve(&self, segs: &[String]) -> Option<String> {
        let first = segs.first()?;
        if !matches!(first.as_str(), "crate" | "self" | "super")
            && let Some(abs) = self.aliases.get(&self.module).and_then(|a| a.get(first))
        {
            let mut out = abs.clone();
            for s in &segs[1..] {
                out.push_str("::");
                out.push_str(s);
            }
            return Some(out);
        }
        self.resolve_plain(segs)
    }

    /// Turns a path's segments into an absolute path string, as written.
    fn resolve_plain(&self, segs: &[String]) -> Option<String> {
        let first = segs.first()?;
        if !matches!(first.as_str(), "crate" | "self" | "super") {
            // An external crate or std, or a name local to the module (one segment, or a
            // local type's path): only multi-segment paths from a crate root matter.
            if segs.len() < 2 && !matches!(first.as_str(), "std" | "tokio") {
                return None;
            }
            return Some(segs.join("::"));
        }
        // crate / self / super, then any number of super.
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            _ => self.module.clone(),
        };
        let mut i = 0;
        if first != "super" {
            i = 1;
        }
        while segs.get(i).is_some_and(|s| s == "super") {
            base.pop();
            i += 1;
        }
        let out: Vec<String> = std::iter::once("crate".to_string())
            .chain(base)
            .chain(segs[i..].iter().cloned())
            .collect();
        Some(out.join("::"))
    }

    fn record(&mut self, segs: Vec<String>, line: usize) {
        if let Some(path) = self.resolve(&segs) {
            self.uses.push(Use { path, line });
        }
    }

    /// Every path in a macro's tokens (`tokio::select! { _ = std::fs::read(..) => .. }`,
    /// `matches!(x, crate::plan::End::A)`): each run of `ident :: ident …`, in every group.
    fn macro_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        use proc_macro2::TokenTree;
        let mut run: Vec<String> = Vec::new();
        let mut line = 0;
        let mut colons = 0;
        let flush = |this: &mut Self, run: &mut Vec<String>, line: usize| {
            if run.len() >= 2 {
                this.record(std::mem::take(run), line);
            }
            run.clear();
        };
        for t in tokens {
            match t {
                TokenTree::Ident(i) => {
                    if !run.is_empty() && colons != 2 {
                        flush(self, &mut run, line);
                    }
                    if run.is_empty() {
                        line = i.span().start().line;
                    }
                    run.push(i.to_string());
                    colons = 0;
                }
                TokenTree::Punct(p) if p.as_char() == ':' => colons += 1,
                TokenTree::Group(g) => {
                    flush(self, &mut run, line);
                    colons = 0;
                    self.macro_tokens(g.stream());
                }
                _ => {
                    flush(self, &mut run, line);
                    colons = 0;
                }
            }
        }
        flush(self, &mut run, line);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut segs = prefix.clone();
                if n.ident != "self" {
                    segs.push(n.ident.to_string());
                }
                self.record(segs, line);
            }
            syn::UseTree::Rename(r) => {
                let mut segs = prefix.clone();
                if r.ident != "self" {
                    segs.push(r.ident.to_string());
                }
                self.record(segs, line);
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone(), line),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, line);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) {
            return;
        }
        self.module.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.module.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if is_test_only(&u.attrs) {
            return;
        }
        let line = u.use_token.span.start().line;
        self.use_tree(&mut Vec::new(), &u.tree, line);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = p
            .segments
            .first()
            .map(|s| s.ident.span().start().line)
            .unwrap_or(0);
        if segs.len() >= 2 || p.leading_colon.is_some() {
            self.record(segs, line);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if let Some(name) = m.path.segments.last() {
            self.uses.push(Use {
                path: format!("macro::{}", name.ident),
                line: name.ident.span().start().line,
            });
        }
        // Paths inside a macro's tokens are code too, whatever the macro's grammar; and a
        // string among them is looked at as any string is.
        self.macro_tokens(m.tokens.clone());
        for t in m.tokens.clone() {
            if let proc_macro2::TokenTree::Literal(l) = t
                && let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&l.to_string())
            {
                self.visit_lit_str(&s);
            }
        }
        syn::visit::visit_macro(self, m);
    }

    /// `pub(in crate::tui)` names where an item is seen, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_lit_str(&mut self, s: &'ast syn::LitStr) {
        let v = s.value();
        if v.contains("/proc") {
            self.uses.push(Use {
                path: format!("str::{v}"),
                line: s.span().start().line,
            });
        }
    }
}

/// The module path of a file under `src/`: `engine/lab/mod.rs` → `[engine, lab]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" && stem != "lib" && stem != "main" {
            parts.push(stem);
        }
    }
    parts
}

/// Every absolute path `source` (the file at module `module`) uses.
fn uses_of(module: &[String], source: &str) -> Vec<Use> {
    let file = syn::parse_file(source).expect("the source parses");
    let mut a = AliasCollector {
        module: module.to_vec(),
        aliases: BTreeMap::new(),
    };
    a.visit_file(&file);
    let mut c = Collector {
        module: module.to_vec(),
        aliases: a.aliases,
        uses: Vec::new(),
    };
    c.visit_file(&file);
    c.uses.sort();
    c.uses.dedup();
    c.uses
}

/// Layers, lowest first; each may use only the layers before it.
const LAYERS: [&str; 7] = ["spec", "plan", "engine", "term", "tui", "serve", "cli"];

/// What pure code may not use: files, processes, sockets, the clock, the async runtime.
const PURE: [&str; 9] = [
    "tokio",
    "std::process",
    "std::fs",
    "std::time::Instant",
    "std::time::SystemTime",
    "std::net::TcpListener",
    "std::net::TcpStream",
    "std::net::UdpSocket",
    "std::os::unix::net",
];

/// What a layer may not use, beyond the layers above it: path prefixes.
fn banned(layer: &str, module: &[String]) -> Vec<&'static str> {
    let mut b = match layer {
        "spec" => vec![
            "tokio",
            "std::process",
            "std::time::Instant",
            "std::net::TcpListener",
            "std::net::TcpStream",
            "std::net::UdpSocket",
            "std::os::unix::net",
        ],
        "plan" => vec![
            "tokio",
            "std::process",
            "std::fs",
            "std::time::Instant",
            "std::time::SystemTime",
            "std::net::TcpListener",
            "std::net::TcpStream",
            "std::net::UdpSocket",
            "std::os::unix::net",
        ],
        "engine" => vec![
            "clap",
            "crossterm",
            "ratatui",
            "indicatif",
            "tui_term",
            "portable_pty",
            "vt100",
            "macro::println",
            "macro::print",
            "macro::eprintln",
            "macro::eprint",
            "macro::dbg",
        ],
        "term" => vec!["clap", "indicatif", "ratatui"],
        "tui" => vec![
            "std::fs",
            "std::process",
            "std::net",
            "tokio::fs",
            "tokio::process",
            "tokio::net",
            "str::",
        ],
        // The HTTP server owns HTTP only: no terminal, no files, no processes of its own.
        "serve" => vec![
            "std::fs",
            "tokio::fs",
            "std::process",
            "tokio::process",
            "crate::plan::build",
            "clap",
            "crossterm",
            "ratatui",
            "indicatif",
            "portable_pty",
            "vt100",
            "macro::println",
            "macro::eprintln",
        ],
        // The CLI decides nothing about labs: it neither plans nor touches files or processes
        // (it may only `exec` into a command the engine built: `CommandExt`).
        "cli" => vec![
            "std::fs",
            "tokio::fs",
            "crate::plan::build",
            "std::net",
            "tokio::net",
            "std::process::Command",
            "std::process::Stdio",
            "tokio::process",
            "portable_pty",
        ],
        _ => vec![],
    };
    // Only spec/source.rs reads spec files.
    if layer == "spec" && module != ["spec", "source"] {
        b.push("std::fs");
    }
    // The TUI's parts are components: the app hands each what it reads and applies what it
    // answers; a part never names the app (nor anything of its module), the layout, the run
    // loop or the engine work. What they say to each other is `tui::shared`.
    if module.len() >= 2 && module[..2] == ["tui", "parts"] {
        b.extend([
            "crate::tui::app",
            "crate::tui::view",
            "crate::tui::work",
            "crate::tui::event_loop",
        ]);
    }
    // The renderers of what other tools read are pure; their folder's mod.rs writes the files.
    if module.len() == 4 && module[..3] == ["engine", "lab", "export"] {
        b.extend(PURE);
    }
    b
}

/// The engine's parts, lowest first: a part may use only the parts before it (and those of its
/// own rank it does not go round in a circle with). `node` and `link` know nothing of labs;
/// `lab` nothing of hosts, images, doctor or the facade; only the facade is above them all.
const ENGINE_PARTS: [(&str, u8); 17] = [
    ("error", 0),
    ("home", 0),
    ("fsutil", 0),
    ("lines", 0),
    ("netstat", 0),
    ("node", 1),
    ("ssh", 2),
    ("link", 2),
    ("events", 3),
    ("journal", 3),
    ("lab", 4),
    ("image", 5),
    ("host", 5),
    ("doctor", 6),
    ("api", 7),
    // The engine's own mod.rs re-exports; nothing inside it may use it.
    ("", 8),
    ("mod", 8),
];

fn engine_rank(part: &str) -> Option<u8> {
    ENGINE_PARTS
        .iter()
        .find(|(p, _)| *p == part)
        .map(|(_, r)| *r)
}

/// The rule violations of one file.
fn violations(module: &[String], source: &str) -> Vec<String> {
    let Some(layer) = module.first().map(String::as_str) else {
        return Vec::new();
    };
    let Some(rank) = LAYERS.iter().position(|l| *l == layer) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let front_end = matches!(layer, "term" | "tui" | "serve" | "cli");
    for u in uses_of(module, source) {
        // Front ends reach the engine only through its facade.
        if front_end
            && let Some(rest) = u.path.strip_prefix("crate::engine")
            && !(rest.is_empty() || rest == "::api" || rest.starts_with("::api::"))
        {
            out.push(format!(
                "line {}: {layer} uses {} (around the engine's facade, engine::api)",
                u.line, u.path
            ));
        }
        // Inside the engine, a part uses no part above it.
        if layer == "engine"
            && let Some(part) = module.get(1)
            && let Some(rest) = u.path.strip_prefix("crate::engine::")
            && let Some(to) = rest.split("::").next()
            && to != part
            && let (Some(from_rank), Some(to_rank)) = (engine_rank(part), engine_rank(to))
            && to_rank > from_rank
        {
            out.push(format!(
                "line {}: engine::{part} uses {} (a part of the engine above it)",
                u.line, u.path
            ));
        }
        if let Some(target) = u.path.strip_prefix("crate::") {
            let to = target.split("::").next().unwrap_or("");
            if let Some(to_rank) = LAYERS.iter().position(|l| *l == to)
                && to_rank > rank
            {
                out.push(format!(
                    "line {}: {layer} uses {} (a layer above it)",
                    u.line, u.path
                ));
            }
        }
        for b in banned(layer, module) {
            let hit = u.path == b
                || u.path
                    .strip_prefix(b)
                    .is_some_and(|rest| rest.starts_with("::") || b.ends_with("::"));
            if hit {
                out.push(format!("line {}: {layer} uses {}", u.line, u.path));
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The pure layers' crates, each read as the module the root crate re-exports it as
/// (`vmlab::spec`, `vmlab::plan`): their paths rewritten to the root crate's, so the same
/// rules and the same import graph cover the whole program.
/// Text replacements that read a crate's paths as the root crate's.
type Rewrites = &'static [(&'static str, &'static str)];

const LAYER_CRATES: [(&str, &str, Rewrites); 3] = [
    (
        "crates/vmlab-spec/src",
        "spec",
        &[("crate::", "crate::spec::")],
    ),
    (
        "crates/vmlab-plan/src",
        "plan",
        &[
            ("crate::", "crate::plan::"),
            ("vmlab_spec::", "crate::spec::"),
        ],
    ),
    // The engine names the layers below it `crate::spec` and `crate::plan` (aliases of their
    // crates); those stay, everything else of its own is `crate::engine::`.
    (
        "crates/vmlab-engine/src",
        "engine",
        &[
            ("crate::spec::", "\u{1}S"),
            ("crate::plan::", "\u{1}P"),
            ("crate::", "crate::engine::"),
            ("\u{1}S", "crate::spec::"),
            ("\u{1}P", "crate::plan::"),
            ("use vmlab_plan as plan;", ""),
            ("use vmlab_spec as spec;", ""),
        ],
    ),
];

fn sources() -> Vec<(Vec<String>, PathBuf, String)> {
    let mut out: Vec<(Vec<String>, PathBuf, String)> = rust_files(&src())
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
            let text = std::fs::read_to_string(&f).expect("read");
            (module_of(&rel), f, text)
        })
        .collect();
    for (dir, module, rewrites) in LAYER_CRATES {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for f in rust_files(&root) {
            let rel = f
                .strip_prefix(&root)
                .expect("under the crate")
                .to_path_buf();
            let mut text = std::fs::read_to_string(&f).expect("read");
            for (from, to) in rewrites {
                text = text.replace(from, to);
            }
            let mut m = vec![module.to_string()];
            m.extend(module_of(&rel));
            out.push((m, f, text));
        }
    }
    out
}

/// Module-to-module imports inside the crate, resolved to the file they land in.
fn import_graph(files: &[(Vec<String>, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.join("::")).collect();
    let mut graph = BTreeMap::new();
    for (m, text) in files {
        let me = m.join("::");
        let mut to = BTreeSet::new();
        for u in uses_of(m, text) {
            let Some(target) = u.path.strip_prefix("crate::") else {
                continue;
            };
            // The longest module prefix of the target is the file it lands in.
            let segs: Vec<&str> = target.split("::").collect();
            for n in (1..=segs.len()).rev() {
                let cand = segs[..n].join("::");
                if modules.contains(&cand) {
                    if cand != me {
                        to.insert(cand);
                    }
                    break;
                }
            }
        }
        graph.insert(me, to);
    }
    graph
}

/// The same imports seen folder by folder: inside each folder, an edge between the two files or
/// sub-folders side by side that hold the importing and the imported module (a folder's own
/// `mod.rs` aside: declaring and re-exporting its children is what it is for). Keyed by folder
/// (`""` is `src/`), then as `import_graph`.
fn folder_graphs(
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, tos) in graph {
        let f: Vec<&str> = from.split("::").filter(|s| !s.is_empty()).collect();
        for to in tos {
            let t: Vec<&str> = to.split("::").filter(|s| !s.is_empty()).collect();
            let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
            let (Some(a), Some(b)) = (f.get(common), t.get(common)) else {
                continue;
            };
            out.entry(f[..common].join("::"))
                .or_default()
                .entry(a.to_string())
                .or_default()
                .insert(b.to_string());
        }
    }
    out
}

/// Every circle between files or folders side by side in one folder, named by the folder.
fn folder_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, Vec<String>)> {
    folder_graphs(graph)
        .into_iter()
        .flat_map(|(folder, g)| {
            cycles(&g)
                .into_iter()
                .map(move |c| (folder.clone(), c))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every cycle of two or more modules (as a sorted list of its members).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Strongly connected components by repeated reachability (the graph is small).
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for n in graph.keys() {
        let r = reach(n);
        if !r.contains(n) {
            continue;
        }
        let mut comp: Vec<String> = r.into_iter().filter(|m| reach(m).contains(n)).collect();
        comp.sort();
        if comp.len() > 1 && !out.contains(&comp) {
            out.push(comp);
        }
    }
    out
}

#[test]
fn every_module_opens_with_a_doc() {
    let files = sources();
    assert!(files.len() > 20);
    for (_, f, text) in files {
        assert!(
            text.starts_with("//!"),
            "{} does not open with a //! doc",
            f.display()
        );
    }
}

#[test]
fn every_layer_keeps_its_rules() {
    let mut all = Vec::new();
    for (m, f, text) in sources() {
        for v in violations(&m, &text) {
            all.push(format!("{}: {v}", f.display()));
        }
    }
    assert!(all.is_empty(), "module rules broken:\n{}", all.join("\n"));
}

#[test]
fn no_module_imports_go_in_a_circle() {
    let files: Vec<(Vec<String>, String)> = sources().into_iter().map(|(m, _, t)| (m, t)).collect();
    let c = cycles(&import_graph(&files));
    assert!(c.is_empty(), "import circles: {c:?}");
}

#[test]
fn no_folder_imports_go_in_a_circle() {
    let files: Vec<(Vec<String>, String)> = sources().into_iter().map(|(m, _, t)| (m, t)).collect();
    let c = folder_cycles(&import_graph(&files));
    assert!(c.is_empty(), "circles between the parts of a folder: {c:?}");
}

// --- The checker catches what it should: planted violations of each kind. ---

fn planted(module: &str, source: &str) -> Vec<String> {
    let m: Vec<String> = module.split("::").map(str::to_string).collect();
    violations(&m, source)
}

#[test]
fn a_grouped_use_of_fs_and_process_in_spec_is_caught() {
    let v = planted("spec::resolve", "use std::{fs, process};\nfn f() {}\n");
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().any(|x| x.contains("std::process")), "{v:?}");
    assert!(v.iter().any(|x| x.contains("std::fs")), "{v:?}");
    // The one file allowed to read spec files may.
    assert!(planted("spec::source", "use std::fs;\n").is_empty());
}

#[test]
fn climbing_out_with_super_is_resolved_and_caught() {
    let v = planted(
        "engine::lab::deploy",
        "use super::super::super::cli::Cli;\nfn f(_: Cli) {}\n",
    );
    assert!(
        v.iter().any(|x| x.contains("crate::cli::Cli")),
        "super::super::super from engine::lab::deploy is crate::cli: {v:?}"
    );
    let v = planted("engine::lab", "use self::super::super::tui::App;\n");
    assert!(v.iter().any(|x| x.contains("crate::tui")), "{v:?}");
}

#[test]
fn inline_paths_and_macros_are_caught() {
    let v = planted(
        "tui::app",
        "fn f() { let _ = std::fs::read(\"x\"); let _ = \"/proc/self/stat\"; }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::fs::read")), "{v:?}");
    assert!(v.iter().any(|x| x.contains("/proc")), "{v:?}");
    let v = planted("engine::lab::status", "fn f() { println!(\"{}\", 1); }\n");
    assert!(v.iter().any(|x| x.contains("macro::println")), "{v:?}");
    let v = planted(
        "plan::qemu",
        "fn f() { tokio::spawn(async {}); let _ = std::time::Instant::now(); }\n",
    );
    assert_eq!(v.len(), 2, "{v:?}");
}

#[test]
fn a_layer_reaching_up_is_caught() {
    let v = planted("spec::model", "use crate::plan::LabPlan;\n");
    assert!(v.iter().any(|x| x.contains("a layer above")), "{v:?}");
    let v = planted("term::session", "fn f(_: crate::tui::app::App) {}\n");
    assert!(
        v.iter().any(|x| x.contains("crate::tui::app::App")),
        "{v:?}"
    );
    let v = planted("cli::deploy", "fn f() { let _ = crate::plan::build; }\n");
    assert!(v.iter().any(|x| x.contains("crate::plan::build")), "{v:?}");
    // Down the layers is fine, and so is test code.
    assert!(planted("tui::view", "use crate::engine::api::LabHandle;\n").is_empty());
    assert!(
        planted(
            "plan::nics",
            "#[cfg(test)]\nmod tests { use std::fs; fn t() { let _ = std::fs::read(\"x\"); } }\n"
        )
        .is_empty()
    );
}

#[test]
fn an_import_circle_is_caught() {
    let files = vec![
        (
            vec!["engine".to_string(), "events".to_string()],
            "use crate::engine::state::X;\n".to_string(),
        ),
        (
            vec!["engine".to_string(), "state".to_string()],
            "use super::events::Y;\n".to_string(),
        ),
        (
            vec!["engine".to_string(), "other".to_string()],
            "use super::state::X;\n".to_string(),
        ),
    ];
    let c = cycles(&import_graph(&files));
    assert_eq!(
        c,
        vec![vec![
            "engine::events".to_string(),
            "engine::state".to_string()
        ]]
    );
}

#[test]
fn a_name_brought_in_by_use_is_followed() {
    // `use std as s; s::fs::read` is std::fs, in spec (outside source.rs).
    let v = planted(
        "spec::resolve",
        "use std as s;\nfn f() { let _ = s::fs::read(\"x\"); }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::fs::read")), "{v:?}");
    // `use crate::plan; plan::build` from the CLI.
    let v = planted(
        "cli::deploy",
        "use crate::plan;\nfn f() { let _ = plan::build; }\n",
    );
    assert!(v.iter().any(|x| x.contains("crate::plan::build")), "{v:?}");
    // `use std::fs; fs::read` in plan.
    let v = planted(
        "plan::qemu",
        "use std::fs;\nfn f() { let _ = fs::read(\"x\"); }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::fs::read")), "{v:?}");
    // And `extern crate std as s2;`.
    let v = planted(
        "spec::model",
        "extern crate std as s2;\nfn f() { let _ = s2::process::id(); }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::process::id")), "{v:?}");
}

#[test]
fn paths_inside_any_macro_are_caught() {
    let v = planted(
        "tui::app",
        "async fn f() { tokio::select! { _ = std::fs::read(\"x\") => {} } }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::fs::read")), "{v:?}");
    let v = planted(
        "spec::ifmap",
        "fn f(x: u8) -> bool { matches!(x, _ if std::process::id() > 0) }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::process::id")), "{v:?}");
    // Through an alias, inside a macro.
    let v = planted(
        "plan::nics",
        "use std::time as t;\nfn f() -> bool { matches!(1, _ if t::Instant::now().elapsed().is_zero()) }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::time::Instant")), "{v:?}");
}

#[test]
fn the_engines_parts_keep_their_order() {
    // node and link know nothing of labs.
    let v = planted("engine::node::health", "use crate::engine::lab::LabDir;\n");
    assert!(
        v.iter()
            .any(|x| x.contains("a part of the engine above it")),
        "{v:?}"
    );
    let v = planted(
        "engine::link::relay",
        "fn f(_: super::super::lab::LabDir) {}\n",
    );
    assert!(
        v.iter().any(|x| x.contains("crate::engine::lab::LabDir")),
        "{v:?}"
    );
    // lab knows nothing of hosts or the facade.
    let v = planted("engine::lab::console", "use crate::engine::host::remote;\n");
    assert!(
        v.iter().any(|x| x.contains("crate::engine::host::remote")),
        "{v:?}"
    );
    // Down is fine.
    assert!(planted("engine::lab::deploy", "use crate::engine::node::qemu;\n").is_empty());
}

#[test]
fn a_front_end_around_the_facade_or_spawning_a_process_is_caught() {
    let v = planted("tui::mod", "use crate::engine::lab::lifecycle;\n");
    assert!(v.iter().any(|x| x.contains("engine's facade")), "{v:?}");
    let v = planted("term::session", "fn f(_: crate::engine::lab::LabDir) {}\n");
    assert!(v.iter().any(|x| x.contains("engine's facade")), "{v:?}");
    assert!(planted("cli::node", "use crate::engine::api::LabHandle;\n").is_empty());
    let v = planted(
        "cli::tools",
        "fn f() { let _ = std::process::Command::new(\"qemu-system-x86_64\").spawn(); }\n",
    );
    assert!(
        v.iter().any(|x| x.contains("std::process::Command")),
        "{v:?}"
    );
    let v = planted("cli::lab", "use tokio::process::Command;\n");
    assert!(v.iter().any(|x| x.contains("tokio::process")), "{v:?}");
}

#[test]
fn a_circle_between_folders_is_caught() {
    // No two files import each other, but engine/ssh.rs and engine/lab/ do, through
    // different files: the circle of the folders.
    let files = vec![
        (
            vec!["engine".to_string(), "ssh".to_string()],
            "use crate::engine::lab::state::LabState;\n".to_string(),
        ),
        (
            vec!["engine".to_string(), "lab".to_string(), "state".to_string()],
            "pub struct LabState;\n".to_string(),
        ),
        (
            vec!["engine".to_string(), "lab".to_string(), "exec".to_string()],
            "use crate::engine::ssh;\n".to_string(),
        ),
    ];
    let graph = import_graph(&files);
    assert!(cycles(&graph).is_empty(), "no circle of files");
    assert_eq!(
        folder_cycles(&graph),
        vec![(
            "engine".to_string(),
            vec!["lab".to_string(), "ssh".to_string()]
        )]
    );
    // A folder's mod.rs using its children is no circle.
    let files = vec![
        (
            vec!["engine".to_string(), "lab".to_string()],
            "pub use self::state::LabState;\n".to_string(),
        ),
        (
            vec!["engine".to_string(), "lab".to_string(), "state".to_string()],
            "use super::LabDir;\n".to_string(),
        ),
    ];
    assert!(folder_cycles(&import_graph(&files)).is_empty());
}

#[test]
fn a_tui_part_that_reaches_for_the_app_is_caught() {
    let v = planted(
        "tui::parts::links",
        "use crate::tui::{app::App, shared::Action};\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("crate::tui::app::App"), "{v:?}");
    let v = planted("tui::parts::nodes", "fn f(_: &super::super::app::App) {}\n");
    assert!(
        v.iter().any(|x| x.contains("crate::tui::app::App")),
        "{v:?}"
    );
    let v = planted(
        "tui::parts::tabs",
        "use crate::tui::app::*;\nfn f(_: &App) {}\n",
    );
    assert!(v.iter().any(|x| x.contains("crate::tui::app")), "{v:?}");
    let v = planted("tui::parts", "fn f() { crate::tui::view::draw; }\n");
    assert!(v.iter().any(|x| x.contains("crate::tui::view")), "{v:?}");
    // What the app and the parts say to each other is theirs to use.
    assert!(
        planted(
            "tui::parts::tabs",
            "use crate::tui::shared::{Action, Focus};\n"
        )
        .is_empty()
    );
}

#[test]
fn the_renderers_stay_pure() {
    let v = planted(
        "engine::lab::export::graph",
        "fn f() { let _ = std::fs::write(\"x\", \"y\"); }\n",
    );
    assert!(v.iter().any(|x| x.contains("std::fs::write")), "{v:?}");
    // Their folder's mod.rs is the writer.
    assert!(planted("engine::lab::export", "use std::fs;\n").is_empty());
}

#[test]
fn a_circle_through_a_folders_own_mod_rs_is_caught() {
    // plan/mod.rs calls into its child through the name `mod qemu;` brings in, and the child
    // uses a type of plan/mod.rs: the two files import each other.
    let files = vec![
        (
            vec!["plan".to_string()],
            "pub mod qemu;\npub struct Accel;\nfn f() { let _ = qemu::argv(); }\n".to_string(),
        ),
        (
            vec!["plan".to_string(), "qemu".to_string()],
            "use crate::plan::Accel;\npub fn argv() {}\n".to_string(),
        ),
    ];
    assert_eq!(
        cycles(&import_graph(&files)),
        vec![vec!["plan".to_string(), "plan::qemu".to_string()]]
    );
    // Naming where an item is seen (`pub(in crate::plan)`) is not a use.
    let files = vec![
        (
            vec!["plan".to_string()],
            "pub mod qemu;\nfn f() { let _ = qemu::argv(); }\n".to_string(),
        ),
        (
            vec!["plan".to_string(), "qemu".to_string()],
            "pub(in crate::plan) fn argv() {}\n".to_string(),
        ),
    ];
    assert!(cycles(&import_graph(&files)).is_empty());
}

/// What hides code from the rules above: a module read from another file (`#[path]`), source
/// pasted in (`include!`; data with `include_bytes!`/`include_str!` is fine), the crate named
/// as an outside one (`extern crate self as ...`).
#[derive(Default)]
struct Hiding {
    found: Vec<String>,
}

impl<'ast> Visit<'ast> for Hiding {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.attrs.iter().any(|a| a.path().is_ident("path")) {
            self.found.push(format!("#[path] on mod {}", m.ident));
        }
        syn::visit::visit_item_mod(self, m);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if m.path.segments.last().is_some_and(|s| s.ident == "include") {
            self.found.push("include!".into());
        }
        syn::visit::visit_macro(self, m);
    }
    fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
        if e.ident == "self" {
            self.found.push("extern crate self".into());
        }
        syn::visit::visit_item_extern_crate(self, e);
    }
}

fn hiding(source: &str) -> Vec<String> {
    let mut h = Hiding::default();
    h.visit_file(&syn::parse_file(source).expect("the source parses"));
    h.found
}

#[test]
fn no_code_hides_behind_path_include_or_extern_crate_self() {
    let mut found = Vec::new();
    for (_, f, text) in sources() {
        for h in hiding(&text) {
            found.push(format!("{}: {h}", f.display()));
        }
    }
    assert!(found.is_empty(), "code the rules cannot see: {found:#?}");
    // Each is caught when planted.
    assert_eq!(
        hiding("#[path = \"x.rs\"] mod m; fn f() { include!(\"y.rs\"); } extern crate self as v;"),
        ["#[path] on mod m", "include!", "extern crate self"]
    );
    assert!(hiding("const P: &[u8] = include_bytes!(\"p.bin\");").is_empty());
}

/// Functions (free, or in an impl) longer than `max` lines, outside `#[cfg(test)]` code:
/// `path::name` and their length.
fn long_functions(module: &str, source: &str, max: usize) -> Vec<(String, usize)> {
    struct Long<'a> {
        module: &'a str,
        max: usize,
        found: Vec<(String, usize)>,
    }
    impl Long<'_> {
        fn check(&mut self, name: &syn::Ident, block: &syn::Block, attrs: &[syn::Attribute]) {
            if is_test_only(attrs) {
                return;
            }
            use syn::spanned::Spanned;
            let span = block.span();
            let lines = span.end().line.saturating_sub(span.start().line) + 1;
            if lines > self.max {
                self.found.push((format!("{}::{name}", self.module), lines));
            }
        }
    }
    impl<'ast> Visit<'ast> for Long<'_> {
        fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
            self.check(&f.sig.ident, &f.block, &f.attrs);
            syn::visit::visit_item_fn(self, f);
        }
        fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
            self.check(&f.sig.ident, &f.block, &f.attrs);
            syn::visit::visit_impl_item_fn(self, f);
        }
        fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
            if !is_test_only(&m.attrs) {
                syn::visit::visit_item_mod(self, m);
            }
        }
    }
    let mut l = Long {
        module,
        max,
        found: Vec::new(),
    };
    l.visit_file(&syn::parse_file(source).expect("the source parses"));
    l.found
}

/// The functions over 150 lines when this rule came in (fourteen), longest first: the list
/// could only shrink (a function made shorter had to leave it; none could join it), and every
/// one of them has left it.
const LONG_FUNCTIONS: &[&str] = &[];

#[test]
fn no_function_grows_past_150_lines() {
    let mut found: Vec<(String, usize)> = sources()
        .iter()
        .flat_map(|(m, _, text)| long_functions(&m.join("::"), text, 150))
        .collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    let new: Vec<&(String, usize)> = found
        .iter()
        .filter(|(n, _)| !LONG_FUNCTIONS.contains(&n.as_str()))
        .collect();
    assert!(
        new.is_empty(),
        "functions over 150 lines (split them): {new:?}"
    );
    let shortened: Vec<&&str> = LONG_FUNCTIONS
        .iter()
        .filter(|n| !names.contains(n))
        .collect();
    assert!(
        shortened.is_empty(),
        "now at most 150 lines: take them off LONG_FUNCTIONS: {shortened:?}"
    );
    // The rule can fail.
    let body = "    let x = 1;\n".repeat(151);
    assert_eq!(
        long_functions("m", &format!("fn f() {{\n{body}}}\nfn g() {{}}"), 150),
        [("m::f".to_string(), 153)]
    );
}
