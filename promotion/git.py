"""The GitOps repository, through the ``git`` command line.

A promotion commit is made without touching anyone's checkout: the new file contents become
blobs, a temporary index on top of the base commit becomes a tree, and ``commit-tree`` plus
``update-ref`` create the branch (the same plumbing ``git commit`` uses). So a promotion can run
next to a developer's work, and the hook's clone never has a work tree state to get wrong.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitError", "GitRepo", "unified_diff"]


class GitError(RuntimeError):
    """A git command failed; the message carries git's own words."""


@dataclass
class GitRepo:
    root: Path
    author_name: str = "credit-scoring promote"
    author_email: str = "promote@credit-scoring.invalid"

    @classmethod
    def open(cls, path: Path, author_name: str, author_email: str) -> GitRepo:
        try:
            top = subprocess.run(
                ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            raise GitError(f"{path} is not a git work tree") from exc
        return cls(Path(top), author_name, author_email)

    # ------------------------------------------------------------------ plumbing
    def _git(self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
            check=False,
        )
        if result.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def _identity(self) -> dict[str, str]:
        """The configured identity when there is one (a person running ``promote``), else ours."""
        env = {}
        for key, fallback, variables in (
            ("user.name", self.author_name, ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
            ("user.email", self.author_email, ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")),
        ):
            try:
                value = self._git("config", "--get", key).strip()
            except GitError:
                value = ""
            for variable in variables:
                env[variable] = value or fallback
        return env

    # ------------------------------------------------------------------ reading
    def dirty(self) -> list[str]:
        """``git status --porcelain`` lines: uncommitted changes and untracked files."""
        return [line for line in self._git("status", "--porcelain").splitlines() if line.strip()]

    def current_branch(self) -> str:
        name = self._git("rev-parse", "--abbrev-ref", "HEAD").strip()
        if name == "HEAD":
            raise GitError("the repository is on a detached HEAD: check out the branch to promote from")
        return name

    def resolve(self, ref: str) -> str:
        return self._git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    def read(self, ref: str, path: Path) -> str | None:
        """``path``'s content at ``ref`` (None when it does not exist there)."""
        try:
            return self._git("show", f"{ref}:{path.as_posix()}")
        except GitError:
            return None

    def has_branch(self, name: str, remote: str | None = None) -> bool:
        refs = [f"refs/heads/{name}"] + ([f"refs/remotes/{remote}/{name}"] if remote else [])
        for ref in refs:
            try:
                self._git("rev-parse", "--verify", "--quiet", ref)
            except GitError:
                continue
            return True
        return False

    def last_change(self, ref: str, path: Path) -> str:
        """The commit on ``ref`` that last changed ``path``."""
        return self._git("log", "-1", "--format=%H", ref, "--", path.as_posix()).strip()

    def message(self, ref: str) -> str:
        return self._git("log", "-1", "--format=%B", ref)

    # ------------------------------------------------------------------ writing
    def commit_on_branch(self, base: str, branch: str, files: Mapping[Path, str], message: str) -> str:
        """A commit on ``base`` with ``files`` written, as the new branch ``branch``; its sha.

        Refuses (GitError) when the branch already exists: promotion branches are never moved."""
        base_sha = self.resolve(base)
        with tempfile.TemporaryDirectory(prefix="credit-promote-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **self._identity()}
            self._git("read-tree", base_sha, env=env)
            for path, text in files.items():
                blob = self._git("hash-object", "-w", "--stdin", stdin=text).strip()
                self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path.as_posix()}", env=env)
            tree = self._git("write-tree", env=env).strip()
            commit = self._git("commit-tree", tree, "-p", base_sha, "-F", "-", stdin=message, env=env).strip()
        # The empty old value makes update-ref fail if the branch appeared meanwhile.
        self._git("update-ref", f"refs/heads/{branch}", commit, "")
        return commit

    def fetch(self, remote: str) -> None:
        self._git("fetch", "--prune", remote)

    def push(self, remote: str, branch: str) -> None:
        self._git("push", remote, f"refs/heads/{branch}:refs/heads/{branch}")


def unified_diff(before: str, after: str, path: Path) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path.as_posix()}",
            tofile=f"b/{path.as_posix()}",
        )
    )
