//! Spec problems: each names the file, the field inside it and what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in the spec files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file at fault (as the user named it, relative to the spec dir where possible).
    pub file: PathBuf,
    /// Where in the file: a JSON path such as `links[2].z`, or `line 4, column 7` for syntax.
    pub field: String,
    /// What is wrong, lowercase, without a trailing period.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl SpecError {
    pub fn new(
        file: impl AsRef<Path>,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        SpecError {
            file: file.as_ref().to_path_buf(),
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}

/// Every problem found in one pass over the spec, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    /// Adds a problem; one already reported in the same words is not repeated.
    pub fn push(&mut self, e: SpecError) {
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &SpecError> {
        self.0.iter()
    }
}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{} problem{} in the spec:",
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}
