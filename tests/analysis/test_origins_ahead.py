"""Many new addresses: their origins are looked up in a worker process, a day ahead of the statistics' fold, and the
statistics and kept origins are those of lookups in this process."""

from __future__ import annotations

import importlib
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from distillguard.accounts import IpIntel, Origin
from distillguard.signals import compute_signals
from distillguard.store import Store
from factories import T0, exchange, exchanges

stats_module = importlib.import_module("distillguard.analysis.stats")


class _CountingIntel(IpIntel):
    """IP intelligence that counts the address lookups made in this process."""

    lookups = 0

    def _lookup(self, ip: str) -> Origin:
        type(self).lookups += 1
        return super()._lookup(ip)


def test_many_new_addresses_are_looked_up_in_a_worker_with_the_same_results(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    intel_dir = tmp_path / "intel"
    intel_dir.mkdir()
    (intel_dir / "datacenter-ipv4.txt").write_text("81.2.70.0/24\n", encoding="utf-8")
    rows = [exchange(k, ts=T0 + timedelta(minutes=9 * k), account_id=f"acct-{k % 4}", ip=f"81.2.{69 + k % 3}.{k % 50}")
            for k in range(480)]  # three days, 150 addresses, a third of them in a listed datacenter range
    with Store(tmp_path / "a.duckdb").open() as store:
        batch = exchanges(rows)
        store.ingest_batch(batch, compute_signals(batch))
    shutil.copy(tmp_path / "a.duckdb", tmp_path / "b.duckdb")
    got = {}
    for name, pooled in (("a", False), ("b", True)):
        monkeypatch.setattr(stats_module, "POOL_ADDRESSES", 1 if pooled else 10_000)
        _CountingIntel.lookups = 0
        intel = _CountingIntel.load(intel_dir)
        with Store(tmp_path / f"{name}.duckdb").open() as store:
            stats = stats_module.build_stats(store, intel, 100).get()
            origins = store.query("SELECT ip, origin FROM ip_origins ORDER BY ip").to_pylist()
        got[name] = (stats, origins, _CountingIntel.lookups)
    (stats_here, origins_here, lookups_here), (stats_pooled, origins_pooled, lookups_pooled) = got["a"], got["b"]
    assert lookups_here == 150 and lookups_pooled == 0
    assert stats_pooled.equals(stats_here)
    assert origins_pooled == origins_here and {o["origin"] for o in origins_here} == {int(Origin.DATACENTER),
                                                                                      int(Origin.RESIDENTIAL)}
