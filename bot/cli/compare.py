"""`make compare`: the classifier candidates side by side; writes results/candidates.md."""
from __future__ import annotations

import argparse
import sys

from bot.evaluation.candidates import compare, markdown
from bot.paths import ROOT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args(argv)
    results = compare(args.folds, progress=lambda m: print(m, flush=True))
    out = ROOT / "results" / "candidates.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown(results, args.folds), encoding="utf-8")
    print(out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
