//! Rules are data: Sigma-compatible YAML files with GuardDuty-style finding metadata and inline
//! test events, plus plain-text intel lists. This crate loads them (bundled pack embedded in the
//! binary, and folders), reports every problem as a [`Diagnostic`] with file, line and stable
//! code, and compiles each rule's detection into [`matcher::Test`]s that the detection engine
//! evaluates.
//!
//! ```
//! use trailhound_rules::{load, LoadOptions};
//! let (set, diags) = load(&LoadOptions { bundled: true, ..LoadOptions::default() });
//! assert!(diags.iter().all(|d| d.level != trailhound_rules::Level::Error), "{diags:?}");
//! assert!(!set.rules.is_empty());
//! ```

pub mod condition;
pub mod detection;
pub mod diag;
pub mod lists;
pub mod loader;
pub mod matcher;
pub mod rule;
pub mod yaml;

pub use diag::{Code, Diagnostic, Level};
pub use loader::{LoadOptions, RuleSet, load};
pub use rule::{Body, FindingMeta, Rule, severity_label};
