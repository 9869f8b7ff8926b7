"""Outbound network policy for apps: their processes (the app uid range) may not open
connections to this host's loopback services (PostgreSQL, RabbitMQ, Redis, the platform's
own services, other apps) nor to private networks (the platform's internal network, cloud
metadata), except DNS to the configured resolvers. Answers to inbound connections (Traefik,
health checks) are untouched; the internet stays reachable.

An iptables chain (`BERTH-APPS`, jumped to from OUTPUT) matched on the socket owner's uid:
apps run as their own host uids, so the rule holds inside their user namespaces too.
Without root or iptables the policy is not applied (and that is logged loudly).
"""

import fcntl
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from loguru import logger

CHAIN = "BERTH-APPS"


def resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    found = []
    try:
        for line in resolv_conf.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                try:
                    found.append(str(ipaddress.ip_address(parts[1])))
                except ValueError:
                    continue
    except OSError:
        pass
    return found


def desired_rules(
    uid_min: int, uid_max: int, blocked: list[str], dns: list[str], family: int
) -> list[list[str]]:
    owner = ["-m", "owner", "--uid-owner", f"{uid_min}-{uid_max}"]
    rules = [[*owner, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]]
    for server in dns:
        if ipaddress.ip_address(server).version == family:
            for proto in ("udp", "tcp"):
                rules.append([*owner, "-d", server, "-p", proto, "--dport", "53", "-j", "RETURN"])
    for network in blocked:
        if ipaddress.ip_network(network).version == family:
            rules.append([*owner, "-d", network, "-j", "REJECT"])
    return rules


def _run(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv
        [binary, "-w", "5", *args], capture_output=True, text=True, check=False
    )


def _apply(binary: str, rules: list[list[str]]) -> None:
    if _run(binary, "-n", "-L", CHAIN).returncode != 0:
        _run(binary, "-N", CHAIN)
    current = [line for line in _run(binary, "-S", CHAIN).stdout.splitlines() if "-A" in line]
    present = all(_run(binary, "-C", CHAIN, *rule).returncode == 0 for rule in rules)
    if not present or len(current) != len(rules):
        _run(binary, "-F", CHAIN)
        for rule in rules:
            result = _run(binary, "-A", CHAIN, *rule)
            if result.returncode != 0:
                raise RuntimeError(result.stderr.strip())
    if _run(binary, "-C", "OUTPUT", "-j", CHAIN).returncode != 0:
        _run(binary, "-I", "OUTPUT", "-j", CHAIN)


def install(uid_min: int, uid_max: int, blocked: list[str], lock_dir: Path) -> bool:
    """Apply the policy (idempotent; serialised between this node's processes)."""
    if os.geteuid() != 0 or not shutil.which("iptables"):
        logger.warning(
            "app network policy NOT applied (needs root and iptables: "
            "scripts/install-system-deps.sh --firewall): apps can reach this host's local services"
        )
        return False
    dns = resolvers()
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / "firewall.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _apply("iptables", desired_rules(uid_min, uid_max, blocked, dns, 4))
            if shutil.which("ip6tables"):
                _apply("ip6tables", desired_rules(uid_min, uid_max, blocked, dns, 6))
        except (RuntimeError, OSError) as exc:
            logger.warning("app network policy NOT applied: {}", exc)
            return False
    return True
