"""Cookies files are split into lines exactly as yt-dlp splits them; errors name lines, never values or
server paths (issue 10, items 6 and 11)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask

from portal.acquire.downloader import DownloadFailedError, _cookie_copy, store_cookies
from tests.web.server import KEY

GOOD = "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n"
SECRET = "s3cr3t-cookie-value"


@pytest.mark.parametrize(
    "separator", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"], ids=repr
)
def test_a_line_break_python_sees_but_yt_dlp_does_not_is_refused(tmp_path: Path, separator: str) -> None:
    # str.splitlines() cuts here and sees a good cookie line and a comment; yt-dlp reads one line
    crafted = f"127.0.0.1\tFALSE\t/\tFALSE\t0\tname\t{SECRET}{separator}# looks like a comment\n"
    assert len(crafted.splitlines()) == 2 and len(list(io.StringIO(crafted, newline=None))) == 1
    with pytest.raises(ValueError, match="line 1") as refused:
        store_cookies(tmp_path / "cookies.txt", crafted.encode())
    assert SECRET not in str(refused.value)
    assert not (tmp_path / "secrets" / "cookies.txt").exists()


def test_lines_end_where_yt_dlp_ends_them(tmp_path: Path) -> None:
    mac = GOOD.replace("\n", "\r") + GOOD.replace("session", "other").replace("\n", "\r")
    assert store_cookies(tmp_path / "cookies.txt", mac.encode()).count == 2


def test_upload_errors_name_the_line_not_its_value_or_a_path(app: Flask, tmp_path: Path) -> None:
    bad = f"{GOOD}# fine\n127.0.0.1\tFALSE\t/\tFALSE\tnot-a-time\tname\t{SECRET}\n".encode()
    response = app.test_client().post(
        "/api/cookies", data={"file": (io.BytesIO(bad), "cookies.txt")}, headers={"X-Portal-Key": KEY}
    )
    assert response.status_code == 422 and "line 3" in response.json["error"]["message"]
    text = response.get_data(as_text=True)
    assert SECRET not in text and "/tmp" not in text and str(tmp_path) not in text


def test_an_operator_cookies_file_with_a_bad_line_fails_without_its_value(tmp_path: Path) -> None:
    operator = tmp_path / "operator-cookies.txt"
    operator.write_text(f"{GOOD}127.0.0.1\tFALSE\t/\tFALSE\t0\tname\t{SECRET}\x0bmore\n")
    with pytest.raises(DownloadFailedError) as failed:
        _cookie_copy(operator, tmp_path)
    assert "line 2" in str(failed.value) and SECRET not in str(failed.value)
    assert str(tmp_path) not in str(failed.value)
