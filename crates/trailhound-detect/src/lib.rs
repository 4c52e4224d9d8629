//! The detection engine: runs a compiled rule plan over records, keeps correlation windows, and
//! aggregates hits into GuardDuty-style findings.
//!
//! ```
//! use std::sync::Arc;
//! use trailhound_detect::{Detector, Plan};
//! use trailhound_model::{CloudTrailRecord, RecordSink};
//!
//! let dir = std::env::temp_dir().join("trailhound-detect-doc");
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("stop.yml"), r#"
//! title: Trail stopped
//! id: doc-stop-logging
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!   selection: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
//!   condition: selection
//! finding: {type: "Stealth:IAMUser/CloudTrailLoggingDisabled", severity: 2.0}
//! "#).unwrap();
//! let (set, _) = trailhound_rules::load(&trailhound_rules::LoadOptions { paths: vec![dir], ..Default::default() });
//! let mut d = Detector::new(Arc::new(Plan::new(&set, &[])));
//! let rec = CloudTrailRecord::parse(r#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"cloudtrail.amazonaws.com",
//!   "eventName":"StopLogging","recipientAccountId":"111122223333","awsRegion":"us-east-1",
//!   "userIdentity":{"accessKeyId":"AKIAEXAMPLE"}}"#).unwrap();
//! d.cloudtrail(&rec);
//! let f = d.finish();
//! assert_eq!(f[0].finding_type, "Stealth:IAMUser/CloudTrailLoggingDisabled");
//! assert_eq!(f[0].resource.id, "AKIAEXAMPLE");
//! assert_eq!(f[0].severity_label, "Low");
//! ```

pub mod engine;
pub mod fields;
pub mod finding;
pub mod flowprog;
pub mod flowtest;
pub mod names;
pub mod plan;
pub mod policy;
pub mod rawtest;
pub mod testing;

pub use engine::{Detector, LearningPeriods};
pub use finding::Finding;
pub use plan::Plan;
