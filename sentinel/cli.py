"""The ``sentinel`` command."""

from __future__ import annotations

import argparse
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "check":
        from sentinel import check

        return check.run(args.config, args.rules)
    return 0


if __name__ == "__main__":
    sys.exit(main())
