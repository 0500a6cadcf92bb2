"""An S3-compatible server for tests and benchmarks: moto's standalone server on 127.0.0.1, a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests
from botocore.config import Config

from tests.conftest import free_port

BUCKET = "wtf-media"


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and the environment that points boto3 (in any process) at it."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip

    def reset(self) -> None:
        """Forget every bucket and object (moto's own API), then make the empty bucket again."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self.client().create_bucket(Bucket=BUCKET)

    def keys(self, prefix: str = "") -> dict[str, int]:
        """Every object under `prefix`: key -> size."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[S3Server]:
    """`python -m moto.server` in its own process, with an empty bucket; stopped (and forgotten) after."""
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output, stderr=output, start_new_session=True,
        )  # fmt: skip
    server = S3Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{server.endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        server.reset()
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
