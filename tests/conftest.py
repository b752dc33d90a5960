"""Shared fixtures: small study folders built in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]


def write_study(folder: Path, codebook: dict, csv_text: str, name: str = "data.csv") -> Path:
    """Write a study folder with a codebook and a CSV data file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "codebook.yaml").write_text(yaml.safe_dump(codebook, sort_keys=False), encoding="utf-8")
    (folder / name).write_text(csv_text, encoding="utf-8")
    return folder


def tiny_codebook(study="tiny") -> dict:
    """A small valid codebook: a 3-item efficacy scale (one reversed), treatment, behaviour."""
    return {
        "study": study,
        "data": {"file": "data.csv", "format": "csv"},
        "id": "pid",
        "missing_codes": [-99],
        "variables": {
            "pid": {"type": "id"},
            "treat": {"type": "binary", "levels": [0, 1]},
            "age": {"type": "numeric", "range": [16, 99]},
            "se1": {"type": "integer", "range": [1, 5]},
            "se2": {"type": "integer", "range": [1, 5]},
            "se3": {"type": "integer", "range": [1, 5]},
            "beh": {"type": "numeric", "range": [0, 7]},
        },
        "scales": {
            "efficacy": {"construct": "self_efficacy", "items": ["se1", "se2", "se3"], "reverse": ["se3"],
                         "response_range": [1, 5], "min_items": 2},
        },
        "design": {"treatment": "treat", "mediators": ["efficacy"], "outcomes": ["beh"]},
        "exclusions": [{"variable": "age", "op": "<", "value": 18, "reason": "under 18"}],
    }


TINY_CSV = """pid,treat,age,se1,se2,se3,beh
p1,1,30,5,4,1,6
p2,0,41,2,-99,4,2
p3,1,25,4,5,2,5
p4,0,17,3,3,3,3
p5,1,52,1,-99,-99,1
p6,0,33,7,2,5,0
"""


@pytest.fixture
def tiny_study(tmp_path):
    """A valid tiny study folder (returns its path)."""
    return write_study(tmp_path / "tiny", tiny_codebook(), TINY_CSV)
