"""A campaign's linking graph for cytoscape.js: member accounts joined to the indicators they share."""

from __future__ import annotations

from typing import Any

GRAPH_MAX_ACCOUNTS = 1_000
"""Most member accounts drawn; a larger campaign is drawn from a fixed sample of this many, and says so."""
GRAPH_MAX_INDICATORS = 400
"""Most shared indicators drawn (a fifth of them per kind), those most sampled members show."""
GRAPH_LINKS_PER_ACCOUNT = 3
"""Most indicators drawn per account, its rarest shared ones: the links that tell most, and a graph that loads."""

INDICATOR_LABELS: dict[str, str] = {
    "ip": "IP", "subnet": "/24 subnet", "client": "client", "payment": "payment fingerprint", "signup_ip": "signup IP",
}
"""Indicator kinds of the graph → their label."""


def graph_elements(rows: list[dict[str, Any]], campaign_id: str) -> dict[str, Any]:
    """Cytoscape elements from :func:`distillguard.store.console_views.campaign_graph` rows, with what was drawn.

    Account nodes carry ``risk`` and ``action``; indicator nodes ``kind`` and ``accounts`` (sampled members
    showing it); ``coverage`` counts, per indicator kind, the drawn members linked through it.
    """
    accounts: dict[str, dict[str, Any]] = {}
    indicators: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, dict[str, str]]] = []
    covered: dict[str, set[str]] = {}
    members = 0
    for row in rows:
        account = row["account_id"]
        members = int(row["members"])
        if account not in accounts:
            accounts[account] = {"data": {"id": f"a:{account}", "label": account, "type": "account",
                                          "risk": round(float(row["risk"]), 3), "action": row["in_force"]}}
        if row["kind"] is None:
            continue
        node = f"i:{row['kind']}:{row['value']}"
        if node not in indicators:
            indicators[node] = {"data": {"id": node, "label": row["value"], "type": "indicator", "kind": row["kind"],
                                         "accounts": int(row["accounts"])}}
        edges.append({"data": {"source": f"a:{account}", "target": node}})
        covered.setdefault(row["kind"], set()).add(account)
    shown = len(accounts)
    note = (f"{shown:,} of {members:,} member accounts drawn (a fixed sample); indicators are those at least two "
            "drawn accounts share" if shown < members else
            f"all {members:,} member accounts drawn; indicators are those at least two members share")
    return {
        "campaign_id": campaign_id,
        "members": members,
        "drawn": shown,
        "sampled": shown < members,
        "note": note,
        "coverage": {INDICATOR_LABELS.get(k, k): len(v) for k, v in sorted(covered.items(), key=lambda kv: -len(kv[1]))},
        "elements": {"nodes": [*accounts.values(), *indicators.values()], "edges": edges},
    }
