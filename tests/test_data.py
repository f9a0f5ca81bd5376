"""angpt.data: the packaged corpus, byte tokens, deterministic splits and batches."""

import gzip
import hashlib

import pytest
import torch

from angpt import data as D


def test_packaged_shakespeare_is_the_documented_excerpt():
    # the reproducible 1 MB excerpt, byte-identical to tools/make_corpus.py's build
    raw = D.SHAKESPEARE_FILE.read_bytes()
    assert hashlib.md5(raw).hexdigest() == "567e09457dc04b803b72f2017bd2f530"
    text = gzip.decompress(raw).decode("utf-8")
    assert len(text.encode()) == 999_973
    assert text.startswith("A Midsummer Night's Dream\n\nACT I\n\nSCENE I. Athens.")
    assert "THESEUS:\nNow, fair Hippolyta" in text
    assert "**" not in text and "_" not in text  # markdown cleaned away


def test_corpus_split_is_deterministic_and_disjoint():
    c = D.load_corpus("shakespeare")
    assert c.vocab_size == 256 and c.train.dtype == torch.uint8
    n = len(c.train) + len(c.val)
    assert len(c.train) == int(n * 0.9)  # first 90 % train, last 10 % val
    whole = torch.cat([c.train, c.val])
    assert D.decode(whole[:25]) == "A Midsummer Night's Dream"
    assert D.load_corpus("shakespeare") is c  # cached


def test_encode_decode_round_trip_bytes():
    s = "Wherefore art thou, Romeo? — ünïcödé ✓"
    ids = D.encode(s)
    assert ids.dtype == torch.uint8 and len(ids) == len(s.encode("utf-8"))
    assert D.decode(ids) == s
    assert D.decode([0xFF]) == "\ufffd"  # invalid UTF-8 from a model does not crash
    with pytest.raises(ValueError, match="256"):
        D.decode([300])
    with pytest.raises(ValueError, match="str"):
        D.encode(b"bytes")


def test_batch_sampler_is_seeded_and_resumable():
    c = D.load_corpus("shakespeare")
    a = D.BatchSampler(c.train, batch_size=4, seq_len=32, seed=3)
    b = D.BatchSampler(c.train, batch_size=4, seq_len=32, seed=3)
    other = D.BatchSampler(c.train, batch_size=4, seq_len=32, seed=4)
    x1, y1 = next(a)
    assert x1.shape == (4, 32) and x1.dtype == torch.long
    assert torch.equal(x1[:, 1:], y1[:, :-1])  # targets are the next bytes
    assert torch.equal(x1, next(b)[0]) and not torch.equal(x1, next(other)[0])
    state = a.state_dict()
    want = [next(a)[0] for _ in range(3)]
    fresh = D.BatchSampler(c.train, batch_size=4, seq_len=32, seed=99)
    fresh.load_state_dict(state)
    assert all(torch.equal(w, next(fresh)[0]) for w in want)


def test_eval_windows_fixed_and_cover_the_split():
    c = D.load_corpus("shakespeare")
    x, y = D.eval_windows(c.val, seq_len=64, n_tokens=1000)
    assert x.shape == (16, 64)  # ceil(1000 / 64) windows
    x2, _ = D.eval_windows(c.val, seq_len=64, n_tokens=1000)
    assert torch.equal(x, x2)
    assert torch.equal(x[0], c.val[:64].long()) and torch.equal(y[-1], c.val[-64:].long())


def test_bad_input_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus 'tiny'.*'shakespeare'"):
        D.load_corpus("tiny")
    with pytest.raises(ValueError, match=r"tools/make_corpus.py pdmix"):
        D.load_corpus("pdmix", root=tmp_path)  # not built there: says how to build it
    with pytest.raises(ValueError, match="batch_size"):
        D.BatchSampler(torch.zeros(100, dtype=torch.uint8), batch_size=0, seq_len=8)
    with pytest.raises(ValueError, match="longer than seq_len"):
        D.BatchSampler(torch.zeros(8, dtype=torch.uint8), batch_size=2, seq_len=8)
    with pytest.raises(ValueError, match="pip install"):
        D.package_dir("surely_not_installed_pkg_xyz", "pip install surely-not")


def test_pdmix_loads_from_ANGPT_DATA(tmp_path, monkeypatch):
    folder = tmp_path / "pdmix"
    D.write_gz(folder / "train.txt.gz", "to be or not to be\n" * 10)
    D.write_gz(folder / "val.txt.gz", "that is the question\n")
    monkeypatch.setenv("ANGPT_DATA", str(tmp_path))
    assert D.data_dir() == tmp_path
    c = D.load_corpus("pdmix")
    assert D.decode(c.val) == "that is the question\n" and len(c.train) == 190


def test_clean_play_matches_the_documented_format():
    md = "# Play\n\n## ACT I\n\n### SCENE I. A room.\n\n_Enter A_\n\n**ROMEO**  \nO, she doth  \nteach.\n"
    assert D.clean_play(md) == "Play\n\nACT I\n\nSCENE I. A room.\n\nEnter A\n\nROMEO:\nO, she doth\nteach.\n"
