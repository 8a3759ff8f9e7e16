"""``convert-hf-to-gguf MODEL_DIR [-o out.gguf] [--outtype T]`` (also ``ggufpy convert``): a thin shell over
``convert_hf``. ``main`` hands over to ``ggufpy.cli.main``, so errors print one line and exit 2, as every
ggufpy command does."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..quants.mix import TARGETS

    p.add_argument("model_dir", help="Hugging Face model folder (config.json, *.safetensors, tokenizer)")
    p.add_argument("-o", "--outfile", help="output .gguf (default: <Name>-<size>-<TYPE>.gguf in MODEL_DIR)")
    p.add_argument("--outtype", "-t", default="auto", metavar="TYPE",
                   help="auto (the checkpoint's bf16/f16) or any `ggufpy quantize` type: " + ", ".join(TARGETS))
    p.add_argument("--output-tensor-type", metavar="TYPE", help="type for output.weight (or tied token_embd)")
    p.add_argument("--token-embedding-type", metavar="TYPE", help="type for token_embd.weight")
    p.add_argument("--tensor-type", action="append", metavar="REGEX=TYPE", help="per-tensor override (repeatable)")
    p.add_argument("--pure", action="store_true", help="no mix: every quantizable tensor gets TYPE's base type")
    p.add_argument("--tokenizer-pre", metavar="NAME", help="force tokenizer.ggml.pre instead of identifying it")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="print the per-tensor plan")


def run(args: argparse.Namespace) -> int:
    from ..quants.mix import parse_tensor_type
    from . import convert_hf

    result = convert_hf(
        args.model_dir, args.outfile, args.outtype, overwrite=args.force, progress=not args.quiet,
        tokenizer_pre=args.tokenizer_pre, output_tensor_type=args.output_tensor_type,
        token_embedding_type=args.token_embedding_type,
        tensor_type_overrides=[parse_tensor_type(o) for o in args.tensor_type or []], pure=args.pure)
    if args.verbose:
        for p in result.tensors:
            print(f"{p.name:<40} {p.type.name:<8} {p.reason}", file=sys.stderr)
    private = sorted({p.type.name for p in result.tensors if int(p.type) >= 0x47500000})
    if private:
        print(f"note: {', '.join(private)} are ggufpy-private types: only ggufpy can load {result.path}",
              file=sys.stderr)
    ratio = result.n_bytes_in / result.n_bytes_out if result.n_bytes_out else float("nan")
    print(f"wrote {result.path} ({result.outtype}, {len(result.tensors)} tensors): {result.n_bytes_in / 2**20:.2f} MiB "
          f"-> {result.n_bytes_out / 2**20:.2f} MiB ({ratio:.2f}x), {result.n_fallback} tensors fell back to another "
          "type", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``convert-hf-to-gguf`` console script: ``ggufpy convert`` (same arguments, errors and exit codes;
    ``--debug`` may come anywhere)."""
    from ..cli import main as ggufpy_main

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = ["--debug"] if "--debug" in argv else []
    return ggufpy_main([*debug, "convert", *(a for a in argv if a != "--debug")])


if __name__ == "__main__":
    raise SystemExit(main())
