//! Diagnostics: every problem in a rule file, with the file, the line and a stable code.
//!
//! A bad rule never panics and never stops the other rules from loading: the loader collects
//! diagnostics and `trailhound rules lint` prints them all at once. Codes are stable so that CI
//! pipelines can allow or deny specific ones.

use std::fmt;

/// A stable diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Code {
    /// TH001: the file is not valid YAML.
    YamlSyntax,
    /// TH002: a required field is missing.
    MissingField,
    /// TH003: the detection `condition` does not parse or names an unknown selection.
    BadCondition,
    /// TH004: an unknown value modifier.
    UnknownModifier,
    /// TH005: a regular expression that does not compile.
    BadRegex,
    /// TH006: a CIDR that does not parse.
    BadCidr,
    /// TH007: a detection item of the wrong shape.
    BadDetection,
    /// TH008: a `logsource` trailhound does not read.
    UnsupportedLogsource,
    /// TH009: a bad `finding:` block (type, severity, resource).
    BadFinding,
    /// TH010: an inline test event that does not behave as declared, or is malformed.
    FailedTest,
    /// TH011: a `%placeholder%` or list that does not exist.
    UnknownList,
    /// TH012: a bad correlation section.
    BadCorrelation,
    /// TH013: two rules with the same id.
    DuplicateId,
    /// TH014: a correlation that refers to an unknown rule.
    UnknownRuleRef,
    /// TH015: a number that does not parse.
    BadNumber,
    /// TH016: a rule without test events (warning).
    MissingTests,
}

impl Code {
    /// The code as printed (`TH001`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "TH001",
            Code::MissingField => "TH002",
            Code::BadCondition => "TH003",
            Code::UnknownModifier => "TH004",
            Code::BadRegex => "TH005",
            Code::BadCidr => "TH006",
            Code::BadDetection => "TH007",
            Code::UnsupportedLogsource => "TH008",
            Code::BadFinding => "TH009",
            Code::FailedTest => "TH010",
            Code::UnknownList => "TH011",
            Code::BadCorrelation => "TH012",
            Code::DuplicateId => "TH013",
            Code::UnknownRuleRef => "TH014",
            Code::BadNumber => "TH015",
            Code::MissingTests => "TH016",
        }
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The rule is still loaded.
    Warning,
    /// The rule is not loaded.
    Error,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The rule file.
    pub path: String,
    /// 1-based line in the file (0 when unknown).
    pub line: usize,
    /// Stable code.
    pub code: Code,
    /// Error or warning.
    pub level: Level,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lvl = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {lvl}[{}]: {}",
            self.path,
            self.line,
            self.code.as_str(),
            self.message
        )
    }
}

/// A diagnostic without its file (filled in by the loader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// Code.
    pub code: Code,
    /// Message.
    pub message: String,
}

impl Problem {
    /// A new problem at `line`.
    pub fn new(line: usize, code: Code, message: impl Into<String>) -> Self {
        Problem {
            line,
            code,
            message: message.into(),
        }
    }
}
