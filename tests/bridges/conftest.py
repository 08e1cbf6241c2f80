"""The bridges' tests run torch on one intra-op thread: their matrices are at most 4x4 (one pinned case 128x128 sets
its own count), and on two shared cores torch's second OpenMP thread only waits -- measured here, the gradcheck grid
of tests/bridges/test_torch.py took 64 s wall on two threads and 8 s on one."""
import sys

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    torch = sys.modules.get("torch")        # imported by the torch tests' modules; never imported here for jax's
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
