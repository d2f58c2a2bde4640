"""Privacy at scale: ~10^5 STIX objects from a large generated store, scanned whole for raw personal values."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from export_checks import LABS, ip_intel, leaks, personal_values
from export_world import PROMPT_MARK, write_large_store

from distillguard.intel.exporter import export_intel
from distillguard.intel.exports import ExportOptions
from distillguard.store import Store


@pytest.mark.slow
def test_a_hundred_thousand_objects_hold_no_raw_personal_value(tmp_path: Path) -> None:
    db = tmp_path / "large.duckdb"
    campaigns = write_large_store(db)
    intel = ip_intel()
    out = tmp_path / "bundle.json"
    with Store(db) as store:
        started = time.perf_counter()
        result = export_intel(store, ExportOptions(LABS), fmt="stix", out=out, intel=intel)
        seconds = time.perf_counter() - started
        personal = personal_values(store, intel)
    text = out.read_text(encoding="utf-8")
    objects = orjson.loads(text)["objects"]
    print(f"{len(objects):,} objects, {len(text) / 1e6:.1f} MB in {seconds:.1f} s; "
          f"{Counter(o['type'] for o in objects).most_common()}")
    assert result.campaigns == campaigns and result.n_objects == len(objects) >= 100_000
    assert len(personal.accounts) > 6_000 and len(personal.residential_ips) > 10_000 and len(personal.emails) > 6_000
    assert leaks(text, personal, prompt_sample=200) == {}
    assert not re.search(PROMPT_MARK + r"\d{7}", text)
    kinds = Counter(o.get("x_distillguard_kind") for o in objects if o["type"] == "indicator")
    assert kinds["account"] == kinds["email"] == kinds["payment"] == 6_000
    assert kinds["residential_ip"] > 10_000 and kinds["email_domain"] > 0
