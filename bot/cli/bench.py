"""`make bench`: training time, start-up time to first reply, REST round-trip latency."""

from __future__ import annotations

import json
import sys
import time
import uuid

from bot import benchmark
from bot import settings as settings_module
from bot.paths import ROOT, VAR_DIR
from bot.stack import Stack, free_port

RESULTS = ROOT / "results"


def main() -> int:
    settings = settings_module.load().replace(
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        db_url=f"sqlite:///{VAR_DIR / f'bench-{uuid.uuid4().hex[:6]}.db'}",
    )
    figures = {}
    train_file = RESULTS / "train_seconds.txt"
    if train_file.exists():
        figures["training_s (last make train)"] = float(train_file.read_text().strip())
    with Stack(settings, log_dir=VAR_DIR / "logs" / "bench") as stack:
        stack.start_actions()
        started = time.perf_counter()
        stack.start_rasa()
        benchmark.post_message(settings.rasa_webhook_url, {"sender": "bench", "message": "hello"})
        figures["startup_to_first_reply_s"] = time.perf_counter() - started
        figures.update(benchmark.measure(settings))
    print(benchmark.format_figures(figures))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
