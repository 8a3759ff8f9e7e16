"""Chat: the model's Jinja chat template, rendered in a sandbox, and a multi-turn session.

A GGUF file is untrusted input, and its ``tokenizer.chat_template`` is a program; it is rendered by
``jinja2.sandbox.ImmutableSandboxedEnvironment`` (no dunder attributes, no mutating methods), with the
settings Hugging Face's ``apply_chat_template`` uses (``trim_blocks``, ``lstrip_blocks``, a
``raise_exception`` global, a ``tojson`` filter).

    session = ChatSession(model, tok, chat_template(model.reader), system="Be brief.")
    for piece in session.send("What is the capital of France?"):
        print(piece, end="", flush=True)

Each turn renders the whole conversation, tokenizes it, and evaluates only the tokens after the prefix
it shares with what the KV cache already holds (from the previous turn); the session assumes it is the
only user of the model's cache between turns.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Iterator, Mapping

import numpy as np

from ..errors import GGUFError
from .generate import GenerationStats, decode_utf8
from .sampler import Sampler

TEMPLATE_KEY = "tokenizer.chat_template"


def _raise_exception(message: str):
    from jinja2.exceptions import TemplateError

    raise TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None,
            sort_keys: bool = False) -> str:
    # as transformers' chat-template tojson: no ASCII escaping, key order kept
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


_ENV = None


def _env():
    global _ENV
    if _ENV is None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        _ENV = env
    return _ENV


def render(template: str, messages: list[dict], *, add_generation_prompt: bool = True, bos_token: str = "",
           eos_token: str = "", **extra: Any) -> str:
    """The text of ``messages`` (``[{"role": ..., "content": ...}, ...]``) under a Jinja chat template.

    Raises:
        GGUFError: the template does not parse, fails while rendering (``raise_exception`` included),
            or tries something the sandbox forbids (``jinja2.exceptions.SecurityError``, chained).
    """
    from jinja2.exceptions import SecurityError, TemplateError

    if not isinstance(template, str) or not template:
        raise GGUFError("chat template is empty; pass a template with --chat-template-file")
    try:
        compiled = _env().from_string(template)
        return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                               bos_token=bos_token, eos_token=eos_token, **extra)
    except SecurityError as e:
        raise GGUFError(f"chat template: forbidden by the sandbox: {e}") from e
    except TemplateError as e:
        raise GGUFError(f"chat template failed to render: {e}") from e
    except Exception as e:  # a template can raise anything (TypeError on '+' of str and None, ...)
        raise GGUFError(f"chat template failed to render: {type(e).__name__}: {e}") from e


def chat_template(source: Any) -> str:
    """The chat template in a GGUF's metadata (a ``GGUFReader``, a metadata mapping or a path).

    Raises:
        GGUFError: the file has no ``tokenizer.chat_template``.
    """
    md = source
    if not isinstance(source, Mapping):
        if not hasattr(source, "metadata"):
            from .. import GGUFReader

            source = GGUFReader(source)
        md = source.metadata
    t = md.get(TEMPLATE_KEY) if hasattr(md, "get") else None
    if hasattr(t, "value"):
        t = t.value
    if isinstance(t, bytes):
        t = t.decode("utf-8", errors="replace")
    if not isinstance(t, str) or not t.strip():
        raise GGUFError(f"the model has no chat template ({TEMPLATE_KEY}); pass --chat-template-file")
    return t


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ChatSession:
    """A conversation with a model: the message history, and the tokens its KV cache holds.

    Args:
        model: a loaded ``Model`` (the session takes over its KV cache).
        tokenizer: the model's ``Tokenizer``.
        template: a Jinja chat template (see :func:`chat_template`).
        system: an optional system message, first in the history.
        sampler: a ``Sampler`` (default: llama.cpp's default settings).
        n_predict: most tokens per reply (< 0: until an end-of-generation token or a full context).
        add_bos: prepend BOS (default: the tokenizer's ``add_bos``), unless the rendered text already
            starts with the BOS token's text.
    """

    def __init__(self, model, tokenizer, template: str, system: str | None = None, sampler: Sampler | None = None,
                 *, n_predict: int = 256, add_bos: bool | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.sampler = sampler if sampler is not None else Sampler()
        self.n_predict = n_predict
        self.add_bos = tokenizer.add_bos if add_bos is None else add_bos
        self.messages: list[dict] = [{"role": "system", "content": system}] if system else []
        self.cached: list[int] = []  # tokens whose keys/values the model's cache holds, from position 0
        self.n_reused = 0            # cached prefix reused by the last turn
        self.stats = GenerationStats()
        bos, eos = tokenizer.bos_id, tokenizer.eos_id
        self.bos_token = tokenizer.token_text(bos) if bos is not None else ""
        self.eos_token = tokenizer.token_text(eos) if eos is not None else ""
        render(template, self.messages + [{"role": "user", "content": "hi"}], bos_token=self.bos_token,
               eos_token=self.eos_token)  # a broken template fails here, not on the first turn

    def render(self, add_generation_prompt: bool = True) -> str:
        return render(self.template, self.messages, add_generation_prompt=add_generation_prompt,
                      bos_token=self.bos_token, eos_token=self.eos_token)

    def prompt_tokens(self, text: str) -> list[int]:
        """``text`` tokenized with control tokens parsed, BOS added once at most."""
        tok = self.tokenizer
        toks = tok.tokenize(text, add_special=False, parse_special=True)
        if self.add_bos and tok.bos_id is not None and not (self.bos_token and text.startswith(self.bos_token)):
            toks = [tok.bos_id] + toks
        return toks

    def send(self, user_text: str) -> Iterator[str]:
        """Add a user message and stream the assistant's reply (added to the history when done, or as far
        as it got if the stream is closed early).

        Raises:
            GGUFError: the template fails, or the conversation no longer fits the context (raised by this
                call, before any piece is asked for; the user message is then not kept).
        """
        self.messages.append({"role": "user", "content": user_text})
        try:
            text = self.render()
            toks = self.prompt_tokens(text)
            if not toks:
                raise GGUFError("chat: the rendered conversation is empty")
            if len(toks) >= self.model.n_ctx:
                raise GGUFError(f"chat: the conversation is {len(toks)} tokens, it does not fit the context "
                                f"({self.model.n_ctx}); raise the context size (-c) or start over")
        except BaseException:
            self.messages.pop()
            raise
        return decode_utf8(self._run(toks))

    def _run(self, toks: list[int]) -> Iterator[bytes]:
        model, tok, sampler = self.model, self.tokenizer, self.sampler
        stats = self.stats = GenerationStats()
        # reuse the cached prefix; at least one token must be evaluated to get logits
        p = min(_common_prefix(self.cached, toks), len(toks) - 1, model.n_past)
        self.n_reused = p
        new = toks[p:]
        stats.n_prompt = len(new)
        self.cached = toks[:p]  # what the cache is good for if evaluation fails
        t0 = time.perf_counter()
        logits = model.eval(np.asarray(new, dtype=np.int32), p, all_logits=False)
        stats.prompt_s = time.perf_counter() - t0
        self.cached = list(toks)
        history = list(toks)
        n_ctx, eog = model.n_ctx, tok.eog_ids
        reply: list[int] = []
        stats.stop_reason = "n_predict"
        try:
            t = time.perf_counter()
            while self.n_predict < 0 or stats.n_gen < self.n_predict:
                nxt = sampler.sample(np.asarray(logits).reshape(-1), history)
                if nxt in eog:
                    stats.stop_reason = "eog"
                    break
                history.append(nxt)
                reply.append(nxt)
                stats.tokens.append(nxt)
                stats.n_gen += 1
                stats.gen_s += time.perf_counter() - t
                yield tok.token_to_piece(nxt, special=False)
                t = time.perf_counter()
                if stats.n_gen == self.n_predict:
                    break
                if len(self.cached) >= n_ctx:
                    stats.stop_reason = "context"
                    break
                logits = model.eval(np.asarray([nxt], dtype=np.int32), len(self.cached), all_logits=False)
                self.cached.append(nxt)
            stats.gen_s += time.perf_counter() - t
        finally:
            text = b"".join(tok.token_to_piece(t, special=False) for t in reply).decode("utf-8", errors="replace")
            self.messages.append({"role": "assistant", "content": text})

    def reset(self, system: str | None = None) -> None:
        """Start over (the system message is kept unless a new one is given)."""
        if system is None and self.messages and self.messages[0]["role"] == "system":
            system = self.messages[0]["content"]
        self.messages = [{"role": "system", "content": system}] if system else []
        self.cached = []
