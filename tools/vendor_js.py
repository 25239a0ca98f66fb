"""Copy the book's JavaScript from node_modules into _build/static/vendor: `make vendor`.

The pages load MathJax and mermaid from the book itself, never from a CDN, so that a reader offline (and the
browser test, which has no network) sees typeset formulas and drawn diagrams, not raw TeX and mermaid source.
`npm ci` installs the versions pinned in package-lock.json; this script copies only what a page loads:

* MathJax 3's ``es5`` folder whole: ``tex-mml-chtml.js`` fetches its fonts and any TeX extension a formula
  needs (``\\boldsymbol``, ``\\cancel``, ...) from beside itself at run time.
* mermaid's ES-module build, ``mermaid.esm.min.mjs`` and the chunks it imports, without source maps (11 MB).

_config.yml points Sphinx at the copies (``mathjax_path``, ``mermaid_use_local``, ``html_static_path``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "node_modules"
TARGET = ROOT / "_build" / "static" / "vendor"
# What a page loads, relative to each package's folder in node_modules, and where it goes under TARGET.
COPIES = {
    "mathjax": [("es5", "mathjax")],
    "mermaid": [("dist/mermaid.esm.min.mjs", "mermaid/mermaid.esm.min.mjs"),
                ("dist/chunks/mermaid.esm.min", "mermaid/chunks/mermaid.esm.min")],
}


def pinned_versions() -> dict[str, str]:
    """The versions package.json pins, which the installed packages must match."""
    return json.loads((ROOT / "package.json").read_text())["dependencies"]


def vendor(modules: Path = MODULES, target: Path = TARGET) -> list[Path]:
    """Copy each pinned package's browser files from ``modules`` into ``target``; returns the copied paths."""
    copied = []
    for package, version in pinned_versions().items():
        manifest = modules / package / "package.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} is missing: run `npm ci` in {ROOT} first (`make vendor` does)")
        installed = json.loads(manifest.read_text())["version"]
        if installed != version:
            raise RuntimeError(f"node_modules has {package} {installed}, package.json pins {version}: run `npm ci`")
        for source, destination in COPIES[package]:
            source_path, destination_path = modules / package / source, target / destination
            if destination_path.exists():
                shutil.rmtree(destination_path) if destination_path.is_dir() else destination_path.unlink()
            destination_path.parent.mkdir(parents=True, exist_ok=True)
            if source_path.is_dir():
                shutil.copytree(source_path, destination_path, ignore=shutil.ignore_patterns("*.map"))
            else:
                shutil.copy2(source_path, destination_path)
            copied.append(destination_path)
    return copied


if __name__ == "__main__":
    for path in vendor():
        print(f"vendored {path.relative_to(ROOT)}")
    sys.exit(0)
