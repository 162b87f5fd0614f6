"""The build context without an engine: .dockerignore as Docker applies it, the listing, the
digest, the hash cache, the tar, and the reasons given for a rebuild.

The pattern tables are the cases of moby/patternmatcher's own tests (the library the Docker CLI
uses), so that a divergence from the engine's behaviour shows up here.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from pathlib import Path

import pytest

from hodei_e2e.commands.build_image import parse_build_args
from hodei_e2e.errors import ConfigError, ExitCode, UsageError
from hodei_e2e.image import context as build_context
from hodei_e2e.image.context import Inputs, Listing, changed_paths, digest, scan, write_tar
from hodei_e2e.image.dockerignore import PatternError, PatternMatcher, _translate, read_patterns
from hodei_e2e.image.state import ImageRecord, StateDir
from hodei_e2e.image.worker_image import describe_change

# -- reading .dockerignore -------------------------------------------------------------------------


def test_read_patterns_normalises_like_the_cli() -> None:
    text = "\ufeff# comment\r\n  *.md  \r\n\n!README.md\n! docs/keep \n/abs/path\n"
    text += "./rel//x/../y\n #x\n"
    assert read_patterns(text) == ["*.md", "!README.md", "!docs/keep", "abs/path", "rel/y", "#x"]


def test_a_lone_exclamation_mark_is_an_error() -> None:
    with pytest.raises(PatternError):
        PatternMatcher(read_patterns("!\n"))


# -- matching (moby/patternmatcher TestMatches) ----------------------------------------------------

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"

SINGLE = [
    ("**", "file", EXACT),
    ("**", "file/", EXACT),
    ("**/", "file", EXACT),
    ("**/", "file/", EXACT),
    ("**", "/", EXACT),
    ("**/", "/", EXACT),
    ("**", "dir/file", EXACT),
    ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT),
    ("**/", "dir/file/", EXACT),
    ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT),
    ("dir/**", "dir/file", EXACT),
    ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT),
    ("dir/**", "dir/dir2/file/", EXACT),
    ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT),
    ("**/dir2/*", "dir/dir2/file", EXACT),
    ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT),
    ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT),
    ("**file", "dir/file", EXACT),
    ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT),
    ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL),
    ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT),
    ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL),
    ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT),
    ("a[b-d]e", "ae", FAIL),
    ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", FAIL),
    ("a[^b-d]e", "aze", EXACT),
    (".*", ".foo", EXACT),
    (".*", "foo", FAIL),
    ("abc.def", "abcdef", FAIL),
    ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL),
    ("abc?def", "abcZdef", EXACT),
    ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT),
    ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL),
    ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT),
    ("a\\*b", "a*b", EXACT),
]

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", FAIL),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", EXACT),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
    (["docs", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs/", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs/*", "!docs/README.md"], "docs/README.md", FAIL),
    (["*.go", "!fileutils.go"], "fileutils.go", FAIL),
    (["!fileutils.go", "*.go"], "fileutils.go", EXACT),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", EXACT),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", FAIL),
]


def _walked(matcher: PatternMatcher, path: str) -> bool:
    """Match `path` as the context walk does: each parent first, passing its match info on."""
    parent = posixpath.dirname(path)  # Go's filepath.Dir: "a/b/" has the parent "a/b"
    parts = parent.split("/") if parent else []
    info: tuple[bool, ...] = ()
    for end in range(1, len(parts) + 1):
        _, info = matcher.matches("/".join(parts[:end]), info)
    return matcher.matches(path, info)[0]


@pytest.mark.parametrize(("pattern", "path", "expected"), SINGLE)
def test_single_pattern(pattern: str, path: str, expected: str) -> None:
    matcher = PatternMatcher([pattern])
    assert matcher.matches_or_parent_matches(path) is (expected != FAIL)
    assert _walked(matcher, path) is (expected != FAIL)
    assert matcher.patterns[0].match(path) is (expected == EXACT)


@pytest.mark.parametrize(("patterns", "path", "expected"), MULTI)
def test_pattern_lists(patterns: list[str], path: str, expected: str) -> None:
    matcher = PatternMatcher(patterns)
    assert matcher.matches_or_parent_matches(path) is (expected != FAIL)
    assert _walked(matcher, path) is (expected != FAIL)


@pytest.mark.parametrize(
    ("pattern", "kind", "regexp"),
    [
        ("*", "regexp", "^[^/]*$"),
        ("file*", "regexp", "^file[^/]*$"),
        ("a*/b", "regexp", "^a[^/]*/b$"),
        ("**", "suffix", ""),
        ("**/**", "regexp", "^(.*/)?.*$"),
        ("dir/**", "prefix", ""),
        ("**/dir", "suffix", ""),
        ("**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"),
        ("**/dir2/**", "regexp", "^(.*/)?dir2/.*$"),
        ("**file", "suffix", ""),
        ("**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"),
        (".*", "regexp", "^\\.[^/]*$"),
        ("abc.def", "exact", ""),
        ("a(b)c/def", "exact", ""),
    ],
)
def test_translation_matches_patternmatcher_compile(pattern: str, kind: str, regexp: str) -> None:
    found_kind, source = _translate(pattern)
    assert found_kind == kind
    if kind == "regexp":
        assert source == regexp


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("abc", "abc", True),
        ("*c", "abc", True),
        ("a*", "ab/c", True),  # via the parent "ab"
        ("a*/b", "a/c/b", False),
        ("a*b?c*x", "abxbbxdbxebxczzx", True),
        ("ab[^c]", "abc", False),
        ("ab[^e-g]", "abc", True),
        ("a?b", "a☺b", True),
        ("[a-ζ]*", "α", True),
        ("a?b", "a/b", False),
        ("[\\]a]", "]", True),
        ("[\\-x]", "-", True),
        ("[x\\-]", "z", False),
        ("*x", "xxx", True),
    ],
)
def test_go_filepath_match_cases(pattern: str, path: str, expected: bool) -> None:
    assert PatternMatcher([pattern]).matches_or_parent_matches(path) is expected


@pytest.mark.parametrize(
    "pattern",
    ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "[Local-Only]/"],
)
def test_bad_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(PatternError):
        PatternMatcher([pattern])


# -- the listing -----------------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _paths(listing: Listing) -> list[str]:
    return [entry.path for entry in listing.entries]


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    _write(
        root,
        {
            "Dockerfile": "FROM scratch\nCOPY . /\n",
            ".dockerignore": "**/*.log\nbuild\n!build/keep.txt\ndocs/**\n"
            "Dockerfile\n.dockerignore\n",
            "top.log": "noise\n",
            "src/main.py": "print(1)\n",
            "src/debug.log": "noise\n",
            "build/out.bin": "x",
            "build/keep.txt": "keep",
            "docs/a/b.md": "doc",
            "README": "hi",
        },
    )
    return root


def test_listing_honours_dockerignore_and_always_sends_the_build_files(context: Path) -> None:
    listing = scan(context, context / "Dockerfile")
    assert _paths(listing) == [
        ".dockerignore",
        "Dockerfile",
        "README",
        "build/keep.txt",  # an exception reaches into an excluded directory (not sent itself)
        "docs",  # `docs/**` excludes what is under docs, not docs itself
        "src",
        "src/main.py",
    ]
    assert listing.dockerfile_name == "Dockerfile"
    assert listing.dockerfile_outside is None


def test_a_pattern_without_a_slash_applies_at_the_top_only(tmp_path: Path) -> None:
    _write(tmp_path, {".dockerignore": "*.log\n", "Dockerfile": "", "a.log": "", "sub/b.log": ""})
    assert "sub/b.log" in _paths(scan(tmp_path, tmp_path / "Dockerfile"))
    assert "a.log" not in _paths(scan(tmp_path, tmp_path / "Dockerfile"))


def test_listing_skips_the_state_directory_and_keeps_symlinks(context: Path) -> None:
    _write(context, {".hodei-e2e/image-manifest.json": "{}"})
    (context / "link").symlink_to("src/main.py")
    listing = scan(context, context / "Dockerfile", never_send=[context / ".hodei-e2e"])
    assert ".hodei-e2e" not in _paths(listing)
    link = next(entry for entry in listing.entries if entry.path == "link")
    assert (link.kind, link.content) == ("l", "src/main.py")


def test_a_dockerfile_outside_the_context_is_sent_under_a_generated_name(
    context: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "Dockerfile.worker"
    outside.write_text("FROM scratch\n")
    listing = scan(context, outside)
    assert listing.dockerfile_name.startswith(".dockerfile.")
    assert listing.dockerfile_outside == b"FROM scratch\n"
    assert scan(context, outside).dockerfile_name == listing.dockerfile_name  # stable: cacheable
    _, tar = _tar_names(listing)
    ignore = tar.extractfile(".dockerignore")
    assert ignore is not None
    assert listing.dockerfile_name in ignore.read().decode()  # the classic engine drops it
    buffer = io.BytesIO()
    write_tar(listing, buffer, engine_applies_ignore=False)  # BuildKit: no .dockerignore read
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        names = tar.getnames()
    assert ".dockerignore" not in names  # the fixture's excludes itself; none is made up
    assert names[-1] == listing.dockerfile_name


def test_a_bad_dockerignore_pattern_is_a_config_error_naming_the_file(context: Path) -> None:
    (context / ".dockerignore").write_text("[oops\n")
    with pytest.raises(ConfigError) as caught:
        scan(context, context / "Dockerfile")
    assert str(context / ".dockerignore") in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


# -- the digest ------------------------------------------------------------------------------------

INPUTS = Inputs(dockerfile_hash="d1", build_args={"A": "1", "B": "2"}, target=None)


def _digest(context: Path, inputs: Inputs = INPUTS) -> str:
    return digest(scan(context, context / "Dockerfile"), inputs)


def test_the_digest_is_stable(context: Path) -> None:
    reordered = Inputs(dockerfile_hash="d1", build_args={"B": "2", "A": "1"}, target=None)
    assert _digest(context) == _digest(context) == _digest(context, reordered)


def test_an_ignored_file_does_not_change_the_digest(context: Path) -> None:
    before = _digest(context)
    _write(context, {"src/debug.log": "other noise", "build/out.bin": "y", "new.log": "z"})
    assert _digest(context) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "src/main.py").write_text("print(2)\n"),
        lambda root: (root / "build/keep.txt").write_text("changed"),
        lambda root: (root / "src/new.py").write_text(""),
        lambda root: (root / "README").unlink(),
        lambda root: (root / "README").chmod(0o755),
        lambda root: (root / "empty").mkdir(),
    ],
    ids=["content", "exception", "added", "removed", "mode", "directory"],
)
def test_a_sent_change_changes_the_digest(context: Path, change: object) -> None:
    before = _digest(context)
    change(context)  # type: ignore[operator]
    assert _digest(context) != before


def test_build_args_target_and_dockerfile_are_part_of_the_digest(context: Path) -> None:
    before = _digest(context)
    assert _digest(context, Inputs("d1", {"A": "1", "B": "3"}, None)) != before
    assert _digest(context, Inputs("d1", {"A": "1"}, None)) != before
    assert _digest(context, Inputs("d1", INPUTS.build_args, "test")) != before
    assert _digest(context, Inputs("d2", INPUTS.build_args, None)) != before


# -- the hash cache --------------------------------------------------------------------------------


def test_an_unchanged_context_is_checked_without_reading_files(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_context, "RACY_NS", 0)
    first = scan(context, context / "Dockerfile")
    assert first.hashed == 5
    second = scan(context, context / "Dockerfile", cache=first.cache)
    assert second.hashed == 0
    assert second.entries == first.entries


def test_the_cache_notices_a_change_that_keeps_size_and_mtime(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_context, "RACY_NS", 0)
    path = context / "src/main.py"
    first = scan(context, context / "Dockerfile")
    stat = path.stat()
    path.write_text("print(9)\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime; ctime moves
    second = scan(context, context / "Dockerfile", cache=first.cache)
    assert second.hashed == 1
    assert digest(second, INPUTS) != digest(first, INPUTS)


def test_files_changed_just_now_are_not_trusted_from_the_cache(context: Path) -> None:
    listing = scan(context, context / "Dockerfile")  # every file was written a moment ago
    assert listing.cache == {}


# -- the tar ---------------------------------------------------------------------------------------


def _tar_names(listing: Listing) -> tuple[list[str], tarfile.TarFile]:
    buffer = io.BytesIO()
    write_tar(listing, buffer)
    buffer.seek(0)
    tar = tarfile.open(fileobj=buffer)  # noqa: SIM115 - in memory, read by the caller
    return [member.name for member in tar.getmembers()], tar


def test_the_tar_holds_exactly_the_listing(context: Path) -> None:
    listing = scan(context, context / "Dockerfile")
    names, tar = _tar_names(listing)
    assert names == _paths(listing)
    member = tar.extractfile("src/main.py")
    assert member is not None
    assert member.read() == b"print(1)\n"
    assert tar.getmember("src/main.py").uid == 0


def test_the_tar_adds_an_outside_dockerfile_and_hides_it_with_dockerignore(
    context: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "Dockerfile.worker"
    outside.write_text("FROM scratch\n")
    listing = scan(context, outside)
    names, tar = _tar_names(listing)
    assert names[-2:] == [listing.dockerfile_name, ".dockerignore"]
    ignore = tar.extractfile(tar.getmembers()[-1])
    assert ignore is not None
    assert ignore.read().endswith(f"\n{listing.dockerfile_name}\n".encode())


def test_a_file_changed_after_the_scan_stops_the_build(context: Path) -> None:
    listing = scan(context, context / "Dockerfile")
    (context / "src/main.py").write_text("print(3)\n")
    with pytest.raises(ConfigError, match="changed while the build was starting"):
        write_tar(listing, io.BytesIO())


# -- reasons, build args, the manifest -------------------------------------------------------------


def _record(**changes: object) -> ImageRecord:
    fields: dict[str, object] = {
        "digest": "sha256:1",
        "dockerfile": "d1",
        "build_args": {"BASE": "h1"},
        "target": None,
        "files": {"Dockerfile": "x", "a.py": "1", "b.py": "2", "c.py": "3", "d.py": "4"},
    }
    fields.update(changes)
    return ImageRecord(**fields)  # type: ignore[arg-type]


def test_reasons_say_what_changed() -> None:
    before = _record()
    assert describe_change(before, _record(dockerfile="d2"), "Dockerfile") == "Dockerfile changed"
    assert describe_change(before, _record(build_args={"BASE": "h2"})) == "build arg BASE changed"
    files = {"Dockerfile": "x", "a.py": "9", "b.py": "2", "c.py": "3", "e.py": "5"}
    assert describe_change(before, _record(files=files)) == "3 files changed (a.py, d.py, e.py)"
    files = {"Dockerfile": "y", "a.py": "0", "b.py": "0", "c.py": "0", "d.py": "0"}
    reason = describe_change(before, _record(dockerfile="d2", files=files), "Dockerfile")
    assert reason == "Dockerfile changed, 4 files changed (a.py, b.py, c.py, …)"
    assert describe_change(before, _record(target="test")) == "target changed"


def test_changed_paths() -> None:
    assert changed_paths({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == ["a", "b", "c"]


def test_build_args_from_the_command_line() -> None:
    assert parse_build_args(["A=1", "B=x=y", "C="], {}) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_build_args(["HOME"], {"HOME": "/root"}) == {"HOME": "/root"}
    for bad in (["=1"], ["A B=1"], ["UNSET"]):
        with pytest.raises(UsageError):
            parse_build_args(bad, {})


def test_the_manifest_round_trips_and_survives_corruption(tmp_path: Path) -> None:
    state = StateDir(tmp_path / ".hodei-e2e")
    assert state.record("img:t") is None
    state.save_record("img:t", _record())
    state.save_hash_cache(tmp_path, {"a.py": ((1, 2, 3, 4), "h")})
    again = StateDir(tmp_path / ".hodei-e2e")  # as the next command reads it
    assert again.record("img:t") == _record()
    assert again.hash_cache(tmp_path) == {"a.py": ((1, 2, 3, 4), "h")}
    state.manifest_path.write_text("{not json")
    corrupt = StateDir(tmp_path / ".hodei-e2e")
    assert corrupt.record("img:t") is None
    assert corrupt.hash_cache(tmp_path) == {}
