"""The signup assessor: every signal, the tiers they lead to, history bounds and the store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
import yaml

from distillguard.policy.signup import (
    PHONE_OR_STRONGER,
    SignupAssessment,
    SignupAssessor,
    load_signup_assessor,
)
from distillguard.policy.signup_history import SignupHistory
from distillguard.policy.signup_request import SignupRequest
from distillguard.policy.signup_rules import load_signup_rules
from distillguard.store import Store
from factories import account, accounts

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
HOME_IP = "81.2.69.160"  # residential in the bundled ranges and in no test list


@pytest.fixture(scope="module")
def intel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("intel")
    (root / "datacenter-ipv4.txt").write_text("198.51.100.0/24\n")
    (root / "vpn-ipv4.txt").write_text("192.0.2.0/24\n")
    (root / "tor-exit-nodes.txt").write_text("203.0.113.9\n")
    return root


@pytest.fixture
def assessor(intel_dir: Path) -> SignupAssessor:
    return load_signup_assessor(None, intel_dir, None)


def _request(email: str = "maria.lopez@example.org", category: str = "individual", ip: str = HOME_IP,
             at: datetime = T0, payment: str | None = None) -> SignupRequest:
    return SignupRequest(category=category, email=email, signup_ip=ip, payment_fingerprint=payment, created_at=at)


def _detectors(assessment: SignupAssessment) -> set[str]:
    return {e.detector for e in assessment.evidence}


# --- signals --------------------------------------------------------------------------------


def test_plain_signup_needs_email_only(assessor: SignupAssessor) -> None:
    result = assessor.assess(_request())
    assert (result.tier, result.score, result.evidence) == ("email", 0.0, ())


@pytest.mark.parametrize("category", ["education", "research", "startup"])
def test_cover_category_is_evidence_but_not_enough_alone(assessor: SignupAssessor, category: str) -> None:
    result = assessor.assess(_request(category=category))
    assert _detectors(result) == {"signup.category"}
    assert result.tier == "email"
    assert category in result.reasons[0]


@pytest.mark.parametrize("domain", ["mailinator.com", "eu.mailinator.com", "MAILINATOR.com"])
def test_disposable_domain_needs_phone(assessor: SignupAssessor, domain: str) -> None:
    result = assessor.assess(_request(email=f"someone@{domain}"))
    assert _detectors(result) == {"signup.disposable_email"}
    assert result.tier == "phone"
    assert "mailinator.com" in result.reasons[0]


@pytest.mark.parametrize(
    ("ip", "words", "tier"),
    [("198.51.100.20", "datacenter", "email"), ("192.0.2.5", "VPN", "email"), ("203.0.113.9", "Tor", "phone")],
)
def test_signup_address_origin(assessor: SignupAssessor, ip: str, words: str, tier: str) -> None:
    result = assessor.assess(_request(ip=ip))
    assert _detectors(result) == {"signup.ip_origin"}
    assert words in result.reasons[0]
    assert result.tier == tier


def test_cover_category_with_a_datacenter_address_needs_phone(assessor: SignupAssessor) -> None:
    assert assessor.assess(_request(category="startup", ip="198.51.100.20")).tier == "phone"


def test_strong_signals_together_need_id_document(assessor: SignupAssessor) -> None:
    result = assessor.assess(_request(email="x@mailinator.com", category="education", ip="203.0.113.9"))
    assert result.tier == "id_document"
    assert [e.score for e in result.evidence] == sorted((e.score for e in result.evidence), reverse=True)


def test_risky_enterprise_goes_to_business_verification(assessor: SignupAssessor) -> None:
    assert assessor.assess(_request(category="enterprise", email="ops@mailinator.com", ip="203.0.113.9")).tier == "business"
    assert assessor.assess(_request(category="enterprise", email="ops@example.org")).tier == "email"


def test_payment_reuse_grows_with_earlier_accounts_only(assessor: SignupAssessor) -> None:
    scores = []
    for i in range(6):
        result = assessor.assess(_request(email=f"p{i}@site{i}.org", payment="pf_shared", at=T0 + timedelta(days=i)))
        scores.append(next((e.score for e in result.evidence if e.detector == "signup.payment_reuse"), 0.0))
    assert scores[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(scores))
    earlier = assessor.assess(_request(email="first@elsewhere.org", payment="pf_shared", at=T0 - timedelta(days=1)))
    assert "signup.payment_reuse" not in _detectors(earlier)  # later signups are not history for an earlier one
    again = assessor.assess(_request(email="p5@site5.org", payment="pf_shared", at=T0 + timedelta(days=9)))
    assert "6 earlier accounts" in next(e.reason for e in again.evidence if e.detector == "signup.payment_reuse")


def test_an_organisations_card_counts_less_and_asks_for_business(assessor: SignupAssessor) -> None:
    for i in range(8):
        assessor.assess(_request(email=f"dev{i}@acme-labs.io", payment="pf_acme", at=T0 + timedelta(days=i)))
        assessor.assess(_request(email=f"m{i}@webmail.example", payment="pf_shared", at=T0 + timedelta(days=i)))
    for i in range(30):  # a webmail provider: many accounts, many cards
        assessor.assess(_request(email=f"u{i}@webmail.example", payment=f"pf_{i}", at=T0 + timedelta(hours=i)))
    colleague = assessor.assess(_request(email="new@acme-labs.io", category="startup", payment="pf_acme",
                                         at=T0 + timedelta(days=20)))
    stranger = assessor.assess(_request(email="new@webmail.example", category="startup", payment="pf_shared",
                                        at=T0 + timedelta(days=20)))
    card = {r: next(e for e in r.evidence if e.detector == "signup.payment_reuse") for r in (colleague, stranger)}
    assert "organisation" in card[colleague].reason and "organisation" not in card[stranger].reason
    assert card[colleague].score < card[stranger].score
    assert colleague.tier == "business"
    assert stranger.tier in PHONE_OR_STRONGER - {"business"}


def test_card_burst_is_evidence(assessor: SignupAssessor) -> None:
    results = [assessor.assess(_request(email=f"c{i}@c{i}.org", payment="pf_farm", at=T0 + timedelta(minutes=i)))
               for i in range(4)]
    assert ["signup.burst.payment" in _detectors(r) for r in results] == [False, False, True, True]


def test_to_dict_is_json_ready_and_carries_no_address_or_local_part(assessor: SignupAssessor) -> None:
    result = assessor.assess(_request(email="zhang.wei1987@mailinator.com", category="research", ip="203.0.113.9"))
    record = result.to_dict()
    text = orjson.dumps(record).decode()
    assert "203.0.113" not in text and "zhang" not in text
    assert record["tier"] == result.tier and record["reasons"] == list(result.reasons)
    assert {e["detector"] for e in record["evidence"]} == _detectors(result)
    assert record["created_at"] == "2026-03-02T12:00:00Z"


# --- history bounds -------------------------------------------------------------------------


def test_history_is_bounded_and_forgets_the_oldest(intel_dir: Path) -> None:
    base = load_signup_assessor(None, intel_dir, None)
    small = SignupAssessor(base.rules, base.intel, SignupHistory(3), base.flagged)
    for i in range(10):
        small.assess(_request(email=f"h{i}@h.org", payment="pf_h", at=T0 + timedelta(days=i)))
    assert len(small.history) == 3
    result = small.assess(_request(email="last@h.org", payment="pf_h", at=T0 + timedelta(days=20)))
    assert "3 earlier accounts" in next(e.reason for e in result.evidence if e.detector == "signup.payment_reuse")
    assert sum(len(v) for v in small.history._index["payment"].values()) == 3


def test_the_same_signup_twice_counts_once() -> None:
    history = SignupHistory(10)
    assessor = load_signup_assessor(None, None, None)
    assessor.history = history
    for _ in range(3):
        assessor.assess(_request(email="same@x.org", payment="pf_s", at=T0))
    assert len(history) == 1


# --- the store ------------------------------------------------------------------------------

DECISION_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("account_id", pa.string()), ("risk", pa.float64()), ("action", pa.string()),
    ("flagged", pa.bool_()), ("campaign_id", pa.string()), ("flagged_at", pa.timestamp("ms", tz="UTC")),
    ("reasons", pa.list_(pa.string())),
])
FLAGGED_LOCALS = ["zhang.wei1987", "li.na1990", "wang.fang1985", "chen.jie1992", "liu.yang1988", "zhao.lei1991"]
LEGIT_LOCALS = [f"{first}{sep}{last}" for first in ("maria", "tom", "ravi", "eva", "k", "anna")
                for sep, last in ((".", "lopez"), ("_", "berg"), ("", "smith"), (".", "h"), ("-", "tanaka"), ("", ""))]


def _insert_decisions(store: Store, rows: list[dict]) -> None:
    """Decisions as a run leaves them (the columns this test needs; the others null)."""
    store.con.register("_test_decisions", pa.Table.from_pylist(rows, schema=DECISION_SCHEMA))
    try:
        store.con.execute("INSERT INTO decisions BY NAME SELECT * FROM _test_decisions")
    finally:
        store.con.unregister("_test_decisions")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "store.duckdb") as db:
        rows = [account(f"bad-{i}", email_local=local, email_domain="mail.example", created_at=T0 - timedelta(days=30 - i),
                        payment_fingerprint="pf_farm", signup_ip=f"81.2.71.{i}")
                for i, local in enumerate(FLAGGED_LOCALS)]
        rows += [account(f"ok-{i}", email_local=local, email_domain="mail.example", created_at=T0 - timedelta(days=40 - i),
                         payment_fingerprint=f"pf_ok{i}", signup_ip=f"81.2.72.{i}")
                 for i, local in enumerate(LEGIT_LOCALS)]
        db.upsert_accounts(accounts(rows))
        for run_id, days in (("old", 9), ("new", 1)):
            at = T0 - timedelta(days=days)
            db.con.execute("INSERT INTO runs VALUES (?, 'analyze', ?, ?, [], '{}')", [run_id, at, at])
        decisions = [{"run_id": "new", "account_id": f"bad-{i}", "risk": 0.9, "action": "block", "flagged": True,
                      "campaign_id": "c1", "flagged_at": T0 - timedelta(days=2), "reasons": ["x"]}
                     for i in range(len(FLAGGED_LOCALS))]
        decisions += [{"run_id": "new", "account_id": f"ok-{i}", "risk": 0.1, "action": "allow", "flagged": False,
                       "campaign_id": None, "flagged_at": None, "reasons": []} for i in range(len(LEGIT_LOCALS))]
        decisions += [{"run_id": "old", "account_id": f"ok-{i}", "risk": 0.9, "action": "block", "flagged": True,
                       "campaign_id": None, "flagged_at": T0 - timedelta(days=9), "reasons": []}
                      for i in range(len(LEGIT_LOCALS))]
        _insert_decisions(db, decisions)
        yield db


def test_store_accounts_are_history(store: Store, intel_dir: Path) -> None:
    assessor = load_signup_assessor(store, intel_dir, None)
    assert len(assessor.history) == len(FLAGGED_LOCALS) + len(LEGIT_LOCALS)
    result = assessor.assess(_request(email="fresh@new.example", payment="pf_farm"))
    assert f"{len(FLAGGED_LOCALS)} earlier accounts" in " ".join(result.reasons)
    assert result.tier in PHONE_OR_STRONGER


def test_email_shape_of_flagged_accounts_is_evidence(store: Store, intel_dir: Path) -> None:
    assessor = load_signup_assessor(store, intel_dir, None)
    assert len(assessor.flagged) == len(FLAGGED_LOCALS)  # the latest run only
    lookalike = assessor.assess(_request(email="sun.hao1993@other.example"))
    assert "signup.flagged_pattern.shape" in _detectors(lookalike)
    assert "'a.a9'" in " ".join(lookalike.reasons)
    plain = assessor.assess(_request(email="maria.garcia@other.example"))
    assert not {d for d in _detectors(plain) if d.startswith("signup.flagged_pattern")}


def test_near_copy_of_a_flagged_local_part_is_evidence(store: Store, intel_dir: Path) -> None:
    assessor = load_signup_assessor(store, intel_dir, None)
    result = assessor.assess(_request(email="zhang.wei1987x@other.example"))
    assert "signup.flagged_pattern.ngram" in _detectors(result)


def test_flags_raised_after_the_signup_are_not_used(store: Store, intel_dir: Path) -> None:
    assessor = load_signup_assessor(store, intel_dir, None)
    result = assessor.assess(_request(email="zhang.wei1987@other.example", at=T0 - timedelta(days=3)))
    assert not {d for d in _detectors(result) if d.startswith("signup.flagged_pattern")}


def test_history_from_the_store_is_capped(store: Store, tmp_path: Path) -> None:
    data = load_signup_rules().model_dump()
    data["history"] = {"max_signups": 4, "max_flagged": 2}
    rules = tmp_path / "small.yaml"
    rules.write_text(yaml.safe_dump(data))
    assessor = load_signup_assessor(store, None, rules)
    assert (len(assessor.history), len(assessor.flagged)) == (4, 2)
