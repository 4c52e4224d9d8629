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
