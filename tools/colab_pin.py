"""Pin every notebook's Colab install to this release: `make colab-pin` (book/instructors.md, "Releasing").

A notebook opened in Colab installs the course package from the repository. Unpinned, it installs whatever
``main`` holds that day, so a student could see checks other than the ones the instructor grades with. So the
install names the tag of the version in pyproject.toml (``@v0.1.0``), the one place the version is set; this
tool writes it into the Colab cell of every chapter and solution notebook (the student notebooks are generated
from the solutions), and tests/book/test_notebook_hygiene.py fails when a notebook disagrees. Release: bump the
version, run ``make colab-pin``, commit, tag ``v<version>`` and push the tag.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r'%pip install -q "xlm-course @ git\+[^"@]+(@[^"]*)?"')
ESCAPED = re.compile(r'%pip install -q \\"xlm-course @ git\+[^"\\@]+(?:@[^"\\]*)?\\"')  # as the JSON file holds it


def colab_install() -> str:
    """The Colab cell's install line: the repository of _config.yml at the tag of pyproject.toml's version."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    return f'%pip install -q "xlm-course @ git+{url}@v{version}"'


def notebooks() -> list[Path]:
    return sorted([*ROOT.glob("chapters/*/*.ipynb"), *ROOT.glob("exercises/solutions/*.ipynb")])


def pin(path: Path, line: str) -> bool:
    """Write ``line`` into the notebook's Colab cell; True if the notebook changed. The file's text is edited in
    place (the line is JSON-escaped there), so that the diff shows only the pin."""
    text = path.read_text(encoding="utf-8")
    escaped = json.dumps(line)[1:-1]
    found = ESCAPED.findall(text)
    if len(found) != 1:
        raise ValueError(f"{path}: expected one Colab install line like {line!r}, found {len(found)}")
    pinned = ESCAPED.sub(lambda _: escaped, text)
    if INSTALL.search(nbformat.reads(pinned, as_version=4).cells[1].source) is None:
        raise ValueError(f"{path}: the Colab install line is not in the notebook's second cell")
    if pinned == text:
        return False
    path.write_text(pinned, encoding="utf-8")
    return True


def main() -> int:
    line = colab_install()
    changed = [path for path in notebooks() if pin(path, line)]
    for path in changed:
        print(f"pinned {path.relative_to(ROOT)}")
    print(f"{len(changed)} notebooks changed; every Colab cell now runs: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
