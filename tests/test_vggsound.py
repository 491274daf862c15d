"""VGG-Sound adapter (headerless CSV, quoted labels, missing files, layouts, id_list) and its fixture writer."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from avbench.cli.app import main
from avbench.datasets import DatasetError, get_dataset
from avbench.datasets.vggsound import parse_csv
from avbench.media.audio_decode import load_audio
from avbench.media.video_decode import probe_video
from avbench.synth.vggsound_fixtures import FIXTURE_FPS, VGGSOUND_FIXTURE_CLASSES, write_vggsound


@pytest.fixture(scope="module")
def vgg_src(tmp_path_factory) -> Path:
    return write_vggsound(tmp_path_factory.mktemp("vgg") / "VGGSound", n_classes=3, train_per_class=2,
                          test_per_class=1, missing=1, seed=0)


@pytest.fixture
def vgg(vgg_src, tmp_path) -> Path:
    return Path(shutil.copytree(vgg_src, tmp_path / "VGGSound"))


def _rows(root: Path) -> list[list[str]]:
    return list(csv.reader((root / "vggsound.csv").open()))


def _load(root: Path, **options):
    return get_dataset("vggsound").load(root, **options)


# ---- CSV ---------------------------------------------------------------------------------------------------------
def test_parse_csv_no_header_quoted_labels(tmp_path):
    p = tmp_path / "vggsound.csv"
    p.write_text('---g-f_I2yQ,1,people marching,test\n'
                 '\n'
                 '--0PQM4-hqg,30,"male speech, man speaking",train\n'
                 '-0BIyqJj9ZU, 0, "engine accelerating, revving, vroom" ,TEST\n')
    rows, notes = parse_csv(p)
    assert [(r.ytid, r.start, r.label, r.split) for r in rows] == [
        ("---g-f_I2yQ", 1, "people marching", "test"), ("--0PQM4-hqg", 30, "male speech, man speaking", "train"),
        ("-0BIyqJj9ZU", 0, "engine accelerating, revving, vroom", "test")]
    assert [r.id for r in rows] == ["---g-f_I2yQ_000001", "--0PQM4-hqg_000030", "-0BIyqJj9ZU_000000"]
    assert rows[1].where == f"{p}:3" and not notes


def test_parse_csv_skips_a_header_line(tmp_path):
    p = tmp_path / "vggsound.csv"
    p.write_text("# YouTube ID,start seconds,label,split\nabc,1,dog barking,train\n")
    rows, notes = parse_csv(p)
    assert len(rows) == 1 and "header" in notes[0]


@pytest.mark.parametrize("line, what", [
    ("abc,1,dog barking", "3 field(s)"),
    ("abc,1,male speech, man speaking,train", "5 field(s)"),  # a comma label left unquoted
    ("abc,one,dog barking,train", "not a number"),
    ("abc,1.5,dog barking,train", "whole"),
    ("abc,1,dog barking,validation", "not train or test"),
    ("abc,1,,train", "empty label"),
    ("a/b,1,dog barking,train", "bad youtube id"),
])
def test_malformed_row_names_file_and_line(tmp_path, line, what):
    p = tmp_path / "vggsound.csv"
    p.write_text(f"ok1,1,dog barking,train\n\n{line}\n")
    with pytest.raises(DatasetError) as err:
        parse_csv(p)
    assert f"{p}:3:" in str(err.value) and what in str(err.value)


def test_missing_or_empty_csv_is_a_dataset_error(vgg, tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        _load(vgg, csv="other.csv")
    with pytest.raises(DatasetError, match="not a folder"):
        _load(tmp_path / "nothing_here")
    (vgg / "vggsound.csv").write_text("\n\n")
    with pytest.raises(DatasetError, match="no rows"):
        _load(vgg)


# ---- manifest ----------------------------------------------------------------------------------------------------
def test_manifest_of_the_fixture(vgg):
    m = _load(vgg)
    rows = _rows(vgg)
    assert m.dataset == "vggsound" and m.expected == len(rows) == 3 * 3 + 2
    assert m.found == 9 and len(m.skipped) == 2
    assert all(s.reason == "missing file" for s in m.skipped)
    assert sorted(s.path.split("/")[0] for s in m.skipped) == ["test", "train"]
    assert m.classes == sorted(VGGSOUND_FIXTURE_CLASSES[:3]) and "male speech, man speaking" in m.classes
    split = m.splits["official"]
    assert len(split["train"]) == 6 and len(split["test"]) == 3 and not set(split["train"]) & set(split["test"])
    by_row = {f"{r[0]}_{int(r[1]):06d}": r for r in rows}
    for s in m.samples:
        ytid, start, label, which = by_row[s.id]
        assert s.group == ytid and m.classes[s.label] == label and s.path.name == f"{s.id}.mp4"
        assert s.id in split[which]
    assert [s.id for s in m.samples] == sorted(s.id for s in m.samples)


@pytest.mark.parametrize("layout", ["flat", "split", "class_folders"])
def test_layouts_flat_and_nested(vgg, layout):
    rows = {f"{r[0]}_{int(r[1]):06d}": r for r in _rows(vgg)}
    for f in sorted((vgg / "video").glob("*.mp4")):
        _, _, label, split = rows[f.stem]
        dest = {"flat": vgg, "split": vgg / split, "class_folders": vgg / split / label.replace(" ", "_")}[layout]
        dest.mkdir(parents=True, exist_ok=True)
        f.rename(dest / f.name)
    (vgg / "video").rmdir()
    m = _load(vgg)
    assert m.found == 9 and m.expected == 11
    if layout != "flat":
        assert all(s.path.parent.relative_to(vgg).parts[0] in ("train", "test") for s in m.samples)


def test_fixture_writer_layouts(tmp_path):
    root = write_vggsound(tmp_path / "v", n_classes=2, train_per_class=1, test_per_class=1, missing=0,
                          layout="class_folders", seed=3)
    m = _load(root)
    assert m.found == m.expected == 4 and not m.skipped
    assert {s.path.relative_to(root).parts[0] for s in m.samples} == {"train", "test"}
    with pytest.raises(ValueError, match="layout"):
        write_vggsound(tmp_path / "w", layout="nested")


def test_id_list_pins_a_subset(vgg, tmp_path):
    m = _load(vgg)
    keep = [m.samples[0].id, m.samples[5].id]
    missing_id = m.skipped[0].id
    lst = tmp_path / "ids.txt"
    lst.write_text(f"# pinned\nsomeclass/{keep[0]}.mp4\n{keep[1]}\n{missing_id}\nnot_in_csv_000001\n")
    pinned = _load(vgg, id_list=str(lst))
    assert sorted(s.id for s in pinned.samples) == sorted(keep)
    assert pinned.expected == 3 and [s.id for s in pinned.skipped] == [missing_id]
    assert pinned.classes == m.classes  # label indices do not depend on the subset
    with pytest.raises(DatasetError, match="id_list"):
        _load(vgg, id_list=str(tmp_path / "absent.txt"))


def test_duplicate_rows_keep_the_first(vgg):
    rows = _rows(vgg)
    with (vgg / "vggsound.csv").open("a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow([rows[0][0], rows[0][1], "dog barking", "test"])
    m = _load(vgg)
    assert m.expected == 11 and any("duplicate" in n for n in m.notes)


# ---- fixture videos ----------------------------------------------------------------------------------------------
def test_fixture_videos_decode_with_audio_and_differ(vgg):
    m = _load(vgg)
    firsts = []
    for s in m.samples:
        info = probe_video(s.path)
        assert (info.width, info.height) == (64, 48) and info.has_audio
        assert any(abs(info.fps - float(f)) < 0.01 for f in FIXTURE_FPS)
        audio = load_audio(s.path, 16000)
        assert audio.source_rate == 16000 and abs(audio.seconds - 3.0) < 0.1 and float(audio.wave.abs().max()) > 0.05
        with av.open(str(s.path)) as c:
            firsts.append(next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32))
    # every clip is its own instance: first frames differ clearly even within a class
    for i in range(len(firsts)):
        for j in range(i + 1, len(firsts)):
            assert np.abs(firsts[i] - firsts[j]).mean() > 5.0


def test_cli_writes_a_vggsound_fixture(tmp_path, capsys):
    assert main(["data", "fixture", "vggsound", "--out", str(tmp_path / "v"), "--classes", "2", "--per-class", "2",
                 "--layout", "flat"]) == 0
    m = _load(tmp_path / "v")
    assert len(m.classes) == 2 and len(m.splits["official"]["train"]) == 4 and len(m.splits["official"]["test"]) == 2
    assert all(s.path.parent == m.root for s in m.samples)
