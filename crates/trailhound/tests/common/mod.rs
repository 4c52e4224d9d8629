//! Helpers shared by the integration tests: paths and a sink that records what it saw.

#![allow(dead_code)]

use std::path::PathBuf;

use trailhound::model::{CloudTrailRecord, DnsRecord, FlowRecord, RecordSink};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures(rel: &str) -> PathBuf {
    repo().join("fixtures").join(rel)
}

pub fn shared(rel: &str) -> PathBuf {
    repo().join("../shared/data/public").join(rel)
}

/// One line per record, in the order the sink saw them after merging.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Seen(pub Vec<String>);

impl RecordSink for Seen {
    fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) {
        self.0.push(format!(
            "ct {} {} {} {} {}",
            r.time,
            r.event_name,
            r.identity.kind.as_deref().unwrap_or("-"),
            r.identity.access_key_id.as_deref().unwrap_or("-"),
            r.source_ip.as_deref().unwrap_or("-")
        ));
    }
    fn flow(&mut self, r: &FlowRecord<'_>) {
        self.0.push(format!(
            "flow {:?} {:?} {:?} {:?} {:?} {:?} {:?} {}",
            r.srcaddr,
            r.dstaddr,
            r.srcport,
            r.dstport,
            r.protocol,
            r.action,
            r.bytes,
            r.interface_id().unwrap_or("-")
        ));
    }
    fn dns(&mut self, r: &DnsRecord<'_>) {
        self.0.push(format!(
            "dns {} {} {:?} {}",
            r.time,
            r.name(),
            r.srcport,
            r.instance.as_deref().unwrap_or("-")
        ));
    }
}

pub fn merge(mut a: Seen, b: Seen) -> Seen {
    a.0.extend(b.0);
    a
}
