"""Run every benchmark module in this folder (or those named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    here = Path(__file__).parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(here)])):
        if module.startswith("bench_") and (not wanted or module in wanted):
            print(f"== {module}")
            importlib.import_module(f"benchmarks.{module}").run()


if __name__ == "__main__":
    main()
