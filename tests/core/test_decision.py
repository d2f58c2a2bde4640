"""Actions in one order, mildest first; which of them flag an account."""

import pytest

from distillguard.core.decision import Action, Decision

MILDEST_FIRST = [
    Action.ALLOW, Action.MONITOR, Action.THROTTLE, Action.SUMMARIZE_REASONING, Action.STRIP_REASONING,
    Action.REQUIRE_VERIFICATION, Action.BLOCK,
]


def test_rank_is_the_enum_order_mildest_first() -> None:
    assert [a.rank for a in MILDEST_FIRST] == list(range(len(Action)))
    assert sorted(Action, key=lambda a: a.rank) == MILDEST_FIRST == list(Action)


@pytest.mark.parametrize(
    ("actions", "strongest"),
    [
        ((Action.ALLOW,), Action.ALLOW),
        ((Action.MONITOR, Action.ALLOW), Action.MONITOR),
        ((Action.STRIP_REASONING, Action.THROTTLE, Action.SUMMARIZE_REASONING), Action.STRIP_REASONING),
        ((Action.REQUIRE_VERIFICATION, Action.BLOCK, Action.ALLOW), Action.BLOCK),
        ((Action.THROTTLE, Action.THROTTLE), Action.THROTTLE),
    ],
)
def test_strongest(actions: tuple[Action, ...], strongest: Action) -> None:
    assert Action.strongest(*actions) is strongest


def test_strongest_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        Action.strongest()


def test_rank_orders_by_strength_not_by_name() -> None:
    assert Action.BLOCK < Action.MONITOR  # as strings
    assert Action.BLOCK.rank > Action.MONITOR.rank


@pytest.mark.parametrize("action", list(Action))
def test_anything_stronger_than_monitoring_flags(action: Action) -> None:
    assert action.flags == (action.rank > Action.MONITOR.rank) == (action not in (Action.ALLOW, Action.MONITOR))
    assert Decision("a", 0.5, action).flagged == action.flags
