"""Sharding the global batch for data parallelism (chapter 8.4; the two-process run is in the notebook)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.deployment.distributed import AccelerateEngine, TorchEngine, fit, global_batch, run, shard
from xlm_course.transfer import emoji_category_task


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 4), st.integers(1, 6))
def test_shards_partition_the_global_batch(world, per_process):
    batch = {"labels": torch.arange(world * per_process), "input_ids": torch.arange(world * per_process)[:, None]}
    shards = [shard(batch, rank, world) for rank in range(world)]
    assert all(len(part["labels"]) == per_process for part in shards)
    assert sorted(torch.cat([part["labels"] for part in shards]).tolist()) == list(range(world * per_process))
    # the mean of shard means is the global mean (equal shards), which is why DDP matches one process
    values = batch["labels"].float()
    torch.testing.assert_close(torch.stack([values[rank::world].mean() for rank in range(world)]).mean(),
                               values.mean())


def test_uneven_shards_are_refused():
    with pytest.raises(ValueError, match="equal shards"):
        shard({"labels": torch.arange(5)}, 0, 2)


def test_global_batches_depend_only_on_the_step(tiny_source):
    task = emoji_category_task(("en", "fr"))
    rows = task.rows("train", ["en"])
    texts, labels = list(rows["text"]), torch.tensor(rows["label"])
    first, again = global_batch(texts, tiny_source, 3, 8, labels), global_batch(texts, tiny_source, 3, 8, labels)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["input_ids"], global_batch(texts, tiny_source, 4, 8, labels)["input_ids"])
    with pytest.raises(ValueError, match="one label per text"):
        global_batch(texts[:-1], tiny_source, 0, 8, labels)


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of"):
        run(engine="horovod")


def test_both_engines_run_the_same_loop_on_one_process(tiny_source):
    """On one process neither engine wraps anything: the loss trajectories are identical."""
    task = emoji_category_task(("en", "fr"))
    rows = task.rows("train", ["en"])
    texts, labels = list(rows["text"]), torch.tensor(rows["label"])
    trajectories = {}
    for name, runner in (("torch", TorchEngine()), ("accelerate", AccelerateEngine())):
        assert (runner.rank, runner.world) == (0, 1)
        model = tiny_source.classifier(task.labels, seed=0).eval()  # eval: no dropout, so runs can match
        model, trajectories[name] = fit(runner, model, lambda step: global_batch(texts, tiny_source, 0, 8, labels),  # one batch, fitted
                                        steps=4, learning_rate=1e-3)
        assert isinstance(runner.unwrap(model), type(tiny_source.classifier(task.labels)))
        assert not isinstance(model, torch.nn.parallel.DistributedDataParallel)
        runner.close()
    assert trajectories["torch"] == trajectories["accelerate"]
    assert trajectories["torch"][-1] < trajectories["torch"][0]
