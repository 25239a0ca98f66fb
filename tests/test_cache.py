"""The cache (xlm_course.cache): one build per key, a lock for concurrent callers, atomic entries."""

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.cache import cache_key, cached


def test_cache_builds_once_and_keys_by_config(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "weights.txt").write_text("trained")

    first = cached("model", {"lr": 1e-3, "layers": 2}, build, root=tmp_path)
    second = cached("model", {"layers": 2, "lr": 1e-3}, build, root=tmp_path)
    other = cached("model", {"lr": 1e-3, "layers": 3}, build, root=tmp_path)
    assert first == second != other and len(calls) == 2
    assert json.loads((first / "cache-key.json").read_text()) == {"layers": 2, "lr": 1e-3}


def test_cache_lock_makes_concurrent_callers_wait(tmp_path):
    calls, results = [], []

    def slow_build(folder):
        calls.append(1)
        threading.Event().wait(0.3)
        (folder / "weights.txt").write_text("trained")

    threads = [threading.Thread(target=lambda: results.append(cached("m", {"a": 1}, slow_build, root=tmp_path)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(set(results)) == 1


def test_a_complete_entry_is_read_without_a_lock_so_a_read_only_cache_serves_it(tmp_path):
    """The grader's sandbox mounts the cache read-only: taking the lock file there would fail."""
    folder = cached("m", {"a": 1}, lambda staging: (staging / "w.txt").write_text("x"), root=tmp_path)
    Path(str(folder) + ".lock").unlink(missing_ok=True)
    assert cached("m", {"a": 1}, lambda staging: pytest.fail("rebuilt"), root=tmp_path) == folder
    assert not Path(str(folder) + ".lock").exists()


def test_failed_build_leaves_no_cache_entry(tmp_path):
    def broken(folder):
        (folder / "partial").write_text("x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached("m", {"a": 1}, broken, root=tmp_path)
    assert not any(path.is_dir() for path in tmp_path.iterdir())


def test_cache_key_needs_json():
    assert cache_key({"a": [1, 2]}) == cache_key({"a": [1, 2]})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        cache_key({"a": object()})


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=8),
                                                                  st.booleans()), min_size=1, max_size=6))
def test_cache_keys_do_not_depend_on_key_order(config):
    assert cache_key(dict(reversed(list(config.items())))) == cache_key(config)


def test_an_interrupted_atomic_write_leaves_the_old_folder(tmp_path):
    from xlm_course.cache import atomic_directory

    final = tmp_path / "artefact"
    with atomic_directory(final) as staging:
        (staging / "weights").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(final) as staging:
        (staging / "weights").write_text("half")
        raise RuntimeError("the machine went down")
    assert (final / "weights").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["artefact"]  # no staging folder left behind
