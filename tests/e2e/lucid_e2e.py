"""Helpers for the Lucid end-to-end tests: run the real `lucid` binary and talk to its HTTP API.

Everything listens and connects on 127.0.0.1 only. Every process started here is
remembered by pid and killed by the fixture teardown (see conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "lucid"
HOST = "127.0.0.1"
PASSWORD = "correct horse battery staple"
CURRENCY = "CNY"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
READY_TIMEOUT = 30.0
CLI_TIMEOUT = 120.0
HISTORY_PAGE = 100  # the server caps ?limit= at 100
MAX_HISTORY_PAGES = 2000
PROBLEM_FIELDS = ("type", "title", "status", "code", "detail", "params", "next_steps", "request_id")
# Customers made by `register_customer` sign in from this device, which every harness puts on the
# risk allow list before its first server starts: machine traffic (dozens of transfers a second
# per customer) is exactly what the risk rules stop, and these tests are about the ledger. Risk
# monitoring still decides every request in full; tests/e2e/test_e2e_risk.py uses other devices.
LOAD_DEVICE = "lucid-e2e-load"


def lucid_bin() -> Path:
    """The binary under test: $LUCID_BIN, else <repo>/.build/debug/lucid."""
    return Path(os.environ.get("LUCID_BIN") or DEFAULT_BIN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def new_session() -> requests.Session:
    """A requests.Session that never goes through a proxy from the environment."""
    s = requests.Session()
    s.trust_env = False
    return s


def tail(path: Path, max_lines: int = 150) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(missing)"
    cut = lines[-max_lines:]
    prefix = f"... ({len(lines) - len(cut)} earlier lines)\n" if len(lines) > len(cut) else ""
    return prefix + "\n".join(cut)


def describe(resp: requests.Response) -> str:
    """One readable block for assertion messages: request line and body, status, headers, body."""
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body[:600].decode("utf-8", errors="replace")
    elif isinstance(body, str):
        body = body[:600]
    hdrs = {k: v for k, v in req.headers.items() if k.lower() != "authorization"}
    return (
        f"\n>>> {req.method} {req.url}\n>>> headers {hdrs}\n>>> body {body}\n"
        f"<<< {resp.status_code} {dict(resp.headers)}\n<<< {resp.text[:2000]}"
    )


class ServerStartError(RuntimeError):
    pass


class LucidServer:
    """One `lucid serve` process on a given database; can be stopped, killed and restarted."""

    def __init__(self, binary: Path, db: Path, workdir: Path, name: str = "lucid", database_url: str | None = None,
                 extra_args: list[str] | None = None):
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.db = db
        self.database_url = database_url
        self.workdir = workdir
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.generation = 0
        self.log_files: list[Path] = []

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, port: int | None = None, timeout: float = READY_TIMEOUT) -> "LucidServer":
        assert not self.running(), "server already running"
        self.generation += 1
        self.port = port or free_port()
        out = self.workdir / f"{self.name}.{self.generation}.stdout.log"
        err = self.workdir / f"{self.name}.{self.generation}.stderr.log"
        self.log_files += [out, err]
        store = ["--database-url", self.database_url] if self.database_url else ["--db", str(self.db)]
        cmd = [
            str(self.binary), "serve", *store, "--host", HOST,
            "--port", str(self.port), "--insecure-fast-password-hashing", *self.extra_args,
        ]
        with open(out, "wb") as fo, open(err, "wb") as fe:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        sess = new_session()
        try:
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    raise ServerStartError(
                        f"`{' '.join(cmd)}` exited with {rc} before answering /healthz\n{self.logs()}"
                    )
                try:
                    r = sess.get(self.base_url + "/healthz", timeout=2)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.1)
        finally:
            sess.close()
        self.kill()
        raise ServerStartError(f"`{' '.join(cmd)}` did not answer GET /healthz 200 within {timeout}s\n{self.logs()}")

    def restart(self, timeout: float = READY_TIMEOUT) -> "LucidServer":
        """Start again on the same database: the same port when it can be bound, else a new one."""
        old = self.port
        try:
            return self.start(port=old, timeout=timeout)
        except ServerStartError as e:
            print(f"restart on the old port {old} failed, trying a new port: {str(e).splitlines()[0]}")
            return self.start(port=None, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the seconds the process took to exit."""
        if not self.running():
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"lucid pid {self.proc.pid} ignored SIGTERM for {timeout}s; sending SIGKILL")
            self.kill()
        return time.monotonic() - t0

    def kill9(self) -> int:
        """kill -9 the server by pid and reap it; returns the exit status."""
        assert self.running(), "server is not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.running():
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass

    def logs(self, max_lines: int = 150) -> str:
        parts = []
        for f in self.log_files:
            parts.append(f"----- {f.name} -----\n{tail(f, max_lines)}")
        return "\n".join(parts)


class Harness:
    """A temp dir with one SQLite database, the servers on it and the `lucid` subcommands."""

    def __init__(self, binary: Path, workdir: Path, database_url: str | None = None):
        self.binary = binary
        self.workdir = workdir
        self.db = workdir / "lucid.sqlite"
        self.database_url = database_url
        # Extra `lucid serve` arguments for every server started from here (e.g. --config).
        self.extra_serve_args: list[str] = []
        self.servers: list[LucidServer] = []
        self.cli_log: list[str] = []
        self.load_device_allowed = False

    def allow_load_device(self) -> None:
        """Puts LOAD_DEVICE on the risk allow list (once per database)."""
        if self.load_device_allowed:
            return
        p = self.run_cli("risk", "lists", "add", *self.store_args, "--kind", "device", "--value", LOAD_DEVICE,
                         "--verdict", "allow", "--note", "e2e load generator")
        assert p.returncode == 0, self.cli_log[-1]
        self.load_device_allowed = True

    def server(self, name: str = "lucid", extra_args: list[str] | None = None, port: int | None = None) -> LucidServer:
        """A started server; `extra_args` come after the harness-wide `extra_serve_args`."""
        self.allow_load_device()
        s = LucidServer(self.binary, self.db, self.workdir, name=f"{name}{len(self.servers)}", database_url=self.database_url,
                        extra_args=[*self.extra_serve_args, *(extra_args or [])])
        self.servers.append(s)
        return s.start(port=port)

    def run_cli(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
        cmd = [str(self.binary), *args]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, cwd=self.workdir)
        self.cli_log.append(
            f"$ {' '.join(cmd)}\n(exit {p.returncode})\n[stdout]\n{p.stdout[-4000:]}\n[stderr]\n{p.stderr[-4000:]}"
        )
        return p

    @property
    def store_args(self) -> list[str]:
        """How every `lucid` subcommand finds this harness's database."""
        return ["--database-url", self.database_url] if self.database_url else ["--db", str(self.db)]

    def operator_token(self, name: str | None = None) -> str:
        name = name or f"ops-{uuid.uuid4().hex[:10]}"
        p = self.run_cli("operator", "create", *self.store_args, "--name", name, "--role", "admin")
        assert p.returncode == 0, self.cli_log[-1]
        lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
        assert lines, f"operator create printed nothing\n{self.cli_log[-1]}"
        return lines[-1]

    def verify(self) -> tuple[int, dict]:
        """`lucid verify --json`: (exit status, report)."""
        p = self.run_cli("verify", *self.store_args, "--json")
        try:
            report = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"lucid verify --json did not print JSON: {e}\n{self.cli_log[-1]}")
        return p.returncode, report

    def assert_verify_ok(self) -> dict:
        rc, report = self.verify()
        assert rc == 0 and report.get("ok") is True and report.get("mismatches") == [], self.cli_log[-1]
        for k in ("accounts_checked", "transfers_checked"):
            assert isinstance(report.get(k), int), self.cli_log[-1]
        return report

    def assert_ledger_verifies_then_stop(self, server: "LucidServer", transfers_at_least: int) -> None:
        """The ledger verifies offline while `server` serves, over HTTP, and again after a clean stop (SIGTERM)."""
        report = self.assert_verify_ok()
        assert report["transfers_checked"] >= transfers_at_least, report
        r = call(new_session(), server.base_url, "GET", "/v1/ops/ledger/verify", token=self.operator_token())
        assert r.status_code == 200 and r.json()["ok"] is True and r.json()["mismatches"] == [], describe(r)
        took = server.stop()
        print(f"server stopped after SIGTERM in {took:.1f}s")
        self.assert_verify_ok()

    def close(self) -> None:
        for s in self.servers:
            s.kill()

    def logs(self) -> str:
        parts = [s.logs() for s in self.servers]
        if self.cli_log:
            parts.append("----- lucid subcommands -----\n" + "\n".join(self.cli_log[-10:]))
        return "\n".join(parts)


# ---------------------------------------------------------------- HTTP helpers


def call(session: requests.Session, base_url: str, method: str, path: str, *, token: str | None = None,
         body: Any = None, raw: bytes | None = None, idem: str | None = None, lang: str | None = None,
         headers: dict | None = None, timeout: float = READ_TIMEOUT) -> requests.Response:
    h: dict[str, str] = {"Accept": "application/json"}
    data = raw
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if data is not None:
        h["Content-Type"] = "application/json"
    if idem is not None:
        h["Idempotency-Key"] = idem
    if lang is not None:
        h["Accept-Language"] = lang
    h.update(headers or {})
    return session.request(method, base_url + path, data=data, headers=h, timeout=(CONNECT_TIMEOUT, timeout))


def assert_problem(resp: requests.Response, status: int | None = None, code: str | None = None) -> dict:
    """The answer is an application/problem+json error with every documented field; returns the body."""
    if status is None:
        assert 400 <= resp.status_code < 500, describe(resp)
    else:
        assert resp.status_code == status, describe(resp)
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    assert ctype == "application/problem+json", describe(resp)
    body = resp.json()
    missing = [k for k in PROBLEM_FIELDS if k not in body]
    assert not missing, f"problem fields missing: {missing}" + describe(resp)
    assert body["status"] == resp.status_code, describe(resp)
    assert isinstance(body["params"], dict) and isinstance(body["next_steps"], list), describe(resp)
    assert isinstance(body["detail"], str) and body["detail"].strip(), describe(resp)
    if code is not None:
        assert body["code"] == code, describe(resp)
    return body


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def new_key(tag: str = "k") -> str:
    return f"{tag}-{uuid.uuid4().hex}"


class Customer:
    """A registered, logged-in customer. Reads the server's current address on every call."""

    def __init__(self, server: LucidServer, user_id: str, email: str, display_name: str, token: str):
        self.server = server
        self.id = user_id
        self.email = email
        self.display_name = display_name
        self.token = token
        self.session = new_session()

    def __repr__(self) -> str:
        return f"Customer({self.email}, {self.id})"

    def call(self, method: str, path: str, *, session: requests.Session | None = None, **kw) -> requests.Response:
        kw.setdefault("token", self.token)
        return call(session or self.session, self.server.base_url, method, path, **kw)

    def reset_session(self) -> None:
        self.session.close()
        self.session = new_session()

    def login(self) -> None:
        r = call(self.session, self.server.base_url, "POST", "/v1/sessions",
                 body={"login": self.email, "password": PASSWORD, "device_id": LOAD_DEVICE})
        assert r.status_code == 201, describe(r)
        self.token = r.json()["token"]

    def topup(self, amount: int, key: str | None = None, **kw) -> requests.Response:
        return self.call("POST", "/v1/topups", body={"amount": amount, "currency": CURRENCY},
                         idem=key or new_key("topup"), **kw)

    def transfer(self, to: dict, amount: int, key: str | None = None, memo: str | None = None,
                 **kw) -> requests.Response:
        body: dict[str, Any] = {"to": to, "amount": amount, "currency": CURRENCY}
        if memo is not None:
            body["memo"] = memo
        return self.call("POST", "/v1/transfers", body=body, idem=key or new_key("transfer"), **kw)

    def wallet(self, currency: str = CURRENCY) -> dict:
        r = self.call("GET", "/v1/wallets")
        assert r.status_code == 200, describe(r)
        items = r.json()["items"]
        assert isinstance(items, list), describe(r)
        for it in items:
            if it["currency"] == currency:
                for k in ("posted", "pending_out", "pending_in", "available"):
                    assert isinstance(it[k], int), describe(r)
                return it
        return {"currency": currency, "posted": 0, "pending_out": 0, "pending_in": 0, "available": 0}

    def history(self) -> list[dict]:
        """The whole history, newest first, paging with the cursor (bounded)."""
        items: list[dict] = []
        cursor = None
        seen_cursors = set()
        for _ in range(MAX_HISTORY_PAGES):
            path = f"/v1/transactions?limit={HISTORY_PAGE}"
            if cursor is not None:
                path += "&cursor=" + requests.utils.quote(str(cursor), safe="")
            r = self.call("GET", path)
            assert r.status_code == 200, describe(r)
            page = r.json()
            assert isinstance(page["items"], list), describe(r)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if cursor is None:
                return items
            assert cursor not in seen_cursors, f"cursor {cursor!r} repeated" + describe(r)
            seen_cursors.add(cursor)
        raise AssertionError(f"history of {self} did not end within {MAX_HISTORY_PAGES} pages")

    def get_transaction(self, txn_id: str) -> requests.Response:
        return self.call("GET", f"/v1/transactions/{txn_id}")


def register_customer(server: LucidServer, tag: str, display_name: str | None = None) -> Customer:
    """POST /v1/users then POST /v1/sessions; asserts both succeed."""
    sess = new_session()
    try:
        email = new_email(tag)
        name = display_name or f"{tag.capitalize()} Tester"
        r = call(sess, server.base_url, "POST", "/v1/users",
                 body={"email": email, "password": PASSWORD, "display_name": name, "country": "CN"})
        assert r.status_code == 201, describe(r)
        user_id = r.json()["id"]
        assert isinstance(user_id, str) and user_id, describe(r)
        r = call(sess, server.base_url, "POST", "/v1/sessions",
                 body={"login": email, "password": PASSWORD, "device_id": LOAD_DEVICE})
        assert r.status_code == 201, describe(r)
        s = r.json()
        assert s["user_id"] == user_id and s["token"] and s["expires_at"], describe(r)
        return Customer(server, user_id, email, name, s["token"])
    finally:
        sess.close()


def fund(customer: Customer, amount: int) -> dict:
    """One sandbox top-up that must post at once; returns the transaction."""
    r = customer.topup(amount)
    assert r.status_code == 201, describe(r)
    t = r.json()
    assert t["kind"] == "topup" and t["state"] == "posted" and t["amount"] == amount, describe(r)
    assert t["direction"] == "in" and t["currency"] == CURRENCY, describe(r)
    return t


def assert_transfer_created(resp: requests.Response, amount: int) -> dict:
    assert resp.status_code == 201, describe(resp)
    t = resp.json()
    for k in ("id", "kind", "state", "amount", "currency", "fee", "direction", "counterparty", "created_at"):
        assert k in t, f"transaction field {k} missing" + describe(resp)
    assert t["kind"] == "transfer" and t["amount"] == amount and t["currency"] == CURRENCY, describe(resp)
    assert t["direction"] == "out" and isinstance(t["fee"], int) and t["fee"] >= 0, describe(resp)
    return t


def assert_insufficient(resp: requests.Response, amount: int) -> dict:
    """422 insufficient_funds with consistent numbers."""
    body = assert_problem(resp, 422, "insufficient_funds")
    p = body["params"]
    for k in ("available", "required", "shortfall", "currency"):
        assert k in p, f"params.{k} missing" + describe(resp)
    assert p["currency"] == CURRENCY, describe(resp)
    fee = p.get("fee", 0)
    assert p["required"] == amount + fee, describe(resp)
    assert p["shortfall"] == p["required"] - p["available"] and p["shortfall"] > 0, describe(resp)
    return body


def assert_histories_match(customers: list["Customer"], applied: list[dict]) -> None:
    """Every customer's history lists exactly the applied transfers that involve them, each once,
    plus its single top-up: nothing missing, nothing doubled, nothing phantom.

    `applied` holds records with the transaction `id` and the `from` / `to` user ids."""
    involved: dict[str, Counter] = defaultdict(Counter)
    for rec in applied:
        involved[rec["from"]][rec["id"]] += 1
        involved[rec["to"]][rec["id"]] += 1
    for c in customers:
        hist = c.history()
        all_ids = Counter(t["id"] for t in hist)
        dup = [i for i, n in all_ids.items() if n > 1]
        assert not dup, f"history of {c} lists {dup[:3]} more than once"
        transfers = Counter(t["id"] for t in hist if t["kind"] == "transfer")
        missing = set(involved[c.id]) - set(transfers)
        extra = set(transfers) - set(involved[c.id])
        assert not missing and not extra, f"history of {c}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
        assert sum(1 for t in hist if t["kind"] == "topup") == 1, f"history of {c} should hold one top-up"


# ---------------------------------------------------------------- PostgreSQL


def postgres_tool(name: str) -> str:
    """A PostgreSQL client tool from the distribution's versioned folder, else from PATH."""
    import glob
    import shutil as _shutil

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = _shutil.which(name)
    if not found:
        raise AssertionError(f"{name} not found (apt-get install postgresql-client)")
    return found


class PostgresDatabases:
    """Creates throw-away databases next to the one in `base_url` and drops them afterwards."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.created: list[str] = []

    def _psql(self, sql: str) -> None:
        p = subprocess.run([postgres_tool("psql"), self.base_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"psql failed: {p.stderr}"

    def url_for(self, name: str) -> str:
        head, _, _ = self.base_url.rpartition("/")
        return f"{head}/{name}"

    def create(self) -> str:
        name = f"lucid_e2e_{uuid.uuid4().hex[:12]}"
        self._psql(f"CREATE DATABASE {name}")
        self.created.append(name)
        return self.url_for(name)

    def drop_all(self) -> None:
        for name in self.created:
            try:
                self._psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except AssertionError as e:
                print(f"could not drop {name}: {e}")
        self.created.clear()
