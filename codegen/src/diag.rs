//! Located diagnostics, collected all at once and rendered in rustc style.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// A position in a spec file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// Length of the highlighted region, in characters (at least 1 when rendered).
    pub len: usize,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The spec cannot be used.
    Error,
    /// The spec works, but something looks wrong.
    Warning,
}

/// One problem found in a spec, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// Where it is.
    pub location: Location,
    /// What is wrong, lowercase with no final period, names in backticks.
    pub message: String,
    /// An optional hint ("did you mean ...", "expected one of ...").
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `location`.
    pub fn error(location: Location, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, location, message: message.into(), help: None }
    }

    /// Attach a hint.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every diagnostic of one spec file, with the source needed to render them.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    path: PathBuf,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection for `path`, whose text is `source`.
    pub fn new(path: impl Into<PathBuf>, source: impl Into<String>) -> Self {
        Self { path: path.into(), source: source.into(), items: Vec::new() }
    }

    /// Add one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Add an error at `location`.
    pub fn error(&mut self, location: Location, message: impl Into<String>) {
        self.push(Diagnostic::error(location, message));
    }

    /// The diagnostics, sorted by position.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The file the diagnostics are about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text of that file.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn finish(&mut self) {
        self.items.sort_by(|a, b| a.location.cmp(&b.location).then_with(|| a.message.cmp(&b.message)));
        self.items.dedup();
    }

    /// Render one diagnostic as `path:line:col: error: message`, the source line and a caret.
    pub fn render_one(&self, d: &Diagnostic) -> String {
        let Location { line, col, len } = d.location;
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{}:{line}:{col}: {kind}: {}\n", self.path.display(), d.message);
        if let Some(text) = self.source.lines().nth(line.saturating_sub(1)) {
            let gutter = line.to_string();
            let pad = " ".repeat(gutter.len());
            let text = text.trim_end();
            let available = text.chars().count().saturating_sub(col.saturating_sub(1));
            let carets = "^".repeat(len.clamp(1, available.max(1)));
            let indent = " ".repeat(col.saturating_sub(1));
            let _ = write!(out, "{pad} |\n{gutter} | {text}\n{pad} | {indent}{carets}\n");
        }
        if let Some(help) = &d.help {
            let pad = " ".repeat(line.to_string().len());
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            f.write_str(&self.render_one(d))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
