"""An in-process fake Hugging Face Hub for offline tests.

huggingface_hub 2.x speaks `httpx2`, so `requests`-based mocks never see its traffic. `FakeHub` answers the Hub's HTTP
API from memory through an `httpx2.MockTransport`, installed with `huggingface_hub.set_client_factory`. It implements
what `create_repo`, `upload_folder` / `create_commit` / `push_to_hub`, `hf_hub_download` / `snapshot_download` and
transformers' `from_pretrained` need:

- `GET /api/whoami-v2`, `POST /api/repos/create` (409 when the repo exists), `DELETE /api/repos/delete`,
  `POST /api/validate-yaml` (README front matter).
- `GET /api/{models,datasets,spaces}/{repo_id}[/revision/{rev}]` (repo info with `sha` and `siblings`),
  `GET .../tree/{rev}[/{path}]`, `POST .../paths-info/{rev}`, `GET .../commits/{rev}`, `POST .../branch/{name}`.
- `POST .../preupload/{rev}`: every file is answered `uploadMode: "regular"` (with the remote git oid, so unchanged
  files are skipped like on the real Hub), so contents arrive base64-encoded inline in the NDJSON commit and neither
  the LFS batch API nor xet storage is needed.
- `POST .../commit/{rev}`: NDJSON header, `file`, `lfsFile` (only for contents the hub already holds),
  `deletedFile` and `deletedFolder` lines; `parentCommit` is checked (412 when stale).
- `HEAD`/`GET /{repo_id}/resolve/{rev}/{path}` (and `/datasets/...`, `/spaces/...`) with `X-Repo-Commit`, a quoted
  `ETag` and `Content-Length`. Files matching `lfs_patterns` (weights) are served like LFS objects on the real Hub: a
  302 to a CDN host carrying `X-Linked-Etag` (sha256) and `X-Linked-Size`. Missing files answer 404 with
  `X-Error-Code: EntryNotFound` (and `X-Repo-Commit`, so the client caches the miss), missing repos
  `RepoNotFound`, missing revisions `RevisionNotFound`.

Every request that reaches the transport is recorded in `FakeHub.requests` as a `(method, path)` tuple (details in
`FakeHub.request_log`), except huggingface_hub's once-a-process `GET /api/agent-harnesses` (answered with an empty
registry). Requests to routes the fake does not know are also listed in `FakeHub.unhandled` and get a plain 404.

A new repo gets an "initial commit" holding `.gitattributes`, as on the real Hub. Commits are `FakeCommit` objects with
the files they `added` (path -> bytes), the paths they `deleted`, their `parent`, and the full `files` snapshot.

Usage in a test module (tests/ is on `sys.path` under pytest's default "prepend" import mode)::

    from fakehub import FakeHub, fake_hub_fixture  # noqa: F401  (registers the `fake_hub` fixture)

    def test_push(fake_hub: FakeHub, tmp_path):
        huggingface_hub.create_repo("org/x")
        huggingface_hub.upload_folder(repo_id="org/x", folder_path=tmp_path)
        [commit] = [c for c in fake_hub.repos["org/x"].commits if "README.md" in c.added]
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import constants
from huggingface_hub.utils import _cache_manager, _http

try:  # the hook that blocks requests in offline mode and tags downloads, as on the default client
    from huggingface_hub.utils._http import hf_request_event_hook
except ImportError:  # pragma: no cover - older/newer huggingface_hub
    hf_request_event_hook = None

DEFAULT_USER = "fake-user"
DEFAULT_TOKEN = "hf_fakehub_dummy_token"
CDN_HOST = "cdn-lfs.fakehub.test"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# Patterns the real Hub's default .gitattributes sends to LFS (the weight formats we may meet).
DEFAULT_LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.msgpack", "*.h5", "*.npz")
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in DEFAULT_LFS_PATTERNS)


def git_blob_oid(content: bytes) -> str:
    """The git blob sha1 of `content`, as the Hub reports it for regular files (`ETag`, tree `oid`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeCommit:
    oid: str
    message: str
    description: str
    parent: str | None
    added: dict[str, bytes]  # files added or modified by this commit
    deleted: list[str]  # files removed by this commit
    files: dict[str, bytes]  # full snapshot of the repo after this commit
    date: str = field(default_factory=_now)

    @property
    def touched(self) -> list[str]:
        return sorted({*self.added, *self.deleted})


@dataclass
class FakeRepo:
    repo_id: str
    repo_type: str = "model"
    private: bool = False
    commits: list[FakeCommit] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # branch name -> commit oid
    created_at: str = field(default_factory=_now)

    @property
    def sha(self) -> str:
        return self.refs["main"]

    @property
    def files(self) -> dict[str, bytes]:
        """Files on `main`."""
        return self.commit(self.sha).files

    def commit(self, oid: str) -> FakeCommit:
        for commit in self.commits:
            if commit.oid == oid:
                return commit
        raise KeyError(oid)

    def resolve(self, revision: str) -> FakeCommit | None:
        if revision in self.refs:
            return self.commit(self.refs[revision])
        for commit in self.commits:
            if commit.oid == revision:
                return commit
        return None


@dataclass
class RecordedRequest:
    method: str
    url: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0


class _HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class FakeHub:
    """In-memory Hub. `repos` maps a repo id (prefixed `datasets/` or `spaces/` for those types) to a `FakeRepo`."""

    def __init__(
        self,
        *,
        user: str = DEFAULT_USER,
        token: str | None = None,
        orgs: tuple[str, ...] = ("org",),
        lfs_patterns: tuple[str, ...] = DEFAULT_LFS_PATTERNS,
    ):
        self.user = user
        self.token = token  # when set, writes must carry exactly this token; otherwise any bearer token is accepted
        self.orgs = orgs
        self.lfs_patterns = lfs_patterns
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self.request_log: list[RecordedRequest] = []
        self.unhandled: list[tuple[str, str]] = []
        self.attempts: list[tuple[str, str]] = []  # every request the client started, even if offline mode blocked it
        self.transport = httpx2.MockTransport(self.handle)
        self._lock = threading.RLock()
        self._counter = 0

    # ------------------------------------------------------------------ clients

    def client_factory(self) -> httpx2.Client:
        """Same settings as huggingface_hub's default client, with the in-memory transport."""
        hooks = [self._record_attempt] + ([hf_request_event_hook] if hf_request_event_hook is not None else [])
        return httpx2.Client(
            transport=self.transport, event_hooks={"request": hooks}, follow_redirects=True, timeout=None
        )

    def async_client_factory(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=self.transport, follow_redirects=True, timeout=None)

    def _record_attempt(self, request: httpx2.Request) -> None:
        if request.url.path != "/api/agent-harnesses":
            self.attempts.append((request.method, request.url.path))

    # ------------------------------------------------------------------ direct (non-HTTP) helpers

    def repo(self, repo_id: str, repo_type: str = "model") -> FakeRepo:
        return self.repos[_key(repo_id, repo_type)]

    def create_repo(self, repo_id: str, *, repo_type: str = "model", private: bool = False) -> FakeRepo:
        with self._lock:
            key = _key(repo_id, repo_type)
            if key in self.repos:
                raise ValueError(f"{key} already exists")
            repo = FakeRepo(repo_id=repo_id, repo_type=repo_type, private=private)
            self.repos[key] = repo
            self._commit(repo, "main", "initial commit", "", {".gitattributes": GITATTRIBUTES.encode()}, [])
            return repo

    def add_commit(
        self,
        repo_id: str,
        files: dict[str, bytes] | str | Path,
        *,
        message: str = "Seed files",
        repo_type: str = "model",
        deleted: list[str] | None = None,
        branch: str = "main",
    ) -> FakeCommit:
        """Commit files directly (a mapping, or every file of a local folder), creating the repo if needed."""
        if isinstance(files, (str, Path)):
            root = Path(files)
            files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        with self._lock:
            key = _key(repo_id, repo_type)
            repo = self.repos.get(key) or self.create_repo(repo_id, repo_type=repo_type)
            return self._commit(repo, branch, message, "", dict(files), list(deleted or []))

    def commits_touching(self, repo_id: str, path: str, repo_type: str = "model") -> list[FakeCommit]:
        return [c for c in self.repo(repo_id, repo_type).commits if path in c.added or path in c.deleted]

    def requests_matching(self, method: str | None = None, contains: str = "") -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if (method is None or m == method) and contains in p]

    # ------------------------------------------------------------------ internals

    def _commit(
        self, repo: FakeRepo, branch: str, message: str, description: str, added: dict[str, bytes], deleted: list[str]
    ) -> FakeCommit:
        parent = repo.refs.get(branch)
        files = dict(repo.commit(parent).files) if parent else {}
        for path in deleted:
            files.pop(path, None)
        files.update(added)
        self._counter += 1
        digest = hashlib.sha1(f"{repo.repo_id}\0{parent}\0{message}\0{self._counter}".encode())
        for path in sorted(files):
            digest.update(f"\0{path}\0{git_blob_oid(files[path])}".encode())
        commit = FakeCommit(
            oid=digest.hexdigest(),
            message=message,
            description=description,
            parent=parent,
            added=added,
            deleted=deleted,
            files=files,
        )
        repo.commits.append(commit)
        repo.refs[branch] = commit.oid
        return commit

    def _is_lfs(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.lfs_patterns)

    def _find_blob(self, sha256: str) -> bytes | None:
        for repo in self.repos.values():
            for commit in repo.commits:
                for content in commit.files.values():
                    if hashlib.sha256(content).hexdigest() == sha256:
                        return content
        return None

    def _entry(self, path: str, content: bytes, *, sibling: bool = False, blobs: bool = True) -> dict[str, Any]:
        lfs = None
        if self._is_lfs(path):
            lfs = {"size": len(content), "sha256" if sibling else "oid": hashlib.sha256(content).hexdigest()}
            lfs["pointerSize"] = 134
        if sibling:
            entry: dict[str, Any] = {"rfilename": path}
            if blobs:
                entry.update({"size": len(content), "blobId": git_blob_oid(content)})
                if lfs:
                    entry["lfs"] = lfs
            return entry
        entry = {"type": "file", "oid": git_blob_oid(content), "size": len(content), "path": path}
        if lfs:
            entry["lfs"] = lfs
        return entry

    # ------------------------------------------------------------------ HTTP

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        segments = [unquote(s) for s in raw_path.split("/") if s]
        params = parse_qs(request.url.query.decode("ascii"))
        record = RecordedRequest(
            method=request.method,
            url=str(request.url),
            path=request.url.path,
            params=params,
            headers=dict(request.headers),
            body=request.content,
        )
        with self._lock:
            self.request_log.append(record)
            if request.url.path == "/api/agent-harnesses":
                # Fetched once per process (and per day) by huggingface_hub's user-agent code: kept out of `requests`
                # so that request lists do not depend on test order.
                return httpx2.Response(200, json={"standardEnvVars": [], "harnesses": {}})
            self.requests.append((request.method, request.url.path))
            try:
                response = self._route(request, segments, params)
            except _HubError as error:
                headers = {"X-Error-Message": error.message, **error.headers}
                if error.code:
                    headers["X-Error-Code"] = error.code
                response = httpx2.Response(error.status, headers=headers, json={"error": error.message})
        record.status = response.status_code
        return response

    def _base(self, request: httpx2.Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"

    def _route(self, request: httpx2.Request, seg: list[str], params: dict[str, list[str]]) -> httpx2.Response:
        method = request.method
        if request.url.host == CDN_HOST and len(seg) == 2 and seg[0] == "lfs":
            content = self._find_blob(seg[1])
            if content is None:
                raise _HubError(404, "LFS object not found")
            return _file_response(request, content, {"ETag": f'"{seg[1]}"'})
        if seg[:1] == ["api"]:
            rest = seg[1:]
            if rest == ["whoami-v2"] and method == "GET":
                return self._whoami(request)
            if rest == ["repos", "create"] and method == "POST":
                return self._create_repo(request)
            if rest == ["repos", "delete"] and method == "DELETE":
                return self._delete_repo(request)
            if rest == ["validate-yaml"] and method == "POST":
                return self._validate_yaml(request)
            if len(rest) >= 3 and rest[0] in REPO_TYPES:
                return self._repo_api(request, REPO_TYPES[rest[0]], f"{rest[1]}/{rest[2]}", rest[3:], params)
        else:
            repo_type, rest = ("model", seg)
            if seg[:1] in (["datasets"], ["spaces"]):
                repo_type, rest = REPO_TYPES[seg[0]], seg[1:]
            if len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(request, repo_type, f"{rest[0]}/{rest[1]}", rest[3], "/".join(rest[4:]))
        self.unhandled.append((method, request.url.path))
        return httpx2.Response(404, headers={"X-Error-Message": "FakeHub: unsupported endpoint"}, text="Not Found")

    # -- auth / repo lookup

    def _check_write(self, request: httpx2.Request) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (self.token is not None and auth != f"Bearer {self.token}"):
            raise _HubError(401, "Invalid credentials in Authorization header")

    def _get_repo(self, request: httpx2.Request, repo_type: str, repo_id: str) -> FakeRepo:
        repo = self.repos.get(_key(repo_id, repo_type))
        if repo is None or (repo.private and not request.headers.get("authorization")):
            raise _HubError(404 if repo is None else 401, "Repository not found", "RepoNotFound")
        return repo

    def _get_commit(self, repo: FakeRepo, revision: str) -> FakeCommit:
        commit = repo.resolve(revision)
        if commit is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- endpoints

    def _whoami(self, request: httpx2.Request) -> httpx2.Response:
        self._check_write(request)
        orgs = [{"type": "org", "name": org, "fullname": org, "roleInOrg": "admin"} for org in self.orgs]
        token_info = {"type": "access_token", "accessToken": {"displayName": "fakehub", "role": "write"}}
        body = {"type": "user", "id": "0" * 24, "name": self.user, "fullname": self.user, "orgs": orgs}
        return httpx2.Response(200, json={**body, "auth": token_info})

    def _create_repo(self, request: httpx2.Request) -> httpx2.Response:
        self._check_write(request)
        payload = json.loads(request.content or b"{}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.user}/{payload['name']}"
        url = f"{self._base(request)}/{_URL_PREFIX[repo_type]}{repo_id}"
        if _key(repo_id, repo_type) in self.repos:
            return httpx2.Response(409, json={"error": f"You already created this {repo_type} repo", "url": url})
        private = payload.get("visibility", "public") != "public" or bool(payload.get("private"))
        self.create_repo(repo_id, repo_type=repo_type, private=private)
        return httpx2.Response(200, json={"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, request: httpx2.Request) -> httpx2.Response:
        self._check_write(request)
        payload = json.loads(request.content or b"{}")
        repo_id = f"{payload.get('organization') or self.user}/{payload['name']}"
        if self.repos.pop(_key(repo_id, payload.get("type") or "model"), None) is None:
            raise _HubError(404, "Repository not found", "RepoNotFound")
        return httpx2.Response(200, json={})

    def _validate_yaml(self, request: httpx2.Request) -> httpx2.Response:
        import yaml

        content = json.loads(request.content or b"{}").get("content", "")
        if content.startswith("---"):
            front_matter = content.split("---", 2)[1] if content.count("---") >= 2 else ""
            try:
                yaml.safe_load(front_matter)
            except yaml.YAMLError as error:
                return httpx2.Response(400, json={"errors": [{"message": str(error)}], "warnings": []})
        return httpx2.Response(200, json={"errors": [], "warnings": []})

    def _repo_api(
        self, request: httpx2.Request, repo_type: str, repo_id: str, rest: list[str], params: dict[str, list[str]]
    ) -> httpx2.Response:
        method = request.method
        if rest and rest[0] in ("preupload", "commit", "branch") and method == "POST":
            self._check_write(request)
        repo = self._get_repo(request, repo_type, repo_id)
        if method == "GET" and (rest == [] or (len(rest) == 2 and rest[0] == "revision")):
            commit = self._get_commit(repo, rest[1] if rest else "main")
            blobs = params.get("blobs", ["false"])[0].lower() in ("1", "true")
            return httpx2.Response(200, json=self._info(repo, commit, blobs))
        if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
            commit = self._get_commit(repo, rest[1])
            recursive = params.get("recursive", ["false"])[0].lower() in ("1", "true")
            return httpx2.Response(200, json=self._tree(commit, "/".join(rest[2:]), recursive))
        if method == "POST" and len(rest) == 2 and rest[0] == "paths-info":
            commit = self._get_commit(repo, rest[1])
            form = parse_qs(request.content.decode())
            paths = form.get("paths", [])
            entries = [self._entry(p, commit.files[p]) for p in paths if p in commit.files]
            dirs = {d for p in paths for d in [p.rstrip("/")] if any(f.startswith(d + "/") for f in commit.files)}
            entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
            return httpx2.Response(200, json=entries)
        if method == "GET" and len(rest) == 2 and rest[0] == "commits":
            return httpx2.Response(200, json=self._history(repo, self._get_commit(repo, rest[1])))
        if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
            return self._preupload(repo, rest[1], request)
        if method == "POST" and len(rest) == 2 and rest[0] == "commit":
            if params.get("create_pr"):
                raise _HubError(400, "FakeHub does not implement create_pr")
            return self._commit_endpoint(request, repo, rest[1])
        if method == "POST" and len(rest) == 2 and rest[0] == "branch":
            if rest[1] in repo.refs:
                raise _HubError(409, f"Reference already exists: {rest[1]}")
            start = json.loads(request.content or b"{}").get("startingPoint") or "main"
            repo.refs[rest[1]] = self._get_commit(repo, start).oid
            return httpx2.Response(200, json={})
        self.unhandled.append((method, request.url.path))
        raise _HubError(404, "FakeHub: unsupported endpoint")

    def _info(self, repo: FakeRepo, commit: FakeCommit, blobs: bool) -> dict[str, Any]:
        siblings = [self._entry(p, c, sibling=True, blobs=blobs) for p, c in sorted(commit.files.items())]
        return {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }

    def _tree(self, commit: FakeCommit, path: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in commit.files):
            raise _HubError(404, f"{path} does not exist on this revision", "EntryNotFound")
        files, folders = [], set()
        for file_path, content in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            parts = file_path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    folders.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                files.append(self._entry(file_path, content))
        dirs = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(folders)]
        return dirs + files

    def _history(self, repo: FakeRepo, commit: FakeCommit) -> list[dict[str, Any]]:
        history = []
        current: FakeCommit | None = commit
        while current is not None:
            title = current.message
            history.append(
                {
                    "id": current.oid,
                    "authors": [{"user": self.user}],
                    "date": current.date,
                    "title": title,
                    "message": current.description,
                }
            )
            current = repo.commit(current.parent) if current.parent else None
        return history

    def _preupload(self, repo: FakeRepo, revision: str, request: httpx2.Request) -> httpx2.Response:
        commit = repo.resolve(revision)
        files = commit.files if commit is not None else {}
        answer = []
        for file in json.loads(request.content)["files"]:
            remote = files.get(file["path"])
            answer.append(
                {
                    "path": file["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_oid(remote) if remote is not None else None,
                }
            )
        return httpx2.Response(200, json={"files": answer, "commitOid": commit.oid if commit else None})

    def _commit_endpoint(self, request: httpx2.Request, repo: FakeRepo, revision: str) -> httpx2.Response:
        if revision not in repo.refs:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        lines = [json.loads(line) for line in request.content.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "the first line of a commit must be its header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent is not None and parent != repo.refs[revision]:
            raise _HubError(412, "A commit has happened since. Please refresh and try again.")
        head_files = repo.commit(repo.refs[revision]).files
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise _HubError(400, f"unsupported encoding {value.get('encoding')!r}")
                added[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                content = self._find_blob(value["oid"])
                if content is None:
                    raise _HubError(422, f"LFS object {value['oid']} was never uploaded (FakeHub forces regular)")
                added[value["path"]] = content
            elif key == "deletedFile":
                if value["path"] not in head_files:
                    raise _HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                deleted.append(value["path"])
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                deleted.extend(p for p in head_files if p.startswith(prefix))
            else:
                raise _HubError(400, f"FakeHub: unsupported commit operation {key!r}")
        commit = self._commit(repo, revision, header.get("summary", ""), header.get("description", ""), added, deleted)
        url = f"{self._base(request)}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{commit.oid}"
        body = {"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None}
        return httpx2.Response(200, json=body)

    def _resolve(
        self, request: httpx2.Request, repo_type: str, repo_id: str, revision: str, path: str
    ) -> httpx2.Response:
        repo = self._get_repo(request, repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        headers = {"X-Repo-Commit": commit.oid}
        content = commit.files.get(path)
        if content is None:
            raise _HubError(404, "Entry not found", "EntryNotFound", headers)
        headers["ETag"] = f'"{git_blob_oid(content)}"'
        if self._is_lfs(path):
            sha256 = hashlib.sha256(content).hexdigest()
            headers.update(
                {
                    "X-Linked-Etag": f'"{sha256}"',
                    "X-Linked-Size": str(len(content)),
                    "Location": f"https://{CDN_HOST}/lfs/{sha256}",
                    "Content-Length": "0",
                }
            )
            return httpx2.Response(302, headers=headers)
        return _file_response(request, content, headers)


def _key(repo_id: str, repo_type: str) -> str:
    return f"{_URL_PREFIX[repo_type]}{repo_id}"


def _file_response(request: httpx2.Request, content: bytes, headers: dict[str, str]) -> httpx2.Response:
    headers = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
    status = 200
    range_header = request.headers.get("range", "")
    if range_header.startswith("bytes=") and "," not in range_header:
        start_text, _, end_text = range_header[len("bytes=") :].partition("-")
        start = int(start_text or 0)
        end = int(end_text) if end_text else len(content) - 1
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        content, status = content[start : end + 1], 206
    headers["Content-Length"] = str(len(content))
    if request.method == "HEAD":
        return httpx2.Response(status, headers=headers)
    return httpx2.Response(status, headers=headers, content=content)


@pytest.fixture(name="fake_hub")
def fake_hub_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A `FakeHub` serving every huggingface_hub request, with a fresh temporary HF_HOME and a dummy write token.

    The fixture is named `fake_hub` whichever name it is imported under: import `fake_hub_fixture` (or `fake_hub`,
    which is the same object) so that a test's `fake_hub` argument does not shadow the import (ruff F811).

    The hub cache is `constants.HF_HUB_CACHE` (`<tmp>/hf_home/hub`), remote code goes to `<tmp>/hf_home/modules`.
    Offline mode is switched off; a test may switch it on again (env + `constants.HF_HUB_OFFLINE`).
    """
    import transformers.dynamic_module_utils
    import transformers.utils
    import transformers.utils.hub

    home = tmp_path / "hf_home"
    paths = {
        "HF_HOME": home,
        "HF_HUB_CACHE": home / "hub",
        "HF_ASSETS_CACHE": home / "assets",
        "HF_XET_CACHE": home / "xet",
        "HF_TOKEN_PATH": home / "token",
        "HF_MODULES_CACHE": home / "modules",
    }
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("HF_TOKEN", DEFAULT_TOKEN)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)

    # huggingface_hub and transformers read these once, at import time. Every path under the old HF_HOME (token,
    # stored tokens, agent-harness registry, update checks, ...) moves under the new one.
    old_home = constants.HF_HOME
    for name, value in vars(constants).copy().items():
        if name.isupper() and isinstance(value, str) and value.startswith(old_home + os.sep):
            monkeypatch.setattr(constants, name, str(home / os.path.relpath(value, old_home)))
    for name in ("HF_HOME", "HF_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.setattr(constants, name, str(paths[name]))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(paths["HF_HUB_CACHE"]))
    monkeypatch.setattr(constants, "HUGGINGFACE_ASSETS_CACHE", str(paths["HF_ASSETS_CACHE"]))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(paths["HF_HUB_CACHE"]))
    modules = str(paths["HF_MODULES_CACHE"])
    for module in (transformers.utils.hub, transformers.utils, transformers.dynamic_module_utils):
        monkeypatch.setattr(module, "HF_MODULES_CACHE", modules, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    # Dynamic modules are a package rooted in HF_MODULES_CACHE: start from a fresh one, restore the old one after.
    saved_modules = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "transformers_modules"}
    for name in saved_modules:
        del sys.modules[name]

    hub = FakeHub()
    previous_factory = _http._GLOBAL_CLIENT_FACTORY
    previous_async_factory = _http._GLOBAL_ASYNC_CLIENT_FACTORY
    huggingface_hub.set_client_factory(hub.client_factory)  # also closes the cached session
    huggingface_hub.set_async_client_factory(hub.async_client_factory)
    try:
        yield hub
    finally:
        huggingface_hub.set_client_factory(previous_factory)  # closes our client; the next call builds a fresh one
        huggingface_hub.set_async_client_factory(previous_async_factory)
        for name in [k for k in sys.modules if k.split(".")[0] == "transformers_modules"]:
            del sys.modules[name]
        sys.modules.update(saved_modules)


fake_hub = fake_hub_fixture  # same fixture (registered as "fake_hub" under either name)


__all__ = ["FakeCommit", "FakeHub", "FakeRepo", "fake_hub", "fake_hub_fixture", "git_blob_oid"]
