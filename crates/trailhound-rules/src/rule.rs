//! One rule: a Sigma detection or correlation with GuardDuty-style finding metadata and the test
//! events that must and must not fire it.

use trailhound_model::LogKind;

use crate::detection::{self, Detection};
use crate::diag::{Code, Problem};
use crate::lists::Lists;
use crate::yaml::{Doc, MarkedMappingNode, Node, to_json};

/// GuardDuty's severity bands: Low < 4, Medium < 7, High < 9.
pub fn severity_label(s: f64) -> &'static str {
    if s >= 7.0 {
        "High"
    } else if s >= 4.0 {
        "Medium"
    } else {
        "Low"
    }
}

/// Which field names the affected resource, and what kind of resource that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    /// `AccessKey`, `IAMUser`, `IAMRole`, `Instance`, `NetworkInterface`, `S3Bucket`, `Domain`…
    pub kind: String,
    /// The field holding its id (a dotted path or flow field name).
    pub field: String,
}

/// GuardDuty-style finding metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingMeta {
    /// `Tactic:ResourceType/Technique`.
    pub finding_type: String,
    /// 1.0–8.9.
    pub severity: f64,
    /// First resource spec whose field is present wins; the account is the fallback.
    pub resources: Vec<ResourceSpec>,
    /// Finding title.
    pub title: String,
    /// What triggers it and what to do.
    pub description: String,
    /// MITRE ATT&CK tags (`attack.t1562.008`, …).
    pub attack: Vec<String>,
}

/// A test event with its line in the rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    /// The event(s): one JSON object (detections) or a list of them (correlations).
    pub events: Vec<serde_json::Value>,
    /// Line of the event in the rule file.
    pub line: usize,
}

/// The rule's inline tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tests {
    /// Must produce a finding.
    pub matching: Vec<TestEvent>,
    /// Must not.
    pub not_matching: Vec<TestEvent>,
}

/// A correlation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    /// Number of events.
    EventCount,
    /// Number of distinct values of a field.
    ValueCount,
    /// All referenced rules fired, any order.
    Temporal,
    /// All referenced rules fired, in order.
    TemporalOrdered,
    /// Sum of a numeric field.
    ValueSum,
    /// trailhound extension: behaviour from a value a group had not shown during its learning
    /// period (`timespan`). The first referenced rule is the group's history (every event that
    /// counts as "seen"); events of the other rules are judged; `fields` are the signals; the
    /// condition counts how many of them must be new (default 1).
    FirstSeen,
}

/// A correlation condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondOp {
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `eq`
    Eq,
    /// `neq`
    Neq,
}

impl CondOp {
    /// Applies the operator.
    pub fn holds(self, x: f64, v: f64) -> bool {
        match self {
            CondOp::Gt => x > v,
            CondOp::Gte => x >= v,
            CondOp::Lt => x < v,
            CondOp::Lte => x <= v,
            CondOp::Eq => (x - v).abs() < 1e-9,
            CondOp::Neq => (x - v).abs() >= 1e-9,
        }
    }
}

/// A Sigma correlation section.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// Type.
    pub kind: CorrelationKind,
    /// Referenced rules (ids or names), resolved by the loader.
    pub rules: Vec<String>,
    /// Group-by fields.
    pub group_by: Vec<String>,
    /// Window length in milliseconds.
    pub timespan_ms: i64,
    /// Conditions that must all hold (a range is two).
    pub condition: Vec<(CondOp, f64)>,
    /// The field of `value_count`/`value_sum`.
    pub field: Option<String>,
    /// The signal fields of `first_seen`.
    pub fields: Vec<String>,
    /// `first_seen`: how many distinct values of one signal a group's history keeps; a signal
    /// with more in the learning period is saturated and no longer counts as new
    /// (`max-values`, default [`DEFAULT_MAX_VALUES`]).
    pub max_values: usize,
}

/// The `max-values` of a `first_seen` correlation that names none. A principal that used more
/// than this many networks (or user agents, regions …) while it was learned is too diverse in that
/// signal for one more to be unusual, and the history's memory stays bounded however long the
/// scan.
pub const DEFAULT_MAX_VALUES: usize = 4096;

/// What a rule does.
#[derive(Debug, Clone)]
pub enum Body {
    /// A Sigma detection.
    Detection(Detection),
    /// A Sigma correlation.
    Correlation(Correlation),
}

/// One loaded rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `id` (Sigma's UUID where it has one).
    pub id: String,
    /// `name` (correlations refer to rules by it).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: String,
    /// `level`.
    pub level: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// Which log kind it reads.
    pub kind: LogKind,
    /// The file it came from.
    pub path: String,
    /// Its first line there.
    pub line: usize,
    /// Finding metadata.
    pub finding: FindingMeta,
    /// Detection or correlation.
    pub body: Body,
    /// Inline tests.
    pub tests: Tests,
    /// Whether it raises findings of its own (false for the base rules of a correlation unless
    /// they say `generate: true`).
    pub generate: bool,
    /// Whether `generate` was written in the file.
    pub generate_explicit: bool,
    /// Author, for attribution of SigmaHQ rules.
    pub author: Option<String>,
}

fn scalar(m: &MarkedMappingNode, key: &str) -> Option<String> {
    m.get_scalar(key).map(|s| s.as_str().to_owned())
}

fn kind_of(doc: &Doc, m: &MarkedMappingNode) -> Result<LogKind, Problem> {
    let line = doc.sline_map(m);
    let ls = m
        .get_mapping("logsource")
        .ok_or_else(|| Problem::new(line, Code::MissingField, "missing `logsource`"))?;
    let get = |k: &str| {
        ls.get_scalar(k)
            .map(|s| s.as_str().to_ascii_lowercase())
            .unwrap_or_default()
    };
    let (product, service, category) = (get("product"), get("service"), get("category"));
    let kind = match (product.as_str(), service.as_str(), category.as_str()) {
        (_, "cloudtrail", _) => Some(LogKind::CloudTrail),
        (_, "vpcflowlogs" | "vpcflow" | "vpc_flow" | "flowlogs" | "flow", _) => {
            Some(LogKind::VpcFlow)
        }
        ("aws", "", "network_connection" | "firewall") => Some(LogKind::VpcFlow),
        (_, "route53" | "route53resolver" | "vpcdnsquerylogs" | "dns", _) => Some(LogKind::Dns),
        ("aws", "", "dns" | "dns_query") => Some(LogKind::Dns),
        _ => None,
    };
    kind.ok_or_else(|| {
        Problem::new(
            doc.sline_map(ls),
            Code::UnsupportedLogsource,
            format!("logsource product={product:?} service={service:?} category={category:?} is not CloudTrail, VPC flow or Route 53 Resolver"),
        )
    })
}

fn camel(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// GuardDuty's tactic prefix for an ATT&CK tactic tag.
fn tactic(tags: &[String]) -> Option<&'static str> {
    const MAP: &[(&str, &str)] = &[
        ("attack.initial-access", "InitialAccess"),
        ("attack.initial_access", "InitialAccess"),
        ("attack.execution", "Execution"),
        ("attack.persistence", "Persistence"),
        ("attack.privilege-escalation", "PrivilegeEscalation"),
        ("attack.privilege_escalation", "PrivilegeEscalation"),
        ("attack.defense-evasion", "DefenseEvasion"),
        ("attack.defense_evasion", "DefenseEvasion"),
        ("attack.defense-impairment", "DefenseEvasion"),
        ("attack.stealth", "Stealth"),
        ("attack.credential-access", "CredentialAccess"),
        ("attack.credential_access", "CredentialAccess"),
        ("attack.discovery", "Discovery"),
        ("attack.lateral-movement", "LateralMovement"),
        ("attack.lateral_movement", "LateralMovement"),
        ("attack.collection", "Collection"),
        ("attack.exfiltration", "Exfiltration"),
        ("attack.command-and-control", "CommandAndControl"),
        ("attack.command_and_control", "CommandAndControl"),
        ("attack.impact", "Impact"),
        ("attack.reconnaissance", "Recon"),
        ("attack.resource-development", "ResourceDevelopment"),
    ];
    tags.iter().find_map(|t| {
        MAP.iter()
            .find(|(k, _)| t.eq_ignore_ascii_case(k))
            .map(|(_, v)| *v)
    })
}

/// Default severity of a Sigma `level`.
pub fn level_severity(level: Option<&str>) -> f64 {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("informational") => 1.0,
        Some("low") => 2.0,
        Some("medium") => 5.0,
        Some("high") => 8.0,
        Some("critical") => 8.9,
        _ => 5.0,
    }
}

fn default_resources(kind: LogKind) -> Vec<ResourceSpec> {
    let r = |k: &str, f: &str| ResourceSpec {
        kind: k.into(),
        field: f.into(),
    };
    match kind {
        LogKind::CloudTrail => vec![
            r("AccessKey", "userIdentity.accessKeyId"),
            r("IAMPrincipal", "userIdentity.arn"),
        ],
        LogKind::VpcFlow => vec![
            r("Instance", "instance-id"),
            r("NetworkInterface", "interface-id"),
        ],
        LogKind::Dns => vec![r("Instance", "srcids.instance"), r("IPAddress", "srcaddr")],
    }
}

fn finding_meta(
    doc: &Doc,
    m: &MarkedMappingNode,
    kind: LogKind,
    title: &str,
    description: &str,
    tags: &[String],
    level: Option<&str>,
) -> Result<FindingMeta, Problem> {
    let attack: Vec<String> = tags
        .iter()
        .filter(|t| t.starts_with("attack."))
        .cloned()
        .collect();
    let Some(f) = m.get_mapping("finding") else {
        let res = if kind == LogKind::CloudTrail {
            "IAMUser"
        } else {
            "EC2"
        };
        return Ok(FindingMeta {
            finding_type: format!(
                "{}:{res}/{}",
                tactic(tags).unwrap_or("Unusual"),
                camel(title)
            ),
            severity: level_severity(level),
            resources: default_resources(kind),
            title: title.to_owned(),
            description: description.to_owned(),
            attack,
        });
    };
    let line = doc.sline_map(f);
    let finding_type = scalar(f, "type")
        .ok_or_else(|| Problem::new(line, Code::BadFinding, "`finding` needs a `type`"))?;
    let valid_type = finding_type
        .split_once(':')
        .and_then(|(t, r)| r.split_once('/').map(|(a, b)| (t, a, b)))
        .is_some_and(|(t, a, b)| !t.is_empty() && !a.is_empty() && !b.is_empty());
    if !valid_type {
        return Err(Problem::new(
            line,
            Code::BadFinding,
            format!("finding type `{finding_type}` is not `Tactic:Resource/Technique`"),
        ));
    }
    let severity = match f.get_scalar("severity") {
        Some(s) => s.as_str().parse::<f64>().map_err(|_| {
            Problem::new(doc.sline(s), Code::BadFinding, "severity must be a number")
        })?,
        None => level_severity(level),
    };
    if !(1.0..=8.9).contains(&severity) {
        return Err(Problem::new(
            line,
            Code::BadFinding,
            format!("severity {severity} is outside GuardDuty's 1.0–8.9"),
        ));
    }
    let mut resources = Vec::new();
    match f.get_node("resource") {
        None => resources = default_resources(kind),
        Some(Node::Sequence(q)) => {
            for n in q.iter() {
                let Some(rm) = n.as_mapping() else {
                    return Err(Problem::new(
                        doc.line(n),
                        Code::BadFinding,
                        "a resource is `{type, field}`",
                    ));
                };
                match (scalar(rm, "type"), scalar(rm, "field")) {
                    (Some(k), Some(fl)) => resources.push(ResourceSpec { kind: k, field: fl }),
                    _ => {
                        return Err(Problem::new(
                            doc.line(n),
                            Code::BadFinding,
                            "a resource is `{type, field}`",
                        ));
                    }
                }
            }
        }
        Some(Node::Mapping(rm)) => match (scalar(rm, "type"), scalar(rm, "field")) {
            (Some(k), Some(fl)) => resources.push(ResourceSpec { kind: k, field: fl }),
            _ => {
                return Err(Problem::new(
                    doc.sline_map(rm),
                    Code::BadFinding,
                    "a resource is `{type, field}`",
                ));
            }
        },
        Some(other) => {
            return Err(Problem::new(
                doc.line(other),
                Code::BadFinding,
                "a resource is `{type, field}`",
            ));
        }
    }
    Ok(FindingMeta {
        finding_type,
        severity,
        resources,
        title: scalar(f, "title").unwrap_or_else(|| title.to_owned()),
        description: scalar(f, "description").unwrap_or_else(|| description.to_owned()),
        attack,
    })
}

/// Milliseconds of a duration written `30s`, `5m`, `1h`, `1d` or `1w` (as rule timespans are).
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    Some(n * mult)
}

fn correlation(doc: &Doc, c: &MarkedMappingNode) -> Result<Correlation, Problem> {
    let line = doc.sline_map(c);
    let err = |l: usize, m: &str| Problem::new(l, Code::BadCorrelation, m);
    let kind = match scalar(c, "type").as_deref() {
        Some("event_count") => CorrelationKind::EventCount,
        Some("value_count") => CorrelationKind::ValueCount,
        Some("temporal") => CorrelationKind::Temporal,
        Some("temporal_ordered") => CorrelationKind::TemporalOrdered,
        Some("value_sum") => CorrelationKind::ValueSum,
        Some("first_seen") => CorrelationKind::FirstSeen,
        Some(other) => {
            return Err(err(
                line,
                &format!("unsupported correlation type `{other}`"),
            ));
        }
        None => return Err(err(line, "correlation needs a `type`")),
    };
    let list = |key: &str| -> Vec<String> {
        match c.get_node(key) {
            Some(Node::Scalar(s)) => vec![s.as_str().to_owned()],
            Some(Node::Sequence(q)) => q
                .iter()
                .filter_map(|n| n.as_scalar().map(|s| s.as_str().to_owned()))
                .collect(),
            _ => Vec::new(),
        }
    };
    let rules = list("rules");
    if rules.is_empty() {
        return Err(err(line, "correlation needs `rules`"));
    }
    let group_by = list("group-by");
    let timespan_ms = match scalar(c, "timespan") {
        Some(t) => parse_duration(&t)
            .ok_or_else(|| err(line, &format!("bad timespan `{t}` (use 30s, 5m, 1h, 1d)")))?,
        None => return Err(err(line, "correlation needs a `timespan`")),
    };
    let mut condition = Vec::new();
    let mut field = None;
    if let Some(cm) = c.get_mapping("condition") {
        for (k, v) in cm.iter() {
            let op = match k.as_str() {
                "gt" => CondOp::Gt,
                "gte" => CondOp::Gte,
                "lt" => CondOp::Lt,
                "lte" => CondOp::Lte,
                "eq" => CondOp::Eq,
                "neq" => CondOp::Neq,
                "field" => {
                    field = v.as_scalar().map(|s| s.as_str().to_owned());
                    continue;
                }
                other => {
                    return Err(err(
                        doc.sline(k),
                        &format!("unknown condition operator `{other}`"),
                    ));
                }
            };
            let n = v
                .as_scalar()
                .and_then(|s| s.as_str().parse::<f64>().ok())
                .ok_or_else(|| err(doc.sline(k), "condition value must be a number"))?;
            condition.push((op, n));
        }
    }
    match kind {
        CorrelationKind::ValueCount | CorrelationKind::ValueSum if field.is_none() => {
            return Err(err(
                line,
                "value_count and value_sum need `condition.field`",
            ));
        }
        CorrelationKind::EventCount | CorrelationKind::ValueCount | CorrelationKind::ValueSum
            if condition.is_empty() =>
        {
            return Err(err(
                line,
                "correlation needs a `condition` (gt, gte, lt, lte, eq, neq)",
            ));
        }
        CorrelationKind::FirstSeen if rules.len() < 2 || list("fields").is_empty() => {
            return Err(err(
                line,
                "first_seen needs `rules` (history rule first, then the behaviour) and `fields`",
            ));
        }
        _ => {}
    }
    let fields = list("fields");
    let max_values = match scalar(c, "max-values") {
        None => DEFAULT_MAX_VALUES,
        Some(_) if kind != CorrelationKind::FirstSeen => {
            return Err(err(line, "`max-values` is for first_seen correlations"));
        }
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| err(line, &format!("bad max-values `{v}` (a positive number)")))?,
    };
    Ok(Correlation {
        kind,
        rules,
        group_by,
        timespan_ms,
        condition,
        field,
        fields,
        max_values,
    })
}

fn tests(doc: &Doc, m: &MarkedMappingNode, correlation: bool) -> Result<Tests, Problem> {
    let mut t = Tests::default();
    let Some(tm) = m.get_mapping("tests") else {
        return Ok(t);
    };
    for (key, dest) in [
        ("match", &mut t.matching),
        ("no_match", &mut t.not_matching),
    ] {
        let Some(q) = tm.get_sequence(key) else {
            continue;
        };
        for n in q.iter() {
            let line = doc.line(n);
            let parse_one = |n: &Node| -> Result<serde_json::Value, Problem> {
                match n {
                    Node::Mapping(_) => Ok(to_json(n)),
                    Node::Scalar(s) => serde_json::from_str(s.as_str()).map_err(|e| {
                        Problem::new(
                            doc.sline(s),
                            Code::FailedTest,
                            format!("test event is not JSON: {e}"),
                        )
                    }),
                    Node::Sequence(_) => Err(Problem::new(
                        doc.line(n),
                        Code::FailedTest,
                        "a test event is a mapping or a JSON string",
                    )),
                }
            };
            let events = match (correlation, n) {
                (true, Node::Sequence(evs)) => {
                    evs.iter().map(parse_one).collect::<Result<Vec<_>, _>>()?
                }
                (true, _) => {
                    return Err(Problem::new(
                        line,
                        Code::FailedTest,
                        "a correlation test is a list of events",
                    ));
                }
                (false, n) => vec![parse_one(n)?],
            };
            dest.push(TestEvent { events, line });
        }
    }
    Ok(t)
}

/// Parses one YAML document into a rule.
pub fn parse_doc(doc: &Doc, path: &str, lists: &Lists) -> Result<Rule, Vec<Problem>> {
    let m = &doc.root;
    let line = doc.sline_map(m).max(1);
    let title = scalar(m, "title")
        .ok_or_else(|| vec![Problem::new(line, Code::MissingField, "missing `title`")])?;
    let id = scalar(m, "id")
        .or_else(|| scalar(m, "name"))
        .ok_or_else(|| vec![Problem::new(line, Code::MissingField, "missing `id`")])?;
    let description = scalar(m, "description").unwrap_or_default();
    let level = scalar(m, "level");
    let tags: Vec<String> = m
        .get_sequence("tags")
        .map(|q| {
            q.iter()
                .filter_map(|n| n.as_scalar().map(|s| s.as_str().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let generate = m.get_scalar("generate").and_then(|s| s.as_bool());
    let (body, kind) = if let Some(c) = m.get_mapping("correlation") {
        // The kind is that of the referenced rules; the loader fills it in.
        (
            Body::Correlation(correlation(doc, c).map_err(|p| vec![p])?),
            LogKind::CloudTrail,
        )
    } else {
        let kind = kind_of(doc, m).map_err(|p| vec![p])?;
        let det = m.get_mapping("detection").ok_or_else(|| {
            vec![Problem::new(
                line,
                Code::MissingField,
                "missing `detection`",
            )]
        })?;
        (Body::Detection(detection::compile(doc, det, lists)?), kind)
    };
    let finding = finding_meta(doc, m, kind, &title, &description, &tags, level.as_deref())
        .map_err(|p| vec![p])?;
    let tests = tests(doc, m, matches!(body, Body::Correlation(_))).map_err(|p| vec![p])?;
    Ok(Rule {
        id,
        name: scalar(m, "name"),
        title,
        description,
        level,
        status: scalar(m, "status"),
        tags,
        kind,
        path: path.to_owned(),
        line,
        finding,
        body,
        tests,
        generate: generate.unwrap_or(true),
        generate_explicit: generate.is_some(),
        author: scalar(m, "author"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_rule_without_finding_block_gets_defaults() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/public/sigmahq-aws-cloudtrail/aws_cloudtrail_disable_logging.yml"
        ))
        .unwrap();
        let docs = crate::yaml::load_docs(&text).unwrap();
        let r = parse_doc(&docs[0], "x.yml", &Lists::default()).unwrap();
        assert_eq!(r.id, "4db60cc0-36fb-42b7-9b58-a5b53019fb74");
        assert_eq!(r.kind, LogKind::CloudTrail);
        assert_eq!(
            r.finding.finding_type,
            "DefenseEvasion:IAMUser/AWSCloudTrailImportantChange"
        );
        assert_eq!(r.finding.severity, 5.0);
        assert_eq!(severity_label(r.finding.severity), "Medium");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m"), Some(5_400_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5y"), None);
    }

    #[test]
    fn max_values_is_a_positive_number_on_first_seen_only() {
        let parse = |corr: &str| {
            let text = format!(
                "title: t\nid: t\nlevel: low\ncorrelation:\n  rules: [a, b]\n  group-by: [x]\n  timespan: 1h\n{corr}"
            );
            let docs = crate::yaml::load_docs(&text).unwrap();
            parse_doc(&docs[0], "t.yml", &Lists::default())
                .map(|r| match r.body {
                    Body::Correlation(c) => c.max_values,
                    Body::Detection(_) => 0,
                })
                .map_err(|p| p[0].message.clone())
        };
        let fs = "  type: first_seen\n  fields: [y]\n";
        assert_eq!(parse(fs), Ok(DEFAULT_MAX_VALUES));
        assert_eq!(parse(&format!("{fs}  max-values: 12\n")), Ok(12));
        for bad in ["0", "-3", "many"] {
            let e = parse(&format!("{fs}  max-values: {bad}\n")).unwrap_err();
            assert!(e.contains("max-values"), "{e}");
        }
        let e =
            parse("  type: event_count\n  condition: {gte: 2}\n  max-values: 12\n").unwrap_err();
        assert!(e.contains("first_seen"), "{e}");
    }
}
