"""`make bench`: issue 6, each comparison measured side by side in one run.

    python -m bench.run [--quick] [--only sync,cold,http,probe,status]

Prints a table and writes bench-results/bench.json. Timings never decide a test;
this script only reports them against the issue's targets."""

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import jobs, proc, status_scale, wrk  # noqa: E402
from bench.measure import Row, row, sync_call  # noqa: E402
from testkit.server import free_port  # noqa: E402

SYNC_SIZES = (1, 16, 256, 1024, 4096)
HTTP_WORKERS = 64
HTTP_CONNECTIONS = (1, 16)


# ---------------------------------------------------------------- helpers


def function_command(target: str, source: Path, port: int) -> list[str]:
    """The functions-framework command line the Dockerfiles run."""
    cli = shutil.which("functions-framework")
    prefix = [cli] if cli else [sys.executable, "-c", "from functions_framework._cli import _cli; _cli()"]
    return [*prefix, "--target", target, "--source", str(source), "--host", "127.0.0.1", "--port", str(port)]


class Server:
    """A function server process; stopped (its whole process group) on exit."""

    def __init__(self, target: str, source: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            function_command(target, source, self.port),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def first_answer(self, body: bytes, deadline_seconds: float = 30.0) -> tuple[float, int, bytes]:
        """Seconds from exec to the first complete answer to `body` (polling every 2 ms)."""
        message = post_message(self.port, body)
        give_up = time.perf_counter() + deadline_seconds
        while time.perf_counter() < give_up:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                status, answer = _exchange(self.port, message)
            except (ConnectionRefusedError, ConnectionResetError):
                time.sleep(0.002)
                continue
            return time.perf_counter() - self.started, status, answer
        raise TimeoutError(f"no answer within {deadline_seconds}s")

    def cpu_seconds(self) -> float:
        """CPU of gunicorn's arbiter and worker (start_new_session made the group ours)."""
        return proc.group_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def post_message(port: int, body: bytes) -> bytes:
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _exchange(port: int, message: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(message)
        stream = connection.makefile("rb")
        status = int(stream.readline().split()[1])
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, stream.read(length)


def sync_server() -> Server:
    return Server("sync", ROOT / "functions" / "sync" / "main.py")


def bare_server(size: int) -> Server:
    return Server("bare", ROOT / "bench" / "bare" / "main.py", {"BENCH_BARE_BYTES": str(size)})


# ---------------------------------------------------------------- 1. sync in process


def bench_sync(quick: bool) -> tuple[list[Row], dict[str, Any]]:
    logging.getLogger("mpifn").setLevel(logging.WARNING)  # the per-request log line is item 3's business
    budget = 0.3 if quick else 1.5
    results: dict[str, Any] = {}
    rows: list[Row] = []
    for replicas in SYNC_SIZES:
        body = jobs.steady_request_bytes(replicas)
        answer = sync_call(body)
        decoded_answer = json.loads(answer)

        def floor(body: bytes = body, decoded_answer: Any = decoded_answer) -> None:
            json.loads(body)
            json.dumps(decoded_answer, sort_keys=True, separators=(",", ":")).encode()

        for _ in range(5):  # warm caches of both
            sync_call(body)
            floor()
        sync_times: list[float] = []
        floor_times: list[float] = []
        stop_at = time.perf_counter() + budget
        while (time.perf_counter() < stop_at or len(sync_times) < 21) and len(sync_times) < 20000:
            started = time.perf_counter()
            sync_call(body)
            middle = time.perf_counter()
            floor()
            sync_times.append(middle - started)
            floor_times.append(time.perf_counter() - middle)
        sync_median, floor_median = statistics.median(sync_times), statistics.median(floor_times)
        results[str(replicas)] = {
            "request_bytes": len(body),
            "response_bytes": len(answer),
            "sync_ms": sync_median * 1000,
            "floor_ms": floor_median * 1000,
            "ratio": sync_median / floor_median,
            "calls": len(sync_times),
        }
        ratio = sync_median / floor_median
        rows.append(
            row(
                "1 sync",
                f"{replicas} workers: {sync_median * 1000:.2f} ms vs floor {floor_median * 1000:.2f} ms "
                f"(req {len(body) / 1024:.0f} KB, resp {len(answer) / 1024:.0f} KB)",
                ratio,
                "x floor",
                "<= 3",
                ratio <= 3,
            )
        )
    growth = results["4096"]["sync_ms"] / results["256"]["sync_ms"]
    rows.append(row("1 sync", "time(4096) / time(256)", growth, "x", "<= 20", growth <= 20))
    size = results["4096"]["response_bytes"] / 1000
    rows.append(row("1 sync", "response at 4096 workers", size, "KB", "< 300", size < 300))
    return rows, results


# ---------------------------------------------------------------- 2. cold start


def import_profile() -> dict[str, Any]:
    """`python -X importtime` of the sync entry point: what it adds to functions-framework."""
    code = (
        "import functions_framework, importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('main', {str(ROOT / 'functions/sync/main.py')!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
    cumulative = {}
    for parts in lines[1:]:
        if len(parts) == 3:
            cumulative[parts[2][1:].rstrip()] = int(parts[1])
    top = {name: us for name, us in cumulative.items() if not name.startswith(" ")}
    names = list(top)
    after = names[names.index("functions_framework") + 1 :] if "functions_framework" in names else []
    return {
        "functions_framework_ms": top.get("functions_framework", 0) / 1000,
        "mpifn_ms": sum(top[name] for name in after) / 1000,
        "top_level_ms": {name: us / 1000 for name, us in sorted(top.items(), key=lambda kv: -kv[1])[:8]},
    }


def compile_like_the_image() -> None:
    """Bytecode for the measured sources, as functions/Dockerfile compiles them at build time:
    the servers then start as in the image (PYTHONDONTWRITEBYTECODE, nothing compiled at exec)."""
    sources = [ROOT / "mpifn", ROOT / "functions" / "sync" / "main.py", ROOT / "bench" / "bare" / "main.py"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, sources)], check=True, timeout=120)


def bench_cold(quick: bool) -> tuple[list[Row], dict[str, Any]]:
    compile_like_the_image()
    body = jobs.steady_request_bytes(HTTP_WORKERS)
    expected = sync_call(body)
    rounds = 3 if quick else 9
    times: dict[str, list[float]] = {"sync": [], "bare": []}
    for round_number in range(rounds + 1):
        for name in ("sync", "bare"):
            with sync_server() if name == "sync" else bare_server(len(expected)) as server:
                seconds, status, answer = server.first_answer(body)
            if status != 200 or len(answer) != len(expected):
                raise RuntimeError(f"cold start of {name}: status {status}, {len(answer)} bytes")
            if round_number:  # round 0 warms the page cache
                times[name].append(seconds)
    sync_ms, bare_ms = statistics.median(times["sync"]) * 1000, statistics.median(times["bare"]) * 1000
    ratio = sync_ms / bare_ms
    imports = import_profile()
    rows = [
        row(
            "2 cold start",
            f"exec -> first 200: sync {sync_ms:.0f} ms vs bare {bare_ms:.0f} ms (median of {rounds})",
            ratio,
            "x bare",
            "<= 1.15",
            ratio <= 1.15,
        ),
        row("2 cold start", "imports beyond functions_framework (-X importtime)", imports["mpifn_ms"], "ms", "", None),
    ]
    result = {
        "request_bytes": len(body),
        "response_bytes": len(expected),
        "sync_ms": sync_ms,
        "bare_ms": bare_ms,
        "ratio": ratio,
        "sync_all_ms": [t * 1000 for t in times["sync"]],
        "bare_all_ms": [t * 1000 for t in times["bare"]],
        "imports": imports,
    }
    return rows, result


# ---------------------------------------------------------------- 3. HTTP throughput


def bench_http(quick: bool) -> tuple[list[Row], dict[str, Any]]:
    """wrk against sync and bare, both served at once and loaded in turn (the order swapped
    every round), at 1 and at 16 connections; medians over the rounds."""
    body = jobs.steady_request_bytes(HTTP_WORKERS)
    expected = sync_call(body)
    rounds, seconds = (3, 2) if quick else (7, 4)
    runs: dict[str, list[wrk.Result]] = {f"{name}/{c}": [] for name in ("sync", "bare") for c in HTTP_CONNECTIONS}
    cpu_ms: dict[str, list[float]] = {key: [] for key in runs}  # server CPU per request
    with sync_server() as sync, bare_server(len(expected)) as bare:
        servers = {"sync": sync, "bare": bare}
        for name, server in servers.items():
            _, status, answer = server.first_answer(body)
            if status != 200 or (name == "sync" and answer != expected) or len(answer) != len(expected):
                raise RuntimeError(f"{name} answered {status} with {len(answer)} bytes, not the expected answer")
            wrk.run(server.port, body, 4, 1)  # warm-up
        for round_number in range(rounds):
            order = ("sync", "bare") if round_number % 2 == 0 else ("bare", "sync")
            for connections in HTTP_CONNECTIONS:
                for name in order:
                    server, key = servers[name], f"{name}/{connections}"
                    before = server.cpu_seconds()
                    runs[key].append(wrk.run(server.port, body, connections, seconds))
                    cpu_ms[key].append((server.cpu_seconds() - before) * 1000 / runs[key][-1].requests)
    results: dict[str, Any] = {"request_bytes": len(body), "response_bytes": len(expected), "rounds": rounds}
    rows = []
    for connections in HTTP_CONNECTIONS:
        mine, base = runs[f"sync/{connections}"], runs[f"bare/{connections}"]
        keys = {name: f"{name}/{connections}" for name in ("sync", "bare")}
        summary = {name: _http_summary(runs[key], cpu_ms[key]) for name, key in keys.items()}
        ratio = summary["sync"]["rps"] / summary["bare"]["rps"]
        per_round = [m.rps / b.rps for m, b in zip(mine, base, strict=True)]
        results[str(connections)] = {**summary, "ratio": ratio, "round_ratios": per_round}
        errors = summary["sync"]["errors"] + summary["bare"]["errors"]
        rows.append(
            row(
                "3 http",
                f"{connections} connection(s), {HTTP_WORKERS} workers, wrk, median of {rounds}: "
                f"sync {summary['sync']['rps']:.0f} req/s p50 {summary['sync']['p50_ms']:.2f} "
                f"p99 {summary['sync']['p99_ms']:.2f} ms; bare {summary['bare']['rps']:.0f} req/s "
                f"p50 {summary['bare']['p50_ms']:.2f} p99 {summary['bare']['p99_ms']:.2f} ms; "
                f"server CPU/request sync {summary['sync']['cpu_ms']:.2f} bare {summary['bare']['cpu_ms']:.2f} ms; "
                f"rounds {min(per_round):.2f}-{max(per_round):.2f}; {errors} errors",
                ratio,
                "x bare",
                ">= 0.8, 0 errors",
                ratio >= 0.8 and errors == 0,
            )
        )
    return rows, results


def _http_summary(found: list[wrk.Result], cpu_ms: list[float]) -> dict[str, Any]:
    return {
        "cpu_ms": statistics.median(cpu_ms),
        "rps": statistics.median(r.rps for r in found),
        "p50_ms": statistics.median(r.p50_ms for r in found),
        "p99_ms": statistics.median(r.p99_ms for r in found),
        "errors": sum(r.errors for r in found),
        "all_rps": [r.rps for r in found],
    }


# ---------------------------------------------------------------- 4. probe at scale


class Listeners:
    def __init__(self, workers: int, silent_every: int) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "bench.ssh_listeners", "--workers", str(workers), "--port", str(self.port)]
        command += ["--silent-every", str(silent_every)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("the fake sshd listeners did not start")

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def probe_once(workers: int, port: int, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.probe_child", str(workers), str(port), str(timeout)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout))


def probe_median(workers: int, port: int, timeout: float, rounds: int) -> dict[str, Any]:
    runs = [probe_once(workers, port, timeout) for _ in range(rounds)]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**middle, "all_seconds": [run["seconds"] for run in runs], "rounds": rounds}


def bench_probe(quick: bool) -> tuple[list[Row], dict[str, Any]]:
    rounds = 3 if quick else 5
    answering, partly_silent = Listeners(4096, 0), None
    try:
        partly_silent = Listeners(1024, 10)
        silent = probe_median(1024, partly_silent.port, 1.0, rounds)
        scale = {n: probe_median(n, answering.port, 5.0, rounds) for n in (256, 1024, 4096)}
    finally:
        answering.close()
        if partly_silent:
            partly_silent.close()
    silent_expected = len(range(0, 1024, 10))
    rows = [
        row(
            "4 probe",
            f"1024 workers, {silent['unreachable']} never answer, 1 s timeout "
            f"({silent['reachable']} reachable, peak RSS {silent['peak_rss_mb']:.0f} MB)",
            silent["seconds"],
            "s",
            "<= 1.5",
            silent["seconds"] <= 1.5
            and silent["reachable"] == 1024 - silent_expected
            and silent["unreachable"] == {"timeout": silent_expected},
        ),
        row(
            "4 probe",
            f"4096 workers all answering ({scale[4096]['reachable']} reachable, "
            f"peak RSS {scale[4096]['peak_rss_mb']:.0f} MB)",
            scale[4096]["seconds"],
            "s",
            "<= 1.0",
            scale[4096]["seconds"] <= 1.0 and scale[4096]["reachable"] == 4096,
        ),
    ]
    for small, large in ((256, 1024), (1024, 4096)):
        growth = scale[large]["seconds"] / scale[small]["seconds"]
        rows.append(
            row(
                "4 probe",
                f"time({large}) / time({small}): {scale[large]['seconds'] * 1000:.0f} ms / "
                f"{scale[small]['seconds'] * 1000:.0f} ms",
                growth,
                "x",
                f"<= {large // small} (linear)",
                growth <= large / small,
            )
        )
    return rows, {"silent_1024": silent, "answering": {str(n): result for n, result in scale.items()}}


# ---------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "kernel": platform.release()}


def print_table(rows: list[Row]) -> None:
    print(f"{'item':<13} {'value':>9} {'unit':<7} {'target':<18} {'ok':<4} measure")
    for entry in rows:
        ok = "-" if entry["ok"] is None else "yes" if entry["ok"] else "NO"
        print(
            f"{entry['item']:<13} {entry['value']:>9.2f} {entry['unit']:<7} {entry['target']:<18} {ok:<4} "
            f"{entry['measure']}"
        )


def bench_status(quick: bool) -> tuple[list[Row], dict[str, Any]]:
    return status_scale.measure(quick)


BENCHES = {"sync": bench_sync, "cold": bench_cold, "http": bench_http, "probe": bench_probe, "status": bench_status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter runs")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ",".join(BENCHES))
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "bench.json"))
    args = parser.parse_args(argv)
    rows: list[Row] = []
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    for name in args.only.split(","):
        found, detail = BENCHES[name](args.quick)
        rows += found
        report[name] = detail
    report["rows"] = rows
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    info = report["machine"]
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}")
    print_table(rows)
    print(f"written: {output}")
    return 0 if all(entry["ok"] is not False for entry in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
