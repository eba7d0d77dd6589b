"""`make pictures` (python -m scripts.ui pictures): the README's pictures from a run through the browser."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from scripts.stack import PROJECT_ROOT, Stack, StackError, log, run_pipeline
from scripts.stack.pipeline import forget_models, run_days

from .airflow import open_ui
from .dashboard_walk import DASHBOARD_PAGES

IMAGES = PROJECT_ROOT / "docs" / "images"


def small_png(source: Path, target: Path, size: tuple[int, int] = (2400, 1000)) -> str:
    """`source` without its blank margins, at most `size`, in 64 colours: a picture for the README."""
    from PIL import Image, ImageChops

    with Image.open(source) as image:
        image = image.convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, image.getpixel((0, 0)))).getbbox()
    if box:
        image = image.crop((max(box[0] - 10, 0), max(box[1] - 10, 0),
                            min(box[2] + 10, image.width), min(box[3] + 10, image.height)))
    image.thumbnail(size)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.convert("P", palette=Image.ADAPTIVE, colors=64).save(target, optimize=True)
    return f"{target}: {image.width}x{image.height}, {target.stat().st_size // 1024} KiB"


SHIFT_DAYS, SHIFTED_FROM = 4, 3  # the monitoring picture: four days, shifted from the third


def pictures(stack: Stack, images: Path = IMAGES) -> None:
    """Run the pipeline through the browser and keep the README's pictures; then, from no champion,
    four days shifted from the third (`MOCK_DATA_SHIFT_FROM=<day> make run DAYS=4`) for the monitoring's."""
    shots = stack.state_dir / "screenshots"
    with open_ui(stack, shots, size=(2400, 1000)) as ui:  # wide: finance_elt's graph is one long row
        summary = run_pipeline(stack, switch_on=lambda _, dag_id: ui.switch_on(dag_id),
                               after=lambda _, runs: (ui.after(runs), ui.dashboard(runs)))
    plots = {Path(p).name: PROJECT_ROOT / p for p in summary["plots"]}
    now = dt.datetime.now(dt.timezone.utc)
    forget_models(stack)
    stack.extra_env["MOCK_DATA_SHIFT_FROM"] = f"{run_days(now, SHIFT_DAYS)[SHIFTED_FROM - 1]:%Y-%m-%d}"
    shifted = run_pipeline(stack, days=SHIFT_DAYS, clock=lambda: now,
                           summary_path=stack.state_dir / "pictures-shift" / "summary.json")
    for source, name in ((shots / "graph_finance_elt.png", "finance_elt_graph.png"),
                         (shots / "graph_finance_ml.png", "finance_ml_graph.png"),
                         (shots / "datasets.png", "datasets.png"),
                         (shots / "mlflow_runs.png", "mlflow_runs.png"),
                         (shots / "mlflow_model.png", "mlflow_model.png"),
                         (plots["comparison.png"], "comparison.png"),
                         (plots[f"{summary['model_card']['model']}.png"], "best_model.png"),
                         (PROJECT_ROOT / next(p for p in shifted["plots"] if p.endswith("/monitoring.png")), "monitoring.png"),
                         *((shots / f"dashboard_{page or 'overview'}.png", f"dashboard_{page or 'overview'}.png")
                           for page, _ in DASHBOARD_PAGES)):
        log(small_png(source, images / name))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("pictures",))
    parser.parse_args(argv)
    try:
        pictures(Stack())
    except StackError as error:
        print(f"[ui] FAILED: {error}", file=sys.stderr, flush=True)
        return 1
    return 0
