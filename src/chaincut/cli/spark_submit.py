"""``chaincut trace --engine spark`` as a file spark-submit runs (the cluster's settings then come
from spark-submit's own options)::

    spark-submit --master yarn --executor-memory 8g "$(python -m chaincut.cli.spark_submit --path)" \\
        --reported-on 2026-12-08 --archive hdfs:///chaincut/whereabouts --out hdfs:///traces/contacts.parquet

Every argument after the file is ``chaincut trace``'s; ``--engine spark`` is implied.
"""

from __future__ import annotations

import sys

from chaincut.cli.app import app


def run(argv: list[str]) -> None:
    if argv == ["--path"]:
        print(__file__)
        return
    app(["trace", "--engine", "spark", *argv], prog_name="chaincut")


if __name__ == "__main__":
    run(sys.argv[1:])
