"""A real S3-compatible server on 127.0.0.1 (moto's standalone server) for results, and seeding helpers.

moto accepts any credentials and path-style requests; a bucket policy that denies
``s3:GetObject`` makes it answer 403 like a private AWS bucket.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .launch import PORT_TRIES, free_port, wait_until_answering

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "wit_sample.parquet"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    port: int
    process: subprocess.Popen = field(repr=False)

    @property
    def endpoint(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def client(self):
        return client(self.endpoint)

    def put(self, bucket: str, key: str, body: bytes) -> str:
        return put(self.endpoint, bucket, key, body)

    def deny_reads(self, bucket: str) -> None:
        """A bucket policy refusing GetObject to everyone: reads get 403 Forbidden."""
        self.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                                     "Resource": "arn:aws:s3:::%s/*" % bucket}]}))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@functools.cache
def client(endpoint: str):
    """One client per endpoint and process: the WIT server makes it before its jobs fork (warm())."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")


def put(endpoint: str, bucket: str, key: str, body: bytes) -> str:
    """Store ``body`` (creating the bucket if needed) and return its s3:// URI."""
    s3 = client(endpoint)
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return "s3://%s/%s" % (bucket, key)


def warm(endpoint: str) -> None:
    """Import pyarrow and boto3, read the sample and make the client now, in the WIT server's worker:
    its job processes fork from it and find all of that done (about 0.9 s of CPU a job otherwise,
    which parallel tests pay many times over)."""
    _sample_table()
    client(endpoint)


def start(log_path: Path) -> S3Server:
    """Start moto_server on a free loopback port; return once it answers."""
    for _ in range(PORT_TRIES):
        port = free_port()
        with open(log_path, "ab") as log:  # as a module: a console script's shebang pins the venv's old path
            process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                       stdout=log, stderr=subprocess.STDOUT)
        server = S3Server(port, process)
        if wait_until_answering(process, server.endpoint, log_path, "moto_server", server.stop):
            return server
    raise RuntimeError("moto_server found no free port in %d tries: see %s" % (PORT_TRIES, log_path))


@functools.lru_cache(maxsize=1)
def _sample_table():
    import pyarrow.parquet as pq

    return pq.read_table(SAMPLE)


def sample_uids() -> list[str]:
    import pyarrow.compute as pc

    return sorted(pc.unique(_sample_table().column("XXX_UID")).to_pylist(), key=int)


def wit_parquet(uid: str, time_encoding: str = "int96", dry: bool = False) -> bytes:
    """One polygon's series from the sample, as DEA writes it: no XXX_UID column, snappy.

    ``time_encoding`` 'int96' (older files) or 'int64' (current pyarrow); ``dry`` zeroes water and wet.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = _sample_table()
    table = table.filter(pc.equal(table.column("XXX_UID"), uid)).drop_columns(["XXX_UID"])
    if dry:
        zeros = pa.array([0.0] * table.num_rows)
        for name in ("water", "wet"):
            table = table.set_column(table.schema.get_field_index(name), name, zeros)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy", use_deprecated_int96_timestamps=time_encoding == "int96")
    return buffer.getvalue()
