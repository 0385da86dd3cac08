"""bench/tensor_memory.py counts live tensor bytes and their peak: the CPU run's stand-in for
torch.cuda.max_memory_allocated, which sizes the lessons' GPU memory when no GPU is lent."""

from __future__ import annotations

import gc

import torch

from bench.tensor_memory import LiveTensorBytes


def test_allocations_views_and_frees_are_counted_once():
    with LiveTensorBytes() as tracker:
        a = torch.empty(1000, 250)  # 1,000,000 bytes in float32
        assert tracker.current == 1_000_000
        view = a.view(-1)[:10]  # the same storage: not counted again
        assert tracker.current == 1_000_000
        del a
        gc.collect()
        assert tracker.current == 1_000_000  # the view keeps the storage alive
        del view
        gc.collect()
        assert tracker.current == 0
        b = torch.ones(500, dtype=torch.bfloat16)  # 1,000 bytes
        assert tracker.current == 1_000
        assert tracker.peak == 1_000_000  # the peak stays at the largest moment
        del b


def test_a_model_built_inside_is_counted_by_its_weights_and_freed_after():
    with LiveTensorBytes() as tracker:
        model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 64)).to(torch.bfloat16)
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        assert tracker.current == weights
        with torch.no_grad():
            out = model(torch.randn(8, 256, dtype=torch.bfloat16))
        assert tracker.peak >= weights + out.numel() * out.element_size()
        assert tracker.peak > weights  # float32 weights existed before .to(bfloat16)
        del model, out
        gc.collect()
        assert tracker.current == 0
