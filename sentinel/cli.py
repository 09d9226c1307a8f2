"""The ``sentinel`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sentinel import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinel",
        description="SLO burn-rate alerting daemon built on a Rete production system.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="validate a config, its rule files and runbook links (no network)",
    )
    check.add_argument(
        "-c", "--config", required=True, help="config file or folder of files"
    )
    check.add_argument(
        "--rules", nargs="+", default=[], metavar="FILE", help="more rule files"
    )
    run = commands.add_parser(
        "run", help="run the daemon: evaluate SLOs on a schedule and send alerts"
    )
    run.add_argument(
        "-c", "--config", required=True, help="config file or folder of files"
    )
    run.add_argument(
        "--listen", help="override global.listen (host:port) for the HTTP server"
    )
    run.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: info)",
    )
    demo = commands.add_parser(
        "demo",
        help="run the daemon against a demo service with a scripted outage",
    )
    demo.add_argument(
        "--port", type=int, default=9099, help="port for Sentinel's HTTP server"
    )
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # urllib3 logs request paths at DEBUG; some (Slack) hold secrets.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # APScheduler logs every job run at INFO; Sentinel logs what matters of them.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _run(args: argparse.Namespace) -> int:
    from sentinel import check
    from sentinel.daemon import Daemon
    from sentinel.errors import SentinelError

    _configure_logging(args.log_level)
    if check.run(args.config, out=sys.stderr) != 0:
        print("sentinel: refusing to start with configuration errors", file=sys.stderr)
        return 1
    try:
        daemon = Daemon(args.config, listen=args.listen).handle_signals().start()
    except (SentinelError, OSError) as exc:
        print(f"sentinel: cannot start: {exc}", file=sys.stderr)
        return 1
    return daemon.run_forever()


def _demo(args: argparse.Namespace) -> int:
    import signal
    import threading

    from sentinel.demo import run_demo

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return run_demo(port=args.port, stop=stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "check":
        from sentinel import check

        return check.run(args.config, args.rules)
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        return _demo(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
