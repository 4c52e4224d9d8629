//! Findings as a table a person reads on a terminal: grouped by severity, two lines each (type
//! and count; resource and time range), fitted to a width (80 columns by default), with ANSI
//! colour only when the caller says the output is a terminal.

use std::fmt::Write as _;

use rayon::prelude::*;

use trailhound_detect::finding::Finding;
use trailhound_model::time::with_millis_text;

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

/// Appends `s` fitted to `w` columns: padded with spaces, or cut with an ellipsis.
fn push_fit(out: &mut String, s: &str, w: usize) {
    let n = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    };
    if n <= w {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', w - n));
    } else if w > 0 {
        let cut = s.char_indices().nth(w - 1).map_or(s.len(), |(i, _)| i);
        out.push_str(&s[..cut]);
        out.push('…');
    }
}

/// Appends the time range, `2024-01-01 00:00`, `2024-01-01 00:00–03:30` or
/// `2024-01-01 00:00 – 2024-01-02 08:15` (minutes of the RFC 3339 times, `T` as a space); returns
/// its width in columns.
fn push_range(out: &mut String, f: &Finding) -> usize {
    /// The first 16 characters of a time's text (all ASCII), `T` as a space.
    fn short(text: &str) -> [u8; 16] {
        let mut b = [b' '; 16];
        for (d, s) in b.iter_mut().zip(text.bytes()) {
            *d = if s == b'T' { b' ' } else { s };
        }
        b
    }
    let start = out.len();
    let a = with_millis_text(f.first_seen, short);
    let b = with_millis_text(f.last_seen, short);
    out.push_str(std::str::from_utf8(&a).unwrap_or(""));
    if a != b {
        if a[..10] == b[..10] {
            out.push('–');
            out.push_str(std::str::from_utf8(&b[11..]).unwrap_or(""));
        } else {
            out.push_str(" – ");
            out.push_str(std::str::from_utf8(&b).unwrap_or(""));
        }
    }
    out[start..].chars().count()
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
                let mut when = String::new();
                for f in crate::prefetching(chunk) {
                    row(&mut part, f, width, &mut when);
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

/// Line 1: type and count; line 2: resource and time range, indented. Put together without a
/// `format!` (a scan may raise 100,000 findings; the formatted version took as long as writing
/// them as JSON lines).
fn row(out: &mut String, f: &Finding, width: usize, when: &mut String) {
    let mut num = itoa::Buffer::new();
    let n = num.format(f.count);
    let unit = if f.count == 1 { " event" } else { " events" };
    out.push_str("  ");
    push_fit(
        out,
        &f.finding_type,
        width.saturating_sub(n.len() + unit.len() + 4),
    );
    out.push_str("  ");
    out.push_str(n);
    out.push_str(unit);
    out.push('\n');
    when.clear();
    let ww = push_range(when, f);
    let rw = width.saturating_sub(ww + 7);
    out.push_str("    ");
    let (kind, id) = (&f.resource.kind, &f.resource.id);
    if kind.is_ascii() && id.is_ascii() && kind.len() + 1 + id.len() <= rw {
        out.push_str(kind);
        out.push(' ');
        out.push_str(id);
        out.extend(std::iter::repeat_n(' ', rw - kind.len() - 1 - id.len()));
    } else {
        push_fit(out, &[kind.as_str(), " ", id.as_str()].concat(), rw);
    }
    out.push_str("  ");
    out.push_str(when);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_detect::finding::{Resource, ts};

    /// The time range as it was first written: part of the oracle for [`row`].
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

    /// The row as it was first written, with `format!`: the oracle for [`row`].
    fn row_formatted(f: &Finding, width: usize) -> String {
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
        let mut out = String::new();
        let count = format!("{} event{}", f.count, if f.count == 1 { "" } else { "s" });
        let tw = width.saturating_sub(count.chars().count() + 4);
        let _ = writeln!(out, "  {}  {count}", fit(&f.finding_type, tw));
        let when = range(f);
        let rw = width.saturating_sub(when.chars().count() + 7);
        let res = format!("{} {}", f.resource.kind, f.resource.id);
        let _ = writeln!(out, "    {}  {when}", fit(&res, rw));
        out
    }

    #[test]
    fn rows_are_what_format_made() {
        let types = [
            "Recon:EC2/Portscan",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS.WithAVeryLongTail",
            "Ünïcödé:Type/ÄÖÜ-with-a-long-enough-name-to-be-cut-somewhere-in-the-middle-of-it",
        ];
        let ids = [
            "i-0abc",
            "AKIAVERYLONGACCESSKEYIDENTIFIER0001-and-more-and-more-and-more-text",
            "bücket-ñame",
        ];
        let times = [
            (1_704_067_200_000, 1_704_067_200_000),
            (1_704_067_200_000, 1_704_079_800_000),
            (1_704_067_200_000, 1_704_200_000_000),
            (0, 253_402_300_800_000),
            (-1, 5),
        ];
        for ty in types {
            for id in ids {
                for (a, b) in times {
                    for count in [0, 1, 2, 123_456_789] {
                        for width in [40, 80, 132] {
                            let f = Finding {
                                finding_type: ty.into(),
                                resource: Resource {
                                    kind: "AccessKey".into(),
                                    id: id.into(),
                                },
                                count,
                                first_seen: a,
                                last_seen: b,
                                ..Finding::default()
                            };
                            let (mut out, mut when) = (String::new(), String::new());
                            row(&mut out, &f, width, &mut when);
                            assert_eq!(out, row_formatted(&f, width), "{ty} {id} {a} {b} {count}");
                        }
                    }
                }
            }
        }
    }

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
