"""Signup bursts: other signups sharing a subnet, email domain or card earlier in the same slot."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from distillguard.core.decision import Evidence
from distillguard.policy.signup_bursts import burst_evidence
from distillguard.policy.signup_history import PastSignup, SignupHistory
from distillguard.policy.signup_rules import load_signup_rules

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)  # the start of a slot
RULES = load_signup_rules().signals.bursts


def _signup(who: str, at: datetime, domain: str | None = None, subnet: str | None = None,
            payment: str | None = None) -> PastSignup:
    return PastSignup(at=int(at.timestamp() * 1000), who=who, domain=domain, subnet=subnet, payment=payment, shape=None)


def _assess_in_turn(history: SignupHistory, signups: list[PastSignup], detector: str) -> list[Evidence | None]:
    """The burst evidence of ``detector`` for each signup judged after the ones before it."""
    found = []
    for signup in signups:
        found.append(next((e for e in burst_evidence(signup, history, RULES) if e.detector == detector), None))
        history.add(signup)
    return found


def test_subnet_burst_needs_many_signups_in_the_slot() -> None:
    history = SignupHistory(1000)
    spread = [_signup(f"s{i}@a{i}.org", T0 + timedelta(hours=3 * i), subnet="81.2.69.0/24") for i in range(6)]
    assert not any(_assess_in_turn(history, spread, "signup.burst.subnet"))
    burst = [_signup(f"b{i}@b{i}.org", T0 + timedelta(minutes=2 * i), subnet="81.2.70.0/24") for i in range(6)]
    found = _assess_in_turn(history, burst, "signup.burst.subnet")
    assert [e is not None for e in found] == [False, False, False, True, True, True]
    scores = [e.score for e in found if e is not None]
    assert all(a < b for a, b in itertools.pairwise(scores))
    assert "3 other signups from the same network (/24 or /48) in the same 30-minute signup slot" in found[3].reason


def test_a_new_slot_starts_a_new_burst() -> None:
    history = SignupHistory(1000)
    late = [_signup(f"l{i}@l{i}.org", T0 + timedelta(minutes=22 + 2 * i), subnet="81.2.70.0/24") for i in range(5)]
    found = _assess_in_turn(history, late, "signup.burst.subnet")
    assert [e is not None for e in found] == [False, False, False, True, False]  # the fifth is at 12:30


def test_domain_burst_is_relative_to_the_domains_usual_rate() -> None:
    history = SignupHistory(10_000)
    for i in range(4 * 24 * 10):  # a busy provider: one signup every quarter hour for ten days
        history.add(_signup(f"user{i}@busymail.example", T0 + timedelta(minutes=15 * i), domain="busymail.example"))
    later = T0 + timedelta(days=10, hours=1)
    busy = [_signup(f"x{i}@busymail.example", later + timedelta(minutes=5 * i), domain="busymail.example")
            for i in range(5)]
    rare = [_signup(f"x{i}@tiny-school.example", later + timedelta(minutes=5 * i), domain="tiny-school.example")
            for i in range(5)]
    assert not any(_assess_in_turn(history, busy, "signup.burst.email_domain"))
    found = _assess_in_turn(history, rare, "signup.burst.email_domain")
    assert [e is not None for e in found] == [False, False, False, True, True]


def test_card_burst() -> None:
    history = SignupHistory(1000)
    signups = [_signup(f"c{i}@c{i}.org", T0 + timedelta(minutes=i), payment="pf_farm") for i in range(4)]
    assert [e is not None for e in _assess_in_turn(history, signups, "signup.burst.payment")] == [False, False, True, True]


@pytest.mark.parametrize("kind", ["subnet", "payment"])
def test_the_same_signup_is_not_its_own_burst(kind: str) -> None:
    history = SignupHistory(1000)
    again = [_signup("same@x.org", T0 + timedelta(minutes=i), **{kind: "k"}) for i in range(5)]
    assert not any(_assess_in_turn(history, again, f"signup.burst.{kind}"))
