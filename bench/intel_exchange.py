"""Two providers, one operator: what exchanging STIX bundles finds that neither found alone.

A family world is simulated once (``distillguard simulate --families ... --negatives ...``); every account,
of every campaign and of the legitimate population, goes to provider A or B by a seeded hash of its id,
with its exchanges and its account record. Each provider analyses its half into its own store, exports
its campaigns as a STIX 2.1 bundle for one sharing community (``intel export``'s code: raw datacenter
exits, keyed personal values), imports the other's bundle and hunts its stored traffic with it
(``intel import``'s code), then analyses again, now with the ``partner`` linking family. The hunt runs at
the end of the simulated traffic plus one day, as if the bundles were exchanged then (the exported
indicators stay valid 90 days after their last sighting)::

    .venv/bin/python bench/intel_exchange.py [--families reseller-hydra,...] [--negatives ...] [--seed 0] [--scale 1]

Printed per provider: attack-account recall before and after the exchange (flagged / all attack accounts
of that provider), the accounts the hunt linked (attack, legitimate) and those it matched by one weak
indicator family only (reported, not linked: see :mod:`distillguard.intel.hunt`); over both, the share of
the operator's accounts found only through the partner's indicators (flagged after, not before; of all, and of
those in campaigns at least one provider flagged before the exchange), and
legitimate accounts linked (must be 0) and flagged before / after. Per campaign: recall before / after.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from distillguard.accounts import IpIntel
from distillguard.analysis.run import analyze
from distillguard.campaigns import load_campaign_settings
from distillguard.config import load_settings, with_overrides
from distillguard.core.jsonl import iter_jsonl
from distillguard.intel.community import Community
from distillguard.intel.exports import ExportOptions, plan_export
from distillguard.intel.hunt import HuntReport, import_and_hunt
from distillguard.intel.stix_export import Versions, bundle_json, export_now, stix_bundle
from distillguard.intel.stix_import import read_stix
from distillguard.policy import load_policy
from distillguard.sim import simulate
from distillguard.sim.families import family_scenario, split_names
from distillguard.store import Store
from distillguard.store.partner import latest_decisions
from distillguard.store.traffic import data_end

PROVIDERS = ("A", "B")


@dataclass(frozen=True)
class ProviderFigures:
    """One provider's figures."""

    provider: str
    accounts: int
    attack_accounts: int
    legit_accounts: int
    exported_indicators: int
    imported_indicators: int
    recall_before: float
    recall_after: float
    hunt_linked_attack: int
    hunt_linked_legit: int
    hunt_weak_attack: int
    hunt_weak_legit: int
    legit_flagged_before: int
    legit_flagged_after: int


def provider_of(account_id: str, seed: int) -> str:
    """A or B, by a seeded hash of the account id."""
    return PROVIDERS[hashlib.sha256(f"{seed}|{account_id}".encode()).digest()[0] & 1]


def split_world(world: Path, work: Path, seed: int) -> None:
    """Each provider's exchanges, account records and labels, by :func:`provider_of`."""
    for name in ("exchanges.jsonl", "accounts.jsonl", "labels.jsonl"):
        handles = {p: (work / p / name).open("wb") for p in PROVIDERS}
        try:
            with (world / name).open("rb") as fh:
                for line in fh:
                    account_id = orjson.loads(line)["account_id"]
                    handles[provider_of(account_id, seed)].write(line)
        finally:
            for h in handles.values():
                h.close()


def flagged(db: Path, account_ids: list[str]) -> set[str]:
    """The accounts flagged by the store's newest run."""
    with Store(db, read_only=True) as store:
        rows = latest_decisions(store, account_ids).to_pylist()
    return {r["account_id"] for r in rows if r["flagged"]}


def main(argv: Sequence[str] | None = None) -> None:
    """Simulate, split, analyse, exchange, hunt, analyse again; print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="reseller-hydra,reasoning-harvest,agentic-harvest,coding-pivot")
    parser.add_argument("--negatives", default="consumer-chat,vpn-users,students,agentic-devs,enterprise-batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the world and of the split")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/prompts"))
    parser.add_argument("--intel", type=Path, default=Path("../shared/data/intel"))
    parser.add_argument("--work", type=Path, default=Path("runs/intel_exchange"))
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    started = time.perf_counter()
    shutil.rmtree(args.work, ignore_errors=True)
    world = args.work / "world"
    for p in PROVIDERS:
        (args.work / p).mkdir(parents=True)
    scenario = family_scenario(split_names(args.families), split_names(args.negatives), seed=args.seed, scale=args.scale)
    simulate(scenario, world, args.corpus, seed=args.seed, intel_dir=args.intel)
    split_world(world, args.work, args.seed)
    labels = {r["account_id"]: r for _, r in iter_jsonl(world / "labels.jsonl")}
    intel, policy, tunables = IpIntel.load(args.intel), load_policy(), load_campaign_settings()
    community = Community("bench", hashlib.sha256(f"intel_exchange|{args.seed}".encode()).digest())

    def run_analysis(p: str, out: str, logs: bool) -> None:
        settings = with_overrides(load_settings(None, environ={}), "bench/intel_exchange.py",
                                  db=args.work / p / "store.duckdb", intel_dir=args.intel)
        d = args.work / p
        analyze(settings, policy, tunables, intel, [d / "exchanges.jsonl"] if logs else [],
                [d / "accounts.jsonl"] if logs else [], d / out)

    owned = {p: [a for a in labels if provider_of(a, args.seed) == p] for p in PROVIDERS}
    before: dict[str, set[str]] = {}
    bundles: dict[str, bytes] = {}
    exported: dict[str, int] = {}
    for p in PROVIDERS:
        run_analysis(p, "before", logs=True)
        before[p] = flagged(args.work / p / "store.duckdb", owned[p])
        with Store(args.work / p / "store.duckdb") as store:
            plan = plan_export(store, ExportOptions(community, producer=f"provider-{p}"), intel=intel)
            bundles[p] = bundle_json(stix_bundle(plan, Versions({}, export_now())))
        (args.work / p / "bundle.json").write_bytes(bundles[p])
        exported[p] = sum(1 for o in orjson.loads(bundles[p])["objects"] if o["type"] == "indicator")
    reports: dict[str, HuntReport] = {}
    after: dict[str, set[str]] = {}
    for p, partner in zip(PROVIDERS, reversed(PROVIDERS), strict=True):
        with Store(args.work / p / "store.duckdb") as store:
            end = data_end(store)
            now = (end or export_now()) + timedelta(days=1)
            parsed = read_stix(bundles[partner], f"provider-{partner}.json", community.name, now=now)
            reports[p] = import_and_hunt(store, parsed, community, f"provider-{partner}", now=now)
        (args.work / p / "hunt.json").write_bytes(orjson.dumps(reports[p].to_json(), option=orjson.OPT_INDENT_2))
        run_analysis(p, "after", logs=False)
        after[p] = flagged(args.work / p / "store.duckdb", owned[p])

    figures = []
    for p in PROVIDERS:
        attack = {a for a in owned[p] if labels[a]["label"] == "attack"}
        legit = set(owned[p]) - attack
        linked = {a.account_id for a in reports[p].accounts if a.linked}
        weak = {a.account_id for a in reports[p].accounts if not a.linked}
        figures.append(ProviderFigures(
            p, len(owned[p]), len(attack), len(legit), exported[p], reports[p].n_indicators,
            len(before[p] & attack) / max(len(attack), 1), len(after[p] & attack) / max(len(attack), 1),
            len(linked & attack), len(linked & legit), len(weak & attack), len(weak & legit),
            len(before[p] & legit), len(after[p] & legit),
        ))
    attack_all = {a for a, r in labels.items() if r["label"] == "attack"}
    flagged_before = before["A"] | before["B"]
    flagged_after = after["A"] | after["B"]
    only_partner = (flagged_after - flagged_before) & attack_all
    legit_matched = sorted(a.account_id for p in PROVIDERS for a in reports[p].accounts
                           if labels[a.account_id]["label"] != "attack" and a.linked)
    legit_weak = sorted(a.account_id for p in PROVIDERS for a in reports[p].accounts
                        if labels[a.account_id]["label"] != "attack" and not a.linked)

    table = Table(title="intel exchange: two providers, each sees part of the operators' accounts", title_justify="left")
    for name in ("provider", "accounts", "attack", "indicators out / in", "recall before", "recall after",
                 "hunt linked attack / legit", "weak only attack / legit", "legit flagged before / after"):
        table.add_column(name, justify="left" if name == "provider" else "right")
    for f in figures:
        table.add_row(f.provider, f"{f.accounts:,}", f"{f.attack_accounts:,}",
                      f"{f.exported_indicators:,} / {f.imported_indicators:,}", f"{f.recall_before:.1%}",
                      f"{f.recall_after:.1%}", f"{f.hunt_linked_attack:,} / {f.hunt_linked_legit:,}",
                      f"{f.hunt_weak_attack:,} / {f.hunt_weak_legit:,}",
                      f"{f.legit_flagged_before:,} / {f.legit_flagged_after:,}")
    console.print(table)
    campaigns = Table(title="per campaign (both providers)", title_justify="left")
    for name in ("campaign", "accounts A / B", "recall before", "recall after", "found only via partner"):
        campaigns.add_column(name, justify="left" if name == "campaign" else "right")
    per_campaign: dict[str, list[str]] = {}
    for a in attack_all:
        per_campaign.setdefault(str(labels[a]["campaign"]), []).append(a)
    rows = []
    for cid, members in sorted(per_campaign.items()):
        n_a = sum(provider_of(a, args.seed) == "A" for a in members)
        rb = len(flagged_before & set(members)) / len(members)
        ra = len(flagged_after & set(members)) / len(members)
        campaigns.add_row(cid, f"{n_a} / {len(members) - n_a}", f"{rb:.1%}", f"{ra:.1%}",
                          f"{len(only_partner & set(members)):,}")
        rows.append({"campaign": cid, "accounts": len(members), "accounts_a": n_a, "recall_before": rb,
                     "recall_after": ra, "found_only_via_partner": len(only_partner & set(members))})
    console.print(campaigns)
    seen = [a for members in per_campaign.values() if flagged_before & set(members) for a in members]
    console.print(f"operators' accounts: {len(attack_all):,}; found only through the partner's indicators: "
                  f"{len(only_partner):,} ({len(only_partner) / max(len(attack_all), 1):.1%}; "
                  f"{len(only_partner & set(seen)) / max(len(seen), 1):.1%} of the {len(seen):,} in campaigns a provider "
                  "flagged); "
                  f"legitimate accounts linked by the hunts: {len(legit_matched):,}"
                  + (f" ({', '.join(legit_matched[:10])})" if legit_matched else "")
                  + f"; matched by one weak family only (reported, not linked): {len(legit_weak):,}"
                  + f"; {time.perf_counter() - started:,.0f} s")
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "providers": [asdict(f) for f in figures],
               "campaigns": rows, "operator_accounts": len(attack_all), "found_only_via_partner": len(only_partner),
               "accounts_in_flagged_campaigns": len(seen),
               "legit_matched": legit_matched, "legit_weak_only": legit_weak}
    (args.work / "intel_exchange.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
