"""The Spark engine: ``analyze`` over logs too large for one machine, on the same code as the embedded engine.

Signals run through ``mapInArrow`` on Arrow batches, account statistics are per-partition
:class:`~distillguard.accounts.AccountStats` partials merged per account, and the population and linking
aggregations are the store's DuckDB SQL transpiled for Spark (:mod:`distillguard.store.spark`); clustering,
campaigns and policy run on the driver. ``spark-submit`` runs it through the CLI's module file
(``spark-submit .../distillguard/cli/__main__.py analyze --engine spark ...``, see ``docs/scale.md``).
"""

from distillguard.analysis.spark.run import analyze_spark
from distillguard.analysis.spark.session import spark_session

__all__ = ["analyze_spark", "spark_session"]
