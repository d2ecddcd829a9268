"""Logs never carry what a visitor typed, nor who they are: in a fresh process set up the
way the product's processes are (install_log_redaction, then Rasa's own logging set-up at
DEBUG, sanic's loggers at DEBUG), messages, their arguments, exception messages,
tracebacks, uncaught exceptions in threads and access lines are written to a real file,
which is then searched."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from bot.paths import ROOT

SECRETS = ["Priya", "07700 900582", "priya.k@example.com", "485 777 3456", "4539 1488 0343 6467", "203.0.113.77"]

SCRIPT = textwrap.dedent(
    """
    import logging, os, sys, threading
    os.environ["LOG_LEVEL_LIBRARIES"] = "DEBUG"
    from bot.redact import install_log_redaction
    install_log_redaction()
    # what `rasa run --debug` does after our install: new handlers, DEBUG everywhere
    from rasa.utils.common import configure_logging_and_warnings, update_sanic_log_level
    configure_logging_and_warnings(logging.DEBUG)
    update_sanic_log_level(log_file=sys.argv[1])
    handler = logging.FileHandler(sys.argv[1])
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    sys.stderr = open(sys.argv[1], "a")

    text = "hi im Priya, call 07700 900582 or priya.k@example.com, NHS 485 777 3456"
    log = logging.getLogger("rasa.core.processor")
    log.debug("Received user message '%s' with intent '%s'", text, "greet")
    logging.getLogger("rasa_sdk.executor").info(f"tracker: {{'text': {text!r}}}")
    try:
        raise ValueError("could not parse card 4539 1488 0343 6467 from " + text)
    except ValueError:
        logging.getLogger("rasa_sdk.endpoint").exception("Exception occurred during execution of request")
    # sanic and uvicorn access lines: the client's address and user agent
    from sanic.log import access_logger
    access_logger.info("", extra={"status": 200, "byte": 10, "host": "203.0.113.77:4431", "request": "POST /webhook"})
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.77:4431", "POST", "/api/chat", "1.1", 200)
    logging.getLogger("bot.web").warning("client 203.0.113.77 sent Mozilla/5.0 (PrivacyProbe)")
    thread = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError("from " + text)))
    thread.start(); thread.join()
    print("done", file=sys.stderr)
    """
)


def test_messages_arguments_tracebacks_and_access_lines_are_redacted_in_the_log_file(tmp_path):
    log_file = tmp_path / "process.log"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log_file)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = log_file.read_text(encoding="utf-8") + result.stdout + result.stderr
    # everything was written, redacted: the lines are there, the data is not
    assert "Received user message 'hi im [NAME], call [PHONE] or [EMAIL], NHS [NHS_NUMBER]'" in written, written
    assert "Traceback" in written and "could not parse card [CARD] from" in written, written
    assert "RuntimeError: from hi im [NAME]" in written, written
    assert "client [IP] sent" in written and "done" in written, written
    for secret in SECRETS:
        assert secret not in written, f"{secret!r} is in the log:\n{written}"
    assert "/webhook" not in written and "/api/chat" not in written, "an access line was written"
