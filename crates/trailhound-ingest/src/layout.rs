//! What an S3 object key says about the object: service, account, region or VPC, and date.
//!
//! AWS delivers every vended log under `[prefix/]AWSLogs/[o-org/]<account>/<service>/…`, with
//! `YYYY/MM/DD` date folders (or Hive-style `key=value` folders for flow logs). The prefix is
//! arbitrary, so the `AWSLogs` segment is searched for rather than anchored. A key that does not
//! follow the layout is not an error: the object's kind is then found from its content.

use trailhound_model::LogKind;
use trailhound_model::time::days_from_civil;

/// The service segment of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `CloudTrail`.
    CloudTrail,
    /// `CloudTrail-Digest`: integrity digests, skipped on purpose.
    CloudTrailDigest,
    /// `CloudTrail-Insight`: Insights events, skipped on purpose.
    CloudTrailInsight,
    /// `vpcflowlogs`.
    VpcFlowLogs,
    /// `vpcdnsquerylogs`.
    VpcDnsQueryLogs,
    /// Any other service (`GuardDuty`, `elasticloadbalancing`, …).
    Other(String),
}

impl Service {
    fn from_segment(s: &str) -> Service {
        match s {
            "CloudTrail" => Service::CloudTrail,
            "CloudTrail-Digest" => Service::CloudTrailDigest,
            "CloudTrail-Insight" => Service::CloudTrailInsight,
            "vpcflowlogs" => Service::VpcFlowLogs,
            "vpcdnsquerylogs" => Service::VpcDnsQueryLogs,
            other => Service::Other(other.to_owned()),
        }
    }

    /// The log kind this service delivers, if trailhound reads it.
    pub fn kind(&self) -> Option<LogKind> {
        match self {
            Service::CloudTrail => Some(LogKind::CloudTrail),
            Service::VpcFlowLogs => Some(LogKind::VpcFlow),
            Service::VpcDnsQueryLogs => Some(LogKind::Dns),
            _ => None,
        }
    }
}

/// The parts of an `AWSLogs/…` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    /// The service segment.
    pub service: Service,
    /// The organization id (`o-…`) of an organization trail or delivery.
    pub org: Option<String>,
    /// The 12-digit account id.
    pub account: String,
    /// The segment after the service: a region (CloudTrail, flow) or a VPC id (resolver logs).
    pub scope: Option<String>,
    /// The date folders, if present: `(year, month, day)`.
    pub date: Option<(i32, u32, u32)>,
    /// The delivery time AWS writes into the file name (`…_20240601T0030Z_…`), in Unix
    /// milliseconds.
    pub stamp: Option<i64>,
}

impl KeyLayout {
    /// The first day the date folder covers, in days since the epoch.
    pub fn day(&self) -> Option<i64> {
        self.date
            .map(|(y, m, d)| days_from_civil(i64::from(y), m, d))
    }

    /// When the object was delivered, as far as its key says (Unix milliseconds): the file
    /// name's time, else the start of its date folder.
    pub fn time_ms(&self) -> Option<i64> {
        self.stamp.or_else(|| self.day().map(|d| d * 86_400_000))
    }
}

/// The first `YYYYMMDDTHHMMZ` in a file name, in Unix milliseconds.
fn name_stamp(name: &str) -> Option<i64> {
    let b = name.as_bytes();
    b.windows(14).find_map(|w| {
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        if !(digits(0..8) && w[8] == b'T' && digits(9..13) && w[13] == b'Z') {
            return None;
        }
        let n = |r: std::ops::Range<usize>| {
            w[r].iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
        };
        let (y, m, d, hh, mm) = (n(0..4), n(4..6), n(6..8), n(9..11), n(11..13));
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 {
            return None;
        }
        let day = days_from_civil(i64::from(y), m, d);
        Some(((day * 24 + i64::from(hh)) * 60 + i64::from(mm)) * 60_000)
    })
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(s: &str) -> bool {
    s.len() >= 12
        && s.len() <= 34
        && s.starts_with("o-")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn hive<'a>(seg: &'a str, key: &str) -> &'a str {
    seg.strip_prefix(key)
        .and_then(|r| r.strip_prefix('='))
        .unwrap_or(seg)
}

fn num<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses a key (an S3 key or a local path with `/` separators).
///
/// ```
/// use trailhound_ingest::layout::{parse_key, Service};
/// let k = parse_key("logs/AWSLogs/o-abcdefghij/111122223333/CloudTrail/eu-west-1/2024/03/01/x.json.gz").unwrap();
/// assert_eq!(k.service, Service::CloudTrail);
/// assert_eq!(k.org.as_deref(), Some("o-abcdefghij"));
/// assert_eq!(k.scope.as_deref(), Some("eu-west-1"));
/// assert_eq!(k.date, Some((2024, 3, 1)));
/// let h = parse_key("AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=01/f.log.gz").unwrap();
/// assert_eq!(h.service, Service::VpcFlowLogs);
/// assert_eq!(h.date, Some((2024, 3, 1)));
/// let f = parse_key("AWSLogs/111122223333/vpcflowlogs/eu-west-1/2024/06/01/111122223333_vpcflowlogs_eu-west-1_fl-1_20240601T0030Z_ab.log.gz").unwrap();
/// assert_eq!(f.stamp, Some(1_717_201_800_000)); // 2024-06-01T00:30Z
/// assert_eq!(f.time_ms(), f.stamp);
/// assert!(parse_key("home/me/trail.json").is_none());
/// ```
pub fn parse_key(key: &str) -> Option<KeyLayout> {
    let segs: Vec<&str> = key.split(['/', '\\']).filter(|s| !s.is_empty()).collect();
    // The last AWSLogs segment that is followed by a well-formed layout wins.
    for start in (0..segs.len()).rev() {
        if segs[start] != "AWSLogs" {
            continue;
        }
        let mut i = start + 1;
        let mut org = None;
        if let Some(s) = segs.get(i)
            && is_org(s)
        {
            org = Some((*s).to_owned());
            i += 1;
        }
        let Some(account) = segs.get(i).map(|s| hive(s, "aws-account-id")) else {
            continue;
        };
        if !is_account(account) {
            continue;
        }
        i += 1;
        // The service segment must not be the file name itself.
        if i + 1 >= segs.len() {
            continue;
        }
        let service = Service::from_segment(hive(segs[i], "aws-service"));
        i += 1;
        let scope = if i + 1 < segs.len() {
            Some(hive(segs[i], "aws-region").to_owned())
        } else {
            None
        };
        if scope.is_some() {
            i += 1;
        }
        let date = (|| {
            let y = num::<i32>(hive(segs.get(i)?, "year"), 4)?;
            let m = num::<u32>(hive(segs.get(i + 1)?, "month"), 2)?;
            let d = num::<u32>(hive(segs.get(i + 2)?, "day"), 2)?;
            ((1..=12).contains(&m) && (1..=31).contains(&d) && i + 3 < segs.len())
                .then_some((y, m, d))
        })();
        return Some(KeyLayout {
            service,
            org,
            account: account.to_owned(),
            scope,
            date,
            stamp: segs.last().and_then(|n| name_stamp(n)),
        });
    }
    None
}

/// True when a file name marks a CloudTrail digest even outside the S3 layout.
pub fn is_digest_name(name: &str) -> bool {
    name.contains("_CloudTrail-Digest_")
}

/// True when a file name marks a CloudTrail Insights file even outside the S3 layout.
pub fn is_insight_name(name: &str) -> bool {
    name.contains("_CloudTrail-Insight_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_of_every_service() {
        let k = parse_key("b/AWSLogs/111122223333/vpcdnsquerylogs/vpc-0abc/2021/02/04/f.log.gz")
            .unwrap();
        assert_eq!(k.service.kind(), Some(LogKind::Dns));
        assert_eq!(k.scope.as_deref(), Some("vpc-0abc"));
        let k = parse_key("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz")
            .unwrap();
        assert_eq!(k.service, Service::CloudTrailDigest);
        let k =
            parse_key("AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/01/02/13/f.log.gz").unwrap();
        assert_eq!(k.date, Some((2024, 1, 2)), "hourly partitions keep the day");
        let k = parse_key("x/AWSLogs/111122223333/GuardDuty/us-east-1/f.jsonl.gz").unwrap();
        assert_eq!(k.service, Service::Other("GuardDuty".into()));
        assert_eq!(k.date, None);
    }

    #[test]
    fn not_a_layout() {
        assert!(parse_key("AWSLogs/notanaccount/CloudTrail/us-east-1/f.json").is_none());
        assert!(parse_key("AWSLogs/111122223333/f.json").is_none());
        assert!(parse_key("AWSLogs").is_none());
    }

    #[test]
    fn prefix_that_looks_like_an_org_is_fine() {
        let k = parse_key(
            "o-abcdefghij/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/f.json.gz",
        )
        .unwrap();
        assert_eq!(k.org, None);
        assert_eq!(k.account, "111122223333");
    }
}
