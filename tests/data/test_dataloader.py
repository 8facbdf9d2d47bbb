"""DataLoader, datasets and samplers, against PyTorch's behaviour."""

import numpy as np
import pytest

import yingshe
from yingshe.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                IterableDataset, SequentialSampler, Subset, TensorDataset,
                                default_collate, random_split)


def _ds(n=10):
    x = yingshe.tensor(np.arange(n * 2, dtype=np.float32).reshape(n, 2))
    y = yingshe.tensor(np.arange(n))
    return TensorDataset(x, y)


def test_sequential_batches_and_drop_last():
    batches = list(DataLoader(_ds(10), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(batches[1][1].numpy(), [4, 5, 6, 7])
    assert len(DataLoader(_ds(10), batch_size=4, drop_last=True)) == 2
    assert len(list(DataLoader(_ds(10), batch_size=4, drop_last=True))) == 2


def test_shuffle_is_a_permutation_and_seeded():
    def epoch(seed):
        g = yingshe.random.Generator().manual_seed(seed) if hasattr(yingshe.random, "Generator") \
            else None
        return np.concatenate([b[1].numpy() for b in DataLoader(_ds(20), batch_size=6,
                                                                shuffle=True, generator=g)])
    a, b, c = epoch(1), epoch(1), epoch(2)
    assert sorted(a.tolist()) == list(range(20))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


class _Dicts(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "label": i, "name": f"s{i}"}


def test_collate_of_dicts_numbers_and_strings_matches_torch_layout():
    batch = next(iter(DataLoader(_Dicts(), batch_size=3)))
    assert set(batch) == {"x", "label", "name"}
    assert batch["x"].shape == (3, 3) and batch["x"].dtype is yingshe.float32
    assert batch["label"].dtype is yingshe.int64
    assert batch["name"] == ["s0", "s1", "s2"]


def test_default_collate_of_tuples():
    out = default_collate([(np.zeros(2), 1.5), (np.ones(2), 2.5)])
    assert out[0].shape == (2, 2) and out[1].dtype is yingshe.float64


def test_workers_give_the_same_batches_in_order():
    ds = _Dicts()
    single = [b["x"].numpy() for b in DataLoader(ds, batch_size=2)]
    multi = [b["x"].numpy() for b in DataLoader(ds, batch_size=2, num_workers=2)]
    assert len(single) == len(multi)
    for a, b in zip(single, multi):
        np.testing.assert_array_equal(a, b)


class _Failing(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 3:
            raise ValueError("bad sample 3")
        return np.zeros(1)


def test_worker_errors_reach_the_main_process():
    # the original type, as PyTorch re-raises it (the fix of issue 14 item 7 is tested in
    # test_dataloader_workers.py against PyTorch itself)
    with pytest.raises(ValueError, match="bad sample 3"):
        list(DataLoader(_Failing(), batch_size=1, num_workers=2))


def test_subset_concat_random_split():
    ds = _ds(10)
    sub = Subset(ds, [9, 0])
    assert sub[0][1].item() == 9 and len(sub) == 2
    cat = ConcatDataset([ds, _ds(3)])
    assert len(cat) == 13 and cat[11][1].item() == 1
    parts = random_split(ds, [7, 3])
    idx = sorted(parts[0].indices + parts[1].indices)
    assert idx == list(range(10))
    parts = random_split(ds, [0.5, 0.5])
    assert [len(p) for p in parts] == [5, 5]
    with pytest.raises(ValueError):
        random_split(ds, [4, 4])


class _Count(IterableDataset):
    def __iter__(self):
        return iter(range(7))


def test_iterable_dataset_batches():
    out = [b.tolist() for b in DataLoader(_Count(), batch_size=3)]
    assert out == [[0, 1, 2], [3, 4, 5], [6]]


def test_argument_errors_like_torch():
    with pytest.raises(ValueError):
        DataLoader(_ds(), sampler=SequentialSampler(_ds()), shuffle=True)
    with pytest.raises(ValueError):
        DataLoader(_ds(), batch_sampler=BatchSampler(SequentialSampler(_ds()), 2, False),
                   batch_size=3)
    with pytest.raises(ValueError):
        BatchSampler(SequentialSampler(_ds()), 0, False)


def test_mid_epoch_resume_gives_the_remaining_batches_exactly():
    yingshe.manual_seed(3)
    loader = DataLoader(_ds(23), batch_size=4, shuffle=True)
    it = iter(loader)
    first = [next(it)[1].numpy() for _ in range(2)]
    state = loader.state_dict()
    rng_state = yingshe.random.get_rng_state()
    rest = [b[1].numpy() for b in it]

    yingshe.manual_seed(99)  # a different process state before resuming
    resumed = DataLoader(_ds(23), batch_size=4, shuffle=True)
    yingshe.random.set_rng_state(rng_state)
    resumed.load_state_dict(state)
    again = [b[1].numpy() for b in resumed]
    assert len(again) == len(rest)
    for a, b in zip(rest, again):
        np.testing.assert_array_equal(a, b)
    assert sorted(np.concatenate(first + again).tolist()) == list(range(23))


def test_matches_torch_sequential_batching():
    from yingshe.testing.reference import torch as import_torch
    torch = import_torch()
    x = np.arange(30, dtype=np.float32).reshape(15, 2)
    ours = [b[0].numpy() for b in DataLoader(TensorDataset(yingshe.tensor(x)), batch_size=4)]
    theirs = [b[0].numpy() for b in torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x)), batch_size=4)]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
