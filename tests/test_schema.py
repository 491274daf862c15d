"""The shipped JSON Schema is the one the record models generate, and the packaging lists every package."""
import json
from pathlib import Path

from avbench.results import json_schema, shipped_schema_path

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_schema_matches_the_models():
    shipped = json.loads(shipped_schema_path().read_text())
    assert shipped == json.loads(json.dumps(json_schema())), "regenerate: python -m avbench.results > avbench/schema/result.schema.json"


def _wheel_packages(tmp_path: Path) -> set[str]:
    """The packages of the wheel built from this checkout (setup.py discovers them; nothing is listed by hand)."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("avbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "avbench/schema/result.schema.json" in names and "avbench_tasks/esc50.yaml" in names  # package data
    return {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}


def test_every_package_directory_is_installed(tmp_path):
    listed = _wheel_packages(tmp_path)
    mapping = {"avbench": "avbench", "avbench_baselines": "baselines", "avbench_tasks": "tasks"}
    found = set()
    for pkg, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]))
    assert found == listed
