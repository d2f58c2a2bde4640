"""A real export (``intel export`` of the analysed smoke scenario) through the TAXII server: pushed, pulled
back identical, and pushed again without a new version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from export_checks import LABS
from taxii_servers import PARTNER_ENV, PASSWORDS, ROOT, SHARED, serving_taxii, write_taxii_config

from distillguard.intel.exporter import export_intel
from distillguard.intel.exports import ExportOptions
from distillguard.intel.taxii_client import TaxiiTarget, pull, push, read_objects
from distillguard.store import Store


def test_an_exported_campaign_bundle_travels_through_taxii_unchanged(smoke_store: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARTNER_ENV, PASSWORDS["partner"])
    db = tmp_path / "analysed.duckdb"
    shutil.copy(smoke_store, db)
    with Store(db) as store:
        export_intel(store, ExportOptions(LABS, tlp="green"), fmt="stix", out=tmp_path / "bundle.json")
    objects = read_objects(tmp_path / "bundle.json")
    assert len(objects) > 10
    with serving_taxii(write_taxii_config(tmp_path, page_size=7), tmp_path / "taxii.duckdb") as url:
        publisher = TaxiiTarget(f"{url}{ROOT}/", SHARED, "publisher", PASSWORDS["publisher"])
        first = push(publisher, objects)
        again = push(publisher, objects)
        pulled = pull(TaxiiTarget(f"{url}{ROOT}/", SHARED, "partner", PASSWORDS["partner"]))
    assert (first.successes, first.failures) == (len(objects), [])
    assert (again.successes, again.failures) == (len(objects), [])  # stable ids and versions: held already
    assert pulled == objects  # byte for byte the export, which the export tests validate
