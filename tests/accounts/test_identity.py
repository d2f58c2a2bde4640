"""Client-identity consistency learned from the population's (user agent, TLS) co-occurrence."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from distillguard.accounts.identity import ESTABLISHED_DAYS, client_consistency, established_accounts, ua_family

PY_TLS, NODE_TLS, CHROME_TLS, FIREFOX_TLS = "t13d_py", "t13d_node", "t13d_chrome", "t13d_firefox"


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("anthropic-python/0.49.0", "anthropic-python"),
        ("OpenAI/Python 1.54.4", "openai"),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "chrome"),
        ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "safari"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "firefox"),
        ("Mozilla/5.0 ... Chrome/120.0 Safari/537.36 Edg/120.0", "edg"),
        ("  ", None),
        (None, None),
        ("42", "42"),
    ],
)
def test_ua_family(agent: str | None, family: str | None) -> None:
    assert ua_family(agent) == family


def _population(extra: list[tuple[str, str, str | None, int]]) -> pa.Table:
    """Genuine clients: 40 Python SDK users, 30 Node SDK users, 50 Chrome users, 20 Firefox users; plus ``extra``."""
    rows = [(f"py-{i}", "anthropic-python/0.49.0", PY_TLS, 5) for i in range(40)]
    rows += [(f"node-{i}", "anthropic-typescript/0.39.0", NODE_TLS, 5) for i in range(30)]
    rows += [(f"chrome-{i}", "Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36", CHROME_TLS, 5) for i in range(50)]
    rows += [(f"ff-{i}", "Mozilla/5.0 (X11; rv:121.0) Gecko/20100101 Firefox/121.0", FIREFOX_TLS, 5) for i in range(20)]
    rows += extra
    names = ("account_id", "user_agent", "tls_ja4", "n")
    return pa.table({name: [r[k] for r in rows] for k, name in enumerate(names)})


def _shares(table: pa.Table, established: Collection[str] = ()) -> dict[str, float | None]:
    out = client_consistency(table, established).to_pylist()
    return {r["account_id"]: r["client_mismatch_share"] for r in out}


def test_a_spoofed_sdk_agent_over_another_tls_stack_is_inconsistent() -> None:
    shares = _shares(_population([
        ("spoofer", "anthropic-python/0.49.0", CHROME_TLS, 9),  # the Python SDK's name over a browser's TLS
        ("spoofer", "anthropic-python/0.49.0", PY_TLS, 1),
        ("switcher", "Mozilla/5.0 (X11) Chrome/121.0 Safari/537.36", CHROME_TLS, 4),  # a new Chrome: still Chrome
    ]))
    assert shares["spoofer"] == pytest.approx(0.9)
    assert shares["switcher"] == 0.0
    genuine = [v for k, v in shares.items() if k not in ("spoofer", "switcher")]
    assert genuine and all(v == 0.0 for v in genuine)


def test_a_fleet_sharing_its_spoofed_pair_stays_rare_against_the_claims_real_users() -> None:
    fleet = [(f"fleet-{i}", "Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36", PY_TLS, 3) for i in range(8)]
    shares = _shares(_population(fleet))
    assert all(shares[f"fleet-{i}"] == 1.0 for i in range(8))
    assert all(shares[f"chrome-{i}"] == 0.0 for i in range(50))


def test_missing_tls_or_agent_is_unknown_not_benign() -> None:
    shares = _shares(_population([
        ("no-tls", "anthropic-python/0.49.0", None, 7),
        ("no-agent", None, PY_TLS, 2),
        ("partly", "anthropic-python/0.49.0", None, 3),
        ("partly", "anthropic-python/0.49.0", CHROME_TLS, 1),
    ]))
    assert shares["no-tls"] is None and shares["no-agent"] is None
    assert shares["partly"] == 1.0  # the share is over requests that have both


def test_no_traffic_no_rows() -> None:
    empty = pa.table({"account_id": pa.array([], pa.string()), "user_agent": pa.array([], pa.string()),
                      "tls_ja4": pa.array([], pa.string()), "n": pa.array([], pa.int64())})
    assert client_consistency(empty).num_rows == 0


def test_an_account_rotating_agents_counts_once_not_once_per_pair() -> None:
    """Thirty accounts cycling three agents over the Python stack: counted once per pair, they would make
    Chrome-over-Python look common (30 of 80 Chrome claims) and hide their spoofed claim."""
    agents = ["Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36", "tool0/1.0", "tool1/1.0"]
    rotating = [(f"rot-{i}", agent, PY_TLS, 2) for i in range(30) for agent in agents]
    shares = _shares(_population(rotating))
    assert all(shares[f"rot-{i}"] == pytest.approx(1 / 3) for i in range(30))  # its Chrome claim is the odd one
    assert all(shares[f"chrome-{i}"] == 0.0 for i in range(50))


GENUINE = 140
"""Accounts in :func:`_population` before its ``extra``."""


def _genuine(table: pa.Table) -> set[str]:
    return set(table.column("account_id").to_pylist()[:GENUINE])


def test_a_fleet_cannot_make_its_own_spoofed_pair_common_against_the_established_accounts() -> None:
    """Three hundred new accounts claiming Chrome over the Python stack outnumber the 50 real Chrome users: learned
    from everyone the pair is common, learned from the established accounts it is what it is."""
    table = _population([(f"fleet-{i}", "Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36", PY_TLS, 3) for i in range(300)])
    assert all(_shares(table)[f"fleet-{i}"] == 0.0 for i in range(300))
    shares = _shares(table, _genuine(table))
    assert all(shares[f"fleet-{i}"] == 1.0 for i in range(300))
    assert all(v == 0.0 for k, v in shares.items() if not k.startswith("fleet"))


def test_a_pair_the_established_accounts_cannot_judge_counts_neither_way() -> None:
    """A client no established account runs, or a stack none connects with, says nothing: its requests are left out
    of the share, and an account with only such requests is unknown."""
    table = _population([("new-tool", "newtool/0.1", PY_TLS, 4), ("new-stack", "anthropic-python/0.49.0", "t13d_go", 4),
                         ("mixed", "newtool/0.1", PY_TLS, 4), ("mixed", "anthropic-python/0.49.0", CHROME_TLS, 1)])
    shares = _shares(table, _genuine(table))
    assert shares["new-tool"] is None and shares["new-stack"] is None
    assert shares["mixed"] == 1.0


def test_too_few_established_accounts_and_every_account_is_the_reference() -> None:
    table = _population([(f"fleet-{i}", "Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36", PY_TLS, 3) for i in range(300)])
    few = set(sorted(_genuine(table))[:5])
    assert _shares(table, few) == _shares(table)


def test_established_accounts_were_first_used_a_month_or_more_after_creation() -> None:
    first = datetime(2026, 3, 2, tzinfo=UTC)
    ages = {"old": ESTABLISHED_DAYS + 1, "exactly": ESTABLISHED_DAYS, "new": 2.0, "no-record": None}
    table = pa.table({
        "account_id": list(ages), "first_seen": pa.array([first] * len(ages), pa.timestamp("us", tz="UTC")),
        "created_at": pa.array([None if d is None else first - timedelta(days=d) for d in ages.values()],
                               pa.timestamp("us", tz="UTC"))})
    assert established_accounts(table) == {"old", "exactly"}
