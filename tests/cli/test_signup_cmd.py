"""``distillguard signup assess`` over real files and a real DuckDB store."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.core.ids import HASH_KEY_ENV, keyed_hash
from distillguard.store import Store
from factories import account, accounts

KEY_HEX = "5e" * 32
runner = CliRunner()
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _run(*args: str, key: bool = True) -> tuple[int, str]:
    env = {HASH_KEY_ENV: KEY_HEX} if key else {HASH_KEY_ENV: ""}
    result = runner.invoke(app, ["signup", "assess", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _signups() -> list[dict]:
    """Five signups out of time order: two farm accounts on one card, three ordinary ones."""
    rows = [
        {"account_id": "acct-farm-2", "category": "education", "email": "olga.k77@mailinator.com",
         "signup_ip": "81.2.69.161", "payment_fingerprint": "pf_farm", "created_at": (T0 + timedelta(minutes=3)).isoformat()},
        {"account_id": "acct-home", "category": "individual", "email": "maria.lopez@example.org",
         "signup_ip": "81.2.69.10", "payment_fingerprint": "pf_home", "created_at": T0.isoformat()},
        {"account_id": "acct-farm-1", "category": "startup", "email": "ivan.p12@example.net",
         "signup_ip": "81.2.69.160", "payment_fingerprint": "pf_farm", "created_at": (T0 + timedelta(minutes=1)).isoformat()},
        {"account_id": "acct-uni", "category": "education", "email_local": "j.smith", "email_domain": "Uni.example.EDU",
         "signup_ip": "2001:db8::5", "created_at": (T0 - timedelta(days=1)).isoformat()},
        {"account_id": "acct-corp", "category": "enterprise", "email": "ops@corp.example",
         "signup_ip": "81.2.69.20", "payment_fingerprint": "pf_corp", "created_at": (T0 + timedelta(hours=2)).isoformat()},
    ]
    return rows


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_signup_from_options_prints_its_evidence(tmp_path: Path) -> None:
    code, output = _run("--category", "research", "--email", "x@mailinator.com", "--ip", "81.2.69.160",
                        "--created-at", "2026-03-02T12:00:00Z", "--out", str(tmp_path / "one.jsonl"), key=False)
    assert code == 0, output
    assert "phone verification" in output and "signup.disposable_email" in output
    (row,) = _lines(tmp_path / "one.jsonl")
    assert row["tier"] == "phone" and row["where"] == "command line" and "account" not in row


def test_one_signup_needs_the_three_options() -> None:
    code, output = _run("--category", "research", "--email", "x@example.org")
    assert code != 0 and "--ip" in output


@pytest.mark.parametrize(
    ("args", "field"),
    [(("--ip", "1.2.3.999", "--email", "a@example.org", "--category", "individual"), "signup_ip"),
     (("--ip", "1.2.3.4", "--email", "a@example.org", "--category", "pirate"), "category"),
     (("--ip", "1.2.3.4", "--email", "a@example.org", "--category", "individual", "--created-at", "soon"), "created_at")],
)
def test_bad_option_names_the_field(args: tuple[str, ...], field: str) -> None:
    code, output = _run(*args)
    assert code == 2 and field in output and "command line" in output


def test_file_is_assessed_in_time_order_with_hashed_ids(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "signups.jsonl", _signups())
    out = tmp_path / "tiers.jsonl"
    code, output = _run(str(source), "--out", str(out))
    assert code == 0, output
    assert "signup tiers of 5 signups" in output
    rows = _lines(out)
    key = bytes.fromhex(KEY_HEX)
    order = ["acct-uni", "acct-home", "acct-farm-1", "acct-farm-2", "acct-corp"]
    assert [r["account"] for r in rows] == [keyed_hash(a, key) for a in order]
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    text = out.read_text()
    for raw in ("acct-", "81.2.69", "2001:db8", "maria.lopez", "olga.k77"):
        assert raw not in text
    by_account = dict(zip(order, rows, strict=True))
    assert by_account["acct-home"]["tier"] == "email"
    farm = by_account["acct-farm-2"]
    assert farm["tier"] in ("phone", "id_document")
    assert any("already used by 1 earlier account" in r for r in farm["reasons"])
    assert not any("already used" in r for r in by_account["acct-farm-1"]["reasons"])  # the later one is not history
    assert by_account["acct-uni"]["email_domain"] == "uni.example.edu"
    assert source.name in by_account["acct-uni"]["where"]


def test_csv_file(tmp_path: Path) -> None:
    source = tmp_path / "signups.csv"
    fields = ["account_id", "category", "email", "email_local", "email_domain", "signup_ip", "payment_fingerprint", "created_at"]
    with source.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(_signups())
    out = tmp_path / "tiers.jsonl"
    code, output = _run(str(source), "--out", str(out))
    assert code == 0, output
    assert len(_lines(out)) == 5


def test_account_ids_need_the_hash_key(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "signups.jsonl", _signups())
    code, output = _run(str(source), "--out", str(tmp_path / "t.jsonl"), key=False)
    assert code == 2 and HASH_KEY_ENV in output
    assert not (tmp_path / "t.jsonl").exists()


@pytest.mark.parametrize(
    ("line", "field"),
    [('{"category": "education", "email": "a@example.org", "signup_ip": "nope"}', "signup_ip"),
     ('{"category": "education", "email": "a@example.org", "signup_ip": "1.2.3.4", "created_at": "x"}', "created_at"),
     ("{not json", "not valid JSON")],
)
def test_bad_record_names_file_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    source = tmp_path / "signups.jsonl"
    source.write_text(json.dumps(_signups()[1]) + "\n\n" + line + "\n")
    code, output = _run(str(source), "--out", str(tmp_path / "t.jsonl"))
    assert code == 2
    assert f"{source}:3" in output.replace("\n", "") and field in output


def test_labels_give_the_share_asked_for_phone_or_stronger(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "signups.jsonl", _signups())
    labels = _jsonl(tmp_path / "labels.jsonl", [
        {"account_id": a, "label": "attack" if "farm" in a else "legit", "population": "campaign" if "farm" in a else "people"}
        for a in ("acct-farm-1", "acct-farm-2", "acct-home", "acct-uni", "acct-corp")
    ])
    code, output = _run(str(source), "--labels", str(labels), "--out", str(tmp_path / "t.jsonl"))
    assert code == 0, output
    assert "asked for phone or stronger" in output
    people = next(line for line in output.splitlines() if "legit/people" in line)
    assert "3 " in people and "0.0%" in people and "within" in people
    assert "budget for legitimate signups: 5.0%" in output.replace("\n", "")


def test_labels_check_legitimate_populations_against_the_friction_budget(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "signups.jsonl", _signups())
    labels = _jsonl(tmp_path / "labels.jsonl", [
        {"account_id": a, "label": "legit", "population": "farm" if "farm" in a else "people"}
        for a in ("acct-farm-1", "acct-farm-2", "acct-home", "acct-uni", "acct-corp")
    ])
    code, output = _run(str(source), "--labels", str(labels), "--out", str(tmp_path / "t.jsonl"))
    assert code == 0, output
    farm = next(line for line in output.splitlines() if "legit/farm" in line)
    assert "over" in farm  # the farm's signups, were they legitimate, would cost more friction than budgeted
    assert "over" in next(line for line in output.splitlines() if "legit/all" in line)


def test_store_accounts_count_as_earlier_signups(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with Store(db) as store:
        store.upsert_accounts(accounts([
            account(f"old-{i}", created_at=T0 - timedelta(days=5 + i), email_local=f"w{i}", email_domain=f"d{i}.example",
                    payment_fingerprint="pf_farm", signup_ip=f"81.2.70.{i}")
            for i in range(6)
        ]))
    source = _jsonl(tmp_path / "signups.jsonl", _signups()[2:3])
    out = tmp_path / "tiers.jsonl"
    code, output = _run(str(source), "--db", str(db), "--out", str(out))
    assert code == 0, output
    (row,) = _lines(out)
    assert any("already used by 6 earlier accounts" in r for r in row["reasons"])
    assert row["tier"] in ("phone", "id_document")


def test_missing_store_is_an_error(tmp_path: Path) -> None:
    code, output = _run("--category", "individual", "--email", "a@example.org", "--ip", "1.2.3.4",
                        "--db", str(tmp_path / "none.duckdb"))
    assert code == 2 and "store not found" in output
    assert not (tmp_path / "none.duckdb").exists()
