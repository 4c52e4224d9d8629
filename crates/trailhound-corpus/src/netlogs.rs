//! Synthetic VPC flow records and Route 53 Resolver queries.
//!
//! Flow logs come from many interfaces with a realistic accept/reject mix, ephemeral and service
//! ports, IPv4 and some IPv6, NODATA lines, in either the default format or a custom v5 format
//! (each flow log keeps one format, as on AWS). Resolver queries come from many instances, mostly
//! for a skewed set of popular and AWS names, with NXDOMAINs, CNAME chains and empty `srcids`.

use std::fmt::Write as _;

use crate::rng::Rng;
use trailhound_model::time::format_millis;

/// The header of the default (v2) format.
pub const V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
/// A custom v5 format, as a flow log configured with extra fields writes it.
pub const V5_HEADER: &str = "version account-id vpc-id subnet-id instance-id interface-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol packets bytes start end action tcp-flags log-status region az-id flow-direction traffic-path pkt-src-aws-service pkt-dst-aws-service";

/// Interface number `n`'s id, private address and instance.
pub fn eni(n: u64) -> (String, String, String) {
    (
        format!("eni-{:017x}", 0x0a1b_0000_0000_u64 + n),
        format!(
            "10.{}.{}.{}",
            (n >> 16) & 255,
            (n >> 8) & 255,
            (n & 255).max(4)
        ),
        format!("i-{:017x}", 0x0c2d_0000_0000_u64 + n),
    )
}

/// Addresses a clean baseline never talks to: every address of the bundled threat lists (known
/// scanners, Tor exits, malicious, C&C, blackhole, drop-point and sinkhole addresses). Attack
/// scenarios add such peers on purpose; ordinary traffic drawn at random must not, or the
/// baseline raises PortProbe and Tor findings of its own.
fn threat_addresses() -> &'static trailhound_rules::matcher::NetSet {
    static SET: std::sync::OnceLock<trailhound_rules::matcher::NetSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut set = trailhound_rules::matcher::NetSet::default();
        for name in [
            "known-scanners",
            "tor-exit-nodes",
            "malicious-ips",
            "c2-ips",
            "blackhole-ips",
            "drop-point-ips",
            "sinkhole-ips",
        ] {
            let text = trailhound_rules::loader::bundled_list(name).unwrap_or("");
            for entry in trailhound_rules::lists::parse_list(text) {
                if let Some(net) = trailhound_rules::matcher::Net::parse(&entry) {
                    set.insert(net);
                }
            }
        }
        set
    })
}

const FIRST_OCTETS: [u8; 13] = [13, 23, 34, 52, 54, 91, 104, 142, 151, 172, 185, 203, 216];

/// A remote address. Real traffic concentrates on few peers (the services instances call, the
/// clients they serve): nine flows in ten go to one of 4,000 hosts picked by a Zipf law, the
/// rest to anywhere (the long tail). Addresses on the bundled threat lists are skipped.
fn remote(r: &mut Rng, v6: bool, out: &mut String) {
    if v6 {
        let _ = write!(out, "2001:db8:{:x}::{:x}", r.below(65536), r.below(65536));
        return;
    }
    let pooled = r.chance(0.9);
    let mut k = r.zipf(4000) as u64;
    loop {
        let a = if pooled {
            let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
            std::net::Ipv4Addr::new(
                FIRST_OCTETS[(h % FIRST_OCTETS.len() as u64) as usize],
                (h >> 8) as u8,
                (h >> 16) as u8,
                (1 + ((h >> 24) % 254)) as u8,
            )
        } else {
            std::net::Ipv4Addr::new(
                *r.pick(&FIRST_OCTETS),
                r.below(256) as u8,
                r.below(256) as u8,
                r.range(1, 255) as u8,
            )
        };
        if !threat_addresses().contains(std::net::IpAddr::V4(a)) {
            let _ = write!(out, "{a}");
            return;
        }
        // A pooled host on a list is replaced by the next one (stable across the corpus).
        k += 4000;
    }
}

/// Appends one flow line in the given format (`custom` = [`V5_HEADER`]).
pub fn flow_line(r: &mut Rng, account: &str, region: &str, custom: bool, t: i64, out: &mut String) {
    let n = r.zipf(2000) as u64;
    let (eni_id, local, inst) = eni(n);
    let start = t / 1000;
    let end = start + r.range(1, 60) as i64;
    if r.chance(0.01) {
        if custom {
            let _ = write!(
                out,
                "5 {account} vpc-0aa subnet-0bb - {eni_id} - - - - - - - - - - {start} {end} - - NODATA {region} use1-az1 - - - -"
            );
        } else {
            let _ = write!(
                out,
                "2 {account} {eni_id} - - - - - - - {start} {end} - NODATA"
            );
        }
        out.push('\n');
        return;
    }
    let v6 = r.chance(0.05);
    let mut other = String::new();
    remote(r, v6, &mut other);
    let me = if v6 {
        format!("2600:1f18::{:x}", n + 1)
    } else {
        local
    };
    let proto = *r.pick(&[6u64, 6, 6, 6, 6, 17, 17, 1]);
    let inbound = r.chance(0.4);
    // Instances serve many ports but call out to few: web, DNS, NTP and databases.
    let service_port = if inbound {
        *r.pick(&[
            443u64, 443, 443, 80, 22, 3389, 53, 123, 5432, 3306, 8080, 9200, 25,
        ])
    } else {
        *r.pick(&[443u64, 443, 443, 80, 53, 123, 5432, 3306])
    };
    let ephemeral = r.range(32768, 65535);
    let (src, dst, sp, dp) = if inbound {
        (other.clone(), me.clone(), ephemeral, service_port)
    } else {
        (me.clone(), other.clone(), ephemeral, service_port)
    };
    let (sp, dp) = if proto == 1 { (0, 0) } else { (sp, dp) };
    let reject = r.chance(if inbound { 0.3 } else { 0.03 });
    let packets = r.range(1, if reject { 4 } else { 2000 });
    let bytes = packets * r.range(40, 1500);
    let action = if reject { "REJECT" } else { "ACCEPT" };
    if custom {
        let flags = if proto == 6 {
            *r.pick(&[2u64, 18, 3, 19, 0, 1, 4])
        } else {
            0
        };
        let dir = if inbound { "ingress" } else { "egress" };
        let path = if inbound {
            "-".to_string()
        } else {
            r.pick(&["1", "2", "8"]).to_string()
        };
        let ty = if v6 { "IPv6" } else { "IPv4" };
        let svc = if r.chance(0.1) { "S3" } else { "-" };
        let _ = write!(
            out,
            "5 {account} vpc-0aa subnet-0bb {inst} {eni_id} {ty} {src} {dst} {sp} {dp} {src} {dst} {proto} {packets} {bytes} {start} {end} {action} {flags} OK {region} use1-az{} {dir} {path} - {svc}",
            r.range(1, 6)
        );
    } else {
        let _ = write!(
            out,
            "2 {account} {eni_id} {src} {dst} {sp} {dp} {proto} {packets} {bytes} {start} {end} {action} OK"
        );
    }
    out.push('\n');
}

const POPULAR: &[&str] = &[
    "amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "sts.amazonaws.com",
    "ec2.us-east-1.amazonaws.com",
    "ssm.us-east-1.amazonaws.com",
    "ssmmessages.us-east-1.amazonaws.com",
    "ec2messages.us-east-1.amazonaws.com",
    "logs.us-east-1.amazonaws.com",
    "monitoring.us-east-1.amazonaws.com",
    "dynamodb.us-east-1.amazonaws.com",
    "api.github.com",
    "github.com",
    "registry.npmjs.org",
    "pypi.org",
    "files.pythonhosted.org",
    "index.docker.io",
    "production.cloudflare.docker.com",
    "ntp.ubuntu.com",
    "security.ubuntu.com",
    "archive.ubuntu.com",
    "deb.debian.org",
    "google.com",
    "www.google.com",
    "slack.com",
    "api.stripe.com",
    "sentry.io",
    "datadoghq.com",
    "mongodb.net",
    "rds.amazonaws.com",
    "cloudfront.net",
    "update.microsoft.com",
    "login.microsoftonline.com",
    "okta.com",
    "auth0.com",
    "crates.io",
    "static.crates.io",
    "golang.org",
    "proxy.golang.org",
    "dl.k8s.io",
    "quay.io",
];

/// Appends one resolver query line.
pub fn dns_line(r: &mut Rng, account: &str, region: &str, vpc: &str, t: i64, out: &mut String) {
    let n = r.zipf(2000) as u64;
    let (_, local, inst) = eni(n);
    let base = POPULAR[r.zipf(POPULAR.len())];
    let mut name = String::new();
    match r.below(10) {
        0..=5 => name.push_str(base),
        6..=7 => {
            let picked: &str =
                r.pick::<&str>(&["www", "api", "cdn", "static", "auth", "edge", "m"]);
            name.push_str(picked);
            name.push('.');
            name.push_str(base);
        }
        8 => {
            let _ = write!(
                name,
                "ip-10-{}-{}-{}.ec2.internal",
                r.below(256),
                r.below(256),
                r.below(256)
            );
        }
        _ => {
            let _ = write!(name, "{}.{}.in-addr.arpa", r.below(256), r.below(256));
        }
    }
    let qtype = if name.ends_with("arpa") {
        "PTR"
    } else {
        *r.pick(&[
            "A", "A", "A", "A", "AAAA", "AAAA", "TXT", "CNAME", "MX", "SRV",
        ])
    };
    let nx = r.chance(0.05);
    let _ = write!(
        out,
        "{{\"version\":\"1.100000\",\"account_id\":\"{account}\",\"region\":\"{region}\",\"vpc_id\":\"{vpc}\",\"query_timestamp\":\"{}Z\",\"query_name\":\"{name}.\",\"query_type\":\"{qtype}\",\"query_class\":\"IN\",\"rcode\":\"{}\",\"answers\":[",
        &format_millis(t)[..19],
        if nx { "NXDOMAIN" } else { "NOERROR" }
    );
    if !nx {
        let k = r.range(1, 4);
        for i in 0..k {
            if i > 0 {
                out.push(',');
            }
            match qtype {
                "AAAA" => {
                    let _ = write!(
                        out,
                        "{{\"Rdata\":\"2600:9000:{:x}::{:x}\",\"Type\":\"AAAA\",\"Class\":\"IN\"}}",
                        r.below(65536),
                        r.below(65536)
                    );
                }
                "TXT" => {
                    let _ = write!(
                        out,
                        "{{\"Rdata\":\"\\\"v=spf1 include:_spf.{base} ~all\\\"\",\"Type\":\"TXT\",\"Class\":\"IN\"}}"
                    );
                }
                "CNAME" => {
                    let _ = write!(
                        out,
                        "{{\"Rdata\":\"d{}.cloudfront.net.\",\"Type\":\"CNAME\",\"Class\":\"IN\"}}",
                        r.below(100_000)
                    );
                }
                "PTR" => {
                    let _ = write!(
                        out,
                        "{{\"Rdata\":\"ip-10-0-{}-{}.ec2.internal.\",\"Type\":\"PTR\",\"Class\":\"IN\"}}",
                        r.below(256),
                        r.below(256)
                    );
                }
                _ => {
                    let _ = write!(
                        out,
                        "{{\"Rdata\":\"{}.{}.{}.{}\",\"Type\":\"A\",\"Class\":\"IN\"}}",
                        r.range(1, 224),
                        r.below(256),
                        r.below(256),
                        r.range(1, 255)
                    );
                }
            }
        }
    }
    let _ = write!(
        out,
        "],\"srcaddr\":\"{local}\",\"srcport\":\"{}\",\"transport\":\"{}\",\"srcids\":",
        r.range(1024, 65535),
        if r.chance(0.97) { "UDP" } else { "TCP" }
    );
    if r.chance(0.05) {
        out.push_str("{}");
    } else {
        let _ = write!(out, "{{\"instance\":\"{inst}\"}}");
    }
    out.push_str("}\n");
}
