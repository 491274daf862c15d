"""UCF101, HMDB51, Kinetics-400 and Kinetics-Sound adapters on fixtures written in the official layouts by
avbench's own writers (real PyAV-encoded videos); verify_manifest on video; the `data fixture` CLI."""
from __future__ import annotations

import csv
import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avbench.cli.app import main
from avbench.datasets import DatasetError, Manifest, Sample, Skip, get_dataset
from avbench.datasets.hmdb51 import movie_group
from avbench.datasets.kinetics import KINETICS_SOUND_CLASSES
from avbench.datasets.verify import verify_manifest
from avbench.synth import defaults
from avbench.synth.video_fixtures import (HMDB51_CLASSES, write_corrupt_video, write_hmdb51, write_kinetics400,
                                          write_ucf101)


# ---- fixtures: written once per module, copied when a test changes them --------------------------------------
@pytest.fixture(scope="module")
def ucf_src(tmp_path_factory) -> Path:
    return write_ucf101(tmp_path_factory.mktemp("ucf") / "UCF101", n_classes=4, groups=3, clips_per_group=2, seed=0)


@pytest.fixture(scope="module")
def hmdb_src(tmp_path_factory) -> Path:
    return write_hmdb51(tmp_path_factory.mktemp("hmdb") / "HMDB51", n_classes=3, per_class=6, seed=0)


@pytest.fixture(scope="module")
def k400_src(tmp_path_factory) -> Path:
    return write_kinetics400(tmp_path_factory.mktemp("k400") / "K400", n_classes=4, train_per_class=4,
                             val_per_class=2, missing=1, seed=0)


@pytest.fixture
def ucf(ucf_src, tmp_path) -> Path:
    return Path(shutil.copytree(ucf_src, tmp_path / "UCF101"))


@pytest.fixture
def hmdb(hmdb_src, tmp_path) -> Path:
    return Path(shutil.copytree(hmdb_src, tmp_path / "HMDB51"))


@pytest.fixture
def k400(k400_src, tmp_path) -> Path:
    return Path(shutil.copytree(k400_src, tmp_path / "K400"))


def _edit_line(path: Path, line: int, new: str) -> None:
    """Replace 1-based ``line`` of a list file, keeping its line ends (CRLF for UCF101)."""
    raw = path.read_bytes().decode()
    eol = "\r\n" if "\r\n" in raw else "\n"
    lines = raw.split(eol)
    lines[line - 1] = new
    path.write_bytes(eol.join(lines).encode())


# ---- UCF101 ---------------------------------------------------------------------------------------------------
def test_ucf101_official_layout_crlf_wart_groups_and_splits(ucf_src):
    lists = ucf_src / "ucfTrainTestlist"
    raw = (lists / "testlist03.txt").read_bytes()
    assert b"\r\n" in raw and raw.endswith(b"\r\n\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    class_ind = [ln.split() for ln in (lists / "classInd.txt").read_bytes().decode().splitlines() if ln]
    m = get_dataset("ucf101").load(ucf_src)
    assert m.classes == [name for _, name in class_ind] == ["ApplyEyeMakeup", "HandstandPushups", "PlayingGuitar", "YoYo"]
    assert m.found == m.expected == 24 and not m.skipped
    # the wart: folder HandstandPushups, files v_HandStandPushups_*; the class comes from the folder
    wart = [s for s in m.samples if s.path.parent.name == "HandstandPushups"]
    assert len(wart) == 6 and all(s.path.name.startswith("v_HandStandPushups_g") for s in wart)
    assert {m.classes[s.label] for s in wart} == {"HandstandPushups"}
    for s in m.samples:
        folder, stem = s.id.split("/")
        assert s.path == ucf_src.resolve() / "UCF-101" / folder / f"{stem}.avi" and m.classes[s.label] == folder
        assert s.group == stem.split("_")[-2] and s.group in ("g01", "g02", "g03")
    assert [s.id for s in m.samples] == sorted(s.id for s in m.samples)
    all_ids = {s.id for s in m.samples}
    groups = {s.id: s.group for s in m.samples}
    assert sorted(m.splits) == ["split1", "split2", "split3"]
    for k in (1, 2, 3):
        sp = m.splits[f"split{k}"]
        assert (len(sp["train"]), len(sp["test"])) == (16, 8)
        assert set(sp["train"]) | set(sp["test"]) == all_ids and not set(sp["train"]) & set(sp["test"])
        assert {groups[i] for i in sp["test"]} == {f"g0{k}"}  # split k tests group k (one block of 3 groups)
        listed = [ln.split()[0].rsplit(".", 1)[0] for ln in (lists / f"testlist0{k}.txt").read_text().splitlines() if ln.strip()]
        assert sorted(listed) == sp["test"]
    # trainlist labels are 1-based classInd indices of the folder
    for ln in (lists / "trainlist02.txt").read_text().splitlines():
        if ln.strip():
            rel, lab = ln.split()
            assert m.classes[int(lab) - 1] == rel.split("/")[0]
    assert m.content_hash() == get_dataset("ucf101").load(ucf_src).content_hash()


def test_ucf101_missing_file_alt_folder_and_extra_class_note(ucf):
    victim = ucf / "UCF-101" / "YoYo" / "v_YoYo_g02_c01.avi"
    victim.unlink()
    (ucf / "UCF-101").rename(ucf / "UCF101")  # the alternative video folder name
    (ucf / "UCF101" / "Surfing").mkdir()  # on disk, not in classInd: a note
    m = get_dataset("ucf101").load(ucf)
    assert (m.found, m.expected) == (23, 24)
    assert m.skipped == [Skip("YoYo/v_YoYo_g02_c01", str((ucf / "UCF101" / "YoYo" / victim.name).resolve()), "missing file")]
    assert all("YoYo/v_YoYo_g02_c01" not in ids for sp in m.splits.values() for ids in sp.values())
    assert len(m.splits["split2"]["test"]) == 7 and len(m.splits["split1"]["train"]) == 15
    assert any("Surfing" in n and "not in classInd" in n for n in m.notes)
    assert any("UCF101/" in n for n in m.notes)


@pytest.mark.parametrize("file, line, new, message", [
    ("trainlist01.txt", 3, "Basketball/v_Basketball_g02_c01.avi 2", "'Basketball' is not in classInd"),
    ("trainlist01.txt", 2, "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c02.avi 3", "disagrees with classInd"),
    ("trainlist02.txt", 1, "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "expected '<Class>/<file>.avi <label>'"),
    ("testlist01.txt", 4, "HandstandPushups/no_group_here.avi", "is not v_<Class>_gGG_cCC"),
    ("testlist01.txt", 2, "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "listed again in split1"),
    ("testlist03.txt", 1, "Basketball/v_Basketball_g03_c01.avi", "'Basketball' is not in classInd"),
    ("classInd.txt", 2, "two HandstandPushups", "expected '<index> <ClassName>'"),
])
def test_ucf101_malformed_lines_name_file_and_line(ucf, file, line, new, message):
    _edit_line(ucf / "ucfTrainTestlist" / file, line, new)
    with pytest.raises(DatasetError) as err:
        get_dataset("ucf101").load(ucf)
    assert f"{file}:{line}:" in str(err.value) and message in str(err.value)


def test_ucf101_missing_lists_are_errors_or_notes(ucf):
    (ucf / "ucfTrainTestlist" / "trainlist03.txt").unlink()
    (ucf / "ucfTrainTestlist" / "testlist03.txt").unlink()
    m = get_dataset("ucf101").load(ucf)
    assert sorted(m.splits) == ["split1", "split2"] and any("split3" in n for n in m.notes)
    (ucf / "ucfTrainTestlist" / "testlist02.txt").unlink()
    with pytest.raises(DatasetError, match="testlist02.txt not found"):
        get_dataset("ucf101").load(ucf)
    (ucf / "ucfTrainTestlist" / "classInd.txt").unlink()
    with pytest.raises(DatasetError, match="classInd.txt not found"):
        get_dataset("ucf101").load(ucf)


# ---- HMDB51 ---------------------------------------------------------------------------------------------------
def _markers(root: Path, cls: str, k: int) -> dict[str, str]:
    text = (root / "testTrainMulti_7030_splits" / f"{cls}_test_split{k}.txt").read_text()
    return {ln.rsplit(None, 1)[0]: ln.split()[-1] for ln in text.splitlines() if ln.strip()}


def test_hmdb51_markers_trailing_spaces_special_characters_and_groups(hmdb_src):
    m = get_dataset("hmdb51").load(hmdb_src)
    assert m.classes == list(HMDB51_CLASSES[:3]) == ["brush_hair", "cartwheel", "catch"]
    assert m.found == m.expected == 18 and not m.skipped
    raw = (hmdb_src / "testTrainMulti_7030_splits" / "catch_test_split2.txt").read_text().splitlines()
    assert all(ln.endswith(" ") for ln in raw) and any(ln.endswith("  ") for ln in raw)
    names = [s.path.name for s in m.samples]
    assert any(ch in n for n in names for ch in "&") and any("(" in n and ")" in n for n in names)
    assert any(";" in n for n in names) or any("#" in n or "!" in n for n in names)
    by_id = m.by_id()
    for s in m.samples:
        cls, stem = s.id.split("/", 1)
        assert s.path == hmdb_src.resolve() / "hmdb51_org" / cls / f"{stem}.avi" and m.classes[s.label] == cls
        assert stem.startswith(f"{s.group}_{cls}_") and f"_{cls}_" not in s.group  # the source movie
    for k in (1, 2, 3):
        sp = m.splits[f"split{k}"]
        want = {"train": set(), "test": set(), "unused": set()}
        for cls in m.classes:
            for name, marker in _markers(hmdb_src, cls, k).items():
                want[{"1": "train", "2": "test", "0": "unused"}[marker]].add(f"{cls}/{Path(name).stem}")
        assert set(sp["train"]) == want["train"] and set(sp["test"]) == want["test"]
        assert want["unused"] and not want["unused"] & (set(sp["train"]) | set(sp["test"]))
        assert (len(sp["train"]), len(sp["test"])) == (9, 6)
        # clips of one movie never straddle train and test within a class
        for cls in m.classes:
            tr = {by_id[i].group for i in sp["train"] if i.startswith(cls + "/")}
            te = {by_id[i].group for i in sp["test"] if i.startswith(cls + "/")}
            assert not tr & te


def test_hmdb51_class_without_folder_and_missing_file_are_skips(hmdb):
    shutil.rmtree(hmdb / "hmdb51_org" / "cartwheel")
    victim = sorted((hmdb / "hmdb51_org" / "catch").iterdir())[0]
    victim.unlink()
    m = get_dataset("hmdb51").load(hmdb)
    assert m.classes == ["brush_hair", "cartwheel", "catch"]  # from the split files
    assert (m.found, m.expected) == (11, 18)
    reasons = {s.id: s.reason for s in m.skipped}
    assert reasons.pop(f"catch/{victim.stem}") == "missing file"
    assert len(reasons) == 6 and set(reasons.values()) == {"missing file (no folder cartwheel)"}
    assert all(i.startswith("cartwheel/") for i in reasons)
    assert any("cartwheel" in n and "differ" in n for n in m.notes)


def test_hmdb51_video_root_detection(hmdb):
    shutil.move(str(hmdb / "hmdb51_org"), str(hmdb / "videos"))
    m = get_dataset("hmdb51").load(hmdb)
    assert m.found == 18 and all(s.path.parent.parent.name == "videos" for s in m.samples)
    for d in (hmdb / "videos").iterdir():
        shutil.move(str(d), str(hmdb / d.name))  # class folders directly under the root
    (hmdb / "videos").rmdir()
    assert get_dataset("hmdb51").load(hmdb).found == 18
    for d in m.classes:
        shutil.rmtree(hmdb / d)
    with pytest.raises(DatasetError, match="holds a class folder"):
        get_dataset("hmdb51").load(hmdb)


@pytest.mark.parametrize("new, message", [
    ("April_09_catch_u_nm_np1_ba_goo_0.avi 3 ", "expected '<video>.avi <0|1|2>'"),
    ("April_09_catch_u_nm_np1_ba_goo_0.avi", "expected '<video>.avi <0|1|2>'"),
    ("sub/April_09_catch_u_nm_np1_ba_goo_0.avi 1", "not a bare file name"),
])
def test_hmdb51_malformed_lines_name_file_and_line(hmdb, new, message):
    path = hmdb / "testTrainMulti_7030_splits" / "catch_test_split2.txt"
    _edit_line(path, 4, new)
    with pytest.raises(DatasetError) as err:
        get_dataset("hmdb51").load(hmdb)
    assert f"catch_test_split2.txt:4:" in str(err.value) and message in str(err.value)


def test_hmdb51_movie_group():
    assert movie_group("April_09_brush_hair_u_nm_np1_ba_goo_0", "brush_hair") == "April_09"
    assert movie_group("The_kiss_kiss_h_nm_np2_fr_goo_0", "kiss") == "The_kiss"  # last occurrence of _<class>_
    assert movie_group("Tom_&_Jerry_Show_catch_h_cm_np2_ri_med_0", "catch") == "Tom_&_Jerry_Show"
    assert movie_group("somefile_without_it", "catch") == "somefile_without_it"


# ---- Kinetics-400 ---------------------------------------------------------------------------------------------
def _rows(root: Path, split: str) -> list[dict[str, str]]:
    return list(csv.DictReader((root / "annotations" / f"{split}.csv").open()))


def _row_id(r: dict[str, str]) -> str:
    return f"{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}"


def test_kinetics400_class_folders(k400_src):
    m = get_dataset("kinetics400").load(k400_src)
    train, val = _rows(k400_src, "train"), _rows(k400_src, "val")
    assert m.classes == sorted({r["label"] for r in train}) and len(m.classes) == 4
    assert "passing American football (in game)" in m.classes  # CSV spelling kept
    assert (m.expected, m.found) == (26, 24)  # 4 x (4 + 2) written, 1 train + 1 val row without a file
    assert sorted(s.reason for s in m.skipped) == ["missing file", "missing file"]
    by_id = m.by_id()
    assert {s.id for s in m.skipped} == {_row_id(r) for r in train + val} - set(by_id)
    label_of = {_row_id(r): r["label"] for r in train + val}
    for s in m.samples:
        assert m.classes[s.label] == label_of[s.id] and s.group == s.id[:11]
        assert s.path.stem == s.id and s.path.parent.name == label_of[s.id].replace(" ", "_")
    assert {p.suffix for p in (s.path for s in m.samples)} == {".mp4", ".mkv"}
    sp = m.splits["official"]
    assert set(sp["train"]) == {_row_id(r) for r in train} & set(by_id) and len(sp["train"]) == 16
    assert set(sp["test"]) == {_row_id(r) for r in val} & set(by_id) and len(sp["test"]) == 8
    assert any("unreleased" in n for n in m.notes)
    assert not any("test row(s) ignored" in n for n in m.notes)  # the default pair is train.csv + val.csv
    assert [s.id for s in m.samples] == sorted(by_id)


def test_kinetics400_flat_layout_matches_class_folders(k400_src, tmp_path):
    flat = write_kinetics400(tmp_path / "flat", n_classes=4, train_per_class=4, val_per_class=2, missing=1,
                             layout="flat", seed=0)
    assert not [p for p in (flat / "train").iterdir() if p.is_dir()]
    a, b = get_dataset("kinetics400").load(k400_src), get_dataset("kinetics400").load(flat)
    assert [(s.id, s.label, s.group) for s in a.samples] == [(s.id, s.label, s.group) for s in b.samples]
    assert (a.splits, a.expected, a.classes) == (b.splits, b.expected, b.classes)
    assert all(s.path.parent == flat.resolve() / ("train" if s.id in b.splits["official"]["train"] else "val")
               for s in b.samples)


def test_kinetics400_id_list_pins_the_subset(k400, tmp_path):
    full = get_dataset("kinetics400").load(k400)
    train, val = full.splits["official"]["train"], full.splits["official"]["test"]
    missing = sorted(s.id for s in full.skipped)[0]
    label = {_row_id(r): r["label"] for r in _rows(k400, "train") + _rows(k400, "val")}[train[0]]
    listing = tmp_path / "ids.txt"
    listing.write_text(f"# a published list\n{train[1]}\n{label.replace(' ', '_')}/{train[0]}.avi\n\n"
                       f"{val[0]}\n{missing}\nnot_an_annotated_id_000001_000011\n")
    m = get_dataset("kinetics400").load(k400, id_list=str(listing))
    assert m.expected == 4 and m.found == 3  # rows not in the list are dropped and not counted
    assert [s.id for s in m.skipped] == [missing] and m.skipped[0].reason == "missing file"
    assert sorted(m.splits["official"]["train"]) == sorted(train[:2]) and m.splits["official"]["test"] == [val[0]]
    assert m.classes == full.classes  # label indices do not move with the subset
    assert any("id_list" in n and "1 listed id(s) are not in the annotations" in n for n in m.notes)


def test_kinetics400_annotation_options_and_csv_names(k400):
    (k400 / "annotations").rename(k400 / "kinetics400")
    for split in ("train", "val", "test"):
        (k400 / "kinetics400" / f"{split}.csv").rename(k400 / f"kinetics_400_{split}.csv")
    m = get_dataset("kinetics400").load(k400)
    assert (m.found, m.expected) == (24, 26)
    only_val = get_dataset("kinetics400").load(k400, annotations=["kinetics_400_train.csv", "kinetics_400_test.csv"],
                                               video_dirs={"train": "train"})
    assert only_val.splits["official"]["test"] == [] and only_val.found == 16 and only_val.expected == 17
    assert any("test row(s) ignored" in n for n in only_val.notes)
    with pytest.raises(DatasetError, match="not found"):
        get_dataset("kinetics400").load(k400, annotations="nope.csv")


@pytest.mark.parametrize("column, value, message", [
    ("time_start", "abc", "time_start 'abc' is not a number"),
    ("time_end", "1", "is not after time_start"),
    ("split", "holdout", "split 'holdout' is not train, val or test"),
    ("label", "", "without a label"),
    ("youtube_id", "../../etc", "bad youtube_id"),
])
def test_kinetics400_malformed_rows_name_file_and_line(k400, column, value, message):
    path = k400 / "annotations" / "val.csv"
    rows = list(csv.reader(path.open()))
    rows[3][rows[0].index(column)] = value
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    with pytest.raises(DatasetError) as err:
        get_dataset("kinetics400").load(k400)
    assert "val.csv:4:" in str(err.value) and message in str(err.value)


def test_kinetics400_header_and_label_checks(k400):
    val = k400 / "annotations" / "val.csv"
    text = val.read_text()
    val.write_text(text.replace("youtube_id", "ytid", 1))
    with pytest.raises(DatasetError, match=r"val.csv:1: header lacks column\(s\) \['youtube_id'\]"):
        get_dataset("kinetics400").load(k400)
    lines = text.splitlines()
    lines[2] = "unknown label" + lines[2][lines[2].index(","):]
    val.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="val.csv:3: label 'unknown label' does not occur in the train rows"):
        get_dataset("kinetics400").load(k400)


# ---- Kinetics-Sound -------------------------------------------------------------------------------------------
def test_kinetics_sound_filters_to_its_class_list(tmp_path):
    labels = ["playing guitar", "abseiling", "tap dancing", "air drumming"]  # 2 Kinetics-Sound classes, 2 not
    root = write_kinetics400(tmp_path / "k", class_names=labels, train_per_class=2, val_per_class=1, missing=0, seed=3)
    ks = get_dataset("kinetics_sound").load(root)
    assert ks.dataset == "kinetics_sound" and ks.classes == ["playing_guitar", "tap_dancing"]
    assert (ks.found, ks.expected) == (6, 6) and not ks.skipped
    label_of = {_row_id(r): r["label"] for r in _rows(root, "train") + _rows(root, "val")}
    assert all(ks.classes[s.label] == label_of[s.id].replace(" ", "_") for s in ks.samples)
    assert (len(ks.splits["official"]["train"]), len(ks.splits["official"]["test"])) == (4, 2)
    assert any("30 listed class(es) have no train rows" in n for n in ks.notes)
    custom = get_dataset("kinetics_sound").load(root, classes=["abseiling", "tap_dancing", "playing guitar"])
    assert custom.classes == ["abseiling", "playing_guitar", "tap_dancing"] and custom.found == 9
    assert get_dataset("kinetics400").load(root).found == 12
    assert len(KINETICS_SOUND_CLASSES) == 32 and "strumming_guitar" in KINETICS_SOUND_CLASSES


def test_synthetic_defaults_cover_the_video_datasets():
    writers = defaults._WRITERS
    assert {"ucf101", "hmdb51", "kinetics400", "kinetics_sound"} <= set(writers)
    assert all(writers[d][0] == f"{d}-synthetic-v1" for d in ("ucf101", "hmdb51", "kinetics400", "kinetics_sound"))
    assert all(label.replace(" ", "_") in KINETICS_SOUND_CLASSES for label in defaults.KINETICS_SOUND_FIXTURE_LABELS)


# ---- the fixture videos themselves ----------------------------------------------------------------------------
def _probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times = [float(f.time) for f in c.decode(v)]
        return {"size": (v.codec_context.width, v.codec_context.height), "rate": v.average_rate,
                "codec": v.codec_context.name, "frames": len(times), "times": np.asarray(times),
                "audio": [a.codec_context.name for a in c.streams.audio]}


def test_fixture_videos_decode_with_their_rates_sizes_and_audio(ucf_src, hmdb_src, k400_src):
    avi = [_probe(p) for p in sorted((ucf_src / "UCF-101").rglob("*.avi")) + sorted((hmdb_src / "hmdb51_org").rglob("*.avi"))]
    assert {p["codec"] for p in avi} == {"mpeg4"}
    assert {p["size"] for p in avi} == {(64, 48), (71, 53)}
    assert {p["rate"] for p in avi} == {Fraction(25), Fraction(30), Fraction(30000, 1001)}
    assert {a for p in avi for a in p["audio"]} == {"pcm_s16le", "aac"} and any(not p["audio"] for p in avi)
    for p in avi:
        seconds = p["frames"] / float(p["rate"])
        assert 1.99 <= seconds <= 4.01
        assert np.allclose(np.diff(p["times"]), 1 / float(p["rate"]), atol=1e-3)
    kin = {p.suffix: [] for p in k400_src.rglob("*") if p.suffix in (".mp4", ".mkv")}
    for p in k400_src.rglob("*"):
        if p.suffix in kin:
            kin[p.suffix].append(_probe(p))
    assert len(kin[".mkv"]) == 2 and len(kin[".mp4"]) == 22
    assert {p["codec"] for ps in kin.values() for p in ps} <= {"h264", "mpeg4"}
    assert any(p["audio"] == ["aac"] for p in kin[".mp4"]) and any(not p["audio"] for p in kin[".mp4"])
    for p in kin[".mkv"]:  # variable frame rate: irregular frame intervals
        steps = np.round(np.diff(p["times"]), 3)
        assert len(set(steps.tolist())) >= 3 and steps.min() > 0
    info = json.loads((ucf_src / "avbench_fixture.json").read_text())
    assert info["synthetic"] is True and info["dataset"] == "ucf101" and info["files"] == 24
    total = sum(p.stat().st_size for root in (ucf_src, hmdb_src, k400_src) for p in root.rglob("*") if p.is_file())
    assert total < 3_000_000


def _orientation_features(img: np.ndarray, rng: np.random.Generator, bins: int = 12) -> np.ndarray:
    """Spectral energy per grating orientation (folded so a horizontal flip does not change it) of a random crop
    of ``img`` with random brightness/contrast and a random flip."""
    h, w, _ = img.shape
    s = rng.uniform(0.6, 1.0)
    ch, cw = int(h * s), int(w * s)
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    x = img[y0:y0 + ch, x0:x0 + cw].astype(float).mean(-1) * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)
    if rng.uniform() < 0.5:
        x = x[:, ::-1]
    x = (x - x.mean()) * np.hanning(ch)[:, None] * np.hanning(cw)[None]
    power = np.abs(np.fft.fftshift(np.fft.fft2(x))) ** 2
    fy, fx = np.meshgrid((np.arange(ch) - ch // 2) / ch, (np.arange(cw) - cw // 2) / cw, indexing="ij")
    angle = np.degrees(np.arctan2(fy, fx)) % 180
    angle = np.minimum(angle, 180 - angle)
    keep = (np.hypot(fy, fx) > 0.04) & (np.hypot(fy, fx) < 0.3)
    hist = np.bincount(np.minimum((angle[keep] / 90 * bins).astype(int), bins - 1), weights=power[keep], minlength=bins)
    return hist / hist.sum()


def test_fixture_class_signal_survives_crops_jitter_and_flips(ucf_src):
    m = get_dataset("ucf101").load(ucf_src)
    rng = np.random.default_rng(0)
    feats = {}
    for s in m.samples:
        with av.open(str(s.path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        feats[s.id] = _orientation_features(frames[len(frames) // 2], rng)
    by_id = m.by_id()
    for labels in ("true", "shuffled"):
        lab = {i: s.label for i, s in by_id.items()}
        if labels == "shuffled":  # control: the features carry the class, not something else
            ids = sorted(lab)
            lab = dict(zip(ids, np.random.default_rng(1).permutation([lab[i] for i in ids]).tolist()))
        accs = []
        for sp in m.splits.values():
            centroids = np.stack([np.mean([feats[i] for i in sp["train"] if lab[i] == c], 0) for c in range(4)])
            pred = [int(np.argmin(((centroids - feats[i]) ** 2).sum(1))) for i in sp["test"]]
            accs.append(np.mean([p == lab[i] for p, i in zip(pred, sp["test"])]))
        if labels == "true":
            assert np.mean(accs) >= 0.9, accs  # grouped splits: unseen groups of each class
        else:
            assert np.mean(accs) <= 0.6, accs


# ---- verify ---------------------------------------------------------------------------------------------------
def test_verify_reports_corrupt_videos(tmp_path):
    files = write_corrupt_video(tmp_path / "bad")
    samples = [Sample(name, path, 0, name) for name, path in sorted(files.items())]
    m = Manifest("corrupt", tmp_path / "bad", samples, ["x"], {"all": {"train": [], "test": [s.id for s in samples]}},
                 expected=len(samples) + 1, skipped=[Skip("gone", str(tmp_path / "gone.avi"), "missing file")])
    report = verify_manifest(m, modality="video", workers=2).to_dict()
    bad = {x["id"]: x["reason"] for x in report["undecodable"]}
    assert set(bad) == {"zero_byte", "truncated_mp4", "not_video", "audio_only"}
    assert bad["zero_byte"] == "zero-byte file" and "no video stream (audio-only file)" == bad["audio_only"]
    assert "not a media file" in bad["not_video"]
    damaged = {x["id"]: x["reason"] for x in report["damaged"]}
    assert set(damaged) == {"truncated_avi"} and damaged["truncated_avi"].startswith("truncated:")
    assert report["durations"]["n"] == 3 and report["durations"]["max"] == pytest.approx(2.0, abs=0.05)
    assert not report["ok"] and [x["id"] for x in report["missing"]] == ["gone"]


def test_verify_on_a_video_data_set(ucf):
    victim = sorted((ucf / "UCF-101" / "YoYo").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])
    report = verify_manifest(get_dataset("ucf101").load(ucf), modality="video").to_dict()
    assert [x["id"] for x in report["undecodable"]] == [f"YoYo/{victim.stem}"]
    assert report["durations"]["n"] == 23 and 1.99 <= report["durations"]["min"] <= report["durations"]["max"] <= 4.01


# ---- CLI ------------------------------------------------------------------------------------------------------
def test_cli_data_fixture_and_verify_video(tmp_path, capsys):
    root = tmp_path / "ucf"
    assert main(["data", "fixture", "ucf101", "--out", str(root), "--classes", "2", "--per-class", "1"]) == 0
    assert main(["data", "verify", "ucf101-linear", "--root", str(root), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])
    assert report["found"] == report["expected"] == 6 and report["modality"] == "video" and report["ok"]
    ks = tmp_path / "ks"
    assert main(["data", "fixture", "kinetics_sound", "--out", str(ks), "--classes", "2", "--per-class", "2",
                 "--layout", "flat"]) == 0
    m = get_dataset("kinetics_sound").load(ks)
    assert m.classes == list(KINETICS_SOUND_CLASSES[:2]) and m.found == 6 and m.expected == 8
    assert main(["data", "fixture", "hmdb51", "--out", str(tmp_path / "h"), "--classes", "99"]) == 2
    assert "n_classes must be" in capsys.readouterr().err
