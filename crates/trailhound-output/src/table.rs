//! Findings as a table a person reads on a terminal: grouped by severity, two lines each (type
//! and count; resource and time range), fitted to a width (80 columns by default), with ANSI
//! colour only when the caller says the output is a terminal.

use std::fmt::Write as _;

use rayon::prelude::*;

use trailhound_detect::finding::{Finding, ts};

/// Table settings.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Columns available.
    pub width: usize,
    /// Colour the severity headings.
    pub color: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            width: 80,
            color: false,
        }
    }
}

fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        format!("{s:<w$}")
    } else if w == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(w - 1).collect();
        out.push('…');
        out
    }
}

fn range(f: &Finding) -> String {
    // 2024-01-01T00:00:00.000Z → 2024-01-01 00:00
    let short = |t: i64| {
        let t = ts(t);
        t.get(..16)
            .map(|x| x.replace('T', " "))
            .unwrap_or_else(|| t.clone())
    };
    let (a, b) = (short(f.first_seen), short(f.last_seen));
    if a == b {
        a
    } else if a.get(..10) == b.get(..10) {
        format!("{a}–{}", b.get(11..).unwrap_or(""))
    } else {
        format!("{a} – {b}")
    }
}

/// Renders the findings (already sorted by severity) as text.
pub fn render(findings: &[Finding], o: &TableOptions) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    let width = o.width.max(40);
    for band in ["High", "Medium", "Low"] {
        let rows: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity_label == band)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let head = format!("{band} ({})", rows.len());
        if o.color {
            let code = match band {
                "High" => "1;31",
                "Medium" => "1;33",
                _ => "1;36",
            };
            let _ = writeln!(out, "\x1b[{code}m{head}\x1b[0m");
        } else {
            let _ = writeln!(out, "{head}");
        }
        // Rows rendered in parallel chunks (a scan may raise 100,000 findings), joined in order.
        let parts: Vec<String> = rows
            .par_chunks(2048)
            .map(|chunk| {
                let mut part = String::with_capacity(chunk.len() * 168);
                for f in chunk {
                    row(&mut part, f, width);
                }
                part
            })
            .collect();
        out.reserve(parts.iter().map(String::len).sum());
        for p in parts {
            out.push_str(&p);
        }
    }
    out
}

/// Line 1: type and count; line 2: resource and time range, indented.
fn row(out: &mut String, f: &Finding, width: usize) {
    let count = format!("{} event{}", f.count, if f.count == 1 { "" } else { "s" });
    let tw = width.saturating_sub(count.chars().count() + 4);
    let _ = writeln!(out, "  {}  {count}", fit(&f.finding_type, tw));
    let when = range(f);
    let rw = width.saturating_sub(when.chars().count() + 7);
    let res = format!("{} {}", f.resource.kind, f.resource.id);
    let _ = writeln!(out, "    {}  {when}", fit(&res, rw));
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_detect::finding::Resource;

    fn f(ty: &str, label: &'static str) -> Finding {
        Finding {
            id: "x".into(),
            finding_type: ty.into(),
            severity: 2.0,
            severity_label: label,
            resource: Resource {
                kind: "AccessKey".into(),
                id: "AKIAVERYLONGACCESSKEYIDENTIFIER0001".into(),
            },
            count: 12,
            first_seen: 1_704_067_200_000,
            last_seen: 1_704_079_800_000,
            ..Finding::default()
        }
    }

    #[test]
    fn fits_eighty_columns_and_groups_by_severity() {
        let fs = vec![
            f(
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                "High",
            ),
            f("Stealth:IAMUser/CloudTrailLoggingDisabled", "Low"),
        ];
        let text = render(&fs, &TableOptions::default());
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.starts_with("High (1)\n"));
        assert!(text.contains("Low (1)"));
        assert!(text.contains("2024-01-01 00:00–03:30"));
        assert!(!text.contains('\x1b'));
        assert!(
            render(
                &fs,
                &TableOptions {
                    width: 80,
                    color: true
                }
            )
            .contains("\x1b[1;31m")
        );
    }
}
