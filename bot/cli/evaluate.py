"""`make evaluate`: the trained model on every evaluation set, plus k-fold cross-validation.

Writes results/evaluation.md and results/confusion.png and prints the headline figures.
`--folds 0` skips the cross-validation (it retrains the NLU pipeline once per fold).
"""

from __future__ import annotations

import argparse
import sys

from bot.evaluation import report, sets
from bot.evaluation.crossval import cross_validate
from bot.evaluation.scoring import score
from bot.paths import ROOT
from bot.stack import latest_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    model = latest_model()
    if model is None:
        print("no model in models/: run `make train`", file=sys.stderr)
        return 2
    overlap = sets.overlaps()
    if overlap:
        print(f"warning: {len(overlap)} evaluation examples also appear in the training data")
    evaluation = report.evaluate(model)
    if args.folds > 1:
        texts, truth, predicted = cross_validate(
            ROOT / "config.yml", args.folds, progress=lambda m: print(m, flush=True)
        )
        evaluation.cross_validation = score(texts, truth, predicted)
    path = report.write(evaluation, model)
    text = path.read_text(encoding="utf-8")
    print(text.split("\n## Per intent")[0])
    print(f"full report: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
