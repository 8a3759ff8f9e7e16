"""Chat templates (sandboxed Jinja), ChatSession (KV-cache reuse across turns) and ``ggufpy chat``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jinja2.exceptions import SecurityError

from ggufpy import GGUFReader
from ggufpy.errors import GGUFError
from ggufpy.runtime.chat import ChatSession, chat_template, render
from ggufpy.runtime.model import Model
from ggufpy.runtime.sampler import Sampler, SamplerConfig
from ggufpy.runtime.tokenizer import Tokenizer

CHATML_EXPECTED = (
    "<|im_start|>system\nYou are terse.<|im_end|>\n"
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n"
)


@pytest.fixture(scope="module")
def template(smollm2_path):
    return chat_template(GGUFReader(smollm2_path))


@pytest.fixture(scope="module")
def model(smollm2_path):
    with Model.load(smollm2_path, threads=2, n_ctx=256) as m:
        yield m


@pytest.fixture()
def tok(smollm2_path):
    return Tokenizer.from_gguf(smollm2_path)  # fresh: tests may change add_bos


def greedy() -> Sampler:
    return Sampler(SamplerConfig(temp=0))


# ---- render ---------------------------------------------------------------------------------------------


def test_render_smollm2_chatml(template):
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}]
    assert render(template, msgs) == CHATML_EXPECTED
    assert render(template, msgs, add_generation_prompt=False) == CHATML_EXPECTED[: -len("<|im_start|>assistant\n")]
    # no system message: the template's default one
    assert render(template, msgs[1:]).startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n")


def test_render_hf_conventions():
    t = ("{% for m in messages %}\n  {{ m['role'] }}={{ m['content'] | tojson }}\n{% endfor %}"
         "{% if add_generation_prompt %}{{ bos_token }}|{{ eos_token }}{% endif %}")
    out = render(t, [{"role": "user", "content": "é\"x"}], bos_token="<s>", eos_token="</s>")
    # trim_blocks drops the newline after a block tag, lstrip_blocks the indent before one (not before {{ }});
    # tojson does not escape non-ASCII
    assert out == '  user="é\\"x"\n<s>|</s>'
    with pytest.raises(GGUFError, match="only user and assistant"):
        render("{{ raise_exception('only user and assistant') }}", [])


@pytest.mark.parametrize("evil", ["{{ ''.__class__.__mro__ }}",
                                  "{% set x = [] %}{{ x.append(1) }}",
                                  "{{ messages.__init__.__globals__ }}"])
def test_sandbox_blocks_escapes(evil):
    with pytest.raises(GGUFError, match="sandbox") as ei:
        render(evil, [{"role": "user", "content": "hi"}])
    assert isinstance(ei.value.__cause__, SecurityError)


def test_bad_and_missing_template(tmp_path):
    with pytest.raises(GGUFError, match="failed to render"):
        render("{% for %}", [])
    with pytest.raises(GGUFError, match="--chat-template-file"):
        chat_template({"general.architecture": "llama"})


# ---- ChatSession ----------------------------------------------------------------------------------------


def test_no_duplicate_bos(model, tok):
    tok.add_bos = True  # forced; SmolLM2's BOS is <|im_start|>, which ChatML starts with anyway
    bos = tok.token_text(tok.bos_id)
    assert bos == "<|im_start|>"
    s = ChatSession(model, tok, "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}")
    s.messages.append({"role": "user", "content": "hello"})
    text = s.render()
    assert text == "<|im_start|>hello"
    ids = s.prompt_tokens(text)
    assert ids[0] == tok.bos_id and ids[1] != tok.bos_id
    assert ids == tok.tokenize(text, add_special=False, parse_special=True)
    # a template without bos_token gets exactly one BOS added
    s2 = ChatSession(model, tok, "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    ids2 = s2.prompt_tokens("hello")
    assert ids2[0] == tok.bos_id and ids2[1:] == tok.tokenize("hello", add_special=False)


def test_two_turns_reuse_cache(model, tok, template):
    s = ChatSession(model, tok, template, system="You are a concise assistant.", sampler=greedy(), n_predict=24)
    r1 = "".join(s.send("What is the capital of France?"))
    assert r1.strip() and s.n_reused == 0
    n1 = len(s.cached)
    r2 = "".join(s.send("And of Germany?"))
    assert r2.strip()
    assert s.n_reused > 0 and s.n_reused <= n1
    # only the tokens after the shared prefix were evaluated this turn
    full = s.prompt_tokens(render(template, s.messages[:-1], bos_token="<|im_start|>", eos_token="<|im_end|>"))
    assert s.stats.n_prompt == len(full) - s.n_reused
    assert [m["role"] for m in s.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert s.messages[2]["content"] == r1 and s.messages[4]["content"] == r2
    # the reused cache gives the same reply as evaluating from scratch
    fresh = ChatSession(model, tok, template, sampler=greedy(), n_predict=24)
    fresh.messages = [dict(m) for m in s.messages[:3]]
    model.reset()
    assert "".join(fresh.send("And of Germany?")) == r2 and fresh.n_reused == 0


def test_context_overflow_keeps_history(model, tok, template):
    s = ChatSession(model, tok, template, sampler=greedy(), n_predict=4)
    with pytest.raises(GGUFError, match="context"):
        s.send("word " * 400)
    assert s.messages == []


# ---- ggufpy chat ----------------------------------------------------------------------------------------


def test_cli_chat(smollm2_path):
    r = subprocess.run([sys.executable, "-m", "ggufpy", "chat", str(smollm2_path), "--temp", "0", "-n", "16"],
                       input="What is the capital of France?\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()  # greedy 135M under the template's default system prompt: not necessarily "Paris"


def test_cli_chat_template_file_and_exit(smollm2_path, tmp_path):
    f = tmp_path / "t.jinja"
    f.write_text("{{ ''.__class__.__mro__ }}")
    r = subprocess.run([sys.executable, "-m", "ggufpy", "chat", str(smollm2_path), "--chat-template-file", str(f)],
                       input="hi\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "sandbox" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ggufpy", "chat", str(smollm2_path), "-n", "4"],
                       input="/exit\nhello\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == ""


def test_sandbox_unsafe_attribute_is_undefined():
    # printing an unsafe attribute alone renders nothing (jinja's unsafe_undefined); using it raises above
    assert render("[{{ ''.__class__ }}]", []) == "[]"
