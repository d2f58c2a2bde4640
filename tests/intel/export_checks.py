"""What the export tests look for: a store's personal values and prompts, and where they show in an export."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path

from distillguard.accounts.network import IpIntel, Origin
from distillguard.intel.community import Community
from distillguard.store import Store

SHARED_INTEL = Path(__file__).resolve().parents[3] / "shared" / "data" / "intel"
LABS = Community("labs", b"the labs community's shared secret")
LABS_ENV = {"DISTILLGUARD_INTEL_KEY_LABS": LABS.key.hex()}
_TOKEN = re.compile(r"[A-Za-z0-9_.@:+-]+")


def ip_intel() -> IpIntel:
    """The shared IP lists when present (datacenter, VPN, Tor), else the bundled ranges only."""
    return IpIntel.load(SHARED_INTEL if SHARED_INTEL.is_dir() else None)


@dataclass
class Personal:
    """A store's values that must never leave raw."""

    accounts: set[str]
    emails: set[str]
    payments: set[str]
    residential_ips: set[str]
    templates: set[str]
    prompts: list[str]


def personal_values(store: Store, intel: IpIntel) -> Personal:
    """Every account id, e-mail, payment fingerprint, residential address, template key and prompt of the store."""
    accounts = store.query("SELECT account_id, email_local, email_domain, payment_fingerprint, signup_ip FROM accounts")
    exchanges = store.query("SELECT DISTINCT account_id, ip FROM exchanges")
    rows = accounts.to_pylist()
    ips = {r["ip"] for r in exchanges.to_pylist()} | {r["signup_ip"] for r in rows if r["signup_ip"]}
    return Personal(
        accounts={r["account_id"] for r in rows} | {r["account_id"] for r in exchanges.to_pylist()},
        emails={f"{r['email_local']}@{r['email_domain']}" for r in rows if r["email_local"] and r["email_domain"]},
        payments={r["payment_fingerprint"] for r in rows if r["payment_fingerprint"]},
        residential_ips={str(ipaddress.ip_address(ip)) for ip in ips if intel.origin(ip) == Origin.RESIDENTIAL},
        templates={str(v) for v in store.query(
            "SELECT DISTINCT template_key FROM signals WHERE template_key IS NOT NULL AND template_key <> 0"
        ).column(0).to_pylist() if len(str(v)) >= 8},
        prompts=[p for p in store.query("SELECT DISTINCT prompt FROM exchanges WHERE prompt IS NOT NULL")
                 .column(0).to_pylist() if len(p) >= 12],
    )


def leaks(text: str, personal: Personal, *, prompt_sample: int | None = None) -> dict[str, list[str]]:
    """The personal values found in ``text``: each value as a whole token (ids, e-mails, addresses, keys), and
    prompts as substrings (their first 40 characters, JSON-escaped as serialized; every prompt, or a sample)."""
    tokens = set(_TOKEN.findall(text))
    lowered = {t.lower() for t in tokens}
    found = {
        "accounts": sorted(personal.accounts & tokens),
        "emails": sorted(e for e in personal.emails if e.lower() in lowered),
        "payments": sorted(personal.payments & tokens),
        "residential_ips": sorted(personal.residential_ips & tokens),
        "templates": sorted(personal.templates & tokens),
    }
    prompts = personal.prompts if prompt_sample is None else personal.prompts[:prompt_sample]
    found["prompts"] = [p for p in prompts if _escaped(p[:40]) in text or p[:40] in text]
    return {k: v for k, v in found.items() if v}


def _escaped(text: str) -> str:
    return json.dumps(text)[1:-1]
