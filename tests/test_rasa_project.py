"""The Rasa project as a whole: data validation, test stories, held-out NLU evaluation."""
import os
import subprocess


from bot import evaluation
from bot.nlu_data import intent_examples
from bot.paths import ROOT
from bot.stack import RASA, latest_model

ARTIFACTS = ROOT / "tests" / ".artifacts"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
       "ACTION_ENDPOINT_URL": "http://127.0.0.1:9/webhook",
       "BOT_DB_URL": f"sqlite:///{ARTIFACTS / 'unused.db'}"}


def rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RASA, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)


def test_training_data_validates_without_warnings():
    result = rasa("data", "validate", "--fail-on-warnings")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_test_stories_pass_end_to_end():
    out = ARTIFACTS / "core-results"
    result = rasa("test", "core", "--model", str(latest_model()), "--stories", "tests/test_stories.yml",
                  "--fail-on-prediction-errors", "--out", str(out))
    failed = (out / "failed_test_stories.yml")
    detail = failed.read_text()[:4000] if failed.exists() else result.stdout[-3000:]
    assert result.returncode == 0, detail


def test_held_out_examples_are_not_in_the_training_data():
    assert evaluation.check_disjoint() == []


def test_held_out_nlu_meets_the_bar():
    counts = {}
    for _, intent in intent_examples(evaluation.HOLDOUT):
        counts[intent] = counts.get(intent, 0) + 1
    assert min(counts.values()) >= 5
    report = evaluation.evaluate(latest_model())
    print("\n" + evaluation.format_report(report))
    assert report.macro_f1 >= 0.90
    assert report.escalation_recall == 1.0
    assert all(recall == 1.0 for recall in report.crisis_recall.values()), report.crisis_recall
