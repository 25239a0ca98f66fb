"""Every chapter follows the notebook template: stripped outputs, a title, learning goals, the Colab cell."""

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from colab_pin import colab_install, pin  # noqa: E402

NOTEBOOKS = sorted((ROOT / "chapters").glob("*/*.ipynb"))
EXERCISES = sorted((ROOT / "exercises" / "solutions").glob("*.ipynb"))
PAGES = sorted((ROOT / "chapters").glob("*/*.md"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = (ROOT / "_toc.yml").read_text(encoding="utf-8")


def ids(paths):
    return [str(path.relative_to(ROOT)) for path in paths]


def test_every_chapter_of_the_table_of_contents_is_a_file():
    """The other way round from test_every_chapter_is_in_the_table_of_contents: no listed chapter is missing."""
    listed = set(re.findall(r"file: (chapters/\S+)", TOC))
    found = {str(path.relative_to(ROOT).with_suffix("")) for path in NOTEBOOKS + PAGES}
    assert listed == found, f"listed but missing: {sorted(listed - found)}; found but not listed: {sorted(found - listed)}"


def sections(notebook) -> list[tuple[str, list[str]]]:
    """(heading, the code of its cells) for each markdown heading, up to the next heading."""
    found = []
    for cell in notebook.cells:
        headings = [line for line in cell.source.splitlines() if line.startswith("#")] if cell.cell_type == "markdown" else []
        if headings:
            found.append((headings[-1], []))
        elif cell.cell_type == "code" and found:
            found[-1][1].append(cell.source)
    return found


def package_names(notebook) -> set[str]:
    """Every name a notebook imports from the course's package."""
    names = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                           else line for line in cell.source.splitlines())  # IPython magics as a no-op
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xlm_course"):
                names |= {alias.asname or alias.name for alias in node.names}
    return names


WRITTEN_OUT = [(path, heading, code) for path in NOTEBOOKS for heading, code in sections(nbformat.read(path, 4))
               if "written out" in heading.lower()]


@pytest.mark.parametrize(("path", "heading", "code"), WRITTEN_OUT,
                         ids=[f"{path.stem}: {heading}" for path, heading, _ in WRITTEN_OUT])
def test_what_a_chapter_writes_out_it_compares_with_the_package(path, heading, code):
    """A "written out" section writes the thing (a function or class, or a training step by hand: its own
    backward pass), then asserts its result against the package's own."""
    names = package_names(nbformat.read(path, 4))
    lines = [line for cell in code for line in cell.splitlines()
             if line.strip() and not line.lstrip().startswith(("#", "import ", "from ", "print("))]

    def uses_package(line: str) -> bool:
        return any(re.search(rf"\b{re.escape(name)}\b", line) for name in names)

    defines = any(line.lstrip().startswith(("def ", "class ")) or ".backward()" in line for line in lines)
    assert defines, f"{path.name} '{heading}': nothing is written out (no def, class or backward), only package calls"
    asserts = [line for line in lines if line.lstrip().startswith("assert")]
    assert asserts and any(uses_package(line) for line in lines), \
        f"{path.name} '{heading}': no assert comparing with a package function ({sorted(names)})"


def test_there_are_written_out_sections():
    assert {path.stem for path, _, _ in WRITTEN_OUT} >= {"02_joint_pretraining", "04_finetuning_transfer", "01_peft"}


def written_out_in() -> list[tuple[str, str, str]]:
    """(package object, its docstring's chapter) for each docstring that says "written out in chapter(s) N.M"."""
    found = []
    for module in sorted((ROOT / "xlm_course").rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and (doc := ast.get_docstring(node)):
                said = re.search(r"[Ww]ritten out in chapters? ([^.]*\d\.\d+[^.]*)", doc)
                if said:
                    found += [(node.name, chapter, module.name) for chapter in re.findall(r"\d\.\d+", said.group(1))]
    return found


@pytest.mark.parametrize(("name", "chapter", "module"), written_out_in(), ids=lambda value: str(value))
def test_a_docstring_that_says_written_out_names_a_chapter_that_does(name, chapter, module):
    part, number = chapter.split(".")
    matches = sorted((ROOT / "chapters").glob(f"{int(part):02d}_*/{int(number):02d}_*.ipynb"))
    assert matches, f"{module}: {name} says it is written out in {chapter}, which is no notebook"
    notebook = nbformat.read(matches[0], 4)
    assert any("written out" in heading.lower() for heading, _ in sections(notebook)), matches[0].name
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert re.search(rf"\b{name}\b", code), \
        f"{matches[0].name} never uses {name}"


@pytest.mark.parametrize("path", NOTEBOOKS + EXERCISES, ids=ids(NOTEBOOKS + EXERCISES))
def test_outputs_are_stripped(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS + EXERCISES, ids=ids(NOTEBOOKS + EXERCISES))
def test_title_goals_and_colab_cell(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    first, setup = notebook.cells[0], notebook.cells[1]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: a '# Title'"
    assert "**Learning goals.**" in first.source
    assert setup.cell_type == "code" and '"google.colab" in sys.modules' in setup.source
    assert colab_install() in setup.source, "the Colab install must pin this release: run `make colab-pin`"
    assert "setup(seed=" in setup.source, "the setup cell seeds everything and prints the banner"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_the_colab_pin_is_this_release_and_the_tool_writes_only_it(tmp_path):
    """One place sets the version (pyproject.toml); `make colab-pin` writes its tag into every Colab cell."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert colab_install().endswith(f'git+{CONFIG["repository"]["url"]}@v{version}"')
    copy = tmp_path / EXERCISES[0].name
    copy.write_text(EXERCISES[0].read_text(encoding="utf-8").replace(f"@v{version}", ""), encoding="utf-8")
    assert pin(copy, colab_install()) and not pin(copy, colab_install())  # pinned once, then left alone
    assert copy.read_text(encoding="utf-8") == EXERCISES[0].read_text(encoding="utf-8")
    (tmp_path / "other.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("import sys")])), encoding="utf-8")
    with pytest.raises(ValueError, match="expected one Colab install line"):
        pin(tmp_path / "other.ipynb", colab_install())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_results_are_checked(path):
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    checks = code.count("assert ") + code.count("claim(")
    assert checks >= 3, "each result the prose states is checked by an assert or a claim (xlm_course.claims)"
    assert notebook.cells[-1].cell_type == "markdown" and "## Summary" in notebook.cells[-1].source


STUDENT = {path.name[:2]: path for path in sorted((ROOT / "exercises" / "student").glob("*.ipynb"))}
WITH_EXERCISES = [path for path in NOTEBOOKS if path.parent.name[:2] in STUDENT]


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids(WITH_EXERCISES))
def test_every_summary_ends_with_a_link_to_the_chapters_exercises(path):
    last = nbformat.read(path, as_version=4).cells[-1].source.rstrip()
    student = STUDENT[path.parent.name[:2]]
    assert last.split("\n\n")[-1].startswith("**Exercises.**"), f"{path.name}: end the summary with its exercises"
    assert last.endswith(f"(../../exercises/student/{student.name}).") and str(student.relative_to(ROOT).with_suffix("")) in TOC


def test_every_chapter_with_code_has_exercises_in_the_book():
    assert sorted(STUDENT) == ["01", "02", "03", "04", "05", "06", "08", "09"]


ENCODER_CALLS = ("course_encoders(", "course_encoder(", "e5_small(", "pretrain(", "PretrainingSetup(",
                 "downstream_mlm(", "build_encoder(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_a_notebook_that_uses_an_encoder_says_which_up_front(path):
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    if any(call in code for call in ENCODER_CALLS):
        first = notebook.cells[0].source
        assert "**Encoder.**" in first or "**Encoders.**" in first, (
            f"{path.name}: say under the learning goals which encoder the notebook uses (**Encoder.** ...)")


@pytest.mark.parametrize("path", PAGES, ids=ids(PAGES))
def test_pages_have_title_and_goals(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ") and "**Learning goals.**" in text


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=ids(NOTEBOOKS + PAGES))
def test_every_chapter_is_in_the_table_of_contents(path):
    assert str(path.relative_to(ROOT).with_suffix("")) in TOC


@pytest.mark.parametrize("path", EXERCISES, ids=ids(EXERCISES))
def test_exercises_have_five_checked_tasks_two_of_them_experiments_and_a_summary(path):
    """Issue 15: at least five tasks per chapter, two of them experiments; one or two for the questions of 9."""
    from xlm_course.exercises import EXPERIMENTS

    notebook = nbformat.read(path, as_version=4)
    checks = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.startswith("check_")]
    solutions = [cell for cell in notebook.cells if "### BEGIN SOLUTION" in cell.source]
    experiments = {check.__name__ for checks in EXPERIMENTS.values() for check in checks}
    measured = [cell for cell in checks if cell.source.split("(")[0] in experiments]
    tasks, least_experiments = (1, 1) if path.name.startswith("09") else (5, 2)
    assert len(checks) >= tasks and len(solutions) >= tasks, f"at least {tasks} tasks, each with a solution and a check"
    assert len(measured) >= least_experiments, f"at least {least_experiments} experiments (predict, then measure)"
    assert notebook.cells[-1].cell_type == "markdown" and "## Summary" in notebook.cells[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS + EXERCISES, ids=ids(NOTEBOOKS + EXERCISES))
def test_every_cell_has_its_own_id_in_the_file(path):
    # nbformat.read fills in a missing id (with a warning), so read the JSON itself: format 4.5 requires one per cell
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = [cell.get("id") for cell in cells]
    assert None not in found, f"{path.name}: cells {[i for i, cell_id in enumerate(found) if cell_id is None]} have no id"
    assert len(set(found)) == len(found), f"{path.name}: duplicate cell ids"


# Every section of the article the course follows (its headings, ../shared/seed in the course's design notes)
ARTICLE_SECTIONS = ["1.1", "1.2", "2.1", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "5.1", "5.2", "5.3",
                    "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "7.1", "7.2", "7.3", "8.1", "8.2", "8.3", "8.4", "9"]


def test_the_intro_maps_every_article_section_to_pages_in_the_book():
    import re

    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    rows = [line for line in intro.splitlines() if line.startswith("| ") and "{doc}" in line]
    mapped = " ".join(row.split(" | ")[0] for row in rows)
    for section in ARTICLE_SECTIONS:
        assert re.search(rf"(?<![\d.]){re.escape(section)}(?![\d])", mapped), f"article section {section} is not mapped"
    for target in re.findall(r"\{doc\}`([^`]+)`", "\n".join(rows)):
        page = (ROOT / "book" / target).resolve().relative_to(ROOT)
        assert str(page) in TOC, f"the intro maps to {page}, which is not in the table of contents"
    assert "chapters 1–9 here match" not in intro
