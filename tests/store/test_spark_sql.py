"""The store's DuckDB SQL transpiled for Spark: what :func:`spark_statement` rewrites (no Spark needed)."""

from __future__ import annotations

import pytest

from distillguard.core.errors import StoreError
from distillguard.store import linking, traffic
from distillguard.store.spark import spark_statement


def test_open_ended_until_is_the_end_of_time_not_a_null() -> None:
    _, sql = spark_statement(traffic._CLIENT_PAIRS)
    assert "'infinity'" not in sql
    assert "CAST('9999-12-31 23:59:59' AS TIMESTAMP)" in sql


def test_temporary_table_is_named_and_its_query_returned() -> None:
    table, sql = spark_statement(linking._CODES)
    assert table == "indicator_accounts"
    assert sql.startswith("SELECT account_id") and "UINT" not in sql and "AS BIGINT" in sql


def test_key64_is_the_first_64_bits_of_the_md5_as_an_unsigned_integer() -> None:
    _, sql = spark_statement("SELECT key64(kind || ':' || value) AS h FROM t")
    assert sql == "SELECT CAST(CONV(SUBSTRING(MD5(kind || ':' || value), 1, 16), 16, 10) AS DECIMAL(20, 0)) AS h FROM t"


@pytest.mark.parametrize(("duckdb", "spark"), [
    ("SELECT epoch_ms(ts) FROM t", "SELECT UNIX_MILLIS(ts) FROM t"),
    ("SELECT epoch(ts)::BIGINT // $b FROM t", "SELECT CAST(BROUND(UNIX_MICROS(ts) / 1000000.0) AS BIGINT) DIV :b FROM t"),
    ("SELECT CAST(time_bucket(INTERVAL '30 minutes', c) AS VARCHAR) FROM t",
     "SELECT CONCAT(DATE_FORMAT(TIMESTAMP_SECONDS(FLOOR(UNIX_SECONDS(c) / 1800) * 1800), 'yyyy-MM-dd HH:mm:ss'), '+00') "
     "FROM t"),
    ("SELECT count(*) FROM duckdb_tables() WHERE temporary", "SELECT COUNT(*) FROM _dg_temp_tables WHERE temporary"),
])
def test_functions_that_differ_in_meaning_are_rewritten(duckdb: str, spark: str) -> None:
    assert spark_statement(duckdb) == (None, spark)


def test_nested_with_keeps_its_scope() -> None:
    """The indicator query reuses the CTE name ``s`` inside and outside a subquery: hoisting them would clash."""
    sql = linking._COMPACT.format(traffic=linking._TRAFFIC.format(only="TRUE"),
                                  signup=linking._SIGNUP.format(only="TRUE", burst=linking._BURST),
                                  subnet=linking._SUBNET_V4)
    _, spark = spark_statement(sql)
    assert spark.startswith("WITH v AS ((WITH e AS")


def test_other_statements_are_refused() -> None:
    with pytest.raises(StoreError, match="CREATE TABLE"):
        spark_statement("CREATE VIEW v AS SELECT 1")
