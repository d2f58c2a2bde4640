"""The Spark session the engine runs in: UTC, Arrow transfers, Python workers on this interpreter by default."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

_SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"


def spark_session(master: str | None = None, shuffle_partitions: int | None = None,
                  driver_memory: str | None = None) -> SparkSession:
    """The Spark session: on ``master`` when given, else on ``spark-submit``'s (every local core when none).

    Times are UTC, as the store's; ``shuffle_partitions`` sets ``spark.sql.shuffle.partitions``. When neither it
    nor the submitted configuration sets them, a local session gets two per core: Spark's 200 suit a cluster, and
    on one machine each costs a task in every shuffle of every query. Python workers run this interpreter unless
    ``PYSPARK_PYTHON`` names another; Spark's console progress bars are off (the CLI reports the phases). A local
    JVM that this call starts compiles with the client compiler only (``-XX:TieredStopAtLevel=1``): an analysis runs
    dozens of short queries, and on a few cores the optimising compiler's threads cost more than they give
    (measured: a population query's first run 7-11 s instead of 12-15 s). Under ``spark-submit`` the JVM is running.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("distillguard").config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master is not None:
        builder = builder.master(master)
    if master is None or master.startswith("local"):
        builder = builder.config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
    if driver_memory is not None:
        builder = builder.config("spark.driver.memory", driver_memory)
    session = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    context = session.sparkContext
    local = (context.master or "").startswith("local")
    if shuffle_partitions is None and local and not context.getConf().contains(_SHUFFLE_PARTITIONS):
        shuffle_partitions = 2 * context.defaultParallelism
    if shuffle_partitions is not None:
        session.conf.set(_SHUFFLE_PARTITIONS, str(shuffle_partitions))
    return session
