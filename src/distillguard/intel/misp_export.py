"""An export plan as MISP events, built with ``pymisp``: one event per campaign.

Mapping (what :mod:`distillguard.intel` importers read back):

- event: ``info`` names the campaign, ``date`` its first sighting, ``distribution`` from the TLP
  (clear 3, green 2, amber / amber+strict 1, red 0), tags ``tlp:<level>`` and ``distillguard:campaign="<id>"``;
  a ``link`` attribute to the MITRE ATLAS technique;
- ``ip`` / ``cidr``: attribute ``ip-src`` (the CIDR as its value); ``email_domain``: attribute ``domain``;
- ``client``: object ``distillguard-client`` with ``tls-ja4`` (text) and ``user-agent`` (user-agent);
- keyed kinds: object ``distillguard-keyed`` with ``kind``, ``value`` (the 64 hex digits) and ``community``;
- every indicator attribute has ``to_ids``, ``first_seen`` / ``last_seen``, the tag ``tlp:<level>`` and a comment
  with its sighting count, and a deterministic uuid (uuid5 over the event and the indicator's STIX pattern).

A file holds one event (``{"Event": ...}``) for one campaign, else ``{"response": [{"Event": ...}, ...]}``.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from pymisp import MISPEvent, MISPObject

from distillguard.intel.exports import CampaignShare, ExportPlan, Sighted
from distillguard.intel.stix_export import ATLAS_NAME, ATLAS_TECHNIQUE, ATLAS_URL
from distillguard.intel.vocabulary import ID_NAMESPACE, TlpLevel, pattern

DISTRIBUTION: dict[TlpLevel, int] = {"clear": 3, "green": 2, "amber": 1, "amber+strict": 1, "red": 0}
"""MISP distribution per TLP level: all communities, connected communities, this community, your organisation."""
_KEYED = ("account", "email", "payment", "residential_ip", "template")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "misp|" + "|".join(parts)))


def misp_events(plan: ExportPlan) -> list[MISPEvent]:
    """One MISP event per shared campaign."""
    return [_event(plan, share) for share in plan.campaigns]


def misp_json(events: list[MISPEvent]) -> bytes:
    """The events as a MISP JSON file: one event whole, several as a ``response`` list."""
    dicts = [orjson.loads(e.to_json()) for e in events]
    body: dict[str, Any] = {"Event": dicts[0]} if len(dicts) == 1 else {"response": [{"Event": d} for d in dicts]}
    return orjson.dumps(body)


def _event(plan: ExportPlan, share: CampaignShare) -> MISPEvent:
    options, record = plan.options, share.record
    tlp = f"tlp:{options.tlp}"
    event = MISPEvent()
    event.uuid = _uuid(options.producer, "event", record.campaign_id)
    event.info = f"distillguard: model distillation campaign {record.campaign_id} ({record.n_accounts} accounts)"
    event.set_date(record.first_seen.date())
    event.distribution = DISTRIBUTION[options.tlp]
    event.threat_level_id = 2
    event.analysis = 2
    event.add_tag(tlp)
    event.add_tag(f'distillguard:campaign="{record.campaign_id}"')
    if share.intrusion_set is not None:
        event.add_tag(f'distillguard:intrusion-set="{share.intrusion_set.set_id}"')
    event.add_attribute("link", ATLAS_URL, uuid=_uuid(event.uuid, "atlas"), to_ids=False,
                        comment=f"MITRE ATLAS {ATLAS_TECHNIQUE} {ATLAS_NAME}")
    for s in share.indicators:
        _add(event, s, tlp, options.community.name)
    return event


def _common(event: MISPEvent, s: Sighted, tlp: str, relation: str) -> dict[str, Any]:
    return {"uuid": _uuid(event.uuid, pattern(s.term), relation), "to_ids": True,
            "first_seen": s.first_seen.isoformat(), "last_seen": max(s.last_seen, s.first_seen).isoformat(),
            "comment": f"sighted in {s.exchanges} exchanges of {s.accounts} account(s)"
                       + (f", {s.network} exit" if s.network else ""),
            "Tag": [{"name": tlp}]}


def _add(event: MISPEvent, s: Sighted, tlp: str, community: str) -> None:
    term = s.term
    if term.kind in ("ip", "cidr"):
        event.add_attribute("ip-src", term.value, **_common(event, s, tlp, "value"))
    elif term.kind == "email_domain":
        event.add_attribute("domain", term.value, **_common(event, s, tlp, "value"))
    elif term.kind == "client":
        obj = _object(event, s, "distillguard-client", "network")
        if term.tls_ja4 is not None:
            obj.add_attribute("tls-ja4", value=term.tls_ja4, type="text", **_common(event, s, tlp, "tls-ja4"))
        if term.user_agent is not None:
            obj.add_attribute("user-agent", value=term.user_agent, type="user-agent",
                              **_common(event, s, tlp, "user-agent"))
        event.add_object(obj)
    elif term.kind in _KEYED:
        obj = _object(event, s, "distillguard-keyed", "misc")
        obj.add_attribute("kind", value=term.kind, type="text", uuid=_uuid(event.uuid, pattern(term), "kind"),
                          to_ids=False, disable_correlation=True)
        obj.add_attribute("value", value=term.value, type="text", **_common(event, s, tlp, "value"))
        obj.add_attribute("community", value=community, type="text", to_ids=False, disable_correlation=True,
                          uuid=_uuid(event.uuid, pattern(term), "community"))
        event.add_object(obj)


def _object(event: MISPEvent, s: Sighted, name: str, category: str) -> MISPObject:
    obj = MISPObject(name, strict=False, standalone=False)
    obj.uuid = _uuid(event.uuid, pattern(s.term), "object")
    obj.template_uuid = _uuid("template", name)
    obj.template_version = "1"
    obj["meta-category"] = category
    obj.first_seen = s.first_seen
    obj.last_seen = max(s.last_seen, s.first_seen)
    return obj
