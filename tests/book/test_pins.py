"""constraints.txt and environment.yml carry the same pins (tools/pins.py writes both)."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_environment_yml_has_the_same_pins_as_constraints():
    constraints = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert sorted(pip_section) == sorted(constraints)
    assert "torch==2.13.0" in constraints


def test_every_dependency_is_pinned():
    pins = {line.split("==")[0].lower().replace("_", "-") for line in (ROOT / "constraints.txt").read_text()
            .splitlines() if "==" in line}
    metadata = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = metadata["dependencies"] + [r for extra in metadata["optional-dependencies"].values()
                                               for r in extra]
    names = {requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
             .replace("_", "-") for requirement in requirements}
    assert names <= pins, f"unpinned: {sorted(names - pins)}"
