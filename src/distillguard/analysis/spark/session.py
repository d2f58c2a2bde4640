"""The Spark session the engine runs in: UTC, Arrow transfers, and a master when not under ``spark-submit``."""

from __future__ import annotations

import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

LOCAL_MASTER = "local[*]"
"""The master when none is given and none was set by ``spark-submit``: every core of this machine."""


def spark_session(master: str | None = None, shuffle_partitions: int | None = None,
                  driver_memory: str | None = None) -> SparkSession:
    """The Spark session: ``master`` when given, else ``spark-submit``'s, else :data:`LOCAL_MASTER`.

    Times are UTC, as the store's; ``shuffle_partitions`` sets ``spark.sql.shuffle.partitions`` (Spark's 200 suits
    a cluster, not one machine). A local master runs its Python workers on this interpreter.
    """
    if master is None and not SparkConf().contains("spark.master"):
        master = LOCAL_MASTER
    builder = SparkSession.builder.appName("distillguard").config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # PySpark starts its workers with it
    if driver_memory is not None:
        builder = builder.config("spark.driver.memory", driver_memory)
    session = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    if shuffle_partitions is not None:
        session.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return session
