#!/usr/bin/env python3
"""Rebuilds the bundled intel lists from ../shared/data/intel (run from the repository root).

Each list keeps a header naming its source, commit and licence; ATTRIBUTION.md and the LICENSE.*
files next to the lists carry the notices.
"""
import os
import re

SRC = os.path.join("..", "shared", "data", "intel")
OUT = os.path.join("rules", "lists")


def write(name, header, entries):
    seen, out = set(), []
    for e in entries:
        e = e.strip().lower().rstrip(".")
        if e and e not in seen:
            seen.add(e)
            out.append(e)
    with open(os.path.join(OUT, name), "w") as f:
        f.write("".join(f"# {h}\n" for h in header))
        f.write("\n".join(out) + "\n")
    print(name, len(out))


def lines(path):
    for line in open(os.path.join(SRC, path), encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


write("tor-exit-nodes.txt",
      ["Tor exit relays (IPv4), snapshot 2026-03-15.",
       "Source: helloworld401/tor-exit-feed@cd573c6 (data: check.torproject.org/torbulkexitlist). See ATTRIBUTION.md."],
      lines("tor-exit-nodes/tor_exit_nodes.txt"))
write("known-scanners.txt",
      ["Mass scanners (IPv4 addresses and /24s) probing the internet.",
       "Source: stamparm/maltrail@8adace1 trails/static/mass_scanner.txt and mass_scanner_cidr.txt, MIT (LICENSE.maltrail)."],
      [e for e in list(lines("maltrail/mass_scanner.txt")) + list(lines("maltrail/mass_scanner_cidr.txt"))
       if re.fullmatch(r"[0-9a-fA-F.:]+(/[0-9]+)?", e)])
mining = []
for e in lines("maltrail/crypto_mining.txt"):
    mining.append(re.sub(r":\d+$", "", e))
for e in lines("nocoin-list/hosts.txt"):
    parts = e.split()
    if len(parts) == 2:
        mining.append(parts[1])
write("mining-pools.txt",
      ["Crypto-mining pools and cryptojacking hosts (domains and addresses).",
       "Sources: stamparm/maltrail@8adace1 trails/static/suspicious/crypto_mining.txt (MIT, LICENSE.maltrail);",
       "hoshsadiq/adblock-nocoin-list@9f3caa9 hosts.txt (MIT, LICENSE.nocoin)."],
      mining)
write("dynamic-dns.txt",
      ["Dynamic-DNS provider domains.",
       "Source: stamparm/maltrail@8adace1 trails/static/suspicious/dynamic_domain.txt, MIT (LICENSE.maltrail)."],
      lines("maltrail/dynamic_domain.txt"))
write("dns-tunnel-services.txt",
      ["DNS-tunnelling services.",
       "Source: stamparm/maltrail@8adace1 trails/static/suspicious/dns_tunneling_service.txt, MIT (LICENSE.maltrail)."],
      lines("maltrail/dns_tunneling_service.txt"))

import json
ranges = json.load(open(os.path.join(SRC, "aws-ip-ranges", "ip-ranges.json")))
write("aws-ip-ranges.txt",
      [f"AWS's published IP ranges (ip-ranges.json, createDate {ranges.get('createDate')}), IPv4 and IPv6.",
       "Source: seligman/aws-ip-ranges@8468811 (AWS-published data). Used to tell AWS addresses from others."],
      sorted({p["ip_prefix"] for p in ranges["prefixes"]}) + sorted({p["ipv6_prefix"] for p in ranges.get("ipv6_prefixes", [])}))
write("public-dns-resolvers.txt",
      ["Well-known public DNS resolvers (DNS, DNS-over-HTTPS and DNS-over-TLS endpoints): Cloudflare,",
       "Google, Quad9, OpenDNS, AdGuard, CleanBrowsing, NextDNS. Published by their operators."],
      ["1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001", "8.8.8.8", "8.8.4.4",
       "2001:4860:4860::8888", "2001:4860:4860::8844", "9.9.9.9", "149.112.112.112", "2620:fe::fe",
       "208.67.222.222", "208.67.220.220", "94.140.14.14", "94.140.15.15", "185.228.168.9",
       "185.228.169.9", "45.90.28.0", "45.90.30.0"])
