"""`make evaluate`: print the held-out NLU report of the trained model."""
from __future__ import annotations

import sys

from bot.evaluation import check_disjoint, evaluate, format_report
from bot.stack import latest_model


def main() -> int:
    model = latest_model()
    if model is None:
        print("no model in models/: run `make train`", file=sys.stderr)
        return 2
    overlap = check_disjoint()
    if overlap:
        print(f"warning: {len(overlap)} held-out examples also appear in training data")
    print(format_report(evaluate(model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
