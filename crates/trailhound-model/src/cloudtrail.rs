//! A CloudTrail record as a borrowed view: the core fields typed, the rest as raw JSON.
//!
//! Parsing a CloudTrail record into a generic JSON tree costs 5–10× more than extracting the
//! fifteen fields that detections and findings use most. So a [`CloudTrailRecord`] holds those
//! fields typed (borrowed from the input where the JSON has no escapes) plus the record's raw
//! text, from which any other field is read on demand by dotted path ([`CloudTrailRecord::get`]).
//! Unknown fields are skipped, never rejected: minor `eventVersion`s only add fields.

use std::borrow::Cow;

use serde::Deserialize;

use crate::RecordError;
use crate::json::{LenientBool, LenientStr, leaf_text};
use crate::members::Members;
use crate::time::{EpochMillis, parse_timestamp};

type S<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize, Default)]
struct RawIdentity<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    kind: S<'a>,
    #[serde(
        rename = "principalId",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    principal_id: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    arn: S<'a>,
    #[serde(rename = "accountId", borrow, default)]
    account_id: Option<LenientStr<'a>>,
    #[serde(
        rename = "accessKeyId",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    access_key_id: S<'a>,
    #[serde(
        rename = "userName",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    user_name: S<'a>,
    #[serde(
        rename = "invokedBy",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    invoked_by: S<'a>,
    #[serde(rename = "sessionContext", borrow, default)]
    session_context: Option<RawSessionContext<'a>>,
}

#[derive(Deserialize, Default)]
struct RawSessionContext<'a> {
    #[serde(rename = "sessionIssuer", borrow, default)]
    session_issuer: Option<RawIssuer<'a>>,
    #[serde(default)]
    attributes: Option<RawAttributes>,
}

#[derive(Deserialize, Default)]
struct RawIssuer<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    arn: S<'a>,
    #[serde(
        rename = "userName",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    user_name: S<'a>,
}

#[derive(Deserialize, Default)]
struct RawAttributes {
    #[serde(rename = "mfaAuthenticated", default)]
    mfa_authenticated: Option<LenientBool>,
}

/// Who made the call (`userIdentity`), reduced to the members findings name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `userIdentity.type`: `Root`, `IAMUser`, `AssumedRole`, `AWSService`, … (an open set).
    pub kind: S<'a>,
    /// `userIdentity.principalId`.
    pub principal_id: S<'a>,
    /// `userIdentity.arn`.
    pub arn: S<'a>,
    /// `userIdentity.accountId`.
    pub account_id: S<'a>,
    /// `userIdentity.accessKeyId` (`AKIA…` long-term, `ASIA…` temporary); `None` when empty.
    pub access_key_id: S<'a>,
    /// `userIdentity.userName`.
    pub user_name: S<'a>,
    /// `userIdentity.invokedBy` (a service acting for the principal).
    pub invoked_by: S<'a>,
    /// `userIdentity.sessionContext.sessionIssuer.arn` (the role behind an assumed-role session).
    pub session_issuer_arn: S<'a>,
    /// `userIdentity.sessionContext.sessionIssuer.userName`.
    pub session_issuer_name: S<'a>,
    /// `userIdentity.sessionContext.attributes.mfaAuthenticated` (a string in the log).
    pub mfa_authenticated: Option<bool>,
}

/// One CloudTrail event.
#[derive(Debug, Clone)]
pub struct CloudTrailRecord<'a> {
    /// The record's top-level members (the EventBridge `detail`'s when the input was an envelope).
    pub members: Members<'a>,
    /// `eventTime` (or Logstash's `@timestamp` when an export dropped it), in epoch milliseconds.
    pub time: EpochMillis,
    /// `eventVersion`.
    pub event_version: S<'a>,
    /// `eventSource`, e.g. `iam.amazonaws.com`.
    pub event_source: S<'a>,
    /// `eventName`, the API action.
    pub event_name: Cow<'a, str>,
    /// `awsRegion`.
    pub aws_region: S<'a>,
    /// `sourceIPAddress`: an IP address, a service name such as `ec2.amazonaws.com`, or
    /// `AWS Internal`. See [`CloudTrailRecord::source_ip_addr`].
    pub source_ip: S<'a>,
    /// `userAgent`.
    pub user_agent: S<'a>,
    /// `errorCode` (present only on failed calls).
    pub error_code: S<'a>,
    /// `errorMessage`.
    pub error_message: S<'a>,
    /// `eventID`.
    pub event_id: S<'a>,
    /// `eventType`.
    pub event_type: S<'a>,
    /// `recipientAccountId`.
    pub recipient_account_id: S<'a>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// `userIdentity` (absent on Insights events).
    pub identity: Identity<'a>,
}

/// The raw texts of the members a record is built from, found in one pass over its members.
///
/// Asked one by one, each of the 17 names was a walk over the record's (about 20) members, and
/// the names a record lacks (`@timestamp`, `detail-type`, often `errorCode`) a walk over all of
/// them: a few hundred key comparisons per record. One walk with a `match` on each key compares
/// its length and then a few machine words.
#[derive(Default)]
struct Core<'a> {
    event_time: Option<&'a str>,
    timestamp: Option<&'a str>,
    event_name: Option<&'a str>,
    user_identity: Option<&'a str>,
    detail_type: Option<&'a str>,
    detail: Option<&'a str>,
    event_version: Option<&'a str>,
    event_source: Option<&'a str>,
    aws_region: Option<&'a str>,
    source_ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    event_id: Option<&'a str>,
    event_type: Option<&'a str>,
    recipient_account_id: Option<&'a str>,
    read_only: Option<&'a str>,
}

impl<'a> Core<'a> {
    /// The members' texts; of a name given twice, the first (as [`Members::get`] answers).
    fn of(m: &Members<'a>) -> Self {
        let mut c = Core::default();
        for (k, v) in m.iter() {
            let slot = match k {
                "eventTime" => &mut c.event_time,
                "@timestamp" => &mut c.timestamp,
                "eventName" => &mut c.event_name,
                "userIdentity" => &mut c.user_identity,
                "detail-type" => &mut c.detail_type,
                "detail" => &mut c.detail,
                "eventVersion" => &mut c.event_version,
                "eventSource" => &mut c.event_source,
                "awsRegion" => &mut c.aws_region,
                "sourceIPAddress" => &mut c.source_ip,
                "userAgent" => &mut c.user_agent,
                "errorCode" => &mut c.error_code,
                "errorMessage" => &mut c.error_message,
                "eventID" => &mut c.event_id,
                "eventType" => &mut c.event_type,
                "recipientAccountId" => &mut c.recipient_account_id,
                "readOnly" => &mut c.read_only,
                _ => continue,
            };
            slot.get_or_insert(v);
        }
        c
    }
}

/// A string member's value (its raw text `raw`, named `key`): `None` when absent or `null`, an
/// error when it is not a string.
pub(crate) fn string<'a>(raw: Option<&'a str>, key: &'static str) -> Result<S<'a>, RecordError> {
    match raw {
        None | Some("null") => Ok(None),
        Some(v) if v.starts_with('"') => leaf_text(v)
            .map(Some)
            .ok_or_else(|| RecordError::Json(format!("`{key}` is not a valid string"))),
        Some(v) => Err(RecordError::BadValue {
            field: key,
            value: v.chars().take(64).collect(),
        }),
    }
}

/// A scalar member's value as text (strings unescaped, numbers and booleans as written); objects
/// and arrays read as absent.
pub(crate) fn lenient(raw: Option<&str>) -> S<'_> {
    raw.filter(|v| !v.starts_with(['{', '[']))
        .and_then(leaf_text)
}

/// A boolean member's value, also spelled as a string (`"true"`).
pub(crate) fn boolean(raw: Option<&str>, key: &'static str) -> Result<Option<bool>, RecordError> {
    match raw {
        None | Some("null") => Ok(None),
        Some(v) => sonic_rs::from_str::<LenientBool>(v)
            .map(|b| Some(b.0))
            .map_err(|_| RecordError::BadValue {
                field: key,
                value: v.chars().take(64).collect(),
            }),
    }
}

fn non_empty(s: S<'_>) -> S<'_> {
    s.filter(|v| !v.is_empty())
}

impl<'a> CloudTrailRecord<'a> {
    /// Parses one record from its JSON text (an object), validating it as JSON on the way.
    ///
    /// An EventBridge envelope (`detail-type` + `detail`) is unwrapped to its `detail`.
    ///
    /// ```
    /// use trailhound_model::CloudTrailRecord;
    /// let r = CloudTrailRecord::parse(r#"{"eventVersion":"1.08","eventTime":"2023-07-10T12:11:15Z",
    ///   "eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1",
    ///   "sourceIPAddress":"203.0.113.9","requestParameters":{"name":"main"},
    ///   "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice",
    ///   "accessKeyId":"AKIAEXAMPLE","accountId":"111122223333"}}"#).unwrap();
    /// assert_eq!(r.event_name, "StopLogging");
    /// assert_eq!(r.identity.access_key_id.as_deref(), Some("AKIAEXAMPLE"));
    /// assert_eq!(r.get_str("requestParameters.name").as_deref(), Some("main"));
    /// assert!(r.source_ip_addr().is_some());
    /// ```
    pub fn parse(raw: &'a str) -> Result<Self, RecordError> {
        Self::from_members(Members::parse(raw)?)
    }

    /// Builds the record from its already-captured top-level members (the hot path: see
    /// [`crate::members`]).
    pub fn from_members(m: Members<'a>) -> Result<Self, RecordError> {
        if m.is_not_object() {
            return Err(RecordError::Shape("record is not a JSON object"));
        }
        let c = Core::of(&m);
        if let (Some(_), Some(detail)) = (c.detail_type, c.detail) {
            if !detail.starts_with('{') {
                return Err(RecordError::Shape("EventBridge detail is not an object"));
            }
            return Self::from_members(Members::parse(detail)?);
        }
        let time_text = string(c.event_time, "eventTime")?
            .or(string(c.timestamp, "@timestamp")?)
            .ok_or(RecordError::Missing("eventTime"))?;
        let time = parse_timestamp(&time_text)
            .ok_or_else(|| RecordError::BadTime(time_text.to_string()))?;
        let event_name =
            string(c.event_name, "eventName")?.ok_or(RecordError::Missing("eventName"))?;
        let id: RawIdentity<'a> = match c.user_identity {
            None | Some("null") => RawIdentity::default(),
            Some(raw) => sonic_rs::from_str(raw).map_err(|e| {
                RecordError::Json(format!("userIdentity: {}", crate::json::short_error(&e)))
            })?,
        };
        let (issuer, attrs) = match id.session_context {
            Some(c) => (
                c.session_issuer.unwrap_or_default(),
                c.attributes.unwrap_or_default(),
            ),
            None => (RawIssuer::default(), RawAttributes::default()),
        };
        Ok(CloudTrailRecord {
            time,
            event_version: lenient(c.event_version),
            event_source: string(c.event_source, "eventSource")?,
            event_name,
            aws_region: string(c.aws_region, "awsRegion")?,
            source_ip: non_empty(string(c.source_ip, "sourceIPAddress")?),
            user_agent: string(c.user_agent, "userAgent")?,
            error_code: non_empty(string(c.error_code, "errorCode")?),
            error_message: string(c.error_message, "errorMessage")?,
            event_id: string(c.event_id, "eventID")?,
            event_type: string(c.event_type, "eventType")?,
            recipient_account_id: lenient(c.recipient_account_id),
            read_only: boolean(c.read_only, "readOnly")?,
            identity: Identity {
                kind: id.kind,
                principal_id: id.principal_id,
                arn: non_empty(id.arn),
                account_id: id.account_id.map(|v| v.0),
                access_key_id: non_empty(id.access_key_id),
                user_name: id.user_name,
                invoked_by: id.invoked_by,
                session_issuer_arn: non_empty(issuer.arn),
                session_issuer_name: issuer.user_name,
                mfa_authenticated: attrs.mfa_authenticated.map(|b| b.0),
            },
            members: m,
        })
    }

    /// The account the event belongs to: `recipientAccountId`, else the caller's account.
    pub fn account(&self) -> Option<&str> {
        self.recipient_account_id
            .as_deref()
            .or(self.identity.account_id.as_deref())
    }

    /// `sourceIPAddress` as an address, or `None` when it is a service name or `AWS Internal`.
    pub fn source_ip_addr(&self) -> Option<std::net::IpAddr> {
        crate::flow::parse_ip(self.source_ip.as_deref()?)
    }

    /// The raw JSON text at a dotted path (`requestParameters.bucketName`), `None` when absent
    /// or `null`.
    pub fn get(&self, path: &str) -> Option<&'a str> {
        self.members.path(path)
    }

    /// The value at a dotted path as text: strings unescaped, numbers and booleans as written.
    /// Objects and arrays come back as their JSON text.
    pub fn get_str(&self, path: &str) -> Option<Cow<'a, str>> {
        leaf_text(self.get(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:i-0abc","arn":"arn:aws:sts::111122223333:assumed-role/web/i-0abc","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/web","userName":"web"},"webIdFederationData":{},"attributes":{"creationDate":"2023-07-19T21:11:57Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},"eventTime":"2023-07-19T21:17:28Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"ec2.amazonaws.com","userAgent":"aws-cli\/2.0","requestParameters":null,"responseElements":null,"eventID":"e1","readOnly":"true","eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","resources":[{"ARN":"arn:aws:s3:::b","accountId":"111122223333","type":"AWS::S3::Bucket"}],"brandNewField":{"x":[1,2,3]}}"#;

    #[test]
    fn extracts_core_fields_and_handles_traps() {
        let r = CloudTrailRecord::parse(FULL).unwrap();
        assert_eq!(r.time, 1_689_801_448_000);
        assert_eq!(r.event_source.as_deref(), Some("s3.amazonaws.com"));
        assert_eq!(r.identity.kind.as_deref(), Some("AssumedRole"));
        // Read from the line, not copied (serde copies an `Option<Cow<str>>` unless told).
        assert!(matches!(r.identity.kind, Some(Cow::Borrowed(_))));
        assert!(matches!(
            r.identity.session_issuer_arn,
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(
            r.identity.session_issuer_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/web")
        );
        assert_eq!(r.identity.mfa_authenticated, Some(false));
        assert_eq!(r.read_only, Some(true));
        assert_eq!(
            r.user_agent.as_deref(),
            Some("aws-cli/2.0"),
            "escaped slash is unescaped"
        );
        assert_eq!(r.source_ip_addr(), None, "service name is not an address");
        assert!(r.get("requestParameters").is_none(), "null reads as absent");
        assert_eq!(
            r.get_str("resources.0.ARN").as_deref(),
            Some("arn:aws:s3:::b")
        );
        assert_eq!(r.get_str("brandNewField.x").as_deref(), Some("[1,2,3]"));
        assert_eq!(r.account(), Some("111122223333"));
    }

    #[test]
    fn core_members_are_found_as_by_name() {
        // Each slot holds what asking for its name gives: the first of a repeated name, nothing
        // for an absent one, whatever the members' order.
        let records = [
            FULL.to_string(),
            r#"{"readOnly":false,"eventName":"A","eventName":"B","eventTime":"2020-01-01T00:00:00Z","x":{"eventName":"C"},"errorCode":"E","errorMessage":"m","@timestamp":"t","detail":1,"detail-type":"d"}"#.to_string(),
            r#"{"recipientAccountId":"1","eventType":"T","eventID":"i","userAgent":"u","sourceIPAddress":"s","awsRegion":"r","eventSource":"e","eventVersion":"v","userIdentity":null}"#.to_string(),
        ];
        for raw in &records {
            let m = Members::parse(raw).unwrap();
            let c = Core::of(&m);
            let slots = [
                ("eventTime", c.event_time),
                ("@timestamp", c.timestamp),
                ("eventName", c.event_name),
                ("userIdentity", c.user_identity),
                ("detail-type", c.detail_type),
                ("detail", c.detail),
                ("eventVersion", c.event_version),
                ("eventSource", c.event_source),
                ("awsRegion", c.aws_region),
                ("sourceIPAddress", c.source_ip),
                ("userAgent", c.user_agent),
                ("errorCode", c.error_code),
                ("errorMessage", c.error_message),
                ("eventID", c.event_id),
                ("eventType", c.event_type),
                ("recipientAccountId", c.recipient_account_id),
                ("readOnly", c.read_only),
            ];
            for (name, slot) in slots {
                assert_eq!(slot, m.get(name), "{name} in {raw}");
            }
        }
        let m = Members::parse(&records[1]).unwrap();
        assert_eq!(Core::of(&m).event_name, Some(r#""A""#));
    }

    #[test]
    fn unwraps_eventbridge_envelope() {
        let env = format!(
            r#"{{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":{FULL}}}"#
        );
        let r = CloudTrailRecord::parse(&env).unwrap();
        assert_eq!(r.event_name, "ListBuckets");
        assert_eq!(r.event_id.as_deref(), Some("e1"));
    }

    #[test]
    fn logstash_timestamp_is_a_fallback() {
        let r = CloudTrailRecord::parse(
            r#"{"@timestamp":"2020-09-14T01:19:40.123Z","eventName":"GetObject"}"#,
        )
        .unwrap();
        assert_eq!(r.time % 1000, 123);
    }

    #[test]
    fn rejects_broken_records_with_a_reason() {
        assert!(matches!(
            CloudTrailRecord::parse(r#"{"eventName":"X"}"#),
            Err(RecordError::Missing("eventTime"))
        ));
        assert!(matches!(
            CloudTrailRecord::parse(r#"{"eventTime":"2020-01-01T00:00:00Z"}"#),
            Err(RecordError::Missing("eventName"))
        ));
        assert!(matches!(
            CloudTrailRecord::parse(r#"{"eventTime":"soon","eventName":"X"}"#),
            Err(RecordError::BadTime(_))
        ));
        assert!(matches!(
            CloudTrailRecord::parse(r#"{"eventTime":"#),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            CloudTrailRecord::parse(r#"[1,2]"#),
            Err(RecordError::Shape(_))
        ));
        assert!(matches!(
            CloudTrailRecord::parse(r#"{"eventTime":"2020-01-01T00:00:00Z","eventName":7}"#),
            Err(RecordError::BadValue {
                field: "eventName",
                ..
            })
        ));
        assert!(matches!(
            CloudTrailRecord::parse(
                r#"{"eventTime":"2020-01-01T00:00:00Z","eventName":"X","readOnly":"perhaps"}"#
            ),
            Err(RecordError::BadValue {
                field: "readOnly",
                ..
            })
        ));
    }
}
