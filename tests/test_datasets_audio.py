"""ESC-50 and DCASE 2013 adapters on fixtures in the official layouts; the HF source; verify_manifest."""
import shutil
from pathlib import Path

import pytest

from avbench.datasets import DatasetError, Skip, get_dataset
from avbench.datasets.verify import verify_manifest
from avbench.synth.audio_fixtures import write_dcase2013, write_esc50


@pytest.fixture(scope="module")
def esc_src(tmp_path_factory):
    return write_esc50(tmp_path_factory.mktemp("esc") / "ESC-50", n_classes=4, clips_per_class=5, seconds=1.0, seed=3)


@pytest.fixture
def esc(esc_src, tmp_path):
    root = tmp_path / "ESC-50"
    shutil.copytree(esc_src, root)
    return root


@pytest.fixture(scope="module")
def dcase_src(tmp_path_factory):
    return write_dcase2013(tmp_path_factory.mktemp("dcase") / "dcase", n_classes=3, per_class=2, seconds=0.5, seed=1)


def _csv(root):
    return (root / "meta" / "esc50.csv").read_text().splitlines()


# ---- ESC-50 ------------------------------------------------------------------------------------------------
def test_esc50_fixture_parses_to_classes_in_target_order_folds_groups_ids(esc):
    m = get_dataset("esc50").load(esc)
    assert m.classes == ["dog", "rooster", "pig", "cow"]  # target order, not alphabetical
    assert m.found == m.expected == 20 and not m.skipped
    lines = _csv(esc)
    assert lines[0] == "filename,fold,target,category,esc10,src_file,take"
    by_file = {ln.split(",")[0]: ln.split(",") for ln in lines[1:]}
    src_fold = {}
    for s in m.samples:
        row = by_file[s.path.name]
        fold, target, category, src = int(row[1]), int(row[2]), row[3], row[5]
        assert s.id == Path(row[0]).stem and s.label == target and m.classes[s.label] == category
        assert s.group == f"fold{fold}" and s.path.name.startswith(f"{fold}-{src}-") and s.path.is_absolute()
        assert src_fold.setdefault(src, fold) == fold  # a source recording stays in one fold
    assert sorted(m.splits) == [f"fold{k}" for k in range(1, 6)]
    all_ids = {s.id for s in m.samples}
    groups = {s.id: s.group for s in m.samples}
    for k in range(1, 6):
        sp = m.splits[f"fold{k}"]
        assert set(sp["train"]) | set(sp["test"]) == all_ids and not set(sp["train"]) & set(sp["test"])
        assert sp["test"] and all(groups[i] == f"fold{k}" for i in sp["test"])
    assert m.content_hash() == get_dataset("esc50").load(esc).content_hash()


def test_esc50_missing_file_is_a_recorded_skip(esc):
    victim = sorted((esc / "audio").iterdir())[3]
    victim.unlink()
    m = get_dataset("esc50").load(esc)
    assert m.expected == 20 and m.found == 19
    assert m.skipped == [Skip(victim.stem, str(victim), "missing file")]
    assert all(victim.stem not in ids for sp in m.splits.values() for ids in sp.values())


def _break(lines, kind):
    header, rows = lines[0], lines[1:]
    if kind == "missing column":
        return [header.replace("target", "label")] + rows, 1
    if kind == "empty":
        return [], 1
    if kind == "header only":
        return [header], None
    cells = rows[2].split(",")
    if kind == "fold not integer":
        cells[1] = "one"
    elif kind == "fold out of range":
        cells[1] = "6"
    elif kind == "target not integer":
        cells[2] = "3.5"
    elif kind == "duplicate filename":
        return [header] + rows + [rows[0]], len(rows) + 2
    elif kind == "target with two categories":  # a new file whose target already names another category
        extra = rows[0].split(",")
        extra[0], extra[3] = "5-999999-A-0.wav", "banana"
        return [header] + rows + [",".join(extra)], len(rows) + 2
    elif kind == "too few fields":
        cells = cells[:4]
    return [header] + rows[:2] + [",".join(cells)] + rows[3:], 4


@pytest.mark.parametrize("kind", ["missing column", "empty", "header only", "fold not integer", "fold out of range",
                                  "target not integer", "duplicate filename", "target with two categories",
                                  "too few fields"])
def test_esc50_malformed_csv_raises_naming_file_and_line(esc, kind):
    lines, line = _break(_csv(esc), kind)
    csv_path = esc / "meta" / "esc50.csv"
    csv_path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(DatasetError) as info:
        get_dataset("esc50").load(esc)
    msg = str(info.value)
    assert str(csv_path) in msg
    if line is not None:
        assert f"esc50.csv:{line}:" in msg, msg


def test_esc50_min_rows_and_missing_layout(esc, tmp_path):
    with pytest.raises(DatasetError, match="min_rows=2000"):
        get_dataset("esc50").load(esc, min_rows=2000)
    with pytest.raises(DatasetError, match="esc50.csv"):
        get_dataset("esc50").load(tmp_path / "nothing-here")


# ---- DCASE 2013 --------------------------------------------------------------------------------------------
def _check_dcase(m):
    assert m.classes == ["bus", "busystreet", "office"]
    assert list(m.splits) == ["official"]
    train, test = m.splits["official"]["train"], m.splits["official"]["test"]
    assert len(train) == len(test) == 6 and not set(train) & set(test)
    assert all(i.startswith("train/") for i in train) and all(i.startswith("test/") for i in test)
    assert {i.split("/")[1] for i in train} & {i.split("/")[1] for i in test}  # names are reused across sets
    for s in m.samples:
        assert s.group == s.id and m.classes[s.label] == s.path.name[:-6]
    assert m.found == m.expected == 12


def test_dcase_crisscross_layout(dcase_src):
    m = get_dataset("dcase2013").load(dcase_src)
    _check_dcase(m)
    assert any("crisscross" in n for n in m.notes)


def test_dcase_official_unzipped_layouts(dcase_src, tmp_path):
    root = tmp_path / "dcase"
    shutil.copytree(dcase_src / "set1" / "scenes_stereo" / "scenes_stereo", root / "scenes_stereo")
    shutil.copytree(dcase_src / "set1" / "scenes_stereo_testset", root / "scenes_stereo_testset")  # doubled folder
    shutil.copy(dcase_src / "avbench_fixture.json", root)
    m = get_dataset("dcase2013").load(root)
    _check_dcase(m)
    assert any("official unzipped (X)" in n for n in m.notes) and any("doubled" in n for n in m.notes)
    (root / "avbench_fixture.json").unlink()
    m = get_dataset("dcase2013").load(root)
    assert m.expected == 200 and any("found 12" in n for n in m.notes)  # the real set: 10 classes x 10 x 2


@pytest.mark.parametrize("bad", ["garbage.wav", "car01.wav", "bus1.wav"])
def test_dcase_unparseable_name_raises_naming_it(dcase_src, tmp_path, bad):
    root = tmp_path / "dcase"
    shutil.copytree(dcase_src, root)
    (root / "set1" / "scenes_stereo" / "scenes_stereo" / bad).write_bytes(b"RIFF")
    with pytest.raises(DatasetError, match=bad):
        get_dataset("dcase2013").load(root)


def test_dcase_missing_set_raises(dcase_src, tmp_path):
    root = tmp_path / "dcase"
    shutil.copytree(dcase_src / "set1" / "scenes_stereo", root / "set1" / "scenes_stereo")
    with pytest.raises(DatasetError, match="no test set"):
        get_dataset("dcase2013").load(root)


# ---- Hugging Face source -----------------------------------------------------------------------------------
def _hf_copy(esc_src, out):
    datasets = pytest.importorskip("datasets")
    lines = _csv(esc_src)
    cols = lines[0].split(",")
    rows = [dict(zip(cols, ln.split(","))) for ln in lines[1:]]
    data = {c: [r[c] for r in rows] for c in cols}
    for c in ("fold", "target", "src_file"):
        data[c] = [int(x) for x in data[c]]
    data["esc10"] = [x == "True" for x in data["esc10"]]
    data["audio"] = [{"bytes": (esc_src / "audio" / r["filename"]).read_bytes(), "path": r["filename"]} for r in rows]
    data["audio"][5] = None  # a row without audio
    ds = datasets.Dataset.from_dict(data).cast_column("audio", datasets.Audio())
    ds.save_to_disk(str(out))
    return rows


def test_hf_source_round_trip_via_save_to_disk(esc_src, tmp_path, monkeypatch):
    rows = _hf_copy(esc_src, tmp_path / "hf")
    from avbench.datasets import esc50

    cache = tmp_path / "cache"
    m = get_dataset("esc50").load(cache, source="hf", hf_dataset=str(tmp_path / "hf"))
    folder = get_dataset("esc50").load(esc_src)
    assert m.classes == folder.classes and m.expected == 20 and m.found == 19
    assert [s.reason for s in m.skipped] == ["no audio in the Hugging Face row"]
    assert m.skipped[0].id == Path(rows[5]["filename"]).stem
    assert {s.id: (s.label, s.group) for s in m.samples} == {s.id: (s.label, s.group) for s in folder.samples
                                                            if s.id != m.skipped[0].id}
    assert (cache / "meta" / "esc50.csv").read_text().splitlines()[0] == _csv(esc_src)[0]
    first = m.samples[0].path
    assert first.read_bytes() == (esc_src / "audio" / first.name).read_bytes()

    def no_second_load(*a, **k):
        raise AssertionError("re-materialised")

    monkeypatch.setattr(esc50, "_open_hf", no_second_load)
    again = get_dataset("esc50").load(cache, source="hf", hf_dataset=str(tmp_path / "hf"))
    assert again.content_hash() == m.content_hash() and again.skipped == m.skipped


def test_hf_offline_failure_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(DatasetError, match="offline") as info:
        get_dataset("esc50").load(tmp_path / "cache", source="hf", hf_dataset="ashraq/esc50")
    assert "save_to_disk" in str(info.value)


def test_hf_source_with_array_rows(tmp_path):
    datasets = pytest.importorskip("datasets")
    import numpy as np

    wave = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    ds = datasets.Dataset.from_dict({
        "filename": ["1-100-A-0.wav", "2-200-A-1.wav", "3-300-A-0.wav"], "fold": [1, 2, 3], "target": [0, 1, 0],
        "category": ["dog", "rooster", "dog"],
        "audio": [{"array": wave.tolist(), "sampling_rate": 16000}, {"array": [], "sampling_rate": 16000},
                  {"array": wave.tolist(), "sampling_rate": 16000}]})
    ds.save_to_disk(str(tmp_path / "hf"))
    m = get_dataset("esc50").load(tmp_path / "cache", source="hf", hf_dataset=str(tmp_path / "hf"))
    assert m.found == 2 and m.expected == 3 and "empty audio" in m.skipped[0].reason
    from avbench.media.audio_decode import decode_audio

    assert np.allclose(decode_audio(m.samples[0].path, 16000).numpy(), wave, atol=1e-6)


# ---- verify ------------------------------------------------------------------------------------------------
def test_verify_reports_missing_and_undecodable_files(esc):
    files = sorted((esc / "audio").iterdir())
    files[0].write_bytes(b"")
    files[1].write_text("not audio at all\n" * 10)
    files[2].unlink()
    m = get_dataset("esc50").load(esc)
    report = verify_manifest(m, sample_rate=16000)
    d = report.to_dict()
    assert (d["found"], d["expected"], d["ok"]) == (19, 20, False)
    assert [x["id"] for x in d["missing"]] == [files[2].stem]
    reasons = {x["id"]: x["reason"] for x in d["undecodable"]}
    assert reasons == {files[0].stem: "zero-byte file", files[1].stem: reasons[files[1].stem]}
    assert "not a media file" in reasons[files[1].stem]
    assert d["durations"]["n"] == 17 and 0.79 <= d["durations"]["min"] <= d["durations"]["max"] <= 1.0
    quick = verify_manifest(m, decode=False)
    assert quick.undecodable == [] and quick.durations is None and len(quick.missing) == 1


# ---- fixture writers ---------------------------------------------------------------------------------------
def test_esc50_fixture_is_deterministic_varied_and_learnable(esc_src, tmp_path):
    import numpy as np
    import torch
    import torchaudio

    from avbench.media.audio_decode import decode_audio, probe_audio

    again = write_esc50(tmp_path / "again", n_classes=4, clips_per_class=5, seconds=1.0, seed=3)
    assert _csv(again) == _csv(esc_src)
    assert all((again / "audio" / p.name).read_bytes() == p.read_bytes() for p in (esc_src / "audio").iterdir())
    infos = [probe_audio(p) for p in sorted((esc_src / "audio").iterdir())]
    kinds = {(i.sample_rate, i.channels, i.codec) for i in infos}
    assert sum((i.sample_rate, i.channels, i.codec) == (44100, 1, "pcm_s16le") for i in infos) > len(infos) / 2
    assert {22050, 48000} <= {k[0] for k in kinds} and 2 in {k[1] for k in kinds}
    assert {"pcm_s24le", "pcm_f32le"} <= {k[2] for k in kinds}
    # a nearest-class-mean classifier on mean log-mel shapes, tested on held-out folds, beats chance by far
    m = get_dataset("esc50").load(esc_src)
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=1024, hop_length=160, n_mels=40)
    feats = torch.stack([(mel(decode_audio(s.path, 16000)) + 1e-6).log().mean(1) for s in m.samples])
    feats = feats - feats.mean(1, keepdim=True)  # spectral shape, not level
    labels = torch.tensor([s.label for s in m.samples])
    correct = 0
    for k in range(1, 6):
        test = torch.tensor([s.group == f"fold{k}" for s in m.samples])
        means = torch.stack([feats[~test & (labels == c)].mean(0) for c in range(4)])
        correct += int((torch.cdist(feats[test], means).argmin(1) == labels[test]).sum())
    assert correct / len(m.samples) >= 0.75, correct
    assert len({tuple(np.round(f.numpy(), 3)) for f in feats}) == len(feats)  # no two files alike
