"""Package discovery (pyproject.toml holds everything else): setuptools' ``packages.find`` in pyproject.toml cannot
install the folders baselines/ and tasks/ under the names avbench_baselines and avbench_tasks, so they are found here
and renamed; every avbench subpackage is found without listing it."""
from setuptools import find_packages, setup


def _renamed(folder: str, name: str) -> list[str]:
    return [name + p[len(folder):] for p in find_packages(include=[folder, f"{folder}.*"])]


setup(packages=[*find_packages(include=["avbench", "avbench.*"]), *_renamed("baselines", "avbench_baselines"),
                *_renamed("tasks", "avbench_tasks")])
