"""One lock: the image's direct pins (requirements.txt) and the local pins agree with requirements.lock."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#;]+)", line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(3)
    return found


def test_image_pins_match_the_lock():
    lock, image = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements.txt")
    assert image, "requirements.txt pins nothing"
    assert {name: lock.get(name) for name in image} == image


def test_local_pins_match_the_lock():
    lock, local = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-local.in")
    assert local["apache-airflow"] == "2.11.0"
    assert {name: lock.get(name) for name in local} == local


def test_the_lock_pins_everything():
    lines = [l for l in (ROOT / "requirements.lock").read_text().splitlines() if l and not l.lstrip().startswith("#")]
    assert len(lines) > 200 and all("==" in l for l in lines)
    assert int(pins(ROOT / "requirements.lock")["pyarrow"].split(".")[0]) < 26  # pyarrow 26 needs numpy 2 (STACK.md)
