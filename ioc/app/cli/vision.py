"""``ioc vision count SOURCE``: count a video once through the camera pipeline, for commissioning a camera."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ioc import i18n
from ioc.app.cli.common import h, help_lang, settings
from ioc.errors import IocError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from analytics.vision.count import CountResult
    from analytics.vision.pipeline import FrameResult
    from analytics.vision.types import Frame

logger = logging.getLogger(__name__)

i18n.register(
    {
        "vision.help": ("Phân tích hình ảnh camera / camera video analysis", "Camera video analysis"),
        "vision.count.help": (
            "Đếm phương tiện qua vạch trên một video (tệp, hoặc luồng với --seconds), từ đầu đến cuối",
            "Count objects crossing lines in a video (a file, or a stream with --seconds), start to end",
        ),
        "vision.count.title": ("Kết quả đếm: {source}", "Counts: {source}"),
        "vision.count.summary": (
            "{frames} khung hình, phân tích {analysed}, {cpu:.1f} giây CPU, mô hình {model}",
            "{frames} frames, {analysed} analysed, {cpu:.1f} s of CPU, model {model}",
        ),
        "vision.count.line": ("Vạch", "Line"),
        "vision.count.class": ("Loại", "Class"),
        "vision.count.none": ("(không có lượt qua vạch)", "(no crossings)"),
        "vision.count.error": ("Lỗi: {message}", "Error: {message}"),
        "vision.count.no_line": (
            "Cần ít nhất một --line X1,Y1,X2,Y2",
            "Give at least one --line X1,Y1,X2,Y2",
        ),
        "vision.count.wrote": ("Đã ghi {path}", "Wrote {path}"),
        "vision.dir.up": ("lên", "up"),
        "vision.dir.down": ("xuống", "down"),
        "vision.dir.left": ("trái", "left"),
        "vision.dir.right": ("phải", "right"),
        "vision.class.person": ("người đi bộ", "pedestrian"),
        "vision.class.bicycle": ("xe đạp", "bicycle"),
        "vision.class.car": ("ô tô", "car"),
        "vision.class.motorcycle": ("xe máy", "motorcycle"),
        "vision.class.bus": ("xe buýt", "bus"),
        "vision.class.truck": ("xe tải", "truck"),
    }
)

app = typer.Typer(no_args_is_help=True, help=i18n.t("vision.help", help_lang()))

LangOpt = Annotated[str, typer.Option("--lang", envvar="IOC_LANG", help=h("vi | en", "vi | en"))]


def _default_fps() -> float:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from ioc.config.models import Camera

    return float(Camera.model_fields["sample_fps"].default)


@app.command("count", help=i18n.t("vision.count.help", help_lang()))
def count(
    source: Annotated[
        str,
        typer.Argument(
            help=h(
                "tệp video, hoặc luồng rtsp:// / http(s):// kèm --seconds",
                "video file, or rtsp:// / http(s):// stream with --seconds",
            )
        ),
    ],
    line: Annotated[
        list[str] | None,
        typer.Option(
            "--line",
            help=h(
                "X1,Y1,X2,Y2 theo điểm ảnh; lặp lại cho line2, line3, ...",
                "X1,Y1,X2,Y2 in pixels; repeat for line2, line3, ...",
            ),
        ),
    ] = None,
    sample_fps: Annotated[
        float | None,
        typer.Option(
            "--sample-fps",
            min=0.1,
            max=60,
            help=h("số khung hình phân tích mỗi giây", "frames analysed per second"),
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help=h(
                "tên trong `ioc models list`, hoặc đường dẫn ONNX",
                "a name from `ioc models list`, or an ONNX path",
            ),
        ),
    ] = ("yolox-nano"),
    confidence: Annotated[float, typer.Option("--confidence", min=0.01, max=0.99)] = 0.25,
    regions: Annotated[
        str,
        typer.Option(
            "--regions",
            help=h(
                "full | tiles | motion (mặc định: motion, như camera đếm)",
                "full | tiles | motion (default: motion, as counting cameras use)",
            ),
        ),
    ] = "motion",
    seconds: Annotated[
        float | None,
        typer.Option("--seconds", min=0.1, help=h("dừng sau khoảng này", "stop after this long")),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=h("in đúng một đối tượng JSON", "print exactly one JSON object"))
    ] = False,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate",
            help=h("ghi video có khung, mã, vạch, số đếm", "write a video with boxes, ids, lines, counts"),
        ),
    ] = None,
    sheet: Annotated[
        Path | None,
        typer.Option(
            "--sheet",
            help=h("ghi ảnh PNG tổng hợp các lượt qua vạch", "write a PNG contact sheet of crossings"),
        ),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=64, help=h("số luồng CPU của bộ nhận dạng", "detector CPU threads")
        ),
    ] = 1,
    lang: LangOpt = "vi",
) -> None:
    """Count the objects crossing each line, once, and print the counts."""
    lang = i18n.normalise_lang(lang)
    try:
        result = _run(
            source, line or [], sample_fps, model, confidence, regions, seconds, annotate, sheet, threads
        )
    except IocError as exc:
        typer.echo(i18n.t("vision.count.error", lang, message=str(exc)), err=True)
        raise typer.Exit(code=2) from exc
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    _print(result, lang)
    for path in (annotate, sheet):
        if path is not None:
            typer.echo(i18n.t("vision.count.wrote", lang, path=path))


def _run(
    source: str,
    line_texts: list[str],
    sample_fps: float | None,
    model: str,
    confidence: float,
    regions: str,
    seconds: float | None,
    annotate: Path | None,
    sheet: Path | None,
    threads: int,
) -> CountResult:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    import cv2

    from analytics.vision import count as counting
    from analytics.vision.regions import REGION_MODES
    from ioc.errors import InvalidInput
    from ioc.models import ModelStore

    if not line_texts:
        raise InvalidInput("bad_line", i18n.t("vision.count.no_line", "en"))
    if regions not in REGION_MODES:
        raise InvalidInput("bad_regions", f"--regions {regions!r}: choose one of {', '.join(REGION_MODES)}")
    is_stream = source.startswith(("rtsp://", "rtsps://", "http://", "https://"))
    if not is_stream and not Path(source).is_file():
        raise InvalidInput("video", f"{source}: no such video file")
    if is_stream and seconds is None:
        raise InvalidInput("video", f"{source} is a live stream: say how long to count with --seconds N")
    options = counting.CountOptions(
        lines=[counting.parse_line(t) for t in line_texts],
        sample_fps=sample_fps or _default_fps(),
        model=model,
        confidence=confidence,
        regions=regions,  # narrowed to RegionMode by the check against REGION_MODES above
        seconds=seconds,
        threads=threads,
        models=ModelStore.of(settings()),
    )
    writer: cv2.VideoWriter | None = None
    shots: list[tuple[npt.NDArray[np.uint8], str]] = []
    totals: list[dict[str, int]] = [{} for _ in options.lines]
    keys = [counting.direction_keys(a, b)[1] for a, b in options.lines]
    drawn_lines = [counting.LineCount(f"line{i}", pts, {}) for i, pts in enumerate(options.lines, start=1)]

    def observe(frame: Frame, result: FrameResult) -> None:
        nonlocal writer
        for crossing in result.crossings:
            k = int(crossing.line_id.removeprefix("line")) - 1
            key = f"{crossing.object_class} {keys[k][crossing.direction]}"
            totals[k][key] = totals[k].get(key, 0) + 1
            if sheet is not None:
                rows = result.tracks.track_id.tolist() if result.tracks.track_id is not None else []
                if crossing.track_id in rows:
                    box = result.tracks.xyxy[rows.index(crossing.track_id)]
                    at = (frame.at - counting.T0).total_seconds()
                    label = f"{at:.1f}s {crossing.line_id} {key}"
                    shots.append((counting.crop_around(frame.image, box), label))
        if annotate is not None:
            picture = counting.draw(frame.image, result.tracks, drawn_lines, totals)
            if writer is None:
                h, w = picture.shape[:2]
                annotate.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(
                    str(annotate), cv2.VideoWriter.fourcc(*"mp4v"), options.sample_fps, (w, h)
                )
            writer.write(picture)

    try:
        result = counting.count_video(source, options, observe if annotate or sheet else None)
    finally:
        if writer is not None:
            writer.release()
    if sheet is not None:
        sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sheet), counting.contact_sheet(shots))
    return result


def _print(result: CountResult, lang: str) -> None:
    # lazy: keeps `ioc --help` free of heavy modules (tests/cli/test_help_imports.py)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=i18n.t("vision.count.title", lang, source=result.source))
    table.add_column(i18n.t("vision.count.line", lang))
    table.add_column(i18n.t("vision.count.class", lang))
    keys = sorted({k for line in result.lines for dirs in line.counts.values() for k in dirs})
    for key in keys:
        table.add_column(i18n.t(f"vision.dir.{key}", lang), justify="right")
    for line in result.lines:
        if not line.counts:
            table.add_row(line.id, i18n.t("vision.count.none", lang), *["" for _ in keys])
        for name, dirs in line.counts.items():
            table.add_row(
                line.id, i18n.t(f"vision.class.{name}", lang), *[str(dirs.get(k, "")) for k in keys]
            )
    console = Console()
    console.print(table)
    console.print(
        i18n.t(
            "vision.count.summary",
            lang,
            frames=result.frames,
            analysed=result.analysed,
            cpu=result.cpu_s,
            model=result.model,
        ),
        highlight=False,
    )
