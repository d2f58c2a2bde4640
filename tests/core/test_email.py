"""The shape of an e-mail local part, in Python and as the store's SQL applies the same rules; whose a domain is."""

from __future__ import annotations

import duckdb
import pytest

from distillguard.core.email import LOCAL_SHAPE_RULES, local_shape, shared_mail_domain

CASES = [
    ("zhang.wei1987", "a.a9"), ("li.na1990", "a.a9"), ("user19777", "a9"), ("pierre.pham", "a.a"),
    ("j_doe-42", "a_a-9"), ("Maria.Lopez", "a.a"), ("Ωμέγα7", "ωμέγα9"), ("josé.b2", "aé.a9"), ("", ""),
]


@pytest.mark.parametrize(("local", "shape"), CASES)
def test_local_shape(local: str, shape: str) -> None:
    assert local_shape(local) == shape


def test_duckdb_regexp_replace_of_the_rules_gives_the_same_shapes() -> None:
    sql = "lower(?)"
    for pattern, replacement in LOCAL_SHAPE_RULES:
        sql = f"regexp_replace({sql}, '{pattern}', '{replacement}', 'g')"
    con = duckdb.connect()
    for local, shape in CASES:
        assert con.execute(f"SELECT {sql}", [local]).fetchall() == [(shape,)]


@pytest.mark.parametrize(("domain", "shared"), [
    ("gmail.com", True), ("QQ.com", True), ("kakao.com", True), ("mailinator.com", True), ("naver.com", True),
    ("iitb.ac.in", False), ("cs.uni-example.edu", False), ("deep-forge.ai", False)])
def test_shared_mail_domain_tells_providers_from_organisations(domain: str, shared: bool) -> None:
    assert shared_mail_domain(domain) is shared
