"""Which suite databases in a reused server belong to a run that is gone."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from hodei_e2e.ownership.identity import database_name, new_run_id
from hodei_e2e.postgres.databases import UNCOMMENTED_AGE, _run_gone

HOST = socket.gethostname()


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def _name(age: float) -> str:
    return database_name("e2e", new_run_id(time.time() - age), 1, "suite")


@pytest.mark.parametrize(
    ("comment", "gone"),
    [
        (json.dumps({"owner": f"{HOST}:{os.getpid()}"}), False),  # this live process
        (json.dumps({"owner": f"{HOST}:{_dead_pid()}"}), True),
        (json.dumps({"owner": f"elsewhere:{os.getpid()}"}), False),  # another host's: not ours
        ('b\'{"owner": "x"}\'', False),  # not JSON: never judged (a bytes repr, once)
        (json.dumps(["a list"]), False),
        (json.dumps({"owner": 42}), False),
    ],
)
def test_the_comment_names_the_owner(comment: str, gone: bool) -> None:
    assert _run_gone(_name(10), "e2e", comment, HOST) is gone


def test_without_a_comment_the_run_id_in_the_name_decides_after_an_hour() -> None:
    assert _run_gone(_name(10), "e2e", "", HOST) is False  # its run may still be commenting
    assert _run_gone(_name(UNCOMMENTED_AGE + 60), "e2e", "", HOST) is True
    assert _run_gone("e2e_other_name", "e2e", "", HOST) is False
