"""heap: the cycle collector held back during a batch, and settled once in a server."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

import pytest

from openmvne import heap


def test_paused_holds_the_collector_back_until_the_last_block_leaves() -> None:
    assert gc.isenabled()
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with heap.paused():
            inside.set()
            leave.wait(10)

    with heap.paused():
        assert not gc.isenabled()
        thread = threading.Thread(target=other)
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread's batch still runs
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_paused_gives_the_collector_back_after_an_error_and_keeps_it_off_if_it_was() -> None:
    with pytest.raises(RuntimeError), heap.paused():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.paused():
            pass
        assert not gc.isenabled()  # someone else had it off: it stays off
    finally:
        gc.enable()


def test_a_settled_server_heap_is_frozen_and_collected_less_often() -> None:
    # In a child: freezing this test process's heap would outlive the test.
    code = (
        "import gc; from openmvne import heap; heap.settle_server(); "
        "print(gc.get_freeze_count() > 0, gc.get_threshold()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", str(heap.SERVER_THRESHOLD)]
