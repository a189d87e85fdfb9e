"""Tracing on Apache Spark, for more whereabouts than one machine holds (``pip install 'chaincut[spark]'``).

* :mod:`~chaincut.tracing.spark.plan`: the contact definition as DataFrame joins;
* :mod:`~chaincut.tracing.spark.inputs`: the archive where Spark reads it, the rest from the store;
* :mod:`~chaincut.tracing.spark.job`: the session, the job and its output, written whole or not at all.

Nothing here is imported unless ``--engine spark`` is asked for: PySpark is an optional extra.
"""
