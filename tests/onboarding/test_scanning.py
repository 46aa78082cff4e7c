"""Malware scanning against a real clamd (onboarding.scanning). The clamd comes from CLAMAV_URL
when that answers, else one is started on the development signatures (nir_portal/clamav)."""

import io
import socket
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from onboarding import scanning
from onboarding.scanning import scan_storage_file, scan_stream
from tests.conftest import free_port

# The EICAR test file, joined here so that no file in the repository holds it whole.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def evidence_storage(settings, tmp_path) -> Path:
    location = tmp_path / "evidence-store"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


# --- with a real clamd --------------------------------------------------------------------------


@pytest.mark.clamd
def test_the_eicar_test_file_is_infected(clamd_urls, settings):
    for url in clamd_urls:  # the Unix socket and, when started here, TCP
        settings.CLAMAV_URL = url

        result = scan_stream(io.BytesIO(EICAR))

        assert result.status == "infected", url
        assert "EICAR" in result.detail


@pytest.mark.clamd
def test_eicar_inside_a_larger_file_across_a_chunk_boundary_is_found(clamd_url):
    data = b"evidence " * 50_000
    at = scanning.STREAM_CHUNK_BYTES - 20
    stream = io.BytesIO(data[:at] + EICAR + data[at:])

    assert scan_stream(stream).status == "infected"


@pytest.mark.clamd
def test_an_ordinary_file_is_clean(clamd_url):
    assert scan_stream(io.BytesIO(b"%PDF-1.7\nA clean report.\n" * 10_000)) == scanning.ScanResult("clean", "")


@pytest.mark.clamd
def test_a_stored_file_is_scanned_from_evidence_storage(clamd_url, evidence_storage):
    infected = storages["evidence"].save("evidence/00/00/infected.txt", ContentFile(b"note\n" + EICAR))
    clean = storages["evidence"].save("evidence/00/00/clean.txt", ContentFile(b"note\n"))

    assert scan_storage_file(infected).status == "infected"
    assert scan_storage_file(clean).status == "clean"


@pytest.mark.clamd
def test_a_stored_file_that_is_missing_is_an_error_not_clean(clamd_url, evidence_storage):
    result = scan_storage_file("evidence/ff/ff/missing.pdf")

    assert result.status == "error"
    assert "Could not open" in result.detail


# --- when the scanner cannot give an answer -------------------------------------------------------


def test_a_scanner_that_is_down_gives_error_never_clean(settings):
    settings.CLAMAV_URL = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there

    result = scan_stream(io.BytesIO(b"anything"))

    assert result.status == "error"
    assert "ConnectionRefused" in result.detail or "Connection refused" in result.detail


def test_a_missing_unix_socket_gives_error(settings, tmp_path):
    settings.CLAMAV_URL = f"unix://{tmp_path}/no-such.sock"

    assert scan_stream(io.BytesIO(b"anything")).status == "error"


def test_a_scanner_that_never_answers_times_out_as_error(settings):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts connections in the kernel, never replies
        settings.CLAMAV_URL = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        settings.CLAMAV_TIMEOUT = 0.5

        result = scan_stream(io.BytesIO(b"anything"))

    assert result.status == "error"


def test_a_malformed_scanner_url_is_an_error(settings):
    settings.CLAMAV_URL = "clamd.example"

    result = scan_stream(io.BytesIO(b"anything"))

    assert result.status == "error"
    assert "CLAMAV_URL" in result.detail


class FakeClamd:
    """Stands in for the clamd socket (a boundary) to give answers a real clamd rarely gives."""

    def __init__(self, answer=None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error

    def instream(self, stream):
        while stream.read(8192):
            pass
        if self.error:
            raise self.error
        return self.answer


def _nested_zip(depth: int) -> bytes:
    """A small ZIP holding a ZIP holding a ZIP... `depth` archives deep."""
    data = b"The innermost evidence file."
    for level in range(depth):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"level-{level}.zip" if level else "evidence.txt", data)
        data = buffer.getvalue()
    return data


def test_a_file_the_real_clamd_cannot_check_in_full_is_refused_for_good_not_retried(clamd_url):
    # Archives nested deeper than clamd's MaxRecursion (17 by default): with AlertExceedsMax it
    # reports the file as not fully scanned, which a retry would only repeat.
    result = scan_stream(io.BytesIO(_nested_zip(30)))

    assert (result.status, result.transient) == ("over_limit", False)
    assert result.detail.startswith("Not fully scanned: Heuristics.Limits.Exceeded")
    assert scan_stream(io.BytesIO(_nested_zip(3))).status == "clean"


@pytest.mark.parametrize(
    ("fake", "detail"),
    [
        (FakeClamd({"stream": ("ERROR", "Can't allocate memory")}), "Unexpected scanner answer"),
        (FakeClamd({}), "Unexpected scanner answer"),
        (FakeClamd({"stream": (None, None)}), "Unexpected scanner answer"),
        (FakeClamd(error=ConnectionResetError(104, "reset")), "ConnectionResetError"),
        (FakeClamd(error=BrokenPipeError(32, "Broken pipe")), "BrokenPipeError"),
    ],
)
def test_anything_but_an_explicit_ok_is_an_error(monkeypatch, fake, detail):
    monkeypatch.setattr(scanning, "clamd_client", lambda *args, **kwargs: fake)

    result = scan_stream(io.BytesIO(b"x" * 10_000))

    assert result.status == "error"
    assert detail in result.detail
    assert len(result.detail) <= 255
