"""A real S3 HTTP API on loopback for the recordings store: moto's server (`moto[server]`),
in a thread of the test process on a free port. Clients reach it over HTTP like any
S3-compatible service (boto3 with `endpoint_url`); nothing is patched in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer

BUCKET = "dialroom-recordings"
ACCESS_KEY = "loopback-test-key"
SECRET_KEY = "loopback-test-secret"


@contextmanager
def s3_server() -> Iterator[str]:
    """The endpoint URL of a fresh server holding one empty bucket, BUCKET."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()
