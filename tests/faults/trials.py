"""Trial bookkeeping: seeds, and a JSON-lines log of every trial's figures for the report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.faults.services import ROOT

FULL_TRIALS = int(os.environ.get("OPTLINE_FAULTS_TRIALS", "50"))
BASE_SEED = int(os.environ.get("OPTLINE_FAULTS_SEED", "20261123"))
LOG = Path(os.environ.get("OPTLINE_FAULTS_LOG", str(ROOT / "instance" / "faults.jsonl")))


def seeds(kind_offset: int) -> list[int]:
    """Trial 0 is the smoke trial; the rest run under make faults."""
    return [BASE_SEED + kind_offset * 1000 + n for n in range(FULL_TRIALS)]


def record(kind: str, seed: int, **figures: Any) -> None:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as out:
        out.write(json.dumps({"kind": kind, "seed": seed, "at": time.time(), **figures}) + "\n")
