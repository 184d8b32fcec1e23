"""The README's and docs' examples, extracted and run, so that an example that no longer works
fails the suite.

The convention the docs follow (README.md, docs/*.md):

- A ```yaml block is read with ``patron.yaml_files.load_yaml``, as Patron reads its files. A
  document with a top-level ``syncs:`` is checked as a sync config (``patron.sync.config``, its
  ``${VAR}``s set); one with only ``segments:`` is applied with ``patron segment apply`` to a
  scratch database; one whose sections are all ``patron apply``'s is applied with
  ``patron apply`` to a scratch database; any other shape needs only be valid YAML.
- A ```json block must be valid JSON.
- A ```python or ```js block is a complete program, run against a live ``patron serve --dev``
  that this test starts: ``8080`` in it becomes that server's port, and it reads the
  credentials from the environment variables ``SITE_ID``, ``TRACK_API_KEY``, ``APP_API_KEY``
  and ``WRITE_KEY``. Python runs in the compat virtualenv of the client it imports (PyPI
  ``customerio``, or ``customerio-cdp-analytics`` and ``segment-analytics-python``), JavaScript
  as CommonJS beside ``customerio-node@5``. It must exit 0, reach Patron, and have every request
  it sent accepted. Proxy variables point at a dead port, so that a Python client that aims
  anywhere but loopback fails instead of reaching Customer.io.
- An HTML comment on the line before a block changes that:
  ``<!-- example: skip -->``: a fragment that cannot run alone (use sparingly);
  ``<!-- example: https -->``: run against ``patron serve --dev --https`` instead, with
  ``REQUESTS_CA_BUNDLE`` / ``NODE_EXTRA_CA_CERTS`` naming its CA;
  ``<!-- example: file NAME -->``: the block is the file NAME of the document's example project,
  which is run with pytest (Patron's plugin and ``customerio`` installed) and must pass.
- Other blocks (``sh``, ``ini`` not marked as a file, plain text) are not run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from compat_env import customerio_python, node_dir, pipelines_python
from live import LiveServer, patron
from patron import workspace_apply
from patron.sync.config import load as load_sync_config
from patron.yaml_files import load_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->$")
KNOWN_MARK = re.compile(r"skip|https|file \S+")
FENCE = re.compile(r"^```\s*([\w+-]*)")
CREDENTIALS = {
    "SITE_ID": "site_id",
    "TRACK_API_KEY": "track_api_key",
    "APP_API_KEY": "app_api_key",
    "WRITE_KEY": "pipelines_write_key",
}
# Anything an example sends elsewhere than loopback fails at once: never a real Customer.io.
DEAD_PROXY = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    mark: str | None  # skip, https, or "file NAME"

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}:{self.lang or 'text'}"

    @property
    def file(self) -> str | None:
        """The file of the example project this block is, if it is one."""
        return self.mark[len("file ") :] if self.mark and self.mark.startswith("file ") else None


def blocks(doc: Path) -> Iterator[Block]:
    """The fenced blocks of a Markdown file, with the example mark on the line before each."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        assert end < len(lines), f"{doc}:{index + 1}: unclosed code block"
        before = next((x.strip() for x in reversed(lines[:index]) if x.strip()), "")
        found = MARK.match(before)
        text = "\n".join(lines[index + 1 : end]) + "\n"
        yield Block(doc, index + 1, opening.group(1), text, found.group(1) if found else None)
        index = end + 1


ALL = [b for doc in DOCS for b in blocks(doc)]
PROGRAMS = [b for b in ALL if b.lang in ("python", "js") and b.mark in (None, "https")]
PROJECT_DOCS = sorted({b.doc for b in ALL if b.file})


def by_name(items: list[Block]) -> list[object]:
    return [pytest.param(b, id=b.name) for b in items]


def test_the_docs_have_examples_of_each_kind() -> None:
    """The extractor finds the blocks (a broken fence pattern would silently test nothing)."""
    kinds = {(b.lang, b.mark) for b in ALL}
    assert {("yaml", None), ("python", None), ("js", None), ("python", "https")} <= kinds
    assert ROOT / "docs" / "testing-with-patron.md" in PROJECT_DOCS
    unknown = [(b.name, b.mark) for b in ALL if b.mark and not KNOWN_MARK.fullmatch(b.mark)]
    assert unknown == []


# -- YAML and JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("block", by_name([b for b in ALL if b.lang in ("yaml", "yml")]))
def test_yaml_examples_are_what_patron_reads(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = load_yaml(block.text)
    assert document is not None, f"{block.name}: empty"
    if isinstance(document, dict) and "syncs" in document:
        for variable in re.findall(r"\$\{(\w+)\}", block.text):
            monkeypatch.setenv(variable, f"example-{variable.lower()}")
        path = tmp_path / "syncs.yaml"
        # Only the syncs: a document of another kind may hold syncs among other things.
        path.write_text(block.text if set(document) == {"syncs"} else _only(document, "syncs"))
        config = load_sync_config(path)
        assert config.syncs, block.name
    elif isinstance(document, dict) and set(document) == {"segments"}:
        path = tmp_path / "segments.yaml"
        path.write_text(block.text)
        database = f"sqlite:///{tmp_path / 'scratch.db'}"
        created = patron("workspace", "create", "default", "--database", database)
        assert created.returncode == 0, created.stderr
        applied = patron("segment", "apply", str(path), "--database", database)
        assert applied.returncode == 0, f"{block.name}: {applied.stderr}"
        assert applied.stdout.count("created") == len(document["segments"])
    elif isinstance(document, dict) and set(document) <= set(workspace_apply.SECTIONS):
        path = tmp_path / "workspace.yaml"
        path.write_text(block.text)
        database = f"sqlite:///{tmp_path / 'scratch.db'}"
        created = patron("workspace", "create", "default", "--database", database)
        assert created.returncode == 0, created.stderr
        applied = patron("apply", str(path), "--database", database, "--json")
        assert applied.returncode == 0, f"{block.name}: {applied.stderr}"
        changes = json.loads(applied.stdout)["changes"]
        assert {c["action"] for c in changes} == {"created"}, block.name


def _only(document: dict[str, object], key: str) -> str:
    return json.dumps({key: document[key]})  # JSON is YAML


@pytest.mark.parametrize("block", by_name([b for b in ALL if b.lang == "json"]))
def test_json_examples_parse(block: Block) -> None:
    json.loads(block.text)


# -- programs against a live Patron ----------------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("doc-examples")
    server = LiveServer(f"sqlite:///{workdir / 'patron.db'}", workdir, args=("--dev",))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("doc-examples-https")
    server = LiveServer(f"sqlite:///{workdir / 'patron.db'}", workdir, args=("--dev", "--https"))
    yield server
    server.stop()


def control(server: LiveServer, method: str, path: str) -> httpx.Response:
    """A dev control-plane call with the default workspace's App API key."""
    verify = server.ssl_context() if server.https else True
    response = httpx.request(
        method,
        server.base + path,
        headers={"Authorization": f"Bearer {server.creds['app_api_key']}"},
        verify=verify,
        timeout=30,
    )
    response.raise_for_status()
    return response


def example_env(server: LiveServer) -> dict[str, str]:
    env = {**os.environ, **DEAD_PROXY}
    env.update({name: server.creds[key] for name, key in CREDENTIALS.items()})
    if server.https:
        env["REQUESTS_CA_BUNDLE"] = env["NODE_EXTRA_CA_CERTS"] = str(server.ca_bundle)
    return env


def command(block: Block, program: Path) -> tuple[list[str], dict[str, str]]:
    """How to run a block: the interpreter, and what its environment adds."""
    if block.lang == "js":
        return ["node", str(program)], {"NODE_PATH": str(node_dir() / "node_modules")}
    pipelines = re.search(r"^\s*from (customerio|segment)\.analytics", block.text, re.M)
    return [pipelines_python() if pipelines else customerio_python(), str(program)], {}


@pytest.mark.parametrize("block", by_name(PROGRAMS))
def test_program_examples_run_against_patron(
    block: Block, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: LiveServer = request.getfixturevalue("https" if block.mark == "https" else "plain")
    control(server, "POST", "/__patron/reset")
    program = tmp_path / ("example.js" if block.lang == "js" else "example.py")
    program.write_text(re.sub(r"\b8080\b", str(server.port), block.text))
    argv, extra = command(block, program)
    done = subprocess.run(
        argv,
        cwd=tmp_path,
        env={**example_env(server), **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout}\n{done.stderr}"
    sent = control(server, "GET", "/__patron/requests?limit=1000").json()["requests"]
    sent = [r for r in sent if not r["path"].startswith("/__patron")]
    assert sent, f"{block.name} sent nothing to Patron"
    refused = [(r["method"], r["path"], r["status"]) for r in sent if r["status"] >= 400]
    assert not refused, f"{block.name}: Patron refused {refused}"


@pytest.mark.parametrize("doc", [pytest.param(d, id=d.name) for d in PROJECT_DOCS])
def test_example_projects_pass_their_tests(doc: Path, tmp_path: Path) -> None:
    for block in blocks(doc):
        if block.file:
            (tmp_path / block.file).write_text(block.text)
    done = subprocess.run(
        [customerio_python(), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**os.environ, **DEAD_PROXY},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout


# -- install commands ------------------------------------------------------------------------

INSTALL = re.compile(r"\b(pip|npm) install ([^`\n#]*)")


def test_install_commands_name_what_can_be_installed() -> None:
    """Patron is not on PyPI: it is installed from a checkout or a wheel. customerio-node 4.x
    cannot be pointed at Patron: the docs pin ``@5``."""
    wrong: list[str] = []
    for doc in DOCS:
        for found in INSTALL.finditer(doc.read_text(encoding="utf-8")):
            tool, args = found.groups()
            for arg in shlex.split(args, posix=True):
                name = re.split(r"[\[=<>@]", arg, maxsplit=1)[0]
                if tool == "pip" and name.lower() == "patron":
                    wrong.append(f"{doc.name}: {found.group(0)}")
                if (
                    tool == "npm"
                    and name == "customerio-node"
                    and not arg.startswith("customerio-node@5")
                ):
                    wrong.append(f"{doc.name}: {found.group(0)}")
    assert wrong == []
