"""`python -m mpifn.serve`: the local gateway on 127.0.0.1:8080 (functions-framework + gunicorn)."""

import argparse
import errno
import socket
import sys
from pathlib import Path

from functions_framework import create_app
from functions_framework._http import create_server


def listen_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (checked before gunicorn, which would retry
    for five seconds and then say only "Can't connect"), or None."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        return f"--host {host}: not an address of this machine ({error}); e.g. make run HOST=127.0.0.1"
    other = port + 1 if 1024 <= port < 65535 else 8080
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (another `make run`?); pick another port: "
                    f"make run PORT={other} (python -m mpifn.serve --port {other})"
                )
            if error.errno == errno.EACCES:
                return f"port {port}: only root may listen on ports below 1024; pick another: make run PORT={other}"
            if error.errno == errno.EADDRNOTAVAIL:
                return f"--host {host}: not an address of this machine; e.g. make run HOST=127.0.0.1"
            return f"cannot listen on {host}:{port}: {error.strerror}"
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve sync, finalize and probe under /function/<name>.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    problem = listen_problem(args.host, args.port)
    if problem:
        print(f"mpifn.serve: {problem}", file=sys.stderr)
        sys.exit(1)
    app = create_app(target="gateway", source=str(Path(__file__).with_name("gateway.py")))
    print(
        f"mpifn: serving /function/sync (and /function/sync/customize), /function/finalize, /function/probe "
        f"on http://{args.host}:{args.port}",
        flush=True,
    )
    create_server(app, debug=False).run(args.host, args.port)


if __name__ == "__main__":
    main()
