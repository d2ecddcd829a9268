"""Health probe of the images (Docker HEALTHCHECK, Kubernetes exec probes).

python:3.10-slim has no curl, and Rasa's one probe that means "a model is loaded" needs
the API token, which only the container's environment holds:

    python deploy/probe.py URL        exit 0 when URL answers 2xx
    python deploy/probe.py --rasa-model
                                      exit 0 when the Rasa server on this container
                                      (RASA_PORT, 5005) has a model loaded

Why not Rasa's `/`: sanic binds the port only after Rasa's start-up listener has run,
but that listener swallows a failed model load (rasa.core.agent.load_agent logs it and
returns an agent without a model), so `/` answers "Hello from Rasa" from a server that
can answer nobody. `/status` is behind the token and answers 409 until a model is
loaded. The token goes in the query string, as Rasa reads it; sanic's access log is off
in the images, so it is written nowhere.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 4  # under the probes' 5 s timeout, so a hung server fails rather than hangs


def get(url: str) -> bytes:
    # no proxies: a probe always talks to its own container
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=TIMEOUT) as response:
        return response.read()


def rasa_status_url() -> str:
    port = os.environ.get("RASA_PORT", "").strip() or "5005"
    token = os.environ.get("RASA_TOKEN", "").strip()
    if not token:
        raise SystemExit("RASA_TOKEN is not set: the probe cannot ask Rasa's /status")
    return f"http://127.0.0.1:{port}/status?{urllib.parse.urlencode({'token': token})}"


def main(argv: list[str]) -> int:
    if argv == ["--rasa-model"]:
        url = rasa_status_url()
        try:
            status = json.loads(get(url))
        except (urllib.error.URLError, OSError, ValueError) as error:
            # the URL holds the token: name the failure, never the URL
            print(f"rasa /status: {type(error).__name__}: {getattr(error, 'code', '')}", file=sys.stderr)
            return 1
        if not status.get("model_file"):
            print("rasa /status: no model loaded", file=sys.stderr)
            return 1
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        get(argv[0])
    except (urllib.error.URLError, OSError) as error:
        print(f"{argv[0]}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
