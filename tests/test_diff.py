"""`triage diff`: scenarios in real git histories, read from git objects only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NOW, workspace
from tests.gitrepos import GitRepo
from triage import lockfiles
from triage.cli import main
from triage.core.diffing import DiffResult
from triage.errors import ConfigError, InputError, LockfileError
from triage.service import diff, sync

CLEAN = "click==8.1.7\n"
URLLIB3_2_0_0 = {"PYSEC-2023-192/urllib3", "PYSEC-2023-212/urllib3"}
PILLOW_9 = {
    "PYSEC-2022-168/pillow",
    "PYSEC-2022-42979/pillow",
    "PYSEC-2023-175/pillow",
    "PYSEC-2023-227/pillow",
}


def keys(items: object) -> set[str]:
    return {str(i.finding.key) for i in items}  # type: ignore[attr-defined]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", requirements_dot_txt="urllib3==2.0.0\n" + CLEAN)
    repo.branch("feature")
    return repo


def run_diff(repo: GitRepo, db: Path, base: str = "main") -> DiffResult:
    return diff.diff(workspace(db, NOW, repo.root), base, "HEAD")


def test_new_vulnerable_package_is_new(repo: GitRepo, synced_db: Path) -> None:
    repo.commit("add pillow", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n" + CLEAN)
    result = run_diff(repo, synced_db)
    assert keys(result.new) == PILLOW_9 and not result.fixed
    assert keys(result.unchanged) == URLLIB3_2_0_0
    assert result.fails


def test_moved_lockfile_is_not_new(repo: GitRepo, synced_db: Path) -> None:
    repo.git("mv", "requirements.txt", "requirements-prod.txt")
    repo.commit("rename")
    result = run_diff(repo, synced_db)
    assert not result.new and not result.fixed and keys(result.unchanged) == URLLIB3_2_0_0
    assert not result.fails


def test_bump_to_a_still_affected_version_is_not_new(repo: GitRepo, synced_db: Path) -> None:
    repo.commit("bump", requirements_dot_txt="urllib3==2.0.2\n" + CLEAN)
    result = run_diff(repo, synced_db)
    assert not result.new and not result.fixed
    assert [f.finding.versions for f in result.unchanged] == [("2.0.2",), ("2.0.2",)]


def test_bump_into_a_new_advisory_is_new(tmp_path: Path, synced_db: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", requirements_dot_txt="urllib3==1.26.18\n")
    repo.branch("feature")
    repo.commit("major bump", requirements_dot_txt="urllib3==2.0.0\n")
    assert keys(run_diff(repo, synced_db).new) == URLLIB3_2_0_0


def test_upgrade_past_the_fix_is_fixed(repo: GitRepo, synced_db: Path) -> None:
    repo.commit("upgrade", requirements_dot_txt="urllib3==2.0.7\n" + CLEAN)
    result = run_diff(repo, synced_db)
    assert keys(result.fixed) == URLLIB3_2_0_0 and not result.new and not result.fails


def test_ignore_added_by_the_pr_does_not_hide_its_finding(tmp_path: Path, synced_db: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", requirements_dot_txt="urllib3==1.26.18\n")
    repo.branch("feature")
    repo.commit(
        "bump and ignore",
        requirements_dot_txt="urllib3==2.0.0\n",
        deny_dot_toml='[advisories]\nignore = [{ id = "CVE-2023-43804", reason = "r", '
        'issue = "https://github.com/a/b/issues/1", expires = 2099-01-01 }]\n',
    )
    result = run_diff(repo, synced_db)
    assert keys(result.new) == URLLIB3_2_0_0
    assert {i.status.value for i in result.new} == {"active"} and result.fails
    assert [str(k) for k in result.suppressed_by_head] == ["PYSEC-2023-192/urllib3"]
    assert [r.id for r in result.policy.ignores_added] == ["CVE-2023-43804"]
    assert result.policy.needs_review


def test_loosened_ignore_is_flagged(tmp_path: Path, synced_db: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    rule = (
        '[advisories]\nignore = [{{ id = "PYSEC-2023-192", {package}reason = "r", '
        'issue = "https://github.com/a/b/issues/1", expires = {expires} }}]\n'
    )
    repo.commit(
        "base",
        deny_dot_toml=rule.format(package='package = "urllib3", ', expires="2027-01-01"),
        requirements_dot_txt=CLEAN,
    )
    repo.branch("feature")
    repo.commit("wider", deny_dot_toml=rule.format(package="", expires="2030-01-01"))
    result = run_diff(repo, synced_db)
    ((before, after),) = result.policy.ignores_loosened
    assert (before.package, after.package) == ("urllib3", None)
    assert not result.policy.ignores_added and not result.policy.ignores_removed


def test_trust_store_edit_is_flagged(repo: GitRepo, synced_db: Path) -> None:
    repo.commit("trust", {"trust-store/publishers.toml": "[[publisher]]\n"})
    result = run_diff(repo, synced_db)
    assert result.policy.trust_store_changed == ("trust-store/publishers.toml",)
    assert result.policy.needs_review and not result.fails


def test_base_branch_moved_on_uses_the_merge_base(repo: GitRepo, synced_db: Path) -> None:
    repo.commit("feature work", requirements_dot_txt="urllib3==2.0.0\nrich==13.7.0\n" + CLEAN)
    repo.checkout("main")
    repo.commit("main moves on", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n" + CLEAN)
    repo.checkout("feature")
    result = run_diff(repo, synced_db)
    # Against main's tip pillow would look "fixed" by this branch; against the merge-base it
    # is simply not part of the change.
    assert not result.new and not result.fixed
    assert result.base == repo.git("merge-base", "main", "feature")


def test_no_lockfile_at_base_makes_everything_new(tmp_path: Path, synced_db: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("empty", README_dot_md="hello\n")
    repo.branch("feature")
    repo.commit(
        "deps",
        uv_dot_lock='version = 1\n[[package]]\nname = "urllib3"\n'
        'version = "2.0.0"\nsource = { registry = "https://pypi.org/simple" }\n',
    )
    assert keys(run_diff(repo, synced_db).new) == URLLIB3_2_0_0


def test_diff_never_touches_the_working_tree(repo: GitRepo, synced_db: Path) -> None:
    repo.commit("add pillow", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n")
    (repo.root / "requirements.txt").write_text("garbage that is not committed ==\n")
    status = repo.git("status", "--porcelain")
    assert keys(run_diff(repo, synced_db).new) == PILLOW_9
    assert repo.git("status", "--porcelain") == status


def diff_cli(
    repo: GitRepo, db: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = main(["diff", str(repo.root), "--base", "main", "--db", str(db), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_a_symlinked_lockfile_leaving_the_tree_is_refused(
    repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.root / "requirements-evil.txt").symlink_to("/etc/passwd")
    repo.commit("link")
    code, out, err = diff_cli(repo, synced_db, capsys)
    assert code == 2 and "root:" not in out + err
    assert "HEAD:requirements-evil.txt: a symbolic link to '/etc/passwd'" in err


def test_a_lockfile_turned_into_a_symlink_inside_the_tree_is_still_read(
    repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pull request moves the pins and links the old name to them: the gate reads what an
    installer reading requirements.txt would read."""
    repo.commit("move", {"requirements.txt": None, "deps/pins.txt": "pillow==9.0.0\n"})
    (repo.root / "requirements.txt").symlink_to("deps/pins.txt")
    repo.commit("link")
    code, out, _ = diff_cli(repo, synced_db, capsys, "--head", "feature", "--format", "json")
    assert code == 1
    assert {f["key"] for f in json.loads(out)["new"]} == PILLOW_9


def test_a_crafted_tree_cannot_make_the_diff_write_outside_its_scratch_folder(
    repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tree may hold entries named `..` (git mktree accepts them). Blobs are read into
    memory, so nothing lands under such a name, and an include cannot climb out either."""
    import tempfile
    import uuid

    escaped = f"triage-escape-{uuid.uuid4().hex}.txt"
    blob = repo.git("hash-object", "-w", "--stdin", input_text="pillow==9.0.0\n")
    up = repo.git("mktree", input_text=f"100644 blob {blob}\t{escaped}\n")
    including = repo.git("hash-object", "-w", "--stdin", input_text=f"-r ../{escaped}\n")
    clean = repo.git("hash-object", "-w", "--stdin", input_text=CLEAN)
    for requirements, expected in ((clean, 0), (including, 2)):
        tree = repo.git(
            "mktree",
            input_text=f"040000 tree {up}\t..\n100644 blob {requirements}\trequirements.txt\n",
        )
        commit = repo.git("commit-tree", tree, "-p", "HEAD", "-m", "crafted")
        code, _, err = diff_cli(repo, synced_db, capsys, "--head", commit)
        assert code == expected, err
        for folder in {Path(tempfile.gettempdir()), repo.root.parent, repo.root}:
            assert not (folder / escaped).exists()
    assert f"-r ../{escaped} points outside the tree" in err


def test_lockfile_readings_are_cached_per_reader(
    repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One blob is a fine poetry.lock but no uv.lock (uv's lock states its `version`): renamed,
    it gets the uv reader's verdict, not the cached poetry reading."""
    lock = '[[package]]\nname = "pillow"\nversion = "9.0.0"\n'
    repo.commit("poetry", {"poetry.lock": lock})
    assert diff_cli(repo, synced_db, capsys)[0] == 1
    repo.commit("rename", {"poetry.lock": None, "uv.lock": lock})
    code, _, err = diff_cli(repo, synced_db, capsys)
    assert code == 2 and "HEAD:uv.lock: version: missing: this is not a uv.lock" in err


def test_unchanged_lockfiles_are_read_once(
    repo: GitRepo, synced_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.commit("add pillow", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n" + CLEAN)
    db = tmp_path / "own.db"
    sync.sync(workspace(db, NOW), [])  # the embedded snapshot
    run_diff(repo, db)
    reads: list[str] = []
    original = lockfiles.read_lockfile

    def counting(path: Path, root: Path) -> object:
        reads.append(path.name)
        return original(path, root)

    monkeypatch.setattr(lockfiles, "read_lockfile", counting)
    assert keys(run_diff(repo, db).new) == PILLOW_9
    assert reads == []


@pytest.mark.parametrize(
    ("change", "error", "expected"),
    [
        (
            {"deny.toml": "[advisories]\nfrob = 1\n"},
            ConfigError,
            r"(?s)^HEAD:deny\.toml: 1 problem.*advisories\.frob: unknown key",
        ),
        (
            {"uv.lock": "version = 1\n[[package]\n"},
            LockfileError,
            r"(?s)^HEAD:uv\.lock: not valid TOML.*line 2",
        ),
    ],
)
def test_malformed_files_at_head_name_the_ref_and_file(
    repo: GitRepo,
    synced_db: Path,
    change: dict[str, str | None],
    error: type[Exception],
    expected: str,
) -> None:
    repo.commit("bad", change)
    with pytest.raises(error, match=expected):
        run_diff(repo, synced_db)


def test_unknown_ref_and_shallow_clone(
    repo: GitRepo, synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match=r"unknown git ref 'no-such-branch'"):
        diff.diff(workspace(synced_db, NOW, repo.root), "no-such-branch", "HEAD")
    repo.commit("one", requirements_dot_txt="pillow==9.0.0\n")
    repo.commit("two", requirements_dot_txt="pillow==10.3.0\n")
    shallow = tmp_path / "shallow"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            f"file://{repo.root}",
            str(shallow),
        ],
        check=True,
    )
    code = main(["diff", str(shallow), "--base", "origin/main", "--db", str(synced_db)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert "shallow clone without the merge-base of 'origin/main' and 'HEAD'" in err
    assert "fetch-depth: 0" in err


def test_cli_diff_json_schema(
    repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.commit("add pillow", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n")
    code = main(
        ["diff", str(repo.root), "--base", "main", "--db", str(synced_db), "--format", "json"]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert list(document) == [
        "schema",
        "base",
        "head",
        "new",
        "fixed",
        "unchanged",
        "unpinned_added",
        "policy_changes",
        "trust",
        "licenses",  # issue 14: the licenses the pull request brings ([] without [licenses])
        "index",  # issue 24: yanked files and project status of what it adds
    ]
    assert document["licenses"] == []
    assert document["schema"] == "triage/diff-v1"
    assert document["head"] == repo.git("rev-parse", "HEAD")
    assert {f["key"] for f in document["new"]} == PILLOW_9
    assert document["policy_changes"]["trust_store_changed"] is False


def test_a_crafted_base_trust_store_cannot_write_outside_the_scratch_folder(
    repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The base's trust store is copied to a scratch folder for the trust check: only the
    files it reads, by their fixed names. A `..` entry under trust-store/ is not written."""
    import tempfile
    import uuid

    escaped = f"triage-escape-{uuid.uuid4().hex}.toml"
    blob = repo.git("hash-object", "-w", "--stdin", input_text="# no publishers\n")
    up = repo.git("mktree", input_text=f"100644 blob {blob}\t{escaped}\n")
    store = repo.git(
        "mktree", input_text=f"040000 tree {up}\t..\n100644 blob {blob}\tpublishers.toml\n"
    )
    clean = repo.git("hash-object", "-w", "--stdin", input_text=CLEAN)
    tree = repo.git(
        "mktree",
        input_text=f"040000 tree {store}\ttrust-store\n100644 blob {clean}\trequirements.txt\n",
    )
    base = repo.git("commit-tree", tree, "-p", "HEAD", "-m", "crafted base")
    repo.git("update-ref", "refs/heads/main", base)
    bumped = repo.git("hash-object", "-w", "--stdin", input_text=CLEAN + "pillow==9.0.0\n")
    head_tree = repo.git(
        "mktree",
        input_text=f"040000 tree {store}\ttrust-store\n100644 blob {bumped}\trequirements.txt\n",
    )
    head = repo.git("commit-tree", head_tree, "-p", base, "-m", "pr")
    code, _, err = diff_cli(repo, synced_db, capsys, "--head", head)
    assert code in (0, 1), err
    for folder in {Path(tempfile.gettempdir()), repo.root.parent, repo.root}:
        assert not (folder / escaped).exists()


def test_one_cat_file_process_reads_what_the_plumbing_commands_read(tmp_path: Path) -> None:
    """Inside gitrepo.batch a diff's refs, trees and blobs come from one `git cat-file
    --batch`: the same trees as `ls-tree -r` (nested folders, a symlink, an executable, a
    name that is not UTF-8, a submodule), the same blobs and the same refusals."""
    import os

    from triage import gitrepo
    from triage.errors import InputError

    repo = GitRepo(tmp_path / "repo")
    repo.write("a/b/c/uv.lock", "deep\n")
    repo.write("run.sh", "#!/bin/sh\n")
    (repo.root / "run.sh").chmod(0o755)
    os.symlink("a/b/c/uv.lock", repo.root / "link.lock")
    (repo.root / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"latin-1 name\n")
    sub = repo.commit("files")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sub},vendored")
    repo.git("commit", "-q", "-m", "a submodule")
    head = repo.git("rev-parse", "HEAD")
    plain = gitrepo.tree(repo.root, gitrepo.resolve(repo.root, "main"))
    blobs = sorted({e.blob for e in plain if e.mode != gitrepo.SUBMODULE_MODE})
    with gitrepo.batch(repo.root):
        assert gitrepo.resolve(repo.root, "main") == head
        assert gitrepo.tree(repo.root, head) == plain
        batched = gitrepo.read_blobs(repo.root, blobs)
        with pytest.raises(InputError, match="unknown git ref 'nope'"):
            gitrepo.resolve(repo.root, "nope")
        with pytest.raises(InputError, match="is not a git ref"):
            gitrepo.resolve(repo.root, "main\nHEAD")
    assert batched == gitrepo.read_blobs(repo.root, blobs) and b"deep\n" in batched.values()
    assert {e.mode for e in plain} == {"100644", "100755", "120000", "160000"}
    assert any(e.path == "a/b/c/uv.lock" for e in plain)
    with pytest.raises(InputError, match="not a git repository"), gitrepo.batch(tmp_path):
        gitrepo.resolve(tmp_path, "main")


def test_a_tree_deeper_than_the_stack_is_read(tmp_path: Path) -> None:
    """A pull request can commit a folder nested 1,500 deep: the batched tree walk is not
    recursive, so it lists it like `git ls-tree -r`, with no stack to run out of."""
    import os

    from triage import gitrepo

    repo = GitRepo(tmp_path / "repo")
    folder = repo.root
    try:
        for _ in range(1500):
            folder = folder / "d"
            os.mkdir(folder)
        (folder / "requirements.txt").write_text("urllib3==2.0.0\n")
        head = repo.commit("deep")
        with gitrepo.batch(repo.root):
            listed = gitrepo.tree(repo.root, head)
        assert listed == gitrepo.tree(repo.root, head)
        assert listed[0].path == "d/" * 1500 + "requirements.txt"
    finally:  # rm is not recursive (shutil.rmtree, and pytest's cleanup with it, would be)
        subprocess.run(["rm", "-rf", str(repo.root / "d")], check=True)
