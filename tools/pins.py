"""Write constraints.txt (pip) and environment.yml (conda) from the active environment: `make pins`.

Both files carry the same pins; tests/book/test_pins.py checks that they agree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "# Tested pins, written by `make pins` (tools/pins.py). Install with: pip install -c constraints.txt -e .\n"


def frozen() -> list[str]:
    output = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout
    pins = []
    for line in output.splitlines():
        if "==" not in line or line.lower().startswith(("xlm-course", "xlm_course")):
            continue
        pins.append(line.replace("+cpu", ""))  # torch's local CPU build satisfies ==2.13.0
    return sorted(pins, key=str.lower)


def environment_yml(pins: list[str]) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    lines = ["# conda users: the same pins as constraints.txt (written by `make pins`).", "name: xlm-course",
             "channels:", "  - conda-forge", "dependencies:", f"  - python={python}", "  - pip", "  - pip:"]
    lines += [f"      - {pin}" for pin in pins]
    return "\n".join(lines) + "\n"


def main() -> None:
    pins = frozen()
    (ROOT / "constraints.txt").write_text(HEADER + "\n".join(pins) + "\n", encoding="utf-8")
    (ROOT / "environment.yml").write_text(environment_yml(pins), encoding="utf-8")
    print(f"wrote {len(pins)} pins to constraints.txt and environment.yml")


if __name__ == "__main__":
    main()
