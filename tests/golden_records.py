"""Golden records: eight protocols on fixture data. Made first on the tree before the redesign (issue 16), to prove
it changed no behaviour; re-made at 0.6.0, whose changes move records on purpose (CHANGELOG 0.6.0: missing test
samples count as wrong and the coverage fields, sample identity and shard checks, the released SVM tie-break and
audio windows, the float64 SVM line search, schema 1.2); ``ucf101-finetune`` and ``dcase`` re-made again after 0.6.0 for
the released readings their cards now follow (``video.timeline: floor``, ``video.starts: continuous``,
``audio.resampler: swresample``; issue 19). Re-make them only for a change the
CHANGELOG names.

``python -m tests.golden_records --write`` recomputes every case and writes ``tests/golden/records/<case>.json``:
the record minus the fields listed in :data:`EXCLUDED`, plus the rows of its predictions sidecar.
tests/test_golden_records.py recomputes each case with the current tree and compares. A refactor that changes
no behaviour keeps every other field equal; floats are compared to a relative 1e-6.

Each golden file names the CPU it was made on (``machine``: torch's CPU capability and the model). On a CPU of
another kind the numbers a forward pass and a solver produce may differ in their last bits (oneDNN and BLAS pick
other kernels), and a near-tie between two classes can then flip: there the check compares everything but the
numbers (:data:`NUMERIC` keys: scores, predictions, metrics, sweeps, selections), i.e. the record's structure, card,
data, ids, labels, counts and skips, and says so.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from avbench.synth.family_fixtures import small_dcase, small_kinetics_sounds, small_ucf101, small_vggsound_augvgg

GOLDEN = Path(__file__).resolve().parent / "golden" / "records"

#: fields that may differ, and why; everything else must be equal
EXCLUDED: dict[str, str] = {
    "provenance.wall_seconds": "timing",
    "provenance.avbench_version": "a release bumps it (the golden files are not re-made for that)",
    "provenance.packages.avbench": "a release bumps it",
    "provenance.packages.torch": "the pinned environment (constraints.txt or constraints-newest.txt; CI runs both)",
    "provenance.packages.torchvision": "the pinned environment (constraints.txt or constraints-newest.txt)",
    "provenance.packages.torchaudio": "the pinned environment (constraints.txt or constraints-newest.txt)",
    "provenance.peak_rss_bytes": "peak memory",
    "provenance.peak_cuda_bytes": "peak memory",
    "provenance.created_utc": "timing",
    "provenance.git_sha": "git sha",
    "provenance.command": "command",
    "provenance.device": "host (thread count)",
    "provenance.platform": "host",
    "provenance.python": "host",
    "provenance.run_id": "hashes the code fingerprint, which hashes the source files a move changes",
    "encoder.code": "the code fingerprint: sha256 of the source files, which a move changes by definition",
    "cache.keys": "feature-cache keys hash the code fingerprint",
    "data.root": "path",
    "data.root_resolved": "path (record schema 1.2, issue 21: the data root resolved; absent before)",
    "encoder.weights_resolved": "path (record schema 1.2, issue 21: the weights file resolved; absent before)",
    "data.n_classes": "record schema 1.2 (issue 21) added it (the manifest's class count); absent before",
    "data.ids_sidecar.path": "path (the file name carries the run id)",
    "sidecar.path": "path (the file name carries the run id)",
    "sidecar.sha256": "compared through the parsed rows instead (floats to 1e-6)",
    "data.ids_sidecar.sha256": "compared through the parsed rows instead",
    "*.key": "feature-cache keys (per view) hash the code fingerprint",
    "*.seconds": "timing",
    "*.verify_seconds": "timing (the shard checks of issue 17)",
    "*.classifier_seconds": "timing",
    "*.fit_seconds": "timing",
    "*.checkpoint": "path",
    "data.skipped.*.path": "path",
    "data.damaged.*.path": "path",
    # issue 18 (record schema 1.2): what the data are is new; the goldens predate it (stripped on both sides)
    "schema_version": "1.1 -> 1.2 (issue 18: data identity)",
    "data.kind": "new in schema 1.2 (issue 18)",
    "data.media_verified": "new in schema 1.2 (issue 18)",
    "data.identity": "new in schema 1.2 (issue 18)",
    "data.media": "new in schema 1.2 (issue 18)",
    "data.synthetic": "issue 18: a fixture root passed explicitly is avbench's synthetic data (avbench_fixture.json)",
}


@dataclass
class Case:
    """One golden record: the task, the fixture it runs on and the card overrides."""

    task: str
    fixture: Callable[[Path], Path]
    overrides: dict[str, Any] = field(default_factory=dict)
    #: the coverage gate (issue 17) for fixtures that list missing or undecodable files on purpose
    min_coverage: float | None = None


def _esc50(tmp: Path) -> Path:
    from avbench.synth.audio_fixtures import write_esc50
    from tests.conftest import add_bad_rows

    root = write_esc50(tmp / "esc50", n_classes=5, clips_per_class=10, seed=1)
    add_bad_rows(root, tmp / "corrupt")  # skipped and damaged files go through the merge
    return root


VIDEO = {"video": {"size": 64, "resize": 72, "frames": 8}, "splits": ["split1"], "batch_size": 8}
CASES: dict[str, Case] = {
    "esc50": Case("esc50", _esc50, {"train": {"clips": 2}, "test": {"clips": 3}}, min_coverage=0.9),
    "dcase": Case("dcase", small_dcase, {"train": {"clips": 4}, "test": {"clips": 4}, "classifier": {"epochs": 10}}),
    "ucf101-linear": Case("ucf101-linear", small_ucf101, {**VIDEO, "train": {"clips": 2}, "test": {"clips": 2}}),
    "ucf101-retrieval": Case("ucf101-retrieval", small_ucf101, {**VIDEO, "train": {"clips": 2}, "test": {"clips": 2},
                                                        "classifier": {"ks": [1, 5, 10]},
                                                        "metrics": ["recall1", "recall5", "recall10"]}),
    "ucf101-knn": Case("ucf101-knn", small_ucf101, {**VIDEO, "train": {"clips": 2}, "test": {"clips": 2}}),
    "ksounds-fusion": Case("ksounds-fusion", small_kinetics_sounds, {"train": {"clips": 2}, "test": {"clips": 2},
                                                       "video": {"size": 64, "resize": 72, "frames": 8}},
                           min_coverage=0.6),
    "augvgg-ip": Case("augvgg-ip", small_vggsound_augvgg, {"video": {"size": 64, "resize": 72, "frames": 8},
                                                           "train": {"clips": 2}, "test": {"clips": 2},
                                                           "classifier": {"ks": [1, 5]},
                                                           "metrics": ["recall1", "recall5"]}),
    "ucf101-finetune": Case("ucf101-finetune", small_ucf101, {**VIDEO, "train": {"clips": 1}, "test": {"clips": 2},
                                                      "classifier": {"type": "finetune", "epochs": 2, "batch_size": 8,
                                                                     "lr": 0.02, "milestones": [1], "gamma": 0.5}}),
}


#: keys whose values are numbers a forward pass or a solver computed (compared only on the goldens' own CPU kind)
NUMERIC = ("scores", "pred", "metrics", "sweep", "selected", "neighbour_similarity", "neighbours", "neighbour_labels",
           "info", "determinism")


def machine() -> dict[str, str]:
    """The CPU kind numbers depend on: torch's CPU capability (e.g. AVX512, AVX2) and the model name."""
    import platform

    import torch

    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    except OSError:
        pass
    return {"capability": str(torch.backends.cpu.get_cpu_capability()), "model": model or platform.processor()}


def _excluded(path: str) -> bool:
    for pattern in EXCLUDED:
        if pattern == path or (pattern.startswith("*.") and path.endswith(pattern[1:])):
            return True
        if ".*." in pattern:
            head, tail = pattern.split(".*.")
            parts = path.split(".")
            if path.startswith(head + ".") and len(parts) == head.count(".") + 3 and parts[-1] == tail:
                return True
    return False


def strip(obj: Any, path: str = "", work: str | None = None) -> Any:
    """``obj`` without the excluded fields (paths are dotted keys; list items are ``.<index>``); inside strings the
    run's working folder ``work`` (data, cache and output live below it) reads ``<work>`` (a path)."""
    if isinstance(obj, dict):
        return {k: strip(v, f"{path}.{k}" if path else k, work) for k, v in obj.items()
                if not _excluded(f"{path}.{k}" if path else k)}
    if isinstance(obj, list):
        return [strip(v, f"{path}.{i}", work) for i, v in enumerate(obj)]
    if isinstance(obj, str) and path == "provenance.ffmpeg":  # the decoder settings stay; the pinned torchaudio
        obj = re.sub(r"torchaudio \S+ \(", "torchaudio <pinned> (", obj)  # version does not (EXCLUDED, packages)
    if isinstance(obj, str) and work:
        return obj.replace(work, "<work>")
    return obj


def compute(name: str, work: Path) -> dict[str, Any]:
    """Run case ``name`` in ``work`` (fixture, cache and output folders) and return its golden form."""
    from avbench.results import read_sidecar

    try:
        from avbench.evaluation.runner import RunOptions, run
    except ImportError:  # the tree before the redesign (where the golden files were made)
        from avbench.runner import RunOptions, run

    import torch

    case = CASES[name]
    root = case.fixture(work / "data")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the SVM path picks its thread count by timing (load-dependent); one thread is stable
    try:
        gate = {} if case.min_coverage is None else {"min_coverage": case.min_coverage}
        record, path = run("crisscross", case.task, data_root=root, overrides=case.overrides,
                           options=RunOptions(cache_dir=work / "cache", out_dir=work / "out", log=lambda m: None,
                                              num_workers=0, **gate))
    finally:
        torch.set_num_threads(threads)
    data = json.loads(path.read_text())
    return {"record": strip(data, work=str(work)), "predictions": read_sidecar(path.parent / record.sidecar.path),
            "ids": read_sidecar(path.parent / record.data.ids_sidecar.path), "machine": machine()}


def differences(golden: Any, mine: Any, path: str = "", rel: float = 1e-6, numbers: bool = True) -> list[str]:
    """Every place where ``mine`` differs from ``golden`` (floats to a relative ``rel``); ``numbers=False`` leaves
    out the values under :data:`NUMERIC` keys (another CPU kind: module docstring)."""
    if isinstance(golden, dict) and isinstance(mine, dict):
        out = [f"{path}.{k}: missing now" for k in golden if k not in mine]
        out += [f"{path}.{k}: new field" for k in mine if k not in golden]
        for k in golden:
            if k in mine and (numbers or k not in NUMERIC) and k != "machine":
                out += differences(golden[k], mine[k], f"{path}.{k}", rel, numbers)
        return out
    if isinstance(golden, list) and isinstance(mine, list):
        if len(golden) != len(mine):
            return [f"{path}: {len(golden)} items before, {len(mine)} now"]
        return [d for i, (a, b) in enumerate(zip(golden, mine)) for d in differences(a, b, f"{path}[{i}]", rel, numbers)]
    if isinstance(golden, float) and isinstance(mine, (int, float)) and not isinstance(mine, bool):
        ok = math.isclose(golden, mine, rel_tol=rel, abs_tol=1e-9)
        return [] if ok else [f"{path}: {golden!r} before, {mine!r} now"]
    return [] if golden == mine else [f"{path}: {golden!r} before, {mine!r} now"]


def main(argv: list[str] | None = None) -> int:
    import tempfile

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="recompute and write every golden file")
    p.add_argument("cases", nargs="*", default=list(CASES))
    args = p.parse_args(argv)
    if not args.write:
        p.error("nothing to do without --write (the check is tests/test_golden_records.py)")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            out = compute(name, Path(tmp))
        (GOLDEN / f"{name}.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN / f'{name}.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
