"""Prefix-conditioned generation (issue 16): a text pack continues a prefix inside its
noise-as-input graph — the same line for a seed from the CLI, Python and PyTorch — encoded by the
pack's own vocabulary (characters or words, unknown tokens as <unk>); bad prefixes and packs
exported before prefixes are one-line errors, and such packs still make whole lines."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from text_helpers import legacy_pack, text_pack, word_pack

GANFORGE = [sys.executable, "-m", "ganforge.core.cli"]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # stdout must be UTF-8 whatever the locale
    return subprocess.run([*GANFORGE, *args], capture_output=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefix")


@pytest.fixture(scope="module")
def pack(root: Path) -> Path:
    return text_pack(root, "mle")


@pytest.fixture(scope="module")
def words(root: Path) -> Path:
    return word_pack(root)


def test_cli_prefix_lines_start_with_it_and_follow_the_seed_contract(pack: Path) -> None:
    proc = cli("generate", str(pack), "--prefix", "Jo", "--count", "5", "--seed", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode("utf-8").split("\n")[:-1]
    assert len(lines) == 5 and all(s.startswith("Jo") for s in lines), lines

    from ganforge.core import runtime

    rt = runtime.load(pack, device="cpu")
    assert list(rt.generate(1, 5, prefix="Jo")) == lines
    assert [rt.generate(1 + i, 1, prefix="Jo")[0] for i in range(5)] == lines  # item i is seed + i
    # the prefix conditions what follows: the continuation is not the whole line's tail
    assert list(rt.generate(1, 5, prefix="Jo")) != ["Jo" + s[2:] for s in rt.generate(1, 5)]
    # any script: the vocabulary's own characters
    assert all(s.startswith("李") for s in rt.generate(0, 4, prefix="李"))


def test_graph_with_prefix_matches_torch(pack: Path) -> None:
    import torch

    from ganforge.core import runtime
    from ganforge.core.modalities.text.codec import encode_prefix
    from ganforge.core.training.run import load_for_export

    rt = runtime.load(pack, device="cpu")
    feeds = rt.draw_inputs(3, 6, {}, rt.codec.scalars(rt.meta, {"prefix": "Søren", "temperature": 0.9}))
    assert (feeds["prefix_len"] == len(encode_prefix(rt.meta, "Søren"))).all()
    ids = rt.run(feeds)[0]
    G = load_for_export(pack.parent / "run-mle").generator
    with torch.no_grad():
        expected = G.sample(*(torch.from_numpy(feeds[k]) for k in ("u", "temperature", "prefix", "prefix_len")))
    np.testing.assert_array_equal(ids, expected.numpy())
    n = int(feeds["prefix_len"][0])
    assert (ids[:, :n] == feeds["prefix"][:, :n]).all()


def test_bad_prefixes_are_one_line_errors(pack: Path) -> None:
    for prefix, says in (("Jürgen Søren", "has 12 characters; this pack's lines hold at most 8"),
                         ("☃☃", "none of its characters is in this pack's vocabulary")):
        proc = cli("generate", str(pack), "--prefix", prefix, "--count", "2")
        err = proc.stderr.decode("utf-8")
        assert proc.returncode == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert says in err and not proc.stdout
    # one unknown character among known ones is <unk>, as at training; it prints as U+FFFD
    proc = cli("generate", str(pack), "--prefix", "Jo☃", "--count", "2")
    assert proc.returncode == 0 and all(s.startswith("Jo☃") for s in proc.stdout.decode().split("\n")[:-1])


def test_a_pack_exported_before_prefixes(pack: Path, tmp_path: Path) -> None:
    old = legacy_pack(pack, tmp_path / "old.onnx")
    # whole lines as before: a seed gives the same lines as the new pack without a prefix
    proc = cli("generate", str(old), "--count", "4", "--seed", "3")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == cli("generate", str(pack), "--count", "4", "--seed", "3").stdout
    proc = cli("generate", str(old), "--prefix", "Jo")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and "exported before prefixes" in err, err
    assert "ganforge export RUN -o PACK.onnx" in err


def test_word_level_prefix(words: Path) -> None:
    from ganforge.core import runtime

    rt = runtime.load(words, device="cpu")
    lines = list(rt.generate(0, 8, prefix="the big"))
    assert all(s.startswith("the big") for s in lines), lines
    # words follow with one space; a prefix ending in a space gets none added
    assert all(s == "the big" or s.startswith("the big ") for s in lines)
    spaced = list(rt.generate(0, 8, prefix="the big "))
    assert [s[len("the big "):] for s in spaced] == [s[len("the big "):] for s in lines]
    # an unknown word among known ones is <unk>; only unknown words is an error
    assert all(s.startswith("the zebra") for s in rt.generate(0, 2, prefix="the zebra"))
    with pytest.raises(Exception, match="none of its words is in this pack's vocabulary"):
        rt.generate(0, 1, prefix="zebra unicorn")
    with pytest.raises(Exception, match="has 11 words; this pack's lines hold at most 10"):
        rt.generate(0, 1, prefix=" ".join(["the"] * 11))


def _unpruned_sample(G, u, temperature, prefix, prefix_len):  # type: ignore[no-untyped-def]
    """The sampler as packs before issue 16's pruning ran it: every position, every row."""
    import torch
    import torch.nn.functional as F

    prefix = prefix.clamp(0, G.vocab - 1)
    x, state = G.start(u.shape[0], u)
    out = []
    for t in range(G.length):
        h, state = G.step(x, state)
        p = F.softmax(G.logits(h) / temperature[:, None], dim=1).double()
        cdf = torch.cumsum(p, dim=1)
        tok = (cdf < u[:, t:t + 1].double() * cdf[:, -1:]).sum(1).clamp(max=G.vocab - 1)
        tok = torch.where(prefix_len > t, prefix[:, t], tok)
        out.append(tok)
        x = G.emb(tok)
    return torch.stack(out, 1)


@pytest.mark.parametrize("generator", ["lstm", "rmc"])
def test_pruned_sampler_keeps_every_line(generator: str) -> None:
    """The sampler skips the output layer where no row samples (forced prefix positions, and
    after every row's <eos>) and pads ended rows: each row's sampled tokens up to its first
    sampled <eos> are exactly those of the unpruned sampler, so a seed keeps its line."""
    import torch

    from ganforge.core.modalities.text.model import TextGenerator
    from ganforge.core.modalities.text.rmc import RelationalMemoryGenerator
    from ganforge.core.modalities.text.vocab import EOS_ID, PAD_ID

    torch.manual_seed(0)
    vocab, length, batch = 40, 14, 64
    G = (TextGenerator(vocab, length, 16, 32) if generator == "lstm"
         else RelationalMemoryGenerator(vocab, length, 16, 1, 2, 16))
    with torch.no_grad():
        G.out.bias[EOS_ID] += 2.5  # lines end at different positions, some never
    gen = torch.Generator().manual_seed(1)
    u, temperature = torch.rand(batch, length, generator=gen), 0.5 + torch.rand(batch, generator=gen)
    prefix = torch.randint(2, vocab, (batch, length), generator=gen)  # <eos> forced in some prefixes
    prefix_len = torch.randint(0, length + 1, (batch,), generator=gen)
    prefix_len[: batch // 4] = 0
    with torch.no_grad():
        new = G.sample(u, temperature, prefix, prefix_len)
        old = _unpruned_sample(G, u, temperature, prefix, prefix_len)
    ended_rows = 0
    for a, b, n in zip(new.tolist(), old.tolist(), prefix_len.tolist(), strict=True):
        end = next((t for t in range(n, length) if b[t] == EOS_ID), length - 1)
        assert a[:end + 1] == b[:end + 1]
        assert all(tok == PAD_ID for tok in a[end + 1:])
        ended_rows += end < length - 1
    assert 0 < ended_rows < batch


@pytest.mark.parametrize("generator", ["lstm", "rmc"])
def test_exported_loops_give_the_eager_lines(generator: str, tmp_path: Path) -> None:
    """The pack's graph is two ONNX Loops (the shared prefix, then sampling until every row has
    ended): on rows with different prefix lengths (none, short, the whole length) and lines
    that end early or never, onnxruntime gives PyTorch's tokens exactly, at several batch sizes."""
    import onnxruntime as ort
    import torch

    from ganforge.core.modalities.text.family import SamplerExport
    from ganforge.core.modalities.text.model import TextGenerator
    from ganforge.core.modalities.text.rmc import RelationalMemoryGenerator
    from ganforge.core.modalities.text.vocab import EOS_ID

    torch.manual_seed(0)
    vocab, length = 40, 14
    G = (TextGenerator(vocab, length, 16, 32) if generator == "lstm"
         else RelationalMemoryGenerator(vocab, length, 16, 1, 2, 16)).eval()
    with torch.no_grad():
        G.out.bias[EOS_ID] += 2.5
    batch = torch.export.Dim("batch", min=1, max=1024)
    example = (torch.rand(3, length), torch.ones(3), torch.zeros(3, length, dtype=torch.int64),
               torch.zeros(3, dtype=torch.int64))
    with warnings.catch_warnings():  # the exporter's deprecation chatter is torch's business
        warnings.simplefilter("ignore")
        program = torch.onnx.export(SamplerExport(G), example, None, dynamo=True, external_data=False,
                                    opset_version=20, input_names=["u", "temperature", "prefix", "prefix_len"],
                                    output_names=["ids"], dynamic_shapes=({0: batch},) * 4, verbose=False,
                                    report=False)
    model = program.model_proto
    assert [n.op_type for n in model.graph.node].count("Loop") == 2
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(2)
    for rows in (1, 5, 64):
        u, temperature = torch.rand(rows, length, generator=gen), 0.5 + torch.rand(rows, generator=gen)
        prefix = torch.randint(2, vocab, (rows, length), generator=gen)
        prefix_len = torch.randint(0, length + 1, (rows,), generator=gen)
        prefix_len[-1:] = length if rows > 1 else prefix_len[-1:]
        for shared in (False, True):  # one prefix for every row (the editor's case), or one each
            pl = prefix_len[:1].expand(rows).contiguous() if shared else prefix_len
            with torch.no_grad():
                expected = G.sample(u, temperature, prefix, pl).numpy()
            got = session.run(None, {"u": u.numpy(), "temperature": temperature.numpy(),
                                     "prefix": prefix.numpy(), "prefix_len": pl.numpy()})[0]
            np.testing.assert_array_equal(got, expected)
