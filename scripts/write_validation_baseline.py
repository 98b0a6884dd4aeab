"""Write tests/data/validation_baseline.json from a validation report printed as JSON.

    headdb --url sqlite:///v.sqlite validate-detectors --fast --json | python scripts/write_validation_baseline.py

The baseline holds the measured precision and recall of every (model, detector, head type) of the
fast subset with ground truth; tests/test_validation.py fails when a later report falls below it.
Rows of other models (a full report) are dropped, so a full run can write it too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "validation_baseline.json"


def _number(value: object) -> float | None:
    return None if value in (None, "-") else float(value)  # type: ignore[arg-type]


def main() -> None:
    sys.path.insert(0, str(OUT.parents[2]))
    from headdb.zoo import selected

    fast = {s.name for s in selected(fast=True)}
    report = json.load(sys.stdin)
    results = {
        f"{r['model']}/{r['detector']}/{r['head_type']}": {"precision": _number(r["precision"]), "recall": _number(r["recall"])}
        for r in report["rows"]
        if r["model"] in fast and r["true heads (rank)"] != "-"
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"subset": "fast", "from_validation_run": report["validation_run"], "results": results},
                              indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(results)} results")


if __name__ == "__main__":
    main()
