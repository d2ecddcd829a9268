"""`make bench`: this product against the stock `rasa init` bot, one after the other, the
same load for both (bot.benchmark), with the figures, the issue's targets beside them, and
a chart: results/bench.md, results/bench.json, results/bench.svg.

`--seconds 3 --users 1,5 --rates 5 --turns 20` is a quick run of the same steps."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from bot import benchmark, soak
from bot import settings as settings_module
from bot.cli import stock_bot
from bot.paths import ROOT, VAR_DIR
from bot.stack import RASA, Stack, base_env, free_port

RESULTS = ROOT / "results"
CRISIS_TARGET_MS = 100.0
OPEN_P95_TARGET_MS = 300.0


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20, help="length of each load level (default 20)")
    parser.add_argument("--users", default="1,10,50", help="closed-loop concurrent conversations (default 1,10,50)")
    parser.add_argument("--rates", default="5,10,20", help="open-loop offered msg/s (default 5,10,20)")
    parser.add_argument("--conversations", type=int, default=300, help="open-loop conversations (default 300)")
    parser.add_argument("--turns", type=int, default=200, help="messages in the growth conversation (default 200)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for bench.md, bench.json, bench.svg")
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def closed_levels(channel: soak.Channel, pid: int, users: List[int], seconds: float, label: str) -> Dict[str, Any]:
    figures = {}
    for n in users:
        result = soak.closed_loop(
            channel,
            {"rasa": pid},
            n,
            seconds,
            warmup_seconds=0,
            mix=benchmark.CycleMix(),
            label=f"{label} closed loop {n} users",
        )
        figures[str(n)] = benchmark.summary(result, seconds)
    return figures


def open_levels(channel: soak.Channel, rates: List[float], seconds: float, conversations: int, label: str) -> Dict:
    figures = {}
    for rate in rates:
        result = benchmark.open_loop(
            channel, rate, seconds, conversations, seed=int(rate), label=f"{label} open loop {rate:g} msg/s"
        )
        figures[f"{rate:g}"] = benchmark.summary(result, seconds, open_loop=True)
    return figures


def rest(url: str, timeout: float = 120.0) -> soak.Channel:
    return soak.Channel(url, rest=True, empty_is_error=False, timeout=timeout)


def bench_stock(args: argparse.Namespace, users: List[int], rates: List[float]) -> Dict[str, Any]:
    figures: Dict[str, Any] = {"training_s": stock_bot.build_stock_bot(RASA)}
    if stock_bot.stock_needs_action_server():
        raise SystemExit("the stock template now calls a custom action: start `rasa run actions` for it first")
    figures["action_server"] = "none: its rules and stories use only responses"
    with stock_bot.StockBot(RASA, free_port()) as stock:
        say(f"starting the stock bot on {stock.url} ...")
        started = time.perf_counter()
        stock.start()
        assert stock.proc is not None
        benchmark.first_answer(stock.webhook_url, proc=stock.proc)
        figures["startup_to_first_answer_s"] = time.perf_counter() - started
        figures["serial"] = benchmark.measure_urls(stock.url, stock.webhook_url, f"{stock.url}/model/parse")
        channel = rest(stock.webhook_url)
        figures["closed_rest"] = closed_levels(channel, stock.proc.pid, users, args.seconds, "stock REST")
        figures["rasa_rss_bytes"] = soak.rss_bytes(stock.proc.pid)
        figures["open_rest"] = open_levels(
            rest(stock.webhook_url, benchmark.OPEN_LOOP_TIMEOUT), rates, args.seconds, args.conversations, "stock REST"
        )
        figures["growth"] = benchmark.growth(stock.webhook_url, args.turns)
    return figures


def bench_product(args: argparse.Namespace, users: List[int], rates: List[float]) -> Dict[str, Any]:
    db_file = VAR_DIR / f"bench-{uuid.uuid4().hex[:6]}.db"
    settings = settings_module.load().replace(
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        db_url=f"sqlite:///{db_file}",
        trust_proxy=False,  # loopback is then never rate-limited (bot.web.security.limit_key)
    )
    figures: Dict[str, Any] = {}
    train_file = RESULTS / "train_seconds.txt"
    figures["training_s"] = float(train_file.read_text().strip()) if train_file.exists() else None
    try:
        with Stack(settings, log_dir=VAR_DIR / "logs" / "bench") as stack:
            say(f"starting this product (Rasa on {settings.rasa_url}, web app on {settings.web_url}) ...")
            started = time.perf_counter()
            stack.migrate()
            stack.start_actions()
            rasa_started = time.perf_counter()
            stack.start_rasa()
            benchmark.first_answer(settings.rasa_webhook_url, proc=stack.procs["rasa"])
            figures["startup_to_first_answer_s"] = time.perf_counter() - rasa_started
            stack.start_web()
            figures["stack_startup_to_first_web_answer_s"] = time.perf_counter() - started
            figures["serial"] = benchmark.measure(settings)
            pid = stack.procs["rasa"].pid
            web = soak.web_channel(settings)
            figures["closed_rest"] = closed_levels(
                rest(settings.rasa_webhook_url), pid, users, args.seconds, "ours REST"
            )
            figures["rasa_rss_bytes"] = soak.rss_bytes(pid)
            figures["closed_web"] = closed_levels(web, pid, users[:-1], args.seconds, "ours /api/chat")
            crisis = soak.Result(users=0, seconds=args.seconds, warmup_seconds=0)
            result = soak.closed_loop(
                web,
                {"rasa": pid},
                users[-1],
                args.seconds,
                warmup_seconds=0,
                mix=benchmark.CycleMix(),
                label=f"ours /api/chat closed loop {users[-1]} users + crisis probes",
                extra=benchmark.crisis_prober(web, crisis),
            )
            figures["closed_web"][str(users[-1])] = benchmark.summary(result, args.seconds)
            figures["crisis_under_load"] = benchmark.summary(crisis, args.seconds) | {"users": users[-1]}
            figures["memory_bytes"] = {name: soak.rss_bytes(proc.pid) for name, proc in stack.procs.items()}
            figures["open_rest"] = open_levels(
                rest(settings.rasa_webhook_url, benchmark.OPEN_LOOP_TIMEOUT),
                rates,
                args.seconds,
                args.conversations,
                "ours REST",
            )
            web_open = soak.Channel(web.url, timeout=benchmark.OPEN_LOOP_TIMEOUT)
            figures["open_web"] = open_levels(web_open, rates, args.seconds, args.conversations, "ours /api/chat")
            figures["growth"] = benchmark.growth(settings.rasa_webhook_url, args.turns)
        figures["database"] = benchmark.sqlite_size(db_file)
    finally:
        for path in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
            if path.exists():
                os.remove(path)
    return figures


# --- the report ------------------------------------------------------------------------------


def ms(value: Optional[float]) -> str:
    return "–" if value is None else (f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms")


def ratio(ours: Optional[float], stock: Optional[float]) -> Optional[float]:
    return ours / stock if ours is not None and stock else None


def x(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f}×"


def mark(ok: bool) -> str:
    return "**MET**" if ok else "**NOT MET**"


def errors(level: Dict[str, Any]) -> str:
    by_status = ", ".join(f"{status}: {n}" for status, n in level["errors_by_status"].items())
    return f"{level['errors']}" + (f" ({by_status})" if by_status else "")


def targets(stock: Dict[str, Any], ours: Dict[str, Any], users: List[int], rates: List[float]) -> List[List[str]]:
    """[target, measured, verdict] rows of the issue's "Figures to reach"."""
    top, first, fastest = str(users[-1]), str(users[0]), f"{rates[-1]:g}"
    rows = []
    r = ratio(ours["closed_rest"][top]["msg_per_s"], stock["closed_rest"][top]["msg_per_s"])
    rows.append([f"closed loop {top} users: ≥ 4× stock throughput (REST)", x(r), mark(r is not None and r >= 4)])
    for key, name in (("open_rest", "REST"), ("open_web", "/api/chat")):
        level = ours[key][fastest]
        ok = level["p95_ms"] is not None and level["p95_ms"] <= OPEN_P95_TARGET_MS and level["errors"] == 0
        measured = f"p95 {ms(level['p95_ms'])}, {level['errors']} errors"
        rows.append([f"open loop {fastest} msg/s ({name}): p95 ≤ 300 ms, 0 errors", measured, mark(ok)])
    r = ratio(ours["closed_rest"][first]["p50_ms"], stock["closed_rest"][first]["p50_ms"])
    rows.append([f"{first} user: p50 ≤ 0.5× stock (REST)", x(r), mark(r is not None and r <= 0.5)])
    crisis = ours["crisis_under_load"]
    ok = crisis["p99_ms"] is not None and crisis["p99_ms"] <= CRISIS_TARGET_MS and crisis["errors"] == 0
    rows.append(
        [
            f"crisis reply p99 ≤ 100 ms under {top} users (/api/chat)",
            f"{ms(crisis['p99_ms'])}, {errors(crisis)} errors",
            mark(ok),
        ]
    )
    r = ratio(ours["startup_to_first_answer_s"], stock["startup_to_first_answer_s"])
    rows.append(["start-up to first answer ≤ 0.5× stock (Rasa)", x(r), mark(r is not None and r <= 0.5)])
    r = ratio(ours["rasa_rss_bytes"], stock["rasa_rss_bytes"])
    rows.append(["Rasa's resident memory ≤ stock", x(r), mark(r is not None and r <= 1)])
    turns = ours["growth"]["median_ms_at_turn"]
    r = ratio(turns.get(str(ours["growth"]["turns"])), turns.get("1"))
    rows.append([f"latency at turn {ours['growth']['turns']} ≤ 1.2× turn 1", x(r), mark(r is not None and r <= 1.2)])
    t = ours["training_s"]
    rows.append(["training ≤ 5 min", "–" if t is None else f"{t:.0f} s", mark(t is not None and t <= 300)])
    return rows


def markdown(data: Dict[str, Any], users: List[int], rates: List[float]) -> str:
    stock, ours = data["stock"], data["product"]
    lines = [
        "# Bench: this product against the stock `rasa init` bot",
        "",
        f"Measured {data['date']} with `{data['command']}`: Rasa {data['rasa_version']} for both, "
        f"{data['machine']['cores']} cores, load average before the run {data['machine']['load_before']}. "
        f"Each level lasts {data['seconds']:g} s; the bots ran one after the other, never together. "
        "Message mix for both: topic questions, small talk and one crisis message in 20.",
        "",
        "## Closed loop (each conversation sends its next message when the last is answered)",
        "",
        "| users | bot, channel | msg/s | ratio to stock | p50 | p95 | p99 | errors | Rasa RSS at end |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in map(str, users):
        base = stock["closed_rest"][n]
        for name, level in (
            ("stock, REST", base),
            ("ours, REST", ours["closed_rest"][n]),
            ("ours, /api/chat", ours["closed_web"][n]),
        ):
            rss = level.get("rss_end_bytes", {}).get("rasa")
            lines.append(
                f"| {n} | {name} | {level['msg_per_s']:.1f} | {x(ratio(level['msg_per_s'], base['msg_per_s']))} |"
                f" {ms(level['p50_ms'])} | {ms(level['p95_ms'])} | {ms(level['p99_ms'])} | {errors(level)} |"
                f" {soak.mib(rss)} |"
            )
    crisis = ours["crisis_under_load"]
    lines += [
        "",
        f"Crisis messages from extra conversations while {crisis['users']} others ran through `/api/chat` "
        "(each reply checked for the region's emergency number from data/contacts.yml):",
        "",
        "| crisis messages | p50 | p95 | p99 | errors (incl. no emergency number) |",
        "|---|---|---|---|---|",
        f"| {crisis['sent']} | {ms(crisis['p50_ms'])} | {ms(crisis['p95_ms'])} | {ms(crisis['p99_ms'])} |"
        f" {errors(crisis)} |",
        "",
        "## Open loop (Poisson arrivals over "
        f"{data['conversations']} conversations; no answer within {benchmark.OPEN_LOOP_TIMEOUT:g} s is an error)",
        "",
        "| offered msg/s | bot, channel | sent/s | answered/s | p50 | p95 | p95 ratio to stock | p99 | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in (f"{r:g}" for r in rates):
        base = stock["open_rest"][rate]
        for name, level in (
            ("stock, REST", base),
            ("ours, REST", ours["open_rest"][rate]),
            ("ours, /api/chat", ours["open_web"][rate]),
        ):
            lines.append(
                f"| {rate} | {name} | {level['offered_per_s']:.1f} | {level['msg_per_s']:.1f} | {ms(level['p50_ms'])} |"
                f" {ms(level['p95_ms'])} | {x(ratio(level['p95_ms'], base['p95_ms']))} | {ms(level['p99_ms'])} |"
                f" {errors(level)} |"
            )
    sg, og = stock["growth"], ours["growth"]
    db = ours["database"]
    ours_training = "–" if ours["training_s"] is None else f"{ours['training_s']:.0f} s"
    lines += [
        "",
        "## Start-up, memory, training",
        "",
        "| figure | stock | ours | ratio to stock |",
        "|---|---|---|---|",
        f"| Rasa start-up to first answer | {stock['startup_to_first_answer_s']:.1f} s |"
        f" {ours['startup_to_first_answer_s']:.1f} s (whole stack to first `/api/chat` answer:"
        f" {ours['stack_startup_to_first_web_answer_s']:.1f} s) |"
        f" {x(ratio(ours['startup_to_first_answer_s'], stock['startup_to_first_answer_s']))} |",
        f"| Rasa resident memory (process and children) after the closed-loop levels |"
        f" {soak.mib(stock['rasa_rss_bytes'])} | {soak.mib(ours['rasa_rss_bytes'])} (action server"
        f" {soak.mib(ours['memory_bytes'].get('actions'))}, web app {soak.mib(ours['memory_bytes'].get('web'))}) |"
        f" {x(ratio(ours['rasa_rss_bytes'], stock['rasa_rss_bytes']))} |",
        f"| training | {stock['training_s']:.0f} s (`rasa init`, cached in build/stock-bot) |"
        f" {ours_training} (last `make train`, results/train_seconds.txt) |"
        f" {x(ratio(ours['training_s'], stock['training_s']))} |",
        "",
        f"## Growth: one conversation of {og['turns']} messages, one user, REST "
        f"(median of {og['window']} turns at each point)",
        "",
        "| turn | stock | ours |",
        "|---|---|---|",
    ]
    for turn in og["median_ms_at_turn"]:
        lines.append(f"| {turn} | {ms(sg['median_ms_at_turn'].get(turn))} | {ms(og['median_ms_at_turn'][turn])} |")
    per_1000 = db["bytes_per_1000_conversations"]
    lines += [
        "",
        f"Database: {db['conversations']} conversations ({db['events']} events) from this run took"
        f" {db['bytes'] / 2**20:.1f} MiB of SQLite: **{'–' if per_1000 is None else f'{per_1000 / 2**20:.1f} MiB'}"
        " per 1,000 conversations** (most of them 5 messages; the growth conversation included).",
        "",
        "## Serial figures (one message at a time, fresh conversations; issue 8)",
        "",
        "| figure | stock | ours |",
        "|---|---|---|",
    ]
    for key in ("p50_ms", "p95_ms", "model_parse_p50_ms", "model_parse_p95_ms", "baseline_p50_ms", "baseline_p95_ms"):
        lines.append(f"| {key.replace('_ms', '')} | {stock['serial'][key]:.1f} ms | {ours['serial'][key]:.1f} ms |")
    lines += [
        "",
        "(`model_parse` is NLU alone; `baseline` is Rasa's root endpoint, an HTTP round trip with no work.)",
        "",
        "## Targets (issue 9)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in data["targets"]]
    lines += ["", "![Throughput and p95 against load](bench.svg)", ""]
    return "\n".join(lines)


def chart(data: Dict[str, Any], users: List[int], rates: List[float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    stock, ours = data["stock"], data["product"]
    series = [
        ("stock, REST", stock, "closed_rest", "open_rest", "tab:gray"),
        ("ours, REST", ours, "closed_rest", "open_rest", "tab:blue"),
        ("ours, /api/chat", ours, "closed_web", "open_web", "tab:orange"),
    ]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 4))
    for name, bot, closed, opened, colour in series:
        a.plot(users, [bot[closed][str(n)]["msg_per_s"] for n in users], "o-", label=name, color=colour)
        b.plot(users, [bot[closed][str(n)]["p95_ms"] for n in users], "o-", label=name, color=colour)
        c.plot(rates, [bot[opened][f"{r:g}"]["p95_ms"] for r in rates], "o-", label=name, color=colour)
    a.set(title="Closed loop: throughput", xlabel="concurrent conversations", ylabel="msg/s")
    b.set(title="Closed loop: p95 latency", xlabel="concurrent conversations", ylabel="ms", yscale="log")
    c.set(title="Open loop: p95 latency", xlabel="offered msg/s (Poisson)", ylabel="ms", yscale="log")
    c.axhline(OPEN_P95_TARGET_MS, color="tab:green", linestyle="--", label="target p95 300 ms")
    for axis in (a, b, c):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(
        f"make bench, {data['date']}: this product against the stock rasa init bot ({data['seconds']:g} s per level)"
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def rasa_version() -> str:
    done = subprocess.run([RASA, "--version"], capture_output=True, text=True, env=base_env())
    for line in done.stdout.splitlines():
        if line.startswith("Rasa Version"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    users = [int(n) for n in args.users.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    out = Path(args.out)
    load = os.getloadavg()
    data: Dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "command": "python -m bot.cli.bench" + ("" if argv is None else " " + " ".join(argv)),
        "rasa_version": rasa_version(),
        "machine": {"cores": os.cpu_count(), "load_before": f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"},
        "seconds": args.seconds,
        "users": users,
        "rates": rates,
        "conversations": args.conversations,
    }
    if argv is None and len(sys.argv) > 1:
        data["command"] = "python -m bot.cli.bench " + " ".join(sys.argv[1:])
    started = time.monotonic()
    data["stock"] = bench_stock(args, users, rates)
    data["product"] = bench_product(args, users, rates)
    data["elapsed_s"] = time.monotonic() - started
    data["targets"] = targets(data["stock"], data["product"], users, rates)
    text = markdown(data, users, rates)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text(text, encoding="utf-8")
    (out / "bench.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    chart(data, users, rates, out / "bench.svg")
    print(text)
    say(f"Written to {out / 'bench.md'}, bench.json and bench.svg in {data['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
