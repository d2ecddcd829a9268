"""Where a long conversation's time goes: `python -m bot.cli.turn_costs`.

`make bench` shows that a message costs more at turn 200 than at turn 1, in the stock bot
too. This measures, in one process with the trained model and no server, the parts of a
turn that grow with the conversation, at turns 1, 50 and 200 of a conversation of topic
questions and answers:

- replaying the stored events into a tracker (what a tracker store's read does after SQL),
- one policy prediction (Rasa computes the state of every past turn for each policy),
- the tracker as JSON, as Rasa posts it to the action server,
- redacting one turn's events against the whole conversation (what a save adds).

Each figure is the median of 15 runs, printed as a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

TEXTS = ["what is methadone", "how long does withdrawal last", "thanks", "tell me more", "what about naloxone"]


def median_ms(work: Callable[[], object], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(model: Path, turns: List[int]) -> List[Dict[str, float]]:
    from rasa.core.agent import load_agent
    from rasa.core.channels import UserMessage
    from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
    from rasa.utils.log_utils import configure_structlog

    from bot import event_lookup
    from bot.transcripts.tracker_store import redact_new_events

    configure_structlog(logging.WARNING)  # the policies log every past state at debug level
    event_lookup.install()
    agent = await load_agent(model_path=str(model))
    processor = agent.processor
    assert processor is not None, f"no model loaded from {model}"
    slots = processor.domain.slots
    rows = []
    for count in turns:
        tracker = DialogueStateTracker("turn-costs", slots)
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(ActionExecuted("action_listen"))
        for turn in range(count):
            parsed = await processor.parse_message(UserMessage(TEXTS[turn % len(TEXTS)]))
            tracker.update(UserUttered(parsed["text"], parsed["intent"], parsed["entities"], parsed))
            tracker.update(ActionExecuted("action_extract_slots"))
            if turn < count - 1:  # the last user message waits for its prediction
                tracker.update(ActionExecuted("action_answer_topic"))
                tracker.update(BotUttered("A curated answer of about eighty words. " * 8))
                tracker.update(SlotSet("last_topic", "naloxone"))
                tracker.update(ActionExecuted("action_listen"))
        stored = [json.dumps(event.as_dict()) for event in tracker.events]
        last_turn = list(tracker.events)[-4:]

        def replay(stored: List[str] = stored) -> object:
            events = [Event.from_parameters(json.loads(row)) for row in stored]
            return DialogueStateTracker.from_events("turn-costs", events, slots)

        def predict(tracker: DialogueStateTracker = tracker) -> object:
            return processor._predict_next_with_tracker(tracker)

        def action_json(tracker: DialogueStateTracker = tracker) -> object:
            return json.dumps(tracker.current_state(EventVerbosity.ALL))

        def redaction(tracker: DialogueStateTracker = tracker, last_turn: List[Event] = last_turn) -> object:
            return redact_new_events(last_turn, context=tracker.events)

        rows.append(
            {
                "turn": count,
                "events": len(tracker.events),
                "replay_ms": median_ms(replay),
                "prediction_ms": median_ms(predict),
                "action_json_ms": median_ms(action_json),
                "redaction_ms": median_ms(redaction),
            }
        )
    return rows


def markdown(rows: List[Dict[str, float]]) -> str:
    lines = [
        "| turn | events | replay stored events | one policy prediction "
        "| tracker JSON for the action server | redaction of one turn |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['turn']:.0f} | {r['events']:.0f} | {r['replay_ms']:.1f} ms | {r['prediction_ms']:.1f} ms "
            f"| {r['action_json_ms']:.1f} ms | {r['redaction_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    from bot.stack import latest_model

    parser = argparse.ArgumentParser(prog="python -m bot.cli.turn_costs", description=__doc__)
    parser.add_argument("--turns", default="1,50,200", help="conversation lengths to measure (default 1,50,200)")
    args = parser.parse_args(argv)
    model = latest_model()
    if model is None:
        print("no trained model: run `make train` first", file=sys.stderr)
        return 1
    logging.disable(logging.WARNING)
    rows = asyncio.run(measure(model, [int(n) for n in args.turns.split(",")]))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
