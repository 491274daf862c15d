"""Untrusted text and hostile files get one line naming the file and the reason (issue 17, case 5): a CSV field over
131,072 characters, unknown ``dataset.options`` keys, a FIFO / a directory / a ``/dev/zero`` link named like a media
file, a leading space in an ESC-50 file name, a read-only cold cache, a full disk, a YAML alias bomb. Nothing is
left behind by a failed write."""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from avbench.cli.app import main
from avbench.datasets import DatasetError, get_dataset
from avbench.evaluation.runner import RunOptions, run
from avbench.features.store import CacheWriteError
from avbench.results import RecordWriteError
from avbench.submission.card import SubmissionError, load_card as load_submission_card
from avbench.synth.audio_fixtures import write_esc50
from avbench.taskcard import TaskCardError, load_card
from tests._toys import ToyAudio

REPO = Path(__file__).resolve().parents[1]
FAST = {"train": {"clips": 1}, "test": {"clips": 1}, "splits": ["fold1"], "classifier": {"costs": [1.0]}}
CLI_FAST = ["--set", "train.clips=1", "--set", "test.clips=1", "--set", "splits=[fold1]", "--set",
            "classifier.costs=[1.0]", "--no-progress", "--workers", "0"]
#: 9 lines of nested aliases: 9^9 = 387 million strings once expanded
ALIAS_BOMB = "".join(f"{a}: &{a} [{', '.join([f'*{p}'] * 9)}]\n" for p, a in zip("abcdefgh", "bcdefghi"))
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + ALIAS_BOMB


@pytest.fixture(scope="module")
def esc(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc") / "root", n_classes=3, clips_per_class=10, seconds=1.0, seed=6)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("avbench: error: ") and "Traceback" not in err[0], err
    return err[0]


def test_a_csv_field_over_the_csv_module_limit_is_one_line_naming_file_and_line(esc, tmp_path, capsys):
    root = shutil.copytree(esc, tmp_path / "root")
    csv = root / "meta" / "esc50.csv"
    csv.write_text(csv.read_text() + f"1-1-A-0.wav,1,0,{'x' * 140_000},False,1,A\n")
    line = len(csv.read_text().splitlines())
    with pytest.raises(DatasetError, match=rf"esc50\.csv:{line}: malformed CSV \(field larger than field limit"):
        get_dataset("esc50").load(root)
    assert main(["eval", "--model", "tests._toys:build", "--task", "esc50", "--data-root", str(root), *CLI_FAST,
                 "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "o")]) == 2
    assert f"esc50.csv:{line}: malformed CSV" in _one_line(capsys)


def test_unknown_dataset_options_are_one_line_naming_the_option_and_the_known_ones(esc, tmp_path, capsys):
    assert main(["eval", "--model", "tests._toys:build", "--task", "esc50", "--data-root", str(esc), *CLI_FAST,
                 "--set", "dataset.options.min_row=2000", "--cache-dir", str(tmp_path / "c")]) == 2
    err = _one_line(capsys)
    assert "dataset.options: unknown option(s) ['min_row'] for data set 'esc50'" in err and "min_rows" in err


def test_a_fifo_a_directory_and_a_dev_zero_link_are_named_as_what_they_are(esc, tmp_path):
    """Before: each was a "missing file" (and a FIFO would block any reader that opened it)."""
    root = shutil.copytree(esc, tmp_path / "root")
    wavs = sorted((root / "audio").glob("*.wav"))
    fifo, folder, zero = wavs[3], wavs[13], wavs[23]
    for p in (fifo, folder, zero):
        p.unlink()
    os.mkfifo(fifo)
    folder.mkdir()
    zero.symlink_to("/dev/zero")
    reasons = {s.id: s.reason for s in get_dataset("esc50").load(root).skipped}
    assert "a FIFO (named pipe); never opened" in reasons[fifo.stem]
    assert "a directory" in reasons[folder.stem]
    assert "a character device (a symlink to /dev/zero); never opened" in reasons[zero.stem]
    signal.alarm(300)  # a reader blocked on the FIFO would hang the test, not fail it
    try:
        record, _ = run(ToyAudio(), "esc50", data_root=root, overrides=FAST,
                        options=RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None,
                                           num_workers=0, min_coverage=0.5))
    finally:
        signal.alarm(0)
    skipped = {s["id"]: s["reason"] for s in record.data.skipped}
    assert all("not a regular file" in skipped[p.stem] for p in (fifo, folder, zero))


def test_a_leading_space_in_an_esc50_file_name_is_kept(esc, tmp_path):
    """Before: the name was stripped and the file then reported missing."""
    root = shutil.copytree(esc, tmp_path / "root")
    csv = root / "meta" / "esc50.csv"
    first = sorted((root / "audio").glob("*.wav"))[0]
    first.rename(first.with_name(" " + first.name))
    csv.write_text(csv.read_text().replace(f"\n{first.name},", f"\n {first.name},"))
    m = get_dataset("esc50").load(root)
    assert not m.skipped and any(s.path.name == " " + first.name for s in m.samples)


@pytest.mark.parametrize("where", ["task", "submission", "override"])
def test_a_yaml_alias_bomb_is_refused_at_once_naming_file_and_line(where, tmp_path):
    """Before: a 492-byte alias bomb in a task card ran 100 s and took 1.2 GB before failing."""
    t0 = time.perf_counter()
    if where == "task":
        card = tmp_path / "bomb.yaml"
        card.write_text(ALIAS_BOMB)
        with pytest.raises(TaskCardError, match=r"bomb\.yaml:2: YAML alias '\*a' refused"):
            load_card(str(card))
    elif where == "submission":
        (tmp_path / "card.yaml").write_text(ALIAS_BOMB)
        with pytest.raises(SubmissionError, match=r"card\.yaml:2: YAML alias '\*a' refused"):
            load_submission_card(tmp_path)
    else:
        from avbench.taskcard import parse_override

        with pytest.raises(TaskCardError, match=r"--set notes:1: YAML alias"):
            parse_override("notes=[&a [1,2], *a]")
    assert time.perf_counter() - t0 < 2.0


def test_an_oversized_card_is_refused_before_parsing(tmp_path):
    card = tmp_path / "huge.yaml"
    card.write_text("notes:\n" + "  - x\n" * 60_000)
    with pytest.raises(TaskCardError, match=r"huge\.yaml: \d+ bytes, over the 262144-byte limit"):
        load_card(str(card))


_READ_ONLY = textwrap.dedent("""
    import os, sys
    from avbench.cli.app import main
    root, cache, out = sys.argv[1:4]
    sys.exit(main(["eval", "--model", "tests._toys:build", "--task", "esc50", "--data-root", root, "--set",
                   "train.clips=1", "--set", "test.clips=1", "--set", "splits=[fold1]", "--set",
                   "classifier.costs=[1.0]", "--no-progress", "--workers", "0", "--cache-dir", cache, "--out", out]))
""")


def test_a_read_only_cold_cache_is_one_line_and_leaves_nothing(esc, tmp_path):
    """The cache folder is not writable (run without the capabilities that let root write through a read-only mode)."""
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"avbench-ro-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    try:
        root = shutil.copytree(esc, base / "root")
        (base / "cache").mkdir()
        (base / "out").mkdir()
        for d, _, files in os.walk(base):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(Path(d) / f, 0o644)
        os.chmod(base / "cache", 0o555)
        # root writes through a read-only mode: drop the capabilities that let it (the interpreter may live where
        # an unprivileged user cannot run it, so the user is not changed)
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
        if drop and not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a read-only folder cannot be made")
        done = subprocess.run([*drop, sys.executable, "-c", _READ_ONLY, str(root), str(base / "cache"), str(base / "out")],
                              capture_output=True, text=True, cwd=REPO, timeout=600,
                              env={**os.environ, "HOME": str(base), "PYTHONPATH": str(REPO)})
        err = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stderr, done.stderr[-2000:]  # the progress log comes first, then one line
        assert err[-1].startswith("avbench: error: cannot write the feature cache at "), err
        assert "Permission denied" in err[-1] and "--no-cache" in err[-1]
        assert not list((base / "cache").rglob("*")) and not list((base / "out").rglob("*"))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _full_disk(limit: int):
    """Writes past ``limit`` bytes in any file fail (EFBIG) as on a full disk; SIGXFSZ ignored for the while."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    return lambda: (resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard)), signal.signal(signal.SIGXFSZ, handler))


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name.endswith(".tmp"))


def test_a_full_disk_is_a_named_error_and_leaves_no_temporary_file(esc, tmp_path):
    opts = RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", log=lambda m: None, num_workers=0)
    restore = _full_disk(512)  # key.json of the feature cache is larger
    try:
        with pytest.raises(CacheWriteError, match="cannot write the feature cache at .*File too large"):
            run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=opts)
    finally:
        restore()
    assert not _leftovers(tmp_path)
    run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=opts)  # warm the cache
    shutil.rmtree(tmp_path / "out")
    restore = _full_disk(512)  # now the record (and its sidecars) cannot be written
    try:
        with pytest.raises(RecordWriteError, match=r"cannot write the (result record|predictions sidecar) .*File too "
                                                   "large"):
            run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=opts)
    finally:
        restore()
    assert not _leftovers(tmp_path)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no sidecar without its record
