"""`avbench leaderboard build`: golden tables from a fixed set of records, rejection of tampered records,
recomputation against the runner, the published numbers, the CLI, and the page in a real headless Chromium."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avbench.cli.app import main
from avbench.leaderboard.build import build_leaderboard
from avbench.leaderboard.records import load_results
from avbench.leaderboard.reported import ReportedError, load_reported, load_reported_file
from avbench.leaderboard.stats import bootstrap_ci, paired_comparison
from avbench.evaluation.runner import _bootstrap_ci
from avbench.submission.bundle import pack_bundle
from avbench.submission.card import sha256_file
from tests._lb_records import Group, esc50_groups, make_record, scores_for
from tests.test_bundle import make_submission

GOLDEN = Path(__file__).with_name("golden") / "leaderboard_README.md"

REPORTED = """\
version: 1
protocols:
  tssl-esc50-linear: {family: sound, dataset: esc50, kind: linear, description: "ESC-50 linear probe of the temporal-SSL paper"}
groups:
  - source: crisscross-paper Table 2
    defaults: {method: CrissCross, backbone: R(2+1)D-18, pretraining: Kinetics-400, selection: paper, input: 2 s clips}
    cells:
      - {protocol: esc50, metric: top1, value: 82.0}
      - {protocol: ksounds-fusion, metric: top1@audio, value: 47.1}
      - {protocol: ksounds-fusion, metric: top1@video, value: 55.7}
      - {protocol: ksounds-fusion, metric: top1, value: 66.7}
  - source: crisscross-paper Table 8
    defaults: {method: XDC, backbone: not stated, pretraining: Kinetics-400, selection: paper, input: 5 s audio}
    cells:
      - {protocol: esc50-5s, metric: top1, value: 78.0}
  - source: temporal-ssl-paper Table 4
    defaults: {method: XDC, backbone: R(2+1)D-18, pretraining: Kinetics-400, selection: paper, input: 32x224 (pretraining)}
    cells:
      - {protocol: tssl-esc50-linear, metric: top1, value: 78.5}
"""


def _fusion_groups(video: list[int], audio: list[int], av: list[int]) -> list[Group]:
    labels = [0, 1, 2, 0, 1, 2]
    ids = [f"ks{i:02d}" for i in range(6)]
    return [Group("official", 0, ids, labels, scores_for(labels, [bool(x) for x in ok], 3), layer)
            for ok, layer in ((video, "video"), (audio, "audio"), (av, None))]


def _ucf_groups(per_split: list[int]) -> list[Group]:
    out = []
    for s, c in enumerate(per_split, start=1):
        ids = [f"v_C{i % 4}_g{s:02d}_c{i:02d}" for i in range(5)]
        labels = [i % 4 for i in range(5)]
        out.append(Group(f"split{s}", 0, ids, labels, scores_for(labels, [i < c for i in range(5)], 4)))
    return out


def grant_rerun(bundle: Path, ledger: Path, *, rerun_mean: float | None = None) -> None:
    """A ledger entry as `avbench leaderboard rerun` writes it, for every record of ``bundle`` (the re-run's
    numbers equal the bundled ones unless ``rerun_mean`` is given)."""
    from avbench.leaderboard.reruns import Rerun, RerunRecord, append_rerun
    from avbench.submission.bundle import verify_bundle

    manifest = verify_bundle(bundle)
    rows = []
    for e in manifest.records:
        rec = json.loads((bundle / e.record.path).read_text())
        metrics = {m: {"bundle": v["mean"], "rerun": v["mean"] if rerun_mean is None else rerun_mean}
                   for m, v in rec["metrics"].items()}
        rows.append(RerunRecord(record=e.record.path, record_sha256=e.record.sha256, rerun_record_sha256="a" * 64,
                                metrics=metrics, within_tolerance=True))
    append_rerun(ledger, Rerun(bundle=bundle.name, bundle_sha256=sha256_file(bundle / "bundle.json"),
                               date="2026-01-01", by="tests", tolerance=0.5, device="cpu", records=rows))


def to_schema_1_1(record: Path) -> None:
    """Rewrite a record as avbench 0.5.0-dev wrote it (schema 1.1, before data identity existed)."""
    data = json.loads(record.read_text())
    data["schema_version"] = "1.1"
    for key in ("kind", "media_verified", "identity", "media"):
        data["data"].pop(key, None)
    record.write_text(json.dumps(data, indent=1))


def write_golden_results(root: Path, work: Path) -> Path:
    """The fixed record set: two bundles (one with a record altered after packing, one re-run by the maintainers
    per the ledger), a pooled two-seed entry, and loose records on synthetic, custom and unverified data, with
    clean selection, with an overridden card, and one whose stored metric was edited."""
    results = root / "results"
    sha_a = make_submission(work / "sub-alpha", "alpha")
    sha_b = make_submission(work / "sub-beta", "beta", pretraining="AudioSet")
    rec_a = work / "rec-alpha"
    make_record(rec_a, model="alpha", task="esc50", groups=esc50_groups(0, [4, 3, 2, 3, 3]), weights_sha256=sha_a)
    make_record(rec_a, model="alpha", task="ksounds-fusion", weights_sha256=sha_a,
                groups=_fusion_groups([1, 1, 0, 0, 1, 0], [1, 0, 1, 0, 0, 0], [1, 1, 1, 0, 1, 1]))
    make_record(rec_a, model="alpha", task="ucf101-linear", groups=_ucf_groups([5, 4, 3]), weights_sha256=sha_a)
    pack_bundle(work / "sub-alpha", rec_a, results / "alpha")
    rec_b = work / "rec-beta"
    make_record(rec_b, model="beta", task="esc50", groups=esc50_groups(0, [4, 4, 3, 3, 4]), weights_sha256=sha_b,
                created="2025-02-01T00:00:00+00:00", wall_seconds=4.0, media_sha256=MEDIA_MANIFEST_SHA)
    make_record(rec_b, model="beta", task="esc50", groups=esc50_groups(1, [4, 4, 4, 3, 4]), weights_sha256=sha_b,
                created="2025-02-02T00:00:00+00:00", wall_seconds=4.0, media_sha256=MEDIA_MANIFEST_SHA)
    make_record(rec_b, model="beta", task="ucf101-linear", groups=_ucf_groups([4, 4, 4]), weights_sha256=sha_b)
    pack_bundle(work / "sub-beta", rec_b, results / "beta")
    grant_rerun(results / "beta", root / "reruns.yaml")
    # altered after packing: alpha's ucf101-linear predictions
    side = next((results / "alpha" / "records" / "alpha" / "ucf101-linear").glob("*.predictions.jsonl.gz"))
    side.write_bytes(side.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    make_record(results, model="gamma-enc", task="esc50", groups=esc50_groups(0, [2, 2, 2, 3, 2]), weights_sha256=None,
                init_seed=0, selection="clean", synthetic=True, pretraining="random-init")
    make_record(results, model="epsilon-enc", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]),
                weights_sha256=None, init_seed=0, kind="custom", pretraining="random-init")
    make_record(results, model="zeta-enc", task="esc50", groups=esc50_groups(0, [3, 3, 3, 3, 3]), weights_sha256=None,
                init_seed=1, selection="clean", pretraining="random-init")
    make_record(results, model="zeta-enc", task="esc50", groups=esc50_groups(0, [3, 3, 3, 3, 3]), weights_sha256=None,
                init_seed=1, pretraining="random-init", overrides={"train": {"clips": 1}})
    to_schema_1_1(make_record(results, model="eta-enc", task="ucf101-linear", groups=_ucf_groups([5, 5, 5]),
                              weights_sha256=None, init_seed=2, pretraining="random-init"))
    tampered = make_record(results, model="delta-enc", task="esc50", groups=esc50_groups(0, [1, 1, 1, 1, 1]),
                           weights_sha256=None, init_seed=3, pretraining="random-init")
    data = json.loads(tampered.read_text())
    data["metrics"]["top1"]["mean"] = 95.0
    tampered.write_text(json.dumps(data, indent=1))
    (root / "reported.yaml").write_text(REPORTED)
    (root / "manifests").mkdir()
    (root / "manifests" / "esc50.sha256").write_bytes(MEDIA_MANIFEST)
    return results


#: a maintainers' media checksum manifest (its content does not matter to the board, only its sha256)
MEDIA_MANIFEST = b"0" * 64 + b"  audio/1-100032-A-0.wav\n"
MEDIA_MANIFEST_SHA = __import__("hashlib").sha256(MEDIA_MANIFEST).hexdigest()


@pytest.fixture(scope="module")
def golden_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    results = write_golden_results(root, tmp_path_factory.mktemp("work"))
    return build_leaderboard(results, root / "reported.yaml", root / "out", reruns_path=root / "reruns.yaml",
                             manifests_dir=root / "manifests"), root


def test_golden_readme(golden_build):
    """The README of a fixed record set, byte for byte (AVBENCH_UPDATE_GOLDEN=1 rewrites the expected file)."""
    result, root = golden_build
    text = (root / "out" / "README.md").read_text()
    if os.environ.get("AVBENCH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_golden_numbers_are_the_records(golden_build):
    result, _ = golden_build
    board = result.board
    sound = next(f for f in board.families if f.id == "sound")
    by_entry = {r.entry: r for r in sound.rows}
    alpha = by_entry["alpha [" + next(a.weights_id for a in board.accepted if a.entry == "alpha") + "]"]
    cell = next(c for col, c in alpha.cells.items() if col.protocol == "esc50")
    assert cell.metric.mean == pytest.approx(75.0)  # (4+3+2+3+3)/20
    assert cell.metric.std == pytest.approx(np.std([100, 75, 50, 75, 75], ddof=1))
    assert alpha.backbone == "1.2M params"  # the audio card counts the audio trunk only
    from dataclasses import replace

    from avbench.leaderboard.board import _params

    rec = alpha.cells[next(iter(alpha.cells))].records[0]
    small = rec.record.model_copy(deep=True)
    small.encoder.meta["n_parameters"] = {"audio": 34_560, "video": 90_000}
    assert _params(replace(rec, record=small)) == "34.6k params"  # a tiny trunk, not "0.0M"
    beta = next(r for r in sound.rows if r.entry.startswith("beta"))
    pooled = next(c for col, c in beta.cells.items() if col.protocol == "esc50")
    assert len(pooled.records) == 2 and pooled.n_seeds == 2  # two records of disjoint seeds pooled into one cell
    assert pooled.metric.mean == pytest.approx(np.mean([(4 + 4) / 8, (4 + 4) / 8, (3 + 4) / 8, (3 + 3) / 8, (4 + 4) / 8]) * 100)
    assert beta.trust == "re-run by maintainers" and alpha.trust == "self-reported"  # from the ledger, not the bundle
    assert (beta.data, alpha.data) == ("official, media verified", "official, media not verified")
    fusion = next(f for f in board.families if f.id == "fusion")
    gain = next(c for r in fusion.rows if r.kind == "measured" for col, c in r.cells.items() if col.metric == "fusion_gain")
    assert gain.metric.mean == pytest.approx(100 * (5 / 6 - 3 / 6))  # a+v 5/6 against the better modality (video 3/6)
    assert [r.trust for r in sound.rows if r.kind == "reported"] == ["crisscross-paper Table 2", "crisscross-paper Table 8"]
    assert [r.entry for r in sound.other_rows] == ["XDC"]  # the descriptive protocol is kept out of the main table


def test_only_official_data_on_the_shipped_card_sits_beside_the_papers(golden_build):
    """Custom, synthetic and unverified data and a changed card each go to their own titled table; the clean
    selection of a standard card stays in the main table (its own axis, not an override)."""
    board = golden_build[0].board
    sound = next(f for f in board.families if f.id == "sound")
    main = {(r.entry.split(" [")[0], r.selection, r.track, r.data) for r in sound.rows if r.kind == "measured"}
    assert main == {("alpha", "paper", "standard", "official, media not verified"),
                    ("beta", "paper", "standard", "official, media verified"),
                    ("zeta-enc", "clean", "standard", "official, media not verified")}
    groups = {t.group: [(r.entry.split(" [")[0], r.data, r.track) for r in t.rows] for t in sound.tables}
    assert groups == {"changed": [("zeta-enc", "official, media not verified", "override")],
                      "custom": [("epsilon-enc", "custom", "standard")],
                      "synthetic": [("gamma-enc", "synthetic", "standard")]}
    linear = next(f for f in board.families if f.id == "linear")
    assert [(t.group, [r.data for r in t.rows]) for t in linear.tables] == [("unverified", ["unverified"])]
    # pairs only within equal selection, track, data kind and card: alpha-beta yes; zeta's two rows never
    pairs = [(p.a.entry.split(" [")[0], p.b.entry.split(" [")[0]) for f in board.families
             for p in f.pairs + [q for t in f.tables for q in t.pairs]]
    assert pairs == [("beta", "alpha")]
    svg = (golden_build[1] / "out" / "plots" / "accuracy.svg").read_text()  # the plot with the published bars
    assert "(media verified)" in svg and "(media not verified)" in svg
    assert "zeta-enc" in svg and not re.search(r"\b(gamma|epsilon|eta)-enc", svg)  # synthetic, custom, unverified
    readme = (golden_build[1] / "out" / "README.md").read_text()
    for title in ("Custom data (an official layout", "Synthetic data (avbench's stand-in sets",
                  "Unverified data (records older than schema 1.2", "Official data, changed or unshipped task cards"):
        assert f"### {title}" in readme


def test_clean_selection_is_not_an_override():
    """Selection is its own axis: the runner files a clean-selection run of a shipped card as `standard`; any
    other change of the card is an `override` (issue 18; the old runner filed both as overrides)."""
    from avbench.evaluation.record import card_track
    from avbench.taskcard import load_card

    assert card_track(load_card("esc50", {"classifier": {"selection": "clean"}}), "esc50") == "standard"
    assert card_track(load_card("esc50", {"train": {"clips": 1}}), "esc50") == "override"
    assert card_track(load_card("ucf101-retrieval"), "ucf101-retrieval") == "standard"  # no selection at all


def test_tampered_records_are_rejected_with_the_reason(golden_build):
    result, root = golden_build
    reasons = {r.path: r.reason for r in result.board.rejected}
    assert len(reasons) == 2, reasons
    delta = next(p for p in reasons if p.startswith("delta-enc/"))
    assert "metrics do not recompute" in reasons[delta] and "record mean is 95.0" in reasons[delta]
    alpha_ucf = next(p for p in reasons if p.startswith("alpha/"))
    assert "ucf101-linear" in alpha_ucf and "sha256 does not match bundle.json" in reasons[alpha_ucf]
    assert str(root) not in "".join(reasons.values())  # reasons name files relative to the results directory
    readme = (root / "out" / "README.md").read_text()
    assert "## Rejected records" in readme and delta in readme and alpha_ucf in readme


def test_a_swapped_sidecar_or_a_broken_schema_is_rejected(tmp_path):
    results = tmp_path / "results"
    a = make_record(results, model="a", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]), weights_sha256=None, init_seed=0)
    b = make_record(results, model="b", task="esc50", groups=esc50_groups(0, [1, 1, 1, 1, 1]), weights_sha256=None, init_seed=0)
    side_a = a.parent / json.loads(a.read_text())["sidecar"]["path"]
    side_b = b.parent / json.loads(b.read_text())["sidecar"]["path"]
    shutil.copyfile(side_b, side_a)  # a's predictions replaced by b's
    broken = results / "broken.json"
    broken.write_text(json.dumps({**json.loads(b.read_text()), "selection": "best"}))
    accepted, rejected = load_results(results)
    assert [r.path for r in accepted] == [b.relative_to(results).as_posix()]
    reasons = {r.path: r.reason for r in rejected}
    assert "sha256 does not match the record's predictions sidecar hash" in reasons[a.relative_to(results).as_posix()]
    assert "does not match the result schema" in reasons["broken.json"] and "selection" in reasons["broken.json"]


def test_scores_that_tie_after_rounding_are_accepted_within_their_interval(tmp_path):
    """The sidecar rounds scores to 6 decimals: a near-tie becomes a tie; the stored value lies inside the
    interval, and the record's own bootstrap interval is kept (and said so)."""
    labels = [1, 0]
    groups = [Group("official", 0, ["x", "y"], labels, [[0.5000001, 0.5000004], [1.0, 0.0]])]
    rec = make_record(tmp_path, model="t", task="ucf101-knn", groups=groups, weights_sha256=None, init_seed=0)
    accepted, rejected = load_results(tmp_path)
    assert not rejected, rejected
    m = accepted[0].metrics["top1"]
    assert m.mean == pytest.approx(100.0) and m.n_tied == 1 and m.ci_source == "record"
    assert m.ci95 == tuple(json.loads(rec.read_text())["metrics"]["top1"]["ci95"])


def test_bootstrap_matches_the_runner_and_paired_comparison_behaves():
    rng = np.random.default_rng(5)
    data = {f"s{i}": rng.integers(0, 2, size=30 + i).astype(float) * 100 for i in range(3)}
    assert bootstrap_ci(data) == _bootstrap_ci(data)
    a = {"s": {f"i{k}": 100.0 for k in range(40)}}
    b = {"s": {f"i{k}": (100.0 if k < 10 else 0.0) for k in range(40)}}
    res = paired_comparison(a, b)
    assert res.diff == pytest.approx(75.0) and res.p_value < 0.001 and res.n_common == 40
    assert res.ci95[0] > 50
    same = paired_comparison(a, a)
    assert same.diff == 0.0 and same.p_value == 1.0
    assert paired_comparison(a, {"s": {"other": 1.0}}) is None


def test_csv_has_one_line_per_cell(golden_build):
    _, root = golden_build
    rows = list(csv.DictReader(io.StringIO((root / "out" / "leaderboard.csv").read_text())))
    measured = [r for r in rows if r["kind"] == "measured"]
    assert {r["protocol"] for r in measured} == {"esc50", "ksounds-fusion", "ucf101-linear"}
    assert {r["table"] for r in measured} == {"main", "changed", "custom", "synthetic", "unverified"}
    beta = next(r for r in measured if r["entry"].startswith("beta") and r["protocol"] == "esc50")
    assert beta["n_seeds"] == "2" and len(beta["records"].split(";")) == 2 and float(beta["wall_s_per_media_s"]) > 0
    rep = [r for r in rows if r["kind"] == "reported"]
    assert len(rep) == 6 and {r["value"] for r in rep} >= {"82", "78.5", "66.7"}


def test_published_numbers_file():
    rep = load_reported_file()
    cells = rep.cells
    assert len(cells) == len(load_reported()) == 265
    xdc = {(c.source, c.protocol): c.value for c in cells if c.method == "XDC" and c.pretraining == "Kinetics-400"
           and c.protocol.startswith(("quoted-ucf101", "tssl-ucf101"))}
    assert xdc[("crisscross-paper Table 6", "quoted-ucf101-finetune-32f")] == 86.8  # XDC's own recipe (issue 19)
    assert xdc[("temporal-ssl-paper Table 4", "tssl-ucf101-finetune")] == 84.2
    assert {rep.family_of(c.protocol) for c in cells if c.source == "avcl-paper Table 4"} == {"avcl"}
    t4 = {(c.pretraining, c.protocol): c.value for c in cells if c.source == "crisscross-paper Table 4"}
    assert t4[("AudioSet", "esc50-5s-released")] == 90.5 and t4[("Kinetics-Sound", "hmdb51-linear-32f")] == 45.7
    per_table = {}
    for c in cells:
        per_table[c.source] = per_table.get(c.source, 0) + 1
    assert per_table["crisscross-paper Table 6"] == 52 and per_table["crisscross-paper Table 7"] == 54
    assert all(0 <= c.value <= 100 for c in cells)


@pytest.mark.parametrize("cell, message", [
    ("{protocol: nope, metric: top1, value: 82.0}", r"cells\[0\]: protocol 'nope' is neither a task card"),
    ("{protocol: esc50, metric: top1, value: 82.0, colour: red}", r"cells\[0\]: colour: Extra inputs are not permitted"),
    ("{protocol: esc50, metric: acc, value: 82.0}", r"cells\[0\]: unknown metric 'acc'"),
    ("{protocol: esc50, metric: top1, value: 182.0}", r"cells\[0\]: value: Input should be less than or equal to 100"),
    ("{protocol: ksounds-fusion, metric: top1, value: 66.0}", r"cells\[3\]: duplicates groups\[0\] cells\[0\]"),
])
def test_reported_file_errors_name_the_cell(tmp_path, cell, message):
    path = tmp_path / "reported.yaml"
    path.write_text(REPORTED.replace("{protocol: esc50, metric: top1, value: 82.0}", cell))
    with pytest.raises(ReportedError, match=rf"reported\.yaml: groups\[0\] \(crisscross-paper Table 2\) {message}"):
        load_reported_file(path)


def test_reported_file_is_read_as_untrusted_yaml(tmp_path):
    """The published-numbers file goes through avbench.config.load_yaml: `82e0` is the number 82 (PyYAML's YAML 1.1
    reads it as text), and an alias is refused with the file and line named."""
    path = tmp_path / "reported.yaml"
    path.write_text(REPORTED.replace("value: 82.0}", "value: 82e0}"))
    assert next(c.value for c in load_reported_file(path).cells if c.protocol == "esc50") == 82.0
    path.write_text(REPORTED.replace("    defaults: {method: XDC, backbone: not stated",
                                     "    defaults: &xdc {method: XDC, backbone: not stated").replace(
        "    defaults: {method: XDC, backbone: R(2+1)D-18, pretraining: Kinetics-400, selection: paper, "
        "input: 32x224 (pretraining)}", "    defaults: *xdc"))
    with pytest.raises(ReportedError, match=r"reported\.yaml:\d+: .*alias"):
        load_reported_file(path)


def test_cli_build_and_strict_exit(golden_build, tmp_path, capsys):
    _, root = golden_build
    code = main(["leaderboard", "build", "--results", str(root / "results"), "--reported", str(root / "reported.yaml"),
                 "--out", str(tmp_path / "lb")])
    out = capsys.readouterr()
    assert code == 0 and "10 records verified, 2 rejected" in out.out and "rejected delta-enc/" in out.err
    assert (tmp_path / "lb" / "README.md").read_text() != (root / "out" / "README.md").read_text()  # no ledger
    assert main(["leaderboard", "build", "--results", str(root / "results"), "--reported", str(root / "reported.yaml"),
                 "--reruns", str(root / "reruns.yaml"), "--manifests", str(root / "manifests"),
                 "--out", str(tmp_path / "lb")]) == 0
    assert (tmp_path / "lb" / "README.md").read_text() == (root / "out" / "README.md").read_text()
    assert main(["leaderboard", "build", "--results", str(root / "results"), "--no-reported", "--strict",
                 "--out", str(tmp_path / "lb2")]) == 1
    assert main(["leaderboard", "build", "--results", str(root / "results"), "--reported", str(tmp_path / "none.yaml"),
                 "--out", str(tmp_path / "lb3")]) == 2
    assert "none.yaml: no such file" in capsys.readouterr().err


def test_the_shipped_leaderboard_is_up_to_date(tmp_path):
    """leaderboards/README.md and leaderboard.csv are what `avbench leaderboard build` makes of the shipped
    results and reported.yaml (rebuild after editing either)."""
    repo = Path(__file__).resolve().parents[1] / "leaderboards"
    build_leaderboard(repo / "results", repo / "reported.yaml", tmp_path)
    for name in ("README.md", "leaderboard.csv"):
        assert (tmp_path / name).read_text() == (repo / name).read_text(), f"leaderboards/{name} is stale"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_page_renders_tables_and_plots_in_headless_chromium(golden_build, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`; .ci/run installs it when run as root): "
                    "the leaderboard page was NOT checked in a browser")
    _, root = golden_build
    page = (root / "out" / "index.html").resolve().as_uri()
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(base + ["--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<table") >= 6 and "alpha [" in dom and "re-run by maintainers" in dom
    for name in ("accuracy", "fusion", "cost"):
        start = dom.index(f'id="plot-{name}"')
        figure = dom[start:dom.index("</figure>", start)]
        assert "<svg" in figure and figure.count("<path") > 10, name
    shot = tmp_path / "page.png"
    subprocess.run(base + [f"--screenshot={shot}", "--window-size=1280,2400", page], capture_output=True, timeout=120)
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape == (2400, 1280)
    ink = (img < 200).mean()
    assert 0.01 < ink < 0.6, ink  # text, table rules and bars on a white page: neither blank nor a solid block
    assert len(np.unique(img)) > 20
