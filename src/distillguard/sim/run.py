"""``simulate``: run a scenario hour by hour and write exchanges, accounts, labels and truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.table import Table

from distillguard.core.errors import ConfigError
from distillguard.sim.campaigns import CampaignGroup
from distillguard.sim.corpus import load_corpus
from distillguard.sim.group import Group
from distillguard.sim.identity import Account, iso_ms
from distillguard.sim.network import AddressSpace, load_intel
from distillguard.sim.operators import Operators
from distillguard.sim.populations.registry import POPULATIONS
from distillguard.sim.scenario import Scenario, dump_scenario
from distillguard.sim.schedule import HOUR_MS
from distillguard.sim.world import World
from distillguard.sim.writer import ExchangeWriter, exchanges_path


@dataclass(slots=True)
class SimSummary:
    """What a run produced (the CLI prints it as a table)."""

    scenario: str
    seed: int
    out_dir: Path
    fmt: str
    expected_exchanges: int
    exchanges: int = 0
    accounts: int = 0
    exchanges_by_population: dict[str, int] = field(default_factory=dict)
    accounts_by_population: dict[str, int] = field(default_factory=dict)
    exchanges_by_campaign: dict[str, int] = field(default_factory=dict)
    accounts_by_campaign: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    bytes_written: int = 0

    @property
    def exchanges_per_s(self) -> float:
        """Generation speed."""
        return self.exchanges / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def table(self) -> Table:
        """The summary as a rich table: totals, then one row per population and campaign."""
        t = Table(title=f"simulated {self.scenario} (seed {self.seed}) -> {self.out_dir}", show_lines=False)
        t.add_column("group")
        t.add_column("label")
        t.add_column("accounts", justify="right")
        t.add_column("exchanges", justify="right")
        for name, n in self.exchanges_by_population.items():
            t.add_row(name, "legit", f"{self.accounts_by_population[name]:,}", f"{n:,}")
        for name, n in self.exchanges_by_campaign.items():
            t.add_row(name, "attack", f"{self.accounts_by_campaign[name]:,}", f"{n:,}")
        t.add_section()
        t.add_row("total", "", f"{self.accounts:,}", f"{self.exchanges:,} (target {self.expected_exchanges:,})")
        t.add_row(
            f"{self.fmt}, {self.bytes_written / 1e6:,.1f} MB",
            "",
            f"{self.elapsed_s:,.1f} s",
            f"{self.exchanges_per_s:,.0f} exchanges/s",
        )
        return t


def _intel_dir(corpus_dir: Path | None, intel_dir: Path | None) -> Path | None:
    if intel_dir is not None:
        return Path(intel_dir)
    if corpus_dir is not None and (Path(corpus_dir).parent / "intel").is_dir():
        return Path(corpus_dir).parent / "intel"
    return None


def build_groups(scenario: Scenario, world: World, sink: ExchangeWriter) -> list[Group]:
    """One generator per population and campaign, each with its own seeded streams."""
    groups: list[Group] = [POPULATIONS[p.kind](p, world, scenario.seed, sink) for p in scenario.populations]
    operators = Operators(world, scenario.seed)
    groups += [CampaignGroup(c, world, scenario.seed, sink, operators) for c in scenario.campaigns]
    return groups


def simulate(
    scenario: Scenario,
    out_dir: Path,
    corpus_dir: Path | None,
    *,
    seed: int | None = None,
    fmt: str = "jsonl",
    intel_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimSummary:
    """Generate ``scenario`` into ``out_dir``.

    ``corpus_dir`` holds the prompt corpora (``None``: a small built-in
    procedural corpus); ``intel_dir`` the IP lists (default: ``corpus_dir/../intel``
    when present, else built-in samples). ``seed`` overrides the scenario's.
    Writes ``exchanges.<fmt>`` (``jsonl``, ``jsonl.gz`` or ``parquet``), sorted by
    time, plus ``accounts.jsonl`` (unless the scenario's ``log`` has no account records),
    ``labels.jsonl``, ``truth.json`` and ``scenario.yaml``, leaving out the fields the
    scenario's ``log`` lacks. ``progress(n)`` is called with each batch of exchanges written.
    """
    t_start = time.perf_counter()
    if seed is not None:
        if seed < 0:
            raise ConfigError("seed: must be >= 0")
        scenario = scenario.model_copy(update={"seed": seed})
    out_dir = Path(out_dir)
    path = exchanges_path(out_dir, fmt)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(corpus_dir)
    net = AddressSpace(load_intel(_intel_dir(corpus_dir, intel_dir)))
    world = World.build(scenario, corpus, net)
    writer = ExchangeWriter(path, fmt, log=scenario.log)
    try:
        groups = build_groups(scenario, world, writer)
        for hour in range(world.hours):
            for g in groups:
                g.run_hour(hour)
            n = writer.flush_until(min(world.end_ms, world.start_ms + (hour + 1) * HOUR_MS))
            if progress is not None and n:
                progress(n)
        n = writer.flush_until(None)
        if progress is not None and n:
            progress(n)
    finally:
        size = writer.close()
    summary = SimSummary(scenario.name, scenario.seed, out_dir, fmt, scenario.expected_exchanges)
    summary.bytes_written = size + _write_sidecars(scenario, groups, out_dir)
    for g in groups:
        active = [a for a in g.accounts if a.n_exchanges]
        by_ex = summary.exchanges_by_campaign if g.campaign else summary.exchanges_by_population
        by_ac = summary.accounts_by_campaign if g.campaign else summary.accounts_by_population
        by_ex[g.name] = g.emitter.count
        by_ac[g.name] = len(active)
        summary.exchanges += g.emitter.count
        summary.accounts += len(active)
    summary.elapsed_s = time.perf_counter() - t_start
    return summary


def _write_sidecars(scenario: Scenario, groups: list[Group], out_dir: Path) -> int:
    accounts = sorted(
        (a for g in groups for a in g.accounts if a.n_exchanges), key=lambda a: (a.created_ms, a.id)
    )
    acc_lines = b"".join(orjson.dumps(a.record()) + b"\n" for a in accounts)
    families = {p.label: p.family for p in scenario.populations} | {c.id: c.family for c in scenario.campaigns}
    label_lines = b"".join(orjson.dumps(_label(a, families.get(a.group))) + b"\n" for a in accounts)
    truth = orjson.dumps(_truth(scenario, groups), option=orjson.OPT_INDENT_2)
    yaml_text = dump_scenario(scenario).encode()
    files = [("labels.jsonl", label_lines), ("truth.json", truth), ("scenario.yaml", yaml_text)]
    if scenario.log.accounts:
        files.insert(0, ("accounts.jsonl", acc_lines))
    else:
        (out_dir / "accounts.jsonl").unlink(missing_ok=True)  # the logs have no account records
    for name, data in files:
        (out_dir / name).write_bytes(data)
    return sum(len(data) for _, data in files)


def _label(acct: Account, family: str | None) -> dict[str, object]:
    """The ``labels.jsonl`` line; ``family`` only for groups drawn from a family."""
    label: dict[str, object] = {
        "account_id": acct.id,
        "label": acct.label,
        "population": "campaign" if acct.campaign else acct.group,
        "campaign": acct.campaign,
        "n_exchanges": acct.n_exchanges,
    }
    if family is not None:
        label["family"] = family
    return label


def _truth(scenario: Scenario, groups: list[Group]) -> dict:
    campaigns = []
    for g in groups:
        if not isinstance(g, CampaignGroup):
            continue
        c = g.spec
        em = g.emitter
        campaigns.append(
            ({"family": c.family} if c.family else {}) | {
                "id": c.id,
                "operator": c.operator,
                "n_accounts": sum(1 for a in g.accounts if a.n_exchanges),
                "n_exchanges": em.count,
                "first_ts": iso_ms(em.first_ts) if em.count else None,
                "last_ts": iso_ms(em.last_ts) if em.count else None,
                "capability_focus": c.focus,
                "elicitation": c.elicitation,
                "languages": c.languages if c.elicitation.get("non_english") else None,
                "timing": c.timing,
                "proxy": c.proxy.kind,
                "proxy_rotation": c.proxy.rotation,
                "api_format": c.api_format,
                "client_family": g.client_family,
                "blend_legit": c.blend_legit,
                "model": c.model,
                "pivot_model": c.pivot.model if c.pivot else None,
                "pivot_ts": iso_ms(g.pivot_ts) if g.pivot_ts is not None else None,
                "evasions": list(c.evasions),
            }
        )
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "start": iso_ms(scenario.start_ms()),
        "end": iso_ms(scenario.end_ms()),
        "populations": {
            g.name: {"kind": g.spec.kind, "n_accounts": sum(1 for a in g.accounts if a.n_exchanges),  # type: ignore[attr-defined]
                     "n_exchanges": g.emitter.count}
            for g in groups
            if not isinstance(g, CampaignGroup)
        },
        "campaigns": campaigns,
    }
