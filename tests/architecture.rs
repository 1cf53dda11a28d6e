//! The module rules ARCHITECTURE.md states, checked on the parsed source (syn), not on text:
//! every `use` tree (groups, renames, `super::super::…`, `self::…`) and every path written
//! inline (`std::fs::read(…)`) is resolved to an absolute path, then held against the rules of
//! the file's layer. Code under `#[cfg(test)]` is left out. Each rule is proven able to fail on
//! a planted violation.

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
    uses: Vec<Use>,
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl Collector {
    /// Turns a path's segments into an absolute path string.
    fn resolve(&self, segs: &[String]) -> Option<String> {
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
        // Paths inside macro arguments (format strings aside) are code too.
        if let Ok(exprs) = m.parse_body_with(
            syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
        ) {
            for e in &exprs {
                self.visit_expr(e);
            }
        }
        syn::visit::visit_macro(self, m);
    }

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
    let mut c = Collector {
        module: module.to_vec(),
        uses: Vec::new(),
    };
    c.visit_file(&file);
    c.uses.sort();
    c.uses.dedup();
    c.uses
}

/// Layers, lowest first; each may use only the layers before it.
const LAYERS: [&str; 6] = ["spec", "plan", "engine", "term", "tui", "cli"];

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
        // The CLI decides nothing about labs: it neither plans nor touches files or processes.
        "cli" => vec!["std::fs", "tokio::fs", "crate::plan::build", "std::net"],
        _ => vec![],
    };
    // Only spec/source.rs reads spec files.
    if layer == "spec" && module != ["spec", "source"] {
        b.push("std::fs");
    }
    b
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
    for u in uses_of(module, source) {
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

fn sources() -> Vec<(Vec<String>, PathBuf, String)> {
    rust_files(&src())
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
            let text = std::fs::read_to_string(&f).expect("read");
            (module_of(&rel), f, text)
        })
        .collect()
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
                    if cand != me && !me.starts_with(&format!("{cand}::")) {
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
    assert!(planted("tui::view", "use crate::engine::lab::LabDir;\n").is_empty());
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
