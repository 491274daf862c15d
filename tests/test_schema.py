"""The shipped JSON Schema is the one the record models generate, and the packaging lists every package."""
import json
import re
from pathlib import Path

from avbench.results import json_schema, shipped_schema_path

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_schema_matches_the_models():
    shipped = json.loads(shipped_schema_path().read_text())
    assert shipped == json.loads(json.dumps(json_schema())), "regenerate: python -m avbench.results > avbench/schema/result.schema.json"


def test_every_package_directory_is_installed():
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(avbench[\w.]*)"', text.split("packages = [", 1)[1].split("]", 1)[0]))
    mapping = {"avbench": "avbench", "avbench_baselines": "baselines", "avbench_tasks": "tasks"}
    found = set()
    for pkg, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]))
    assert found == listed
