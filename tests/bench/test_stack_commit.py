"""A bench run records the commit it measured, also from a worktree (the A/B comparisons)."""

import subprocess
from pathlib import Path

import pytest

from bench import stack


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 (git, with our own arguments)
        ["git", *args],  # noqa: S607
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_commit_is_read_in_the_repository_and_in_its_worktrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = tmp_path / "main"
    main.mkdir()
    _git(main, "init", "-q", "-b", "main")
    for n in (1, 2):
        (main / "file").write_text(str(n))
        _git(main, "add", "file")
        _git(main, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", str(n))
    first, second = _git(main, "rev-list", "HEAD").split()[::-1]
    _git(main, "worktree", "add", "-q", "--detach", str(tmp_path / "detached"), first)
    _git(main, "worktree", "add", "-q", "-b", "other", str(tmp_path / "branch"), first)
    _git(main, "pack-refs", "--all")  # branches then live in packed-refs alone

    for folder, expected in (("main", second), ("detached", first), ("branch", first)):
        monkeypatch.setattr(stack, "ROOT", tmp_path / folder)
        assert stack.commit() == expected[:12], folder
