"""Downloads against a real HTTP server on 127.0.0.1: verified, or nothing is written."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest

from matterloop.agent.cli import main
from matterloop.data.fetch import Checksum, FetchError, download


@pytest.fixture
def server(tmp_path):
    """An http.server serving ``tmp_path/www`` on 127.0.0.1; yields (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()
    thread.join()


PAYLOAD = b"material_id,cif\n" * 5000


def test_download_verifies_sha256(server, tmp_path):
    url, root = server
    (root / "train.csv").write_bytes(PAYLOAD)
    destination = tmp_path / "out" / "train.csv"
    download(
        url + "/train.csv",
        destination,
        Checksum("sha256", hashlib.sha256(PAYLOAD).hexdigest()),
        progress=False,
    )
    assert destination.read_bytes() == PAYLOAD


def test_download_verifies_git_blob_id(server, tmp_path):
    url, root = server
    (root / "val.csv").write_bytes(PAYLOAD)
    blob_id = hashlib.sha1(f"blob {len(PAYLOAD)}\0".encode() + PAYLOAD).hexdigest()
    destination = tmp_path / "val.csv"
    download(url + "/val.csv", destination, Checksum("git-sha1", blob_id), progress=False)
    assert destination.read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    url, root = server
    (root / "train.csv").write_bytes(PAYLOAD)
    out = tmp_path / "out"
    with pytest.raises(FetchError, match=r"checksum mismatch.*nothing was written"):
        download(
            url + "/train.csv", out / "train.csv", Checksum("sha256", "0" * 64), progress=False
        )
    assert list(out.iterdir()) == []


def test_404_is_a_clear_error(server, tmp_path):
    url, _ = server
    with pytest.raises(FetchError, match="HTTP 404"):
        download(
            url + "/missing.csv", tmp_path / "x.csv", Checksum("sha256", "0" * 64), progress=False
        )
    assert not (tmp_path / "x.csv").exists()


def test_malformed_checksum_is_rejected():
    with pytest.raises(FetchError, match="64 hex digits"):
        Checksum("sha256", "abc")


def test_cli_fetch_puts_the_split_where_stats_finds_it(server, tmp_path, capsys):
    url, root = server
    (root / "test.csv.gz").write_bytes(PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    data_dir = tmp_path / "data"
    argv = [
        "data",
        "fetch",
        "mp20",
        "--split",
        "test",
        "--url",
        url + "/test.csv.gz",
        "--sha256",
        digest,
        "--data-dir",
        str(data_dir),
    ]
    assert main(argv) == 0
    assert (data_dir / "mp_20" / "structures" / "test.csv.gz").read_bytes() == PAYLOAD
    assert main(argv) == 0
    assert "exists; skipped" in capsys.readouterr().out


def test_cli_fetch_errors_exit_2_with_one_line(server, tmp_path, capsys):
    url, root = server
    (root / "train.csv").write_bytes(PAYLOAD)
    base = ["data", "fetch", "mp20", "--split", "train", "--data-dir", str(tmp_path)]
    assert main([*base, "--url", url + "/train.csv", "--sha256", "1" * 64]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert main([*base, "--url", url + "/nope.csv", "--sha256", "1" * 64]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert main([*base, "--url", url + "/train.csv"]) == 2
    assert "--url needs --sha256" in capsys.readouterr().err
