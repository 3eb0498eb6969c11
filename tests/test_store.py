"""The one results-on-disk layer: atomic directories and files, canonical hashes, output-path
checks, and ``save`` refusing bad paths before writing anything."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn import store


@pytest.fixture(scope="module")
def result():
    net = cl.Network.lattice(2, 3)
    return cl.train(net, cl.tasks.allostery(net, seed=0), steps=3)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_dir_lands_complete_with_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with store.atomic_dir(tmp_path / "run") as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".run.")
            (tmp / "a.txt").write_text("hello")
            assert not (tmp_path / "run").exists()  # invisible until complete
    finally:
        os.umask(old)
    assert (tmp_path / "run" / "a.txt").read_text() == "hello"
    assert _mode(tmp_path / "run") == 0o755  # not mkdtemp's private 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_atomic_dir_error_leaves_nothing_and_keeps_the_old_directory(tmp_path):
    final = tmp_path / "run"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), store.atomic_dir(final, overwrite=True) as t:
        (t / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (final / "old.txt").read_text() == "old"
    with store.atomic_dir(final, overwrite=True) as t:
        (t / "new.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_atomic_dir_never_replaces_without_overwrite(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(FileExistsError), store.atomic_dir(final) as t:
        (t / "mine.txt").write_text("late")
        final.mkdir()  # another writer lands first
        (final / "theirs.txt").write_text("first")
    assert sorted(p.name for p in final.iterdir()) == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(FileExistsError), store.atomic_dir(final):
        pass


def test_atomic_write_replaces_whole_files(tmp_path):
    path = tmp_path / "sub" / "f.json"
    assert store.atomic_write(path, "one") == path
    store.atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.json"]
    old = os.umask(0o022)
    try:
        store.atomic_write(tmp_path / "g", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "g") == 0o644


def test_canonical_hash_normalises_numbers_and_key_order():
    a = {"schedule": {"p": 1, "kind": "Bernoulli"}, "seeds": (0, 1)}
    b = {"seeds": [0.0, np.int64(1)], "schedule": {"kind": "Bernoulli", "p": np.float64(1.0)}}
    assert store.canonical_hash(a) == store.canonical_hash(b)
    assert len(store.canonical_hash(a)) == 12 and len(store.canonical_hash(a, 64)) == 64
    assert store.canonical_hash({"p": 0.5}) != store.canonical_hash({"p": 0.25})
    assert store.canonical_hash({"x": True}) != store.canonical_hash({"x": 1})
    assert store.canonical_hash([1.5]) != store.canonical_hash([1])


@pytest.mark.parametrize(
    ("make", "kw", "match"),
    [
        (lambda d: d / "file.txt", {}, r"--out .* is a file, not a directory"),
        (lambda d: d / "file.txt" / "sub", {}, r"lies under .*file\.txt', which is a file"),
        (lambda d: d / "dir", {}, r"--out .* already exists"),
    ],
)
def test_check_output_dir_refuses_with_one_line(tmp_path, make, kw, match):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(cl.ValidationError, match=match) as info:
        store.check_output_dir("--out", make(tmp_path), **kw)
    assert "\n" not in str(info.value)


def test_check_output_dir_accepts_new_and_existing_when_allowed(tmp_path):
    (tmp_path / "dir").mkdir()
    assert store.check_output_dir("--out", tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert store.check_output_dir("--out", tmp_path / "dir", overwrite=True)
    assert store.check_output_dir("--out", tmp_path / "dir", exist_ok=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_output_dir_refuses_a_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(cl.ValidationError, match="not writable"):
            store.check_output_dir("--out", ro / "new" / "deeper")
    finally:
        ro.chmod(0o755)


def test_save_over_a_file_is_a_validation_error(tmp_path, result):
    target = tmp_path / "README.md"
    target.write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(cl.ValidationError, match="is a file"):
            cl.save(result, target, overwrite=overwrite)
    assert target.read_text() == "keep me"
    with pytest.raises(cl.ValidationError, match="which is a file, not a directory"):
        cl.save(result, target / "sub")


def test_save_overwrite_replaces_and_leaves_no_temporaries(tmp_path, result):
    cl.save(result, tmp_path / "r")
    (tmp_path / "r" / "stale.txt").write_text("x")
    cl.save(result, tmp_path / "r", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(store.FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    np.testing.assert_array_equal(cl.load(tmp_path / "r").conductances, result.conductances)


def test_check_output_dir_refuses_what_cannot_be_written(tmp_path, monkeypatch):
    # as root every permission check passes: stand in for a read-only file system
    monkeypatch.setattr(store.os, "access", lambda path, mode: False)
    with pytest.raises(cl.ValidationError, match=r"--out .* cannot be written: .* is not writable"):
        store.check_output_dir("--out", tmp_path / "new")
    (tmp_path / "old").mkdir()
    with pytest.raises(cl.ValidationError, match="not writable"):
        store.check_output_dir("--out", tmp_path / "old", exist_ok=True)


def test_saved_runs_are_readable_by_the_group(tmp_path, result):
    old = os.umask(0o022)
    try:
        cl.save(result, tmp_path / "r")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "r") == 0o755
    assert all(_mode(f) == 0o644 for f in (tmp_path / "r").iterdir())
