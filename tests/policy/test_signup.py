"""Signup verification tiers: rules, requests, every signal, history bounds and the store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
import yaml
from factories import account, accounts

from distillguard.core.errors import ConfigError, RecordError
from distillguard.core.schema import VERIFICATIONS
from distillguard.policy.signup import (
    PHONE_OR_STRONGER,
    TIERS,
    FlaggedPatterns,
    SignupAssessment,
    SignupAssessor,
    SignupHistory,
    SignupRequest,
    load_signup_assessor,
    load_signup_rules,
    local_shape,
    trigrams,
)
from distillguard.store import Store

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


# --- rules ----------------------------------------------------------------------------------


def test_shipped_rules_load_and_state_a_friction_budget() -> None:
    rules = load_signup_rules()
    assert 0 < rules.friction_budget.max_legit_share_phone_or_stronger < 0.5
    assert rules.tiers.phone < rules.tiers.id_document
    assert TIERS == VERIFICATIONS[1:] and PHONE_OR_STRONGER == {"phone", "id_document", "business"}


def _shipped() -> dict:
    return yaml.safe_load((Path(__file__).resolve().parents[2] / "src/distillguard/policy/signup.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("tiers", "phone"), 0.9, "phone < id_document"),
        (("tiers", "id_document"), 1.5, "less than or equal to 1"),
        (("signals", "category"), {"pirates": 0.5}, "unknown categories"),
        (("signals", "category"), {"education": 2.0}, "within 0..1"),
        (("business_categories",), ["guild"], "business_categories"),
        (("signals", "bursts", "subnet", "min_others"), 0, "signals.bursts.subnet.min_others"),
        (("signals", "surprise"), 1, "signals.surprise"),
        (("history", "max_signups"), 0, "history.max_signups"),
    ],
)
def test_invalid_rules_fail_at_load(tmp_path: Path, path: tuple[str, ...], value: object, message: str) -> None:
    data = _shipped()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    target = tmp_path / "signup.yaml"
    target.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message) as info:
        load_signup_rules(target)
    assert str(target) in str(info.value)


def test_unreadable_rules_fail_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_signup_rules(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tiers: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_signup_rules(broken)


# --- requests -------------------------------------------------------------------------------


def test_from_mapping_normalises_fields() -> None:
    request = SignupRequest.from_mapping(
        {"category": " Research ", "email_local": "Li.Na1990", "email_domain": "Example.ORG",
         "signup_ip": "2001:DB8:0:0::1", "created_at": "2026-03-02T13:00:00+01:00", "payment_fingerprint": "pf_1"},
        "test",
    )
    assert request.category == "research"
    assert request.email == "Li.Na1990@example.org"
    assert (request.email_local, request.email_domain) == ("Li.Na1990", "example.org")
    assert request.signup_ip == "2001:db8::1"
    assert request.created_at == T0
    assert request.payment_fingerprint == "pf_1" and request.country is None


def test_created_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    request = SignupRequest.from_mapping({"category": "individual", "email": "a@example.org", "signup_ip": HOME_IP}, "t")
    assert before <= request.created_at <= datetime.now(UTC)
    assert request.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signup_ip": "300.1.2.3"}, "signup_ip"),
        ({"signup_ip": 42}, "signup_ip"),
        ({"signup_ip": None}, "signup_ip"),
        ({"category": "guild"}, "category"),
        ({"category": None}, "category"),
        ({"email": "no-at-sign.example.org"}, "email"),
        ({"email": "someone@localhost"}, "email"),
        ({"email": "two words@example.org"}, "email"),
        ({"email": None}, "email"),
        ({"email": None, "email_local": "a", "email_domain": "bad_domain"}, "email_domain"),
        ({"email": None, "email_local": "a b", "email_domain": "example.org"}, "email_local"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "2026-03-02T12:00:00"}, "created_at"),
        ({"created_at": "1990-01-01T00:00:00Z"}, "created_at"),
        ({"payment_fingerprint": 7}, "payment_fingerprint"),
    ],
)
def test_from_mapping_names_the_bad_field(change: dict, field: str) -> None:
    data = {"category": "individual", "email": "a@example.org", "signup_ip": HOME_IP} | change
    with pytest.raises(RecordError) as info:
        SignupRequest.from_mapping({k: v for k, v in data.items() if v is not None}, "signups.jsonl:7")
    assert info.value.field == field
    assert "signups.jsonl:7" in str(info.value)


def test_constructor_validates_too() -> None:
    with pytest.raises(RecordError, match="signup_ip"):
        _request(ip="not-an-ip")
    with pytest.raises(RecordError, match="created_at"):
        SignupRequest("individual", "a@example.org", HOME_IP, created_at=datetime(2026, 3, 2))


# --- shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "shape"),
    [("zhang.wei1987", "a.a9999"), ("li.na1990", "a.a9999"), ("user19777", "a99999"), ("pierre.pham", "a.a"),
     ("j_doe-42", "a_a-99"), ("Ωμέγα7", "a9")],
)
def test_local_shape(local: str, shape: str) -> None:
    assert local_shape(local) == shape


def test_trigram_similarity_orders_lookalikes() -> None:
    patterns = FlaggedPatterns([("zhangwei.dev01", 1000)])
    close = patterns.nearest("zhangwei.dev02", 2000)
    far = patterns.nearest("maria.lopez", 2000)
    assert 0.5 < close < 1.0 and far < 0.2
    assert patterns.nearest("zhangwei.dev01", 2000) == 1.0
    assert patterns.nearest("zhangwei.dev02", 999) == 0.0  # flagged only later
    assert "^zh" in trigrams("Zhang") and "ng$" in trigrams("Zhang")


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


def test_subnet_burst_needs_many_signups_in_the_window(assessor: SignupAssessor) -> None:
    spread = [assessor.assess(_request(email=f"s{i}@a{i}.org", ip=f"81.2.69.{10 + i}", at=T0 + timedelta(hours=3 * i)))
              for i in range(6)]
    assert not any("signup.burst.subnet" in _detectors(r) for r in spread)
    burst = [assessor.assess(_request(email=f"b{i}@b{i}.org", ip=f"81.2.70.{10 + i}", at=T0 + timedelta(minutes=2 * i)))
             for i in range(6)]
    flagged = ["signup.burst.subnet" in _detectors(r) for r in burst]
    assert flagged == [False, False, False, True, True, True]
    scores = [e.score for r in burst for e in r.evidence if e.detector == "signup.burst.subnet"]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_domain_burst_is_relative_to_the_domains_usual_rate(assessor: SignupAssessor) -> None:
    for i in range(24 * 10):  # a busy provider: one signup every hour for ten days
        assessor.assess(_request(email=f"user{i}@busymail.example", at=T0 + timedelta(hours=i)))
    later = T0 + timedelta(days=10, hours=1)
    busy = [assessor.assess(_request(email=f"x{i}@busymail.example", at=later + timedelta(minutes=5 * i)))
            for i in range(5)]
    rare = [assessor.assess(_request(email=f"x{i}@tiny-school.example", at=later + timedelta(minutes=5 * i)))
            for i in range(5)]
    assert not any("signup.burst.email_domain" in _detectors(r) for r in busy)
    assert ["signup.burst.email_domain" in _detectors(r) for r in rare] == [False, False, False, True, True]


def test_card_burst(assessor: SignupAssessor) -> None:
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
        db.con.execute("INSERT INTO runs VALUES ('old', 'analyze', ?, ?, [], '{}')", [T0 - timedelta(days=9), T0 - timedelta(days=9)])
        db.con.execute("INSERT INTO runs VALUES ('new', 'analyze', ?, ?, [], '{}')", [T0 - timedelta(days=1), T0 - timedelta(days=1)])
        decisions = [{"run_id": "new", "account_id": f"bad-{i}", "risk": 0.9, "action": "block", "flagged": True,
                      "campaign_id": "c1", "flagged_at": T0 - timedelta(days=2), "reasons": ["x"]}
                     for i in range(len(FLAGGED_LOCALS))]
        decisions += [{"run_id": "new", "account_id": f"ok-{i}", "risk": 0.1, "action": "allow", "flagged": False,
                       "campaign_id": None, "flagged_at": None, "reasons": []} for i in range(len(LEGIT_LOCALS))]
        decisions += [{"run_id": "old", "account_id": f"ok-{i}", "risk": 0.9, "action": "block", "flagged": True,
                       "campaign_id": None, "flagged_at": T0 - timedelta(days=9), "reasons": []} for i in range(len(LEGIT_LOCALS))]
        db.append("decisions", pa.Table.from_pylist(decisions, schema=DECISION_SCHEMA))
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
    assert "a.a9999" in " ".join(lookalike.reasons)
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
    data = _shipped()
    data["history"] = {"max_signups": 4, "max_flagged": 2}
    rules = tmp_path / "small.yaml"
    rules.write_text(yaml.safe_dump(data))
    assessor = load_signup_assessor(store, None, rules)
    assert (len(assessor.history), len(assessor.flagged)) == (4, 2)
