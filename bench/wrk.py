"""wrk (the Debian package) as the HTTP load generator: POST one body over keep-alive
connections for a fixed time and read back its summary."""

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# wrk sends the body read from the file named in BENCH_BODY with every request.
_SCRIPT = """
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
"""

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    errors: int  # non-2xx answers plus socket errors
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (apt-get install wrk, as root)")
    return found


def run(port: int, body: bytes, connections: int, seconds: int) -> Result:
    """One wrk run against http://127.0.0.1:<port>/ with one thread."""
    with tempfile.TemporaryDirectory(prefix="mpifn-wrk-") as folder:
        body_file, script = Path(folder, "body.json"), Path(folder, "post.lua")
        body_file.write_bytes(body)
        script.write_text(_SCRIPT)
        command = [executable(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
        done = subprocess.run(
            [*command, f"http://127.0.0.1:{port}/"],
            env={"BENCH_BODY": str(body_file), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout)


def parse(report: str) -> Result:
    """The figures of wrk's text summary."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", report)
    if total is None:
        raise RuntimeError(f"wrk printed no summary:\n{report}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", report))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    return Result(
        requests=int(total[1]),
        seconds=float(total[2]) * _UNIT_MS[total[3]] / 1000,
        errors=errors + (int(non_2xx[1]) if non_2xx else 0),
        p50_ms=_percentile(report, "50%"),
        p99_ms=_percentile(report, "99%"),
    )


def _percentile(report: str, label: str) -> float:
    found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s|m)\s*$", report, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no {label} latency:\n{report}")
    return float(found[1]) * _UNIT_MS[found[2]]
