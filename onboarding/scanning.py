"""Malware scanning of stored evidence with ClamAV (clamd, over INSTREAM).

A file is clean only when clamd answers an explicit OK. A refused connection, a timeout, a
stream over clamd's limits, a limits heuristic or any answer not understood is "error", which
keeps the file quarantined for a later retry; a signature match is "infected". An error is
`transient` when the daemon or the storage could not be reached, so trying again later may help.
"""

import logging
from dataclasses import dataclass
from typing import BinaryIO, Literal
from urllib.parse import unquote, urlsplit

from clamav_client.clamd import ClamdNetworkSocket, ClamdUnixSocket
from django.conf import settings
from django.core.files.storage import storages

from onboarding.uploads import STORAGE_ALIAS

logger = logging.getLogger(__name__)

ScanStatus = Literal["clean", "infected", "over_limit", "error"]
DETAIL_MAX_LENGTH = 255
# clamd reports a file over MaxFileSize/MaxScanSize/MaxRecursion (with AlertExceedsMax) as FOUND
# under this name: the file was not fully scanned, which is not the same as malware found, and not
# something a retry changes.
LIMITS_EXCEEDED_PREFIX = "Heuristics.Limits.Exceeded"
STREAM_CHUNK_BYTES = 256 * 1024


class _LargeChunks:
    """clamav_client sends INSTREAM in 1 KiB reads (about 6 s for 200 MB here); each chunk is
    length-prefixed with len(chunk), so handing it larger pieces is valid and about 4x faster.
    Chunks stay far below clamd's StreamMaxLength."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj

    def read(self, _size: int = -1) -> bytes:
        return self._fileobj.read(STREAM_CHUNK_BYTES)


@dataclass(frozen=True)
class ScanResult:
    status: ScanStatus
    detail: str
    transient: bool = False


def clamd_client(url: str | None = None, timeout: float | None = None) -> ClamdNetworkSocket:
    """A clamd client for unix:///path/to/clamd.sock or tcp://host:port (settings.CLAMAV_URL)."""
    url = settings.CLAMAV_URL if url is None else url
    timeout = settings.CLAMAV_TIMEOUT if timeout is None else timeout
    parts = urlsplit(url)
    if parts.scheme == "unix" and parts.path:
        client = ClamdUnixSocket(path=unquote(parts.path))
        client.timeout = timeout  # typed int upstream; socket.settimeout takes a float
        return client
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        return ClamdNetworkSocket(host=parts.hostname, port=parts.port, timeout=timeout)
    raise ValueError(f"CLAMAV_URL must look like unix:///path/clamd.sock or tcp://host:3310, not {url!r}")


def _error(detail: str, *, transient: bool = False) -> ScanResult:
    return ScanResult("error", detail[:DETAIL_MAX_LENGTH], transient=transient)


def scan_stream(fileobj: BinaryIO) -> ScanResult:
    """Send the stream, from its current position to its end, to clamd and interpret the answer."""
    try:
        answer = clamd_client().instream(_LargeChunks(fileobj))  # type: ignore[arg-type]  # has read()
    except Exception as error:  # noqa: BLE001  every failure must end as "error", never as clean
        logger.warning("ClamAV scan failed: %r", error)
        # A malformed CLAMAV_URL never heals by waiting; anything on the way to the daemon may.
        detail = f"Scanner unavailable or failed: {type(error).__name__}: {error}"
        return _error(detail, transient=not isinstance(error, ValueError))
    status, reason = answer.get("stream", (None, None))
    if status == "OK":
        return ScanResult("clean", "")
    if status == "FOUND" and reason and not reason.startswith(LIMITS_EXCEEDED_PREFIX):
        return ScanResult("infected", reason[:DETAIL_MAX_LENGTH])
    if status == "FOUND":
        return ScanResult("over_limit", f"Not fully scanned: {reason}"[:DETAIL_MAX_LENGTH])
    return _error(f"Unexpected scanner answer: {answer!r}")


def scan_storage_file(storage_name: str) -> ScanResult:
    """Scan a file in evidence storage; a file that cannot be read is "error", never clean."""
    try:
        file = storages[STORAGE_ALIAS].open(storage_name, "rb")
    except Exception as error:  # noqa: BLE001  a missing or unreadable file is a scan error
        logger.warning("Evidence file %s could not be opened for scanning: %r", storage_name, error)
        return _error(f"Could not open the stored file: {type(error).__name__}", transient=True)
    with file:
        return scan_stream(file)
