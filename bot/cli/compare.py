"""`make compare`: the classifier candidates side by side; writes results/candidates.md.

`--folds N` adds N-fold cross-validation of every candidate (slow: DIET takes about nine
minutes a fold on two cores); by default the candidates are compared on the main
evaluation sets only.
"""

from __future__ import annotations

import argparse
import sys

from bot.evaluation.candidates import compare, markdown
from bot.paths import ROOT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=0)
    args = parser.parse_args(argv)
    results = compare(args.folds, progress=lambda m: print(m, flush=True))
    out = ROOT / "results" / "candidates.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown(results, args.folds), encoding="utf-8")
    print(out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
