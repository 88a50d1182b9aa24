"""How big the worker's next batch chunk is: a chunk's transaction should last at most the target."""

from __future__ import annotations

from lrs_ws.jobs.worker import next_chunk_size


def test_a_chunk_slower_than_the_target_makes_the_next_one_smaller_in_proportion():
    assert next_chunk_size(1000, 1000, 8.0, 2.0, 1000) == 250


def test_the_next_chunk_is_never_below_one_record():
    assert next_chunk_size(1, 1, 60.0, 2.0, 1000) == 1


def test_quick_chunks_double_back_up_to_the_configured_size():
    assert next_chunk_size(250, 250, 0.2, 2.0, 1000) == 500
    assert next_chunk_size(800, 800, 0.2, 2.0, 1000) == 1000


def test_a_chunk_near_the_target_keeps_its_size():
    assert next_chunk_size(400, 400, 1.5, 2.0, 1000) == 400
