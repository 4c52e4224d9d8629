//! VPC Flow Log records: a header-driven column map and a splitter that never allocates per field.
//!
//! Flow logs are space-separated text whose column order is set by the flow log's format string.
//! S3 delivery writes that format as a header line; the default version-2 format may come without
//! one. A [`FlowSchema`] maps every known field (versions 2–11) to its column once per file, and
//! [`FlowRecord::parse`] splits a line into column offsets in a reused buffer, then extracts the
//! core fields (5-tuple, action, counts, times, interface, instance) typed. `-` means missing.

use std::net::IpAddr;

use crate::RecordError;
use crate::time::EpochMillis;

macro_rules! flow_fields {
    ($($variant:ident => $name:literal,)*) => {
        /// A field a VPC flow log format can contain (versions 2–11).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum FlowField { $(
            #[doc = concat!("`", $name, "`")]
            $variant,
        )* }

        impl FlowField {
            /// Every known field, in declaration order.
            pub const ALL: &'static [FlowField] = &[$(FlowField::$variant,)*];

            /// The field's name as the header line writes it (`account-id`).
            pub fn name(self) -> &'static str {
                match self { $(FlowField::$variant => $name,)* }
            }

            /// Looks a field up by its header name; Parquet's `_` spelling is accepted too.
            pub fn from_name(name: &str) -> Option<FlowField> {
                let mut buf = [0u8; 40];
                let b = name.as_bytes();
                if b.len() > buf.len() { return None; }
                for (d, s) in buf.iter_mut().zip(b) { *d = if *s == b'_' { b'-' } else { *s }; }
                match &buf[..b.len()] { $(x if x == $name.as_bytes() => Some(FlowField::$variant),)* _ => None }
            }
        }
    };
}

flow_fields! {
    Version => "version",
    AccountId => "account-id",
    InterfaceId => "interface-id",
    Srcaddr => "srcaddr",
    Dstaddr => "dstaddr",
    Srcport => "srcport",
    Dstport => "dstport",
    Protocol => "protocol",
    Packets => "packets",
    Bytes => "bytes",
    Start => "start",
    End => "end",
    Action => "action",
    LogStatus => "log-status",
    VpcId => "vpc-id",
    SubnetId => "subnet-id",
    InstanceId => "instance-id",
    TcpFlags => "tcp-flags",
    Type => "type",
    PktSrcaddr => "pkt-srcaddr",
    PktDstaddr => "pkt-dstaddr",
    Region => "region",
    AzId => "az-id",
    SublocationType => "sublocation-type",
    SublocationId => "sublocation-id",
    PktSrcAwsService => "pkt-src-aws-service",
    PktDstAwsService => "pkt-dst-aws-service",
    FlowDirection => "flow-direction",
    TrafficPath => "traffic-path",
    EcsClusterArn => "ecs-cluster-arn",
    EcsClusterName => "ecs-cluster-name",
    EcsContainerInstanceArn => "ecs-container-instance-arn",
    EcsContainerInstanceId => "ecs-container-instance-id",
    EcsContainerId => "ecs-container-id",
    EcsSecondContainerId => "ecs-second-container-id",
    EcsServiceName => "ecs-service-name",
    EcsTaskDefinitionArn => "ecs-task-definition-arn",
    EcsTaskArn => "ecs-task-arn",
    EcsTaskId => "ecs-task-id",
    RejectReason => "reject-reason",
    ResourceId => "resource-id",
    EncryptionStatus => "encryption-status",
    InstanceTag => "instance-tag",
    InstanceTag2 => "instance-tag-2",
    InterfaceTag => "interface-tag",
    InterfaceTag2 => "interface-tag-2",
    AsgTag => "asg-tag",
    AsgTag2 => "asg-tag-2",
    InterfaceType => "interface-type",
    NextHopInterfaceId => "next-hop-interface-id",
    NextHopSubnetId => "next-hop-subnet-id",
    NextHopAzId => "next-hop-az-id",
    NextHopVpcId => "next-hop-vpc-id",
    NextHopInterfaceType => "next-hop-interface-type",
}

/// The default (version 2) format, used when a file has no header line.
pub const DEFAULT_V2: &[FlowField] = &[
    FlowField::Version,
    FlowField::AccountId,
    FlowField::InterfaceId,
    FlowField::Srcaddr,
    FlowField::Dstaddr,
    FlowField::Srcport,
    FlowField::Dstport,
    FlowField::Protocol,
    FlowField::Packets,
    FlowField::Bytes,
    FlowField::Start,
    FlowField::End,
    FlowField::Action,
    FlowField::LogStatus,
];

const NONE: u16 = u16::MAX;

/// The column layout of one flow-log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSchema {
    columns: Vec<String>,
    index: Vec<u16>,
}

impl FlowSchema {
    /// The schema of the default v2 format.
    pub fn default_v2() -> Self {
        Self::from_names(DEFAULT_V2.iter().map(|f| f.name())).unwrap_or_else(|_| unreachable!())
    }

    /// Builds a schema from column names (hyphenated or with Parquet's underscores).
    ///
    /// Unknown names are kept as extra columns readable by name; an empty list or a repeated name
    /// is an error.
    pub fn from_names<'s>(names: impl IntoIterator<Item = &'s str>) -> Result<Self, RecordError> {
        let mut columns = Vec::new();
        let mut index = vec![NONE; FlowField::ALL.len()];
        for (i, name) in names.into_iter().enumerate() {
            let canon = name.replace('_', "-");
            if columns.contains(&canon) {
                return Err(RecordError::Shape("flow-log header repeats a field"));
            }
            if let Some(f) = FlowField::from_name(&canon) {
                index[f as usize] = i as u16;
            }
            columns.push(canon);
        }
        if columns.is_empty() {
            return Err(RecordError::Shape("flow-log header is empty"));
        }
        Ok(FlowSchema { columns, index })
    }

    /// Reads a header line. Returns `None` when the line is not a header (it holds data).
    ///
    /// A header is every token a flow-log field name (known ones, or lower-case hyphenated names
    /// of fields newer than this build), with at least one known field among them.
    ///
    /// ```
    /// use trailhound_model::flow::{FlowSchema, FlowField};
    /// let s = FlowSchema::parse_header("version srcaddr dstaddr action log-status").unwrap();
    /// assert_eq!(s.column(FlowField::Action), Some(3));
    /// assert!(FlowSchema::parse_header("2 123456789012 eni-1 - - - - - - - 1 2 - NODATA").is_none());
    /// ```
    pub fn parse_header(line: &str) -> Option<Self> {
        let line = line.trim_end_matches(['\r', '\n']);
        let mut known = 0;
        for tok in line.split(' ') {
            if FlowField::from_name(tok).is_some() {
                known += 1;
            } else if !is_field_like(tok) {
                return None;
            }
        }
        if known == 0 {
            return None;
        }
        Self::from_names(line.split(' ')).ok()
    }

    /// The column of a known field, if the format has it.
    pub fn column(&self, f: FlowField) -> Option<usize> {
        match self.index[f as usize] {
            NONE => None,
            i => Some(usize::from(i)),
        }
    }

    /// The column of a field by name (`srcaddr`, `pkt-dst-aws-service`, `pkt_dst_aws_service`).
    pub fn column_by_name(&self, name: &str) -> Option<usize> {
        match FlowField::from_name(name) {
            Some(f) => self.column(f),
            None => {
                let canon = name.replace('_', "-");
                self.columns.iter().position(|c| *c == canon)
            }
        }
    }

    /// Column names in file order (hyphenated).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Always false: a schema has at least one column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

fn is_field_like(tok: &str) -> bool {
    let b = tok.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// `ACCEPT` or `REJECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    /// Traffic the security groups and network ACLs allowed.
    Accept,
    /// Traffic they refused.
    Reject,
}

/// The `log-status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    /// Normal record.
    Ok,
    /// No traffic during the interval: counted, not matched.
    NoData,
    /// Records were dropped during the interval: counted, not matched.
    SkipData,
}

/// One flow-log line, split and with its core fields typed.
#[derive(Debug, Clone)]
pub struct FlowRecord<'a> {
    /// The line, without its end-of-line.
    pub line: &'a str,
    /// The file's column layout.
    pub schema: &'a FlowSchema,
    ends: &'a [u32],
    /// `srcaddr`.
    pub srcaddr: Option<IpAddr>,
    /// `dstaddr`.
    pub dstaddr: Option<IpAddr>,
    /// `srcport`.
    pub srcport: Option<u16>,
    /// `dstport`.
    pub dstport: Option<u16>,
    /// `protocol` (IANA number: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol: Option<u8>,
    /// `packets`.
    pub packets: Option<u64>,
    /// `bytes`.
    pub bytes: Option<u64>,
    /// `start`, Unix seconds.
    pub start: Option<i64>,
    /// `end`, Unix seconds.
    pub end: Option<i64>,
    /// `action`.
    pub action: Option<FlowAction>,
    /// `log-status`.
    pub log_status: Option<LogStatus>,
    /// `tcp-flags`.
    pub tcp_flags: Option<u16>,
}

/// Puts the offset of every space in `line`, then `line.len()`, into `ends` (emptied first): the
/// end of each column.
///
/// Sixteen bytes at a time with SSE2 on x86_64 ([`spaces_by_16`]), then eight at a time as a
/// word: a flow line is ~100–150 bytes of 14–30 short columns, and looking for each space with
/// `memchr` (a call and a vector set-up per column for a few bytes) was a tenth of a flow scan's
/// instructions. A byte of `w ^ SPACES` is zero exactly where `w`
/// has a space; `((x & 0x7f…) + 0x7f…) | x` sets the high bit of every non-zero byte, without a
/// carry from one byte into the next, so its complement marks the spaces and nothing else.
///
/// ```
/// let mut ends = Vec::new();
/// trailhound_model::flow::split_spaces(b"2 123456789010 eni-1 - -", &mut ends);
/// assert_eq!(ends, [1, 14, 20, 22, 24]);
/// ```
#[inline]
pub fn split_spaces(line: &[u8], ends: &mut Vec<u32>) {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    ends.clear();
    let (mut base, rest) = spaces_by_16(line, ends);
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let x = u64::from_le_bytes(word) ^ SPACES;
        let mut hits = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
        while hits != 0 {
            ends.push(base + hits.trailing_zeros() / 8);
            hits &= hits - 1;
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b' ' {
            ends.push(base + i as u32);
        }
    }
    ends.push(line.len() as u32);
}

/// The spaces of `line`'s whole 16-byte blocks, pushed onto `ends`, with SSE2 (a compare and a
/// mask per block, where the word trick above takes a dozen operations per eight bytes; the
/// split was a third of parsing a flow line); returns the offset and the bytes left.
#[cfg(target_arch = "x86_64")]
#[inline]
fn spaces_by_16<'l>(line: &'l [u8], ends: &mut Vec<u32>) -> (u32, &'l [u8]) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut blocks = line.chunks_exact(16);
    let mut base = 0u32;
    for b in &mut blocks {
        // SAFETY: SSE2 is part of the x86_64 baseline, and the unaligned load reads the 16
        // bytes of `b`, which has exactly 16.
        let mut hits = unsafe {
            let v = _mm_loadu_si128(b.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8))) as u32
        };
        while hits != 0 {
            ends.push(base + hits.trailing_zeros());
            hits &= hits - 1;
        }
        base += 16;
    }
    (base, blocks.remainder())
}

/// Elsewhere the word trick does it all.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn spaces_by_16<'l>(line: &'l [u8], _ends: &mut Vec<u32>) -> (u32, &'l [u8]) {
    (0, line)
}

/// An IP address as `std` reads it (`"10.0.0.1".parse::<IpAddr>()`), with IPv4 through the
/// flow parser's own reader ([`ipv4`]): `std`'s general parser tries each form in turn, and
/// addresses are read on the hot path of every log kind (flow columns, CloudTrail's
/// `sourceIPAddress` against network lists) and tens of thousands at a time when threat lists
/// load.
///
/// ```
/// use std::net::IpAddr;
/// use trailhound_model::flow::parse_ip;
/// for s in ["10.0.0.1", "2001:db8::1", "::ffff:1.2.3.4", "010.0.0.1", "1.2.3", "ec2.amazonaws.com", ""] {
///     assert_eq!(parse_ip(s), s.parse::<IpAddr>().ok(), "{s}");
/// }
/// ```
#[inline]
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    match ipv4(s.as_bytes()) {
        Some(a) => Some(IpAddr::V4(a)),
        None => s.parse().ok(),
    }
}

/// An IPv4 address written as `std` accepts one (four decimal parts of one to three digits, no
/// leading zero, each at most 255), without `std`'s general parser (which tries each form in turn
/// and was a twentieth of a flow scan); `None` for anything else, IPv6 included, which the caller
/// hands to `std`.
#[inline]
fn ipv4(s: &[u8]) -> Option<std::net::Ipv4Addr> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let mut parts = [0u8; 4];
    let mut i = 0;
    for (k, part) in parts.iter_mut().enumerate() {
        if k > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v = 0u32;
        while let Some(d) = s.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            v = v * 10 + u32::from(d);
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let len = i - start;
        if len == 0 || (len > 1 && s[start] == b'0') || v > 255 {
            return None;
        }
        *part = v as u8;
    }
    (i == s.len()).then(|| std::net::Ipv4Addr::from(parts))
}

/// The error for field `f`'s value `v`, which did not parse (or was out of range).
/// Where column `i` of a line split at `ends` ([`split_spaces`]) lies, `None` past the last.
#[inline]
fn column_range(ends: &[u32], i: usize) -> Option<std::ops::Range<usize>> {
    let end = *ends.get(i)? as usize;
    let start = match i.checked_sub(1) {
        Some(p) => *ends.get(p)? as usize + 1,
        None => 0,
    };
    Some(start..end)
}

#[cold]
fn bad_value(f: FlowField, v: Option<&[u8]>) -> RecordError {
    RecordError::BadValue {
        field: f.name(),
        value: String::from_utf8_lossy(v.unwrap_or_default())
            .chars()
            .take(64)
            .collect(),
    }
}

/// Parses an unsigned decimal; `None` for `-` and for anything else that is not all digits.
#[inline]
fn parse_u64(s: &[u8]) -> Result<Option<u64>, ()> {
    if s == b"-" || s.is_empty() {
        return Ok(None);
    }
    if s.len() > 19 {
        return Err(());
    }
    let mut v = 0u64;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(());
        }
        v = v * 10 + u64::from(d);
    }
    Ok(Some(v))
}

impl<'a> FlowRecord<'a> {
    /// Splits `line` into `ends` (reused between calls; no allocation once warm) and extracts the
    /// core fields.
    ///
    /// ```
    /// use trailhound_model::flow::{FlowRecord, FlowSchema, FlowAction};
    /// let schema = FlowSchema::default_v2();
    /// let mut ends = Vec::new();
    /// let r = FlowRecord::parse(
    ///     "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
    ///     &schema, &mut ends).unwrap();
    /// assert_eq!(r.dstport, Some(22));
    /// assert_eq!(r.action, Some(FlowAction::Accept));
    /// assert_eq!(r.get("interface-id"), Some("eni-1235b8ca123456789"));
    /// ```
    pub fn parse(
        line: &'a str,
        schema: &'a FlowSchema,
        ends: &'a mut Vec<u32>,
    ) -> Result<Self, RecordError> {
        let line = line.trim_end_matches(['\r', '\n']);
        split_spaces(line.as_bytes(), ends);
        if ends.len() != schema.len() {
            return Err(RecordError::FieldCount {
                expected: schema.len(),
                found: ends.len(),
            });
        }
        let ends: &'a [u32] = ends;
        let bytes = line.as_bytes();
        // A known field's bytes, `None` when the format lacks it or the value is `-`.
        let text = |f: FlowField| -> Option<&'a [u8]> {
            let i = usize::from(*schema.index.get(f as usize).filter(|i| **i != NONE)?);
            bytes.get(column_range(ends, i)?).filter(|s| *s != b"-")
        };
        // Failures carry only the field (one byte to pass back); the error is built once, cold.
        let num = |f: FlowField, max: u64| -> Result<Option<u64>, FlowField> {
            match text(f).map(parse_u64) {
                None => Ok(None),
                Some(Ok(Some(v))) if v > max => Err(f),
                Some(Ok(v)) => Ok(v),
                Some(Err(())) => Err(f),
            }
        };
        let addr = |f: FlowField| -> Result<Option<IpAddr>, FlowField> {
            let Some(s) = text(f) else { return Ok(None) };
            if let Some(a) = ipv4(s) {
                return Ok(Some(IpAddr::V4(a)));
            }
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or(f)
        };
        let typed = || -> Result<FlowRecord<'a>, FlowField> {
            Ok(FlowRecord {
                line,
                schema,
                ends,
                srcport: num(FlowField::Srcport, 65_535)?.map(|v| v as u16),
                dstport: num(FlowField::Dstport, 65_535)?.map(|v| v as u16),
                protocol: num(FlowField::Protocol, 255)?.map(|v| v as u8),
                tcp_flags: num(FlowField::TcpFlags, 65_535)?.map(|v| v as u16),
                packets: num(FlowField::Packets, u64::MAX)?,
                bytes: num(FlowField::Bytes, u64::MAX)?,
                start: num(FlowField::Start, u64::MAX)?.map(|v| v as i64),
                end: num(FlowField::End, u64::MAX)?.map(|v| v as i64),
                srcaddr: addr(FlowField::Srcaddr)?,
                dstaddr: addr(FlowField::Dstaddr)?,
                action: match text(FlowField::Action) {
                    None => None,
                    Some(b"ACCEPT") => Some(FlowAction::Accept),
                    Some(b"REJECT") => Some(FlowAction::Reject),
                    Some(_) => return Err(FlowField::Action),
                },
                log_status: match text(FlowField::LogStatus) {
                    None => None,
                    Some(b"OK") => Some(LogStatus::Ok),
                    Some(b"NODATA") => Some(LogStatus::NoData),
                    Some(b"SKIPDATA") => Some(LogStatus::SkipData),
                    Some(_) => return Err(FlowField::LogStatus),
                },
            })
        };
        typed().map_err(|f| bad_value(f, text(f)))
    }

    /// The text of column `i`, `None` for `-` or out of range.
    #[inline]
    pub fn column_text(&self, i: usize) -> Option<&'a str> {
        let s = self.line.get(column_range(self.ends, i)?)?;
        if s == "-" { None } else { Some(s) }
    }

    /// The text of a known field, `None` when the format lacks it or the value is `-`.
    #[inline]
    pub fn raw(&self, f: FlowField) -> Option<&'a str> {
        self.column_text(self.schema.column(f)?)
    }

    /// The text of any field by its header name, `None` when absent or `-`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.column_text(self.schema.column_by_name(name)?)
    }

    /// `interface-id`.
    pub fn interface_id(&self) -> Option<&'a str> {
        self.raw(FlowField::InterfaceId)
    }

    /// `instance-id` (v3+).
    pub fn instance_id(&self) -> Option<&'a str> {
        self.raw(FlowField::InstanceId)
    }

    /// `account-id` (`unknown` for service-owned interfaces is kept as written).
    pub fn account_id(&self) -> Option<&'a str> {
        self.raw(FlowField::AccountId)
    }

    /// `region` (v4+).
    pub fn region(&self) -> Option<&'a str> {
        self.raw(FlowField::Region)
    }

    /// The record's time: `start` (else `end`) in epoch milliseconds.
    pub fn time(&self) -> Option<EpochMillis> {
        self.start.or(self.end).map(|s| s.saturating_mul(1000))
    }

    /// True for NODATA and SKIPDATA lines, which carry no flow.
    pub fn is_placeholder(&self) -> bool {
        matches!(
            self.log_status,
            Some(LogStatus::NoData | LogStatus::SkipData)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_name_round_trips() {
        for f in FlowField::ALL {
            assert_eq!(FlowField::from_name(f.name()), Some(*f));
            assert_eq!(FlowField::from_name(&f.name().replace('-', "_")), Some(*f));
        }
        assert_eq!(FlowField::from_name("nonsense"), None);
    }

    #[test]
    fn custom_v5_with_ipv6_and_missing() {
        let s = FlowSchema::parse_header(
            "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path pkt-src-aws-service",
        )
        .unwrap();
        let mut ends = Vec::new();
        let line = "5 vpc-1 subnet-1 - eni-1 123456789012 IPv6 2001:db8::1 2001:db8::2 443 50000 - - 6 900 3 1700000000 1700000060 ACCEPT 19 OK egress 8 S3\n";
        let r = FlowRecord::parse(line, &s, &mut ends).unwrap();
        assert_eq!(r.srcaddr, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(r.instance_id(), None);
        assert_eq!(r.get("pkt-src-aws-service"), Some("S3"));
        assert_eq!(r.get("pkt_src_aws_service"), Some("S3"));
        assert_eq!(r.get("traffic-path"), Some("8"));
        assert_eq!(r.tcp_flags, Some(19));
        assert_eq!(r.time(), Some(1_700_000_000_000));
    }

    #[test]
    fn nodata_is_a_placeholder() {
        let s = FlowSchema::default_v2();
        let mut ends = Vec::new();
        let r = FlowRecord::parse(
            "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA",
            &s,
            &mut ends,
        )
        .unwrap();
        assert!(r.is_placeholder());
        assert_eq!(r.srcaddr, None);
    }

    #[test]
    fn rejects_with_field_and_value() {
        let s = FlowSchema::default_v2();
        let mut ends = Vec::new();
        let e = FlowRecord::parse(
            "2 1 eni-1 10.0.0.1 10.0.0.2 70000 22 6 1 1 1 2 ACCEPT OK",
            &s,
            &mut ends,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                RecordError::BadValue {
                    field: "srcport",
                    ..
                }
            ),
            "{e}"
        );
        let e = FlowRecord::parse("2 1 eni-1 10.0.0.1", &s, &mut ends).unwrap_err();
        assert!(matches!(
            e,
            RecordError::FieldCount {
                expected: 14,
                found: 4
            }
        ));
        let e = FlowRecord::parse(
            "2 1 eni-1 10.0.0.999 10.0.0.2 1 22 6 1 1 1 2 ACCEPT OK",
            &s,
            &mut ends,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            RecordError::BadValue {
                field: "srcaddr",
                ..
            }
        ));
        let e = FlowRecord::parse(
            "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 1 1 2 MAYBE OK",
            &s,
            &mut ends,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            RecordError::BadValue {
                field: "action",
                ..
            }
        ));
    }

    #[test]
    fn spaces_split_as_memchr_finds_them() {
        let mut ends = Vec::new();
        let mut want = Vec::new();
        let lines = [
            "",
            " ",
            "a",
            "        ",
            "1234567 9",
            "12345678 0123456 89",
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            "  two  spaces \t tab\u{a0}nbsp é ",
        ];
        // Every length and space position around the word boundaries too.
        let mut all: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        for n in 0..40 {
            for at in 0..n {
                let mut v = vec![b'x'; n];
                v[at] = b' ';
                if at + 9 < n {
                    v[at + 9] = b' ';
                }
                all.push(String::from_utf8(v).unwrap());
            }
        }
        for l in &all {
            split_spaces(l.as_bytes(), &mut ends);
            want.clear();
            want.extend(memchr::memchr_iter(b' ', l.as_bytes()).map(|i| i as u32));
            want.push(l.len() as u32);
            assert_eq!(ends, want, "{l:?}");
        }
    }

    #[test]
    fn ipv4_reads_what_std_reads() {
        let cases = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "1.2.3.4",
            "256.1.1.1",
            "1.2.3.256",
            "01.2.3.4",
            "1.02.3.4",
            "1.2.3.00",
            "1.2.3.4.",
            ".1.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.-4",
            "1.2.3.+4",
            "1111.2.3.4",
            "::1",
            "::ffff:1.2.3.4",
            "2001:db8::1",
            "",
            "-",
            "1.2.3.4a",
            "999.999.999.999",
            "0.0.0.00",
        ];
        for c in cases {
            assert_eq!(
                ipv4(c.as_bytes()),
                c.parse::<std::net::Ipv4Addr>().ok(),
                "{c:?}"
            );
        }
    }

    /// Parts and separators that std takes or refuses (valid parts twice, so that many of the
    /// mixes are addresses).
    const PARTS: &[&str] = &[
        "0", "1", "9", "10", "25", "99", "100", "199", "249", "255", "0", "1", "9", "10", "25",
        "99", "100", "199", "249", "255", "00", "01", "256", "300", "999", "0255", "1000", "", "a",
        "-1", "+1",
    ];
    const SEPS: &[&str] = &[
        ".", ".", ".", ".", ".", ".", ".", ".", ".", "..", ":", "", " ",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 20_000,
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn ipv4_reads_what_std_reads_in_every_mix(
            first in proptest::sample::select(PARTS),
            rest in proptest::collection::vec(
                (proptest::sample::select(SEPS), proptest::sample::select(PARTS)),
                2..=4,
            ),
        ) {
            let mut c = first.to_string();
            for (sep, part) in rest {
                c.push_str(sep);
                c.push_str(part);
            }
            proptest::prop_assert_eq!(ipv4(c.as_bytes()), c.parse::<std::net::Ipv4Addr>().ok(), "{:?}", c);
        }
    }

    #[test]
    fn header_detection() {
        assert!(FlowSchema::parse_header("version account-id some-future-field").is_some());
        assert!(FlowSchema::parse_header("version version").is_none());
        assert!(FlowSchema::parse_header("hello world").is_none());
        assert!(FlowSchema::parse_header("# comment").is_none());
    }
}
