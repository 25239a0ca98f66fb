"""The book serves its own MathJax and mermaid (tools/vendor_js.py, `make vendor`): no page needs a CDN."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("vendor_js", ROOT / "tools" / "vendor_js.py")
vendor_js = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vendor_js)
SPHINX = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]


def fake_modules(root: Path, versions: dict[str, str]) -> Path:
    """A node_modules holding each package's manifest and the files vendor_js copies."""
    for package, version in versions.items():
        folder = root / package
        folder.mkdir(parents=True)
        (folder / "package.json").write_text(json.dumps({"name": package, "version": version}))
    (root / "mathjax" / "es5" / "output").mkdir(parents=True)
    (root / "mathjax" / "es5" / "tex-mml-chtml.js").write_text("// MathJax")
    (root / "mathjax" / "es5" / "output" / "font.woff").write_text("font")
    chunks = root / "mermaid" / "dist" / "chunks" / "mermaid.esm.min"
    chunks.mkdir(parents=True)
    (root / "mermaid" / "dist" / "mermaid.esm.min.mjs").write_text("export default {}")
    (chunks / "chunk-1.mjs").write_text("export {}")
    (chunks / "chunk-1.mjs.map").write_text("{}")
    return root


def test_the_config_points_at_the_vendored_copies_not_a_cdn():
    assert SPHINX["html_static_path"] == ["_build/static"]
    copied = {destination for copies in vendor_js.COPIES.values() for _, destination in copies}
    assert SPHINX["mathjax_path"].removeprefix("vendor/").startswith("mathjax/")  # inside the copied es5 folder
    assert SPHINX["mermaid_use_local"].removeprefix("vendor/") in copied
    assert not any("http" in str(value) for value in (SPHINX["mathjax_path"], SPHINX["mermaid_use_local"]))


def test_every_pinned_package_says_what_to_copy():
    pinned = vendor_js.pinned_versions()
    assert set(pinned) == set(vendor_js.COPIES) == {"mathjax", "mermaid"}
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert {name: lock[f"node_modules/{name}"]["version"] for name in pinned} == pinned


def test_vendor_copies_what_a_page_loads_without_source_maps(tmp_path):
    modules = fake_modules(tmp_path / "node_modules", vendor_js.pinned_versions())
    target = tmp_path / "vendor"
    vendor_js.vendor(modules, target)
    assert (target / "mathjax" / "tex-mml-chtml.js").exists() and (target / "mathjax" / "output" / "font.woff").exists()
    assert (target / "mermaid" / "mermaid.esm.min.mjs").exists()
    assert sorted(p.name for p in (target / "mermaid" / "chunks" / "mermaid.esm.min").iterdir()) == ["chunk-1.mjs"]
    vendor_js.vendor(modules, target)  # a second run replaces the copies
    assert (target / "mathjax" / "tex-mml-chtml.js").read_text() == "// MathJax"


def test_vendor_without_npm_ci_says_to_run_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `npm ci`"):
        vendor_js.vendor(tmp_path / "node_modules", tmp_path / "vendor")


def test_vendor_refuses_a_version_other_than_the_pin(tmp_path):
    versions = {**vendor_js.pinned_versions(), "mermaid": "10.0.0"}
    modules = fake_modules(tmp_path / "node_modules", versions)
    with pytest.raises(RuntimeError, match="mermaid 10.0.0, package.json pins 11.12.1"):
        vendor_js.vendor(modules, tmp_path / "vendor")


def test_make_lab_installs_a_kernel_named_after_the_course(tmp_path):
    """`make lab` starts JupyterLab after `make lab-kernel`; the kernel runs this environment's Python."""
    import subprocess
    import sys

    subprocess.run(["make", "--no-print-directory", "-s", "lab-kernel", f"KERNEL_PREFIX={tmp_path}",
                    f"VIRTUAL_ENV={Path(sys.prefix)}"], cwd=ROOT, check=True, capture_output=True)
    spec = json.loads((tmp_path / "share" / "jupyter" / "kernels" / "xlm-course" / "kernel.json").read_text())
    assert spec["display_name"] == "Python (xlm-course)"
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()
    version = subprocess.run([sys.executable, "-m", "jupyterlab", "--version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    pinned = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("jupyterlab==")]
    assert pinned == [f"jupyterlab=={version}"]
