"""Record bounds: field sizes, control characters in ids, nesting depth; each reject names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from distillguard.config.settings import IngestLimits
from distillguard.ingest import Reject, read_accounts, read_exchanges
from distillguard.ingest.limits import deep_path, too_deep_text, within

from .records import account, chat_exchange, exchange


def _read(path: Path, records: list[Any], limits: IngestLimits | None = None) -> tuple[list[str], list[Reject]]:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    ids, rejects = [], []
    for batch in read_exchanges(path, limits=limits):
        ids += batch.table.column("request_id").to_pylist()
        rejects += batch.rejects
    return ids, rejects


def _deep_json(depth: int) -> bytes:
    """JSON text of an array nested ``depth`` levels (written by hand: orjson encodes 254 levels at most)."""
    return b"[" * depth + b"1" + b"]" * depth


def _nested(depth: int) -> Any:
    """An array nested ``depth`` levels (the innermost holds 1)."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"account_id": "a" * 10_000_000}, "account_id"),
        ({"request_id": "r" * 257}, "request_id"),
        ({"api_key_id": "k" * 300}, "api_key_id"),
        ({"model": "m" * 300}, "model"),
        ({"user_agent": "u" * 2049}, "user_agent"),
        ({"request": {"messages": [{"role": "user", "content": "p" * 4_000_001}]}}, "prompt"),
        ({"huge_unread_field": "x" * 4_000_001}, "extra"),
    ],
)
def test_a_field_past_its_limit_rejects_the_record_naming_it(tmp_path: Path, overrides: dict[str, Any], field: str) -> None:
    ids, rejects = _read(tmp_path / "a.jsonl", [exchange(request_id="ok"), exchange(**{"request_id": "big", **overrides})])
    assert ids == ["ok"]
    (reject,) = rejects
    assert (reject.line, reject.field) == (2, field) and reject.reason.startswith("longer than")
    assert len(reject.raw) <= 500


def test_limits_are_configurable(tmp_path: Path) -> None:
    limits = IngestLimits(max_id_chars=16, max_user_agent_chars=64, max_text_chars=1000)
    records = [exchange(request_id="r" * 16), exchange(request_id="r" * 17), exchange(request_id="ua", user_agent="u" * 65),
               exchange(request_id="t", request={"messages": [{"role": "user", "content": "p" * 1001}]})]
    ids, rejects = _read(tmp_path / "a.jsonl", records, limits)
    assert ids == ["r" * 16]
    assert [(r.line, r.field) for r in rejects] == [(2, "request_id"), (3, "user_agent"), (4, "prompt")]
    assert rejects[0].reason == "longer than 16 characters"


@pytest.mark.parametrize("field", ["request_id", "account_id", "api_key_id", "org_id"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\x7f", "\x85"])
def test_control_characters_in_ids_are_rejected(tmp_path: Path, field: str, char: str) -> None:
    ids, rejects = _read(tmp_path / "a.jsonl", [exchange(**{field: f"ab{char}cd"})])
    assert ids == []
    assert [(r.field, r.reason) for r in rejects] == [(field, "control character in id")]


def test_printable_ids_of_any_script_are_kept(tmp_path: Path) -> None:
    ids, rejects = _read(tmp_path / "a.jsonl", [exchange(request_id="réq-東京-🙂", account_id="a b\u00a0c")])
    assert ids == ["réq-東京-🙂"] and rejects == []


def test_control_characters_and_long_ids_in_account_records(tmp_path: Path) -> None:
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        account(account_id="ok"), account(account_id="a\x00b"), account(account_id="x" * 300),
        account(account_id="p", payment_fingerprint="f" * 300)]))
    (batch,) = list(read_accounts(path))
    assert batch.table.column("account_id").to_pylist() == ["ok"]
    assert [(r.line, r.field) for r in batch.rejects] == [(2, "account_id"), (3, "account_id"), (4, "payment_fingerprint")]


@pytest.mark.parametrize("depth", [65, 600, 1020, 1030, 5000])
def test_deep_nesting_in_jsonl_is_rejected_naming_the_path(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "a.jsonl"
    deep = orjson.dumps(exchange(request_id="deep"))[:-1] + b', "region": ' + _deep_json(depth - 1) + b"}"
    path.write_bytes(orjson.dumps(exchange(request_id="ok")) + b"\n" + deep + b"\n")
    batches = list(read_exchanges(path))
    assert [i for b in batches for i in b.table.column("request_id").to_pylist()] == ["ok"]
    (reject,) = [r for b in batches for r in b.rejects]
    assert reject.line == 2 and reject.reason == "nested deeper than 64 levels"
    assert reject.field == "region[0][0][0][0][0]…"


@pytest.mark.parametrize("depth", [600, 1020])
def test_deep_nesting_in_a_json_array_is_rejected_not_a_recursion_error(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"[" + orjson.dumps(exchange(request_id="ok")) + b", " + _deep_json(depth - 1)
                     + b', {"request_id": "d", "x": {"y": ' + _deep_json(depth - 3) + b"}}]")
    batches = list(read_exchanges(path))
    assert [i for b in batches for i in b.table.column("request_id").to_pylist()] == ["ok"]
    rejects = [r for b in batches for r in b.rejects]
    assert [(r.line, r.field, r.reason) for r in rejects] == [
        (2, "[0][0][0][0][0][0]…", "nested deeper than 64 levels"),
        (3, "x.y[0][0][0][0]…", "nested deeper than 64 levels"),
    ]
    assert all(len(r.raw) <= 500 for r in rejects)


def test_deep_nesting_in_parquet_is_rejected(tmp_path: Path) -> None:
    records = [chat_exchange(request_id="ok"), chat_exchange(request_id="deep")]
    table = pa.table({
        "request_id": [r["request_id"] for r in records], "ts": [r["ts"] for r in records],
        "account_id": [r["account_id"] for r in records], "ip": [r["ip"] for r in records],
        "endpoint": [r["endpoint"] for r in records], "model": [r["model"] for r in records],
        "request": [orjson.dumps(r["request"]).decode() for r in records],
        "meta": [None, _nested(12)],
    })
    pq.write_table(table, tmp_path / "a.parquet")  # Parquet itself nests a hundred schema levels at most
    (batch,) = list(read_exchanges(tmp_path / "a.parquet", limits=IngestLimits(max_depth=8)))
    assert batch.table.column("request_id").to_pylist() == ["ok"]
    assert [(r.line, r.field, r.reason) for r in batch.rejects] == [(2, "meta[0][0][0][0][0]…", "nested deeper than 8 levels")]


def test_depth_at_the_limit_is_kept(tmp_path: Path) -> None:
    ids, rejects = _read(tmp_path / "a.jsonl", [exchange(request_id="edge", region=_nested(63))])
    assert ids == ["edge"] and rejects == []  # the record is level 1, the innermost array level 64


def test_scanned_and_decoded_paths_agree() -> None:
    value = {"a": [1, {"b\\\"[": [[{"c": _nested(10)}]]}], "z": 0}
    text = orjson.dumps(value)
    assert deep_path(value, 6) == too_deep_text(text, 6) == 'a[1].b\\"[[0][0].c'
    assert deep_path(value, 20) is None and too_deep_text(text, 20) is None


def _height(value: Any) -> int:
    """Levels of objects and arrays in ``value`` (a scalar: 0; an empty array: 1)."""
    if type(value) is dict:
        return 1 + max(map(_height, value.values()), default=0)
    if type(value) is list:
        return 1 + max(map(_height, value), default=0)
    return 0


_VALUES = st.recursive(st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=3),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=4),
                       max_leaves=40)


@given(_VALUES, st.integers(1, 8))
def test_within_and_the_path_agree_with_the_height(value: Any, limit: int) -> None:
    fits = _height(value) <= limit
    assert within(value, limit) is fits
    assert (deep_path(value, limit) is None) is fits
    assert (too_deep_text(orjson.dumps(value), limit) is None) is fits
