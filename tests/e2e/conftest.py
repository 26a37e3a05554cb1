"""Fixtures for the Lucid end-to-end tests.

Each test gets a fresh temp dir with its own SQLite database (`lucid` fixture) and,
through the `server` fixture, a running `lucid serve` on a free 127.0.0.1 port.
Teardown kills every server process by pid (even when the test failed) and removes
the temp dir. When a test fails, the tail of the server's stdout/stderr and of the
`lucid` subcommands it ran is attached to the failure report.

Set LUCID_BIN to test another binary; LUCID_E2E_KEEP=1 keeps the temp dirs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lucid_e2e import Harness, LucidServer, lucid_bin  # noqa: E402

_HARNESS_ATTR = "_lucid_harness"


@pytest.fixture
def lucid(request) -> Harness:
    """A temp dir and database for `lucid`; kills every server started from it at teardown."""
    binary = lucid_bin()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"lucid binary not found or not executable at {binary} "
                    "(build it with `swift build`, or set LUCID_BIN)", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="lucid-e2e-"))
    harness = Harness(binary, workdir)
    setattr(request.node, _HARNESS_ATTR, harness)
    try:
        yield harness
    finally:
        harness.close()
        if os.environ.get("LUCID_E2E_KEEP") == "1":
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def server(lucid: Harness) -> LucidServer:
    """A running `lucid serve` on the test's database."""
    return lucid.server()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        harness = getattr(item, _HARNESS_ATTR, None)
        if harness is not None:
            try:
                rep.sections.append(("lucid server and command output", harness.logs()))
            except Exception as e:  # never hide the real failure
                rep.sections.append(("lucid server and command output", f"(could not read logs: {e})"))


@pytest.fixture
def pg_lucid(request) -> Harness:
    """A harness on a fresh PostgreSQL database (created and migrated here, dropped at teardown).

    Skipped, with the reason shown by `pytest -rs`, when LUCID_TEST_POSTGRES_URL is not set
    (scripts/test.sh starts a throw-away cluster and sets it).
    """
    from lucid_e2e import PostgresDatabases  # noqa: E402

    base = os.environ.get("LUCID_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("PostgreSQL e2e tests skipped: LUCID_TEST_POSTGRES_URL is not set")
    binary = lucid_bin()
    workdir = Path(tempfile.mkdtemp(prefix="lucid-e2e-pg-"))
    databases = PostgresDatabases(base)
    url = databases.create()
    harness = Harness(binary, workdir, database_url=url)
    setattr(request.node, _HARNESS_ATTR, harness)
    try:
        p = harness.run_cli("migrate", *harness.store_args)
        assert p.returncode == 0, harness.cli_log[-1]
        yield harness
    finally:
        harness.close()
        databases.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
