"""Security tests that need more than the compat suite's one loopback server: protected mode
seen from another machine (a network namespace with a veth pair that the test creates and
removes itself; never any outside address).

Run (as root, for the namespace): .venv/bin/python -m pytest tests/security -q
Binary: $SEXTANT_BIN, default <repo>/target/debug/sextant.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")


def sextant_bin():
    binary = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
    if not os.path.isabs(binary):
        binary = os.path.join(ROOT, binary)
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"no sextant binary at {binary}: run `cargo build -p sextant` or set SEXTANT_BIN")
    return binary
