"""The Spark session the engine runs in: UTC, Arrow transfers, Python workers on this interpreter by default."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


def spark_session(master: str | None = None, shuffle_partitions: int | None = None,
                  driver_memory: str | None = None) -> SparkSession:
    """The Spark session: on ``master`` when given, else on ``spark-submit``'s (every local core when none).

    Times are UTC, as the store's; ``shuffle_partitions`` sets ``spark.sql.shuffle.partitions`` (Spark's 200 suits
    a cluster, not one machine). Python workers run this interpreter unless ``PYSPARK_PYTHON`` names another.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("distillguard").config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if master is not None:
        builder = builder.master(master)
    if driver_memory is not None:
        builder = builder.config("spark.driver.memory", driver_memory)
    session = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    if shuffle_partitions is not None:
        session.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return session
