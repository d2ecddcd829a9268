"""The Rasa project as a whole: data validation and the test stories."""

import os
import subprocess

from bot.paths import ROOT
from bot.stack import RASA, latest_model

ARTIFACTS = ROOT / "tests" / ".artifacts"
ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "RASA_TELEMETRY_ENABLED": "false",
    "ACTION_ENDPOINT_URL": "http://127.0.0.1:9/webhook",
    "BOT_DB_URL": f"sqlite:///{ARTIFACTS / 'unused.db'}",
}


def rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RASA, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)


def test_training_data_validates_without_warnings():
    result = rasa("data", "validate", "--fail-on-warnings")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_test_stories_pass_end_to_end():
    out = ARTIFACTS / "core-results"
    result = rasa(
        "test",
        "core",
        "--model",
        str(latest_model()),
        "--stories",
        "tests/test_stories.yml",
        "--fail-on-prediction-errors",
        "--out",
        str(out),
    )
    failed = out / "failed_test_stories.yml"
    detail = failed.read_text()[:4000] if failed.exists() else result.stdout[-3000:]
    assert result.returncode == 0, detail
