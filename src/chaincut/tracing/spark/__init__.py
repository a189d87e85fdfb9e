"""Tracing on Apache Spark, for more whereabouts than one machine holds (``pip install 'chaincut[spark]'``).

* :mod:`~chaincut.tracing.spark.plan`: the contact definition as DataFrame joins;
* :mod:`~chaincut.tracing.spark.inputs`: the archive where Spark reads it, the rest from the store;
* :mod:`~chaincut.tracing.spark.job`: the session, the job and its output, written whole or not at all.

Nothing here is imported unless ``--engine spark`` is asked for: PySpark is an optional extra.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from chaincut.errors import ConfigurationError

__all__ = ["require_spark"]

_JAVA = "apt-get install openjdk-17-jre-headless, or set JAVA_HOME to a Java 17 installation"


def require_spark() -> None:
    """Refuse (ConfigurationError saying what to install) when PySpark, or Java 17 or newer, is
    missing. Imports nothing of PySpark's: it is what tells the user it is not there."""
    try:
        import py4j  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "--engine spark needs PySpark: pip install 'chaincut[spark]' (and Java 17: "
            "apt-get install openjdk-17-jre-headless)"
        ) from None
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if java is None or not os.access(java, os.X_OK):
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise ConfigurationError(f"--engine spark needs Java 17 ({where}): {_JAVA}")
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as error:
        problem = f"{java} did not run: {error}"
        raise ConfigurationError(f"--engine spark needs Java 17 ({problem}): {_JAVA}") from None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    major = 0 if found is None else int(found.group(1))
    if major == 1 and found is not None and found.group(2):  # "1.8.0": Java 8
        major = int(found.group(2))
    if major < 17:
        problem = f"{java} is {major or 'of an unknown version'}"
        raise ConfigurationError(f"--engine spark needs Java 17 or newer ({problem}): {_JAVA}")
