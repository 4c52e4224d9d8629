//! JSON lines, the findings' own serde form, one finding a line, serialised in parallel chunks
//! while earlier chunks are written ([`crate::stream`]).
//!
//! The lines are put together by hand rather than through serde: JSON lines is the default
//! output, and on a scan with 100,000 findings serde's per-key, per-value calls were as costly as
//! the kernel's write of the bytes. The bytes are serde's byte for byte (the tests compare every
//! field of a fully filled finding with `serde_json`, so a field added to `Finding` or `Evidence`
//! and not here fails them).

use std::io::Write;

use trailhound_detect::finding::{Evidence, Finding};

use crate::OutputError;
use crate::json::{Obj, json_f64, json_opt_str, json_str, json_strs, json_time, json_uint};

/// Findings serialised per chunk of this many.
const CHUNK: usize = 1024;

/// Chunk `i` of the findings as JSON lines.
fn chunk(findings: &[Finding], i: usize, out: &mut Vec<u8>) -> Result<(), OutputError> {
    let part = crate::stream::chunk(findings, i, CHUNK);
    out.reserve(part.len() * 1024);
    for f in crate::prefetching(part) {
        line(out, f);
    }
    Ok(())
}

/// Writes the findings as JSON lines to `w`.
pub fn write<W: Write + Send + ?Sized>(w: &mut W, findings: &[Finding]) -> Result<(), OutputError> {
    crate::stream::write_chunks(w, findings.len().div_ceil(CHUNK), |i, out| {
        chunk(findings, i, out)
    })
}

/// Appends `f` as one JSON line (its serde form, keys in declaration order) and a newline.
pub(crate) fn line(out: &mut Vec<u8>, f: &Finding) {
    out.extend_from_slice(b"{\"id\":");
    json_str(out, &f.id);
    out.extend_from_slice(b",\"type\":");
    json_str(out, &f.finding_type);
    out.extend_from_slice(b",\"severity\":");
    json_f64(out, f.severity);
    out.extend_from_slice(b",\"severity_label\":");
    json_str(out, f.severity_label);
    out.extend_from_slice(b",\"title\":");
    json_str(out, &f.title);
    out.extend_from_slice(b",\"description\":");
    json_str(out, &f.description);
    out.extend_from_slice(b",\"account\":");
    json_opt_str(out, f.account.as_deref());
    out.extend_from_slice(b",\"region\":");
    json_opt_str(out, f.region.as_deref());
    out.extend_from_slice(b",\"resource\":{\"type\":");
    json_str(out, &f.resource.kind);
    out.extend_from_slice(b",\"id\":");
    json_str(out, &f.resource.id);
    out.extend_from_slice(b"},\"count\":");
    json_uint(out, f.count, false);
    out.extend_from_slice(b",\"first_seen\":");
    json_time(out, f.first_seen);
    out.extend_from_slice(b",\"last_seen\":");
    json_time(out, f.last_seen);
    out.extend_from_slice(b",\"rule_id\":");
    json_str(out, &f.rule_id);
    out.extend_from_slice(b",\"rule_path\":");
    json_str(out, &f.rule_path);
    out.extend_from_slice(b",\"attack\":");
    json_strs(out, &f.attack);
    out.extend_from_slice(b",\"samples\":");
    json_strs(out, &f.samples);
    out.extend_from_slice(b",\"evidence\":[");
    for (i, e) in f.evidence.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        evidence(out, e);
    }
    out.extend_from_slice(b"]}\n");
}

/// An `Evidence` object: its serde form, the fields that are `None` left out, the rest in
/// declaration order.
fn evidence(out: &mut Vec<u8>, e: &Evidence) {
    /// A member's value.
    enum V<'a> {
        Text(Option<&'a String>),
        Num(Option<u16>),
    }
    use V::{Num, Text};
    let members = [
        ("event_id", Text(e.event_id.as_ref())),
        ("api", Text(e.api.as_ref())),
        ("service", Text(e.service.as_ref())),
        ("caller", Text(e.caller.as_ref())),
        ("user_agent", Text(e.user_agent.as_ref())),
        ("src_addr", Text(e.src_addr.as_ref())),
        ("src_port", Num(e.src_port)),
        ("dst_addr", Text(e.dst_addr.as_ref())),
        ("dst_port", Num(e.dst_port)),
        ("protocol", Num(e.protocol.map(u16::from))),
        ("action", Text(e.action.as_ref())),
        ("domain", Text(e.domain.as_ref())),
        ("query_type", Text(e.query_type.as_ref())),
    ];
    let mut o = Obj::open(out);
    for (k, v) in members {
        match v {
            Text(Some(s)) => o.str(k, s),
            Num(Some(n)) => json_uint(o.key(k), u64::from(n), false),
            Text(None) | Num(None) => {}
        }
    }
    o.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_detect::finding::Resource;

    fn serde_line(f: &Finding) -> String {
        let mut s = serde_json::to_string(f).unwrap_or_default();
        s.push('\n');
        s
    }

    fn ours(f: &Finding) -> String {
        let mut out = Vec::new();
        line(&mut out, f);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Every field filled, with text that needs each kind of escape.
    fn full() -> Finding {
        let s = |x: &str| Some(x.to_string());
        Finding {
            id: "0123456789abcdef0123456789abcdef".into(),
            finding_type: "Recon:EC2/Portscan".into(),
            severity: 5.5,
            severity_label: "Medium",
            title: "A \"quoted\" title".into(),
            description: "Line one\nline two\twith a tab, a back\\slash and \u{1} \u{7f} é".into(),
            account: s("111122223333"),
            region: s("eu-west-1"),
            resource: Resource {
                kind: "Instance".into(),
                id: "i-0abc".into(),
            },
            count: 18_446_744_073_709_551_615,
            first_seen: 1_717_200_000_123,
            last_seen: 1_717_200_999_999,
            rule_id: "th-flow-0002".into(),
            rule_path: "rules/vpcflow/recon/th-flow-0002_portscan.yml".into(),
            attack: ["attack.discovery".into(), "attack.t1046".into()].into(),
            samples: vec!["one \"sample\"".into(), "two".into()],
            evidence: vec![
                Evidence {
                    event_id: s("e-1"),
                    api: s("GetObject"),
                    service: s("s3.amazonaws.com"),
                    caller: s("198.51.100.7"),
                    user_agent: s("aws-cli/2 \"x\""),
                    src_addr: s("10.0.0.1"),
                    src_port: Some(65_535),
                    dst_addr: s("203.0.113.9"),
                    dst_port: Some(0),
                    protocol: Some(255),
                    action: s("REJECT"),
                    domain: s("example.com"),
                    query_type: s("TXT"),
                },
                Evidence::default(),
            ],
        }
    }

    #[test]
    fn a_full_finding_is_its_serde_form() {
        let f = full();
        assert_eq!(ours(&f), serde_line(&f));
    }

    #[test]
    fn empty_and_missing_fields_are_their_serde_form() {
        let mut f = full();
        f.account = None;
        f.region = None;
        f.attack = std::sync::Arc::default();
        f.samples.clear();
        f.evidence.clear();
        f.severity = 2.0;
        f.count = 0;
        f.first_seen = -1;
        assert_eq!(ours(&f), serde_line(&f));
        // Each evidence field on its own.
        let full = full().evidence[0].clone();
        let fields: Vec<fn(&mut Evidence, &Evidence)> = vec![
            |e, f| e.event_id = f.event_id.clone(),
            |e, f| e.api = f.api.clone(),
            |e, f| e.service = f.service.clone(),
            |e, f| e.caller = f.caller.clone(),
            |e, f| e.user_agent = f.user_agent.clone(),
            |e, f| e.src_addr = f.src_addr.clone(),
            |e, f| e.src_port = f.src_port,
            |e, f| e.dst_addr = f.dst_addr.clone(),
            |e, f| e.dst_port = f.dst_port,
            |e, f| e.protocol = f.protocol,
            |e, f| e.action = f.action.clone(),
            |e, f| e.domain = f.domain.clone(),
            |e, f| e.query_type = f.query_type.clone(),
        ];
        for set in fields {
            let mut e = Evidence::default();
            set(&mut e, &full);
            f.evidence = vec![e];
            assert_eq!(ours(&f), serde_line(&f));
        }
    }

    #[test]
    fn lines_are_written_in_order() {
        let mut findings = Vec::new();
        for i in 0..3000u64 {
            let mut f = full();
            f.count = i;
            findings.push(f);
        }
        let mut out = Vec::new();
        write(&mut out, &findings).map_err(|e| e.to_string()).ok();
        let want: String = findings.iter().map(serde_line).collect();
        assert_eq!(String::from_utf8_lossy(&out), want);
    }
}
