"""Round trip: what intel export writes (STIX 2.1 and MISP), intel import reads whole and hunts with."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from export_world import T0, write_large_store
from hunt_world import COMMUNITY

from distillguard.intel.exporter import export_intel
from distillguard.intel.exports import ExportOptions
from distillguard.intel.hunt import import_and_hunt
from distillguard.intel.misp_import import read_misp
from distillguard.intel.stix_import import read_stix
from distillguard.store import Store
from distillguard.store.results import campaign_members

HUNT_AT = T0 + timedelta(days=2)


@pytest.mark.parametrize("fmt", ["stix", "misp"])
def test_an_export_is_read_whole_and_finds_the_campaign_members_only(tmp_path: Path, fmt: str) -> None:
    write_large_store(tmp_path / "s.duckdb", campaigns=2, members=12, outsiders=20)
    with Store(tmp_path / "s.duckdb") as store:
        members = set(campaign_members(store).column("account_id").to_pylist())
        all_accounts = set(store.query("SELECT account_id FROM accounts").column(0).to_pylist())
        export_intel(store, ExportOptions(COMMUNITY, producer="exporting-lab"), fmt=fmt, out=tmp_path / "out.json")
        data = (tmp_path / "out.json").read_bytes()
        read = read_stix if fmt == "stix" else read_misp
        parsed = read(data, "out.json", COMMUNITY.name, now=HUNT_AT)
        assert parsed.ignored == [] if fmt == "stix" else all("to_ids is false" in r for r in parsed.ignored)
        kinds = {i.kind for i in parsed.indicators}
        assert {"account", "email", "payment", "residential_ip", "client"} <= kinds
        report = import_and_hunt(store, parsed, COMMUNITY, "exporting-lab", now=HUNT_AT)
    linked = {a.account_id for a in report.accounts if a.linked}
    assert linked == members and len(members) == 24
    assert not {a.account_id for a in report.accounts} & (all_accounts - members)


def test_reexport_then_reimport_changes_nothing(tmp_path: Path) -> None:
    write_large_store(tmp_path / "s.duckdb", campaigns=1, members=8, outsiders=5)
    with Store(tmp_path / "s.duckdb") as store:
        options = ExportOptions(COMMUNITY, producer="exporting-lab")
        for n in (1, 2):
            export_intel(store, options, fmt="stix", out=tmp_path / f"out{n}.json")
            parsed = read_stix((tmp_path / f"out{n}.json").read_bytes(), "out.json", COMMUNITY.name, now=HUNT_AT)
            import_and_hunt(store, parsed, COMMUNITY, "exporting-lab", now=HUNT_AT)
            rows = store.query("SELECT stix_id, account_id FROM partner_indicators ORDER BY ALL").to_pylist()
            n_indicators = store.query("SELECT count(*) FROM intel_indicators").column(0)[0].as_py()
            if n == 1:
                first = (rows, n_indicators)
    assert (rows, n_indicators) == first  # deterministic ids: the second export updates in place
