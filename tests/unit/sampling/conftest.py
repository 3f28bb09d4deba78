from typing import Iterator

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _one_cpu_thread() -> Iterator[None]:
    # the machine is shared; these tests are tiny tensor loops anyway
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
