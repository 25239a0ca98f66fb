"""How close each notebook claim is to failing: run notebooks and measure every comparison an ``assert`` makes.

For each ``assert a < b`` (or ``<=``, ``>``, ``>=``) on a line of its own, the two sides are evaluated in the
notebook's kernel right after the cell ran, and the margin is printed: how far, relative to the threshold, the
measured value sits from making the assert fail. A claim a few percent from its threshold can fail on another
machine (another CPU's rounding, bf16 units or not) and needs a larger margin or a different claim.

    python tools/assert_margins.py chapters/*/*.ipynb [--below 0.05]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def comparisons(source: str) -> list[tuple[str, str, str, str]]:
    """(line, left, operator, right) of each single-comparison assert in a cell's source."""
    found = []
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1:
            operator = COMPARISONS.get(type(node.test.ops[0]))
            if operator:
                found.append((ast.get_source_segment(source, node), ast.get_source_segment(source, node.test.left),
                              operator, ast.get_source_segment(source, node.test.comparators[0])))
    return found


def margins(path: Path, timeout: int = 600) -> list[dict[str, object]]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {
        "path": str(path.parent)}})
    rows = []
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            for line, left, operator, right in comparisons(cell.source):
                probe = nbformat.v4.new_code_cell(
                    f"import json as _json, numpy as _np\n"
                    f"try:\n    _l, _r = _np.asarray({left}, dtype=float), _np.asarray({right}, dtype=float)\n"
                    f"    print(_json.dumps([float(_np.min(_r - _l)) if '{operator}'[0] == '<' else "
                    f"float(_np.min(_l - _r)), float(_np.max(_np.abs(_r)))]))\n"
                    f"except Exception as _error:\n    print(_json.dumps(None))")
                notebook.cells.append(probe)  # nbclient writes the executed cell back at its index
                client.execute_cell(probe, len(notebook.cells) - 1)
                notebook.cells.pop()
                text = "".join(output.get("text", "") for output in probe.outputs if output.get("name") == "stdout")
                measured = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
                if measured is None:
                    continue
                gap, scale = measured
                rows.append({"notebook": str(path), "cell": index, "assert": line.splitlines()[0][:100],
                             "gap": gap, "relative": gap / scale if scale else float("inf")})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--below", type=float, default=0.05, help="list asserts closer than this (relative)")
    args = parser.parse_args()
    close = 0
    for path in args.notebooks:
        for row in margins(path):
            if row["relative"] < args.below:
                close += 1
                print(f"{row['notebook']} cell {row['cell']}: {row['assert']}  gap {row['gap']:.4g} "
                      f"({100 * row['relative']:.1f}% of the threshold)")
    print(f"{close} asserts within {100 * args.below:.0f}% of their threshold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
