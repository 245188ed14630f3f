"""The control cycle through a Spark Connect server (`sc://`): ringfence as a thin client of
a cluster it does not start. The server is real: Spark's own `SparkConnectServer` in local
mode, in its own JVM, reached over gRPC.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ringfence.cli.main import app as cli
from ringfence.store import StoreError
from ringfence.store.lake import spark_session

from .scenario import DECISIONS
from .test_cli import ringfence
from .test_spark import columns, decision_rows, duckdb_then_lake

# A process holds a classic Spark session or a Connect client, not both: the cycle runs in
# the `ringfence` command (its own process, as people run it) and is read back with Arrow.
pytestmark = pytest.mark.spark


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server in local mode, started as a cluster starts one."""
    from pyspark.find_spark_home import _find_spark_home

    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    command = [
        f"{_find_spark_home()}/bin/spark-submit", "--master", "local[2]",
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--driver-memory", "1g",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", "spark.ui.enabled=false",
        # Tiny data: interpreted expressions, as in the classic Spark tests.
        "--conf", "spark.sql.codegen.wholeStage=false",
        "--conf", "spark.sql.codegen.factoryMode=NO_CODEGEN",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            assert server.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the Spark Connect server did not start"
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_spark_connect_server_runs_the_cycle_given_its_url(
    tmp_path: Path, connect_url: str
) -> None:
    duck, folder, _, as_of = duckdb_then_lake("hotel_rooms", tmp_path)
    ran = ringfence("cycle", "--engine", connect_url, "--lake", str(folder), "--protocol",
                    "zero-covid-2022", "--as-of", as_of.replace(" ", "T"))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "run-000001" in ran.stdout
    for table, count in duck.report.counts.items():
        assert f"{count:,}" in ran.stdout, table
    decided = folder / "decisions"
    assert pq.read_table(decided / "runs").column("run_id").to_pylist() == [1]
    for name in DECISIONS:
        rows = pq.read_table(decided / "run-000001" / name, columns=columns(name))
        assert decision_rows(name, rows) == duck.tables[name], name
    # A client cannot delete on the cluster's storage: each step's folder is left empty.
    work = [p for p in (folder / "_work").iterdir() if p.is_dir()]
    assert work and all(pq.read_table(p).num_rows == 0 for p in work)


def test_a_spark_connect_url_where_nothing_listens_is_refused_at_once(tmp_path: Path) -> None:
    # Refused by ringfence's own check, before the client's minutes of retries (which end
    # in another message).
    port = _free_port()
    with pytest.raises(
        StoreError, match=f"cannot reach the Spark Connect server at sc://127.0.0.1:{port}"
    ):
        spark_session(f"sc://127.0.0.1:{port}")
    refused = CliRunner().invoke(cli, ["cycle", "--engine", f"sc://127.0.0.1:{port}",
                                       "--lake", str(tmp_path)])  # fmt: skip
    assert refused.exit_code != 0 and "cannot reach the Spark Connect server" in refused.output

