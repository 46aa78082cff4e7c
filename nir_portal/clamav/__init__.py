"""The ClamAV daemon that `make run`, the tests and CI start (daemon.py), with its development signatures."""
