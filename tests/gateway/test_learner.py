"""A learner sharing its statistics through Redis keeps the rows of the accounts whose merge did not happen and
merges them with its next batch: a busy key loses nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from distillguard.accounts import IpIntel
from distillguard.accounts.risk import default_weights
from distillguard.gateway.config import GatewayConfig
from distillguard.gateway.learner import HandledRequest, LearnerState
from distillguard.store.online import OnlineStateBusy, OnlineStateError, RedisState


def _handled(account: str, k: int) -> HandledRequest:
    request = {"model": "atlas-2-pro", "max_tokens": 512, "messages": [{"role": "user", "content": f"Question {k}?"}]}
    response = {"id": f"msg_{k}", "type": "message", "role": "assistant", "model": "atlas-2-pro",
                "content": [{"type": "text", "text": f"Answer {k}."}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 5, "output_tokens": 5}}
    return HandledRequest(
        ts_ms=1_790_000_000_000 + 1000 * k, account_id=account, api_key_id=None, ip="198.51.100.7",
        user_agent="anthropic-python/0.40.0", endpoint="/v1/messages", request=json.dumps(request).encode(),
        response=json.dumps(response).encode(), stream=False, status=200, refused=False, action="allow",
        evidence=(), source="online", risk=0.0, campaign_id=None, enforced=False, tier=None)


def _learner(redis_url: str) -> LearnerState:
    config = GatewayConfig(upstream="http://127.0.0.1:9", state=redis_url, state_prefix=f"dg-{uuid.uuid4().hex}:")
    return LearnerState(config, IpIntel(), 0.4, default_weights(), b"k" * 32)


def _failing(monkeypatch: pytest.MonkeyPatch, account: str, error: OnlineStateError, times: int) -> list[str]:
    """Make the merge of ``account``'s statistics fail ``times`` times with ``error``; the keys tried, in order."""
    tried: list[str] = []
    merge = RedisState.merge_blob
    left = [times]

    async def flaky(self: RedisState, key: str, *args: Any) -> bytes:
        tried.append(key)
        if key == f"stats:{account}" and left[0] > 0:
            left[0] -= 1
            raise error
        return await merge(self, key, *args)

    monkeypatch.setattr(RedisState, "merge_blob", flaky)
    return tried


@pytest.mark.parametrize("error", [OnlineStateBusy("busy"), OnlineStateError("timed out")])
def test_rows_of_accounts_whose_merge_did_not_happen_are_merged_with_the_next_batch(
        redis_url: str, monkeypatch: pytest.MonkeyPatch, error: OnlineStateError) -> None:
    """The first batch's merge stops at acct-b: acct-a is merged, acct-c kept; acct-b kept when its merge lost every
    race, not when it may have been written. The next batch brings every kept row."""
    tried = _failing(monkeypatch, "acct-b", error, times=1)
    learner = _learner(redis_url)
    try:
        first = learner.learn([_handled(a, k) for k, a in enumerate(["acct-a", "acct-b", "acct-c"] * 2)], {})
        assert not first.state_ok and first.verdicts == {}
        second = learner.learn([_handled("acct-d", 10)], {})
        assert second.state_ok
        counts = {a: v.n_exchanges for a, v in second.verdicts.items()}
        busy = isinstance(error, OnlineStateBusy)
        assert counts == ({"acct-b": 2, "acct-c": 2, "acct-d": 1} if busy else {"acct-c": 2, "acct-d": 1})
        assert [k for k in tried if k.startswith("stats:")] == [
            "stats:acct-a", "stats:acct-b", *(["stats:acct-b"] if busy else []), "stats:acct-c", "stats:acct-d"]
        third = learner.learn([_handled("acct-a", 11)], {})
        assert third.verdicts["acct-a"].n_exchanges == 3  # merged once, the first time
    finally:
        learner.close()


def test_a_state_failing_for_long_keeps_the_newest_rows_up_to_the_bound(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("distillguard.gateway.learner.PENDING_MAX_ROWS", 3)
    _failing(monkeypatch, "acct-a", OnlineStateBusy("busy"), times=2)
    learner = _learner(redis_url)
    try:
        assert not learner.learn([_handled("acct-a", k) for k in range(2)], {}).state_ok
        assert not learner.learn([_handled("acct-a", k) for k in range(2, 4)], {}).state_ok
        assert learner.learn([_handled("acct-a", 4)], {}).verdicts["acct-a"].n_exchanges == 4  # 3 kept + 1
    finally:
        learner.close()
