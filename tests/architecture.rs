//! The module rules ARCHITECTURE.md states, checked on the source text.

use std::path::{Path, PathBuf};

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

/// Lines of code, without comments (so docs may mention what code may not use).
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .expect("read")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_module_opens_with_a_doc() {
    let files = rust_files(&src());
    assert!(files.len() > 10);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not open with a //! doc",
            f.display()
        );
    }
}

#[test]
fn spec_and_plan_are_pure() {
    for layer in ["spec", "plan"] {
        for f in rust_files(&src().join(layer)) {
            let c = code(&f);
            for banned in [
                "tokio",
                "std::process",
                "crate::engine",
                "crate::cli",
                "crate::term",
                "Command::new",
            ] {
                assert!(!c.contains(banned), "{} uses {banned}", f.display());
            }
            if !f.ends_with("spec/source.rs") {
                assert!(!c.contains("std::fs"), "{} does I/O (std::fs)", f.display());
            }
        }
    }
}

#[test]
fn the_engine_knows_no_ui() {
    for f in rust_files(&src().join("engine")) {
        let c = code(&f);
        for banned in [
            "crate::cli",
            "crate::term",
            "clap",
            "crossterm",
            "indicatif",
            "println!",
        ] {
            assert!(!c.contains(banned), "{} uses {banned}", f.display());
        }
    }
}

#[test]
fn the_tui_does_no_io_of_its_own() {
    for f in rust_files(&src().join("tui")) {
        let c = code(&f);
        for banned in ["std::fs", "std::process", "/proc", "crate::cli"] {
            assert!(!c.contains(banned), "{} uses {banned}", f.display());
        }
    }
}
