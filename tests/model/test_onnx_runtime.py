"""The CPU runtime choice (issue 17): ONNX Runtime on a graph exported from the weights at load, and
the `cpu_runtime` setting that selects it. The mattes must be torch's, on real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import model.onnx_runtime as onnx_runtime
from bench.grabcut_iou import DATA, iou, load_example, load_pairs
from model.modnet import MODNet
from model.runtime_select import build_forward, choose_runtime
from model.serving import ModnetEngine, create_engine
from model.weights import load_modnet, save_safetensors
from service.config import DEFAULT_WEIGHTS, Settings
from service.imaging.matte_scale import matte_at_full_size

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def shipped_engines(cache_dir: Path) -> tuple[ModnetEngine, ModnetEngine]:
    onnx = create_engine(
        weights_path=DEFAULT_WEIGHTS, device="cpu", cpu_runtime="onnx", onnx_cache_dir=cache_dir
    )
    eager = create_engine(weights_path=DEFAULT_WEIGHTS, device="cpu", cpu_runtime="torch")
    assert onnx is not None and eager is not None, f"shipped weights missing at {DEFAULT_WEIGHTS}"
    return onnx, eager


def test_onnx_matte_equals_torch_on_real_photos(shipped_engines: tuple[ModnetEngine, ModnetEngine]) -> None:
    onnx, eager = shipped_engines
    assert (onnx.runtime, eager.runtime) == ("onnx", "torch")
    pairs = load_pairs(DATA, limit=4)
    assert len(pairs) == 4, f"real photos missing under {DATA}"  # ../shared is required: fail, not skip
    photos = [load_example(image, mask) for _, image, mask in pairs]
    # A 1080p-like landscape input exercises the 320x544 serving shape; the rest keep their own size.
    first, first_mask = photos[0]
    photos[0] = (
        np.ascontiguousarray(cv2.resize(first, (1920, 1080), interpolation=cv2.INTER_CUBIC)),
        cv2.resize(first_mask.astype(np.uint8), (1920, 1080), interpolation=cv2.INTER_NEAREST) > 0,
    )
    found = [matte_at_full_size(onnx, rgb) for rgb, _ in photos]
    expected = [matte_at_full_size(eager, rgb) for rgb, _ in photos]
    for (_, mask), a, b in zip(photos, found, expected, strict=True):
        assert a.shape == b.shape and a.dtype == np.float32
        assert float(np.abs(a - b).max()) < 1e-3  # measured ~1e-6: float rounding only
        assert iou(a, mask) == pytest.approx(iou(b, mask), abs=1e-3)
        assert 0.0 < float(a.mean()) < 1.0  # a real matte, not an empty or full one


def test_a_batch_gives_each_photo_its_own_matte(shipped_engines: tuple[ModnetEngine, ModnetEngine]) -> None:
    """ONNX Runtime's numpy path (normalisation, levels and clip in numpy) on a batch of two."""
    onnx, eager = shipped_engines
    pairs = load_pairs(DATA, limit=2)
    assert len(pairs) == 2, f"real photos missing under {DATA}"
    photos = [
        np.asarray(
            cv2.resize(load_example(image, mask)[0], (544, 320), interpolation=cv2.INTER_AREA), np.uint8
        )
        for _, image, mask in pairs
    ]
    together = onnx.predict_batch(photos)
    alone = [onnx.predict_batch([photo])[0] for photo in photos]
    with torch.inference_mode():
        torch_batch = eager.predict_batch(photos)
    for a, b, c in zip(together, alone, torch_batch, strict=True):
        assert a.shape == (320, 544) and a.dtype == np.float32 and a.flags.c_contiguous
        assert float(np.abs(a - b).max()) < 1e-4
        assert float(np.abs(a - c).max()) < 1e-3
        assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert float(np.abs(together[0] - together[1]).max()) > 0.1  # two photos, two mattes


def test_export_is_cached_and_keyed_by_the_tensors(
    shipped_engines: tuple[ModnetEngine, ModnetEngine], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = list(cache_dir.glob("modnet-*.onnx"))
    assert len(files) == 1
    calls: list[Path] = []
    monkeypatch.setattr(onnx_runtime, "export_onnx", lambda net, path: calls.append(path))
    again = create_engine(
        weights_path=DEFAULT_WEIGHTS, device="cpu", cpu_runtime="onnx", onnx_cache_dir=cache_dir
    )
    assert again is not None and again.runtime == "onnx" and calls == []  # loaded from the cache
    torch.manual_seed(1)
    other = MODNet().eval()
    assert onnx_runtime.network_key(other) != files[0].stem.removeprefix("modnet-")


def test_key_ignores_metadata_but_not_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = MODNet().eval()
    keys = []
    for version, levels in (("1", "0.1,0.9"), ("2", "0.0,1.0")):
        path = tmp_path / f"{version}.safetensors"
        save_safetensors(net, path, {"name": "t", "version": version, "alpha_levels": levels})
        keys.append(onnx_runtime.network_key(load_modnet(path)[0].float()))
    assert keys[0] == keys[1]  # metadata does not change the graph: no new export
    with torch.no_grad():
        next(net.parameters()).add_(1.0)
    assert onnx_runtime.network_key(net) != onnx_runtime.network_key(load_modnet(path)[0].float())


@pytest.mark.parametrize(
    ("requested", "device", "bf16", "expected"),
    [
        ("auto", "cpu", False, "onnx"),
        ("onnx", "cpu", False, "onnx"),
        ("torch", "cpu", False, "torch"),
        ("auto", "cpu", True, "torch"),  # bf16 is a torch autocast
        ("auto", "cuda", False, "torch"),  # GPU keeps torch
        ("torch", "cuda", False, "torch"),
    ],
)
def test_the_setting_selects_the_runtime(requested: str, device: str, bf16: bool, expected: str) -> None:
    assert choose_runtime(requested, device=torch.device(device), bf16=bf16) == expected


@pytest.mark.parametrize(("device", "bf16"), [("cuda", False), ("cpu", True)])
def test_onnx_where_it_cannot_run_is_refused(device: str, bf16: bool) -> None:
    with pytest.raises(ValueError, match="onnx"):
        choose_runtime("onnx", device=torch.device(device), bf16=bf16)


def test_nonsense_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu_runtime"):
        choose_runtime("tensorrt", device=CPU, bf16=False)


def test_without_the_packages_auto_is_torch_and_onnx_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("model.runtime_select.onnx_available", lambda: False)
    assert choose_runtime("auto", device=CPU, bf16=False) == "torch"
    with pytest.raises(ValueError, match="onnxruntime"):
        choose_runtime("onnx", device=CPU, bf16=False)


def test_a_failed_export_falls_back_to_torch_for_auto_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(net: object, *, cache_dir: Path | None = None) -> object:
        raise RuntimeError("exporter broke")

    monkeypatch.setattr("model.runtime_select.load_onnx_modnet", broken)
    net = MODNet().eval()
    assert build_forward(net, "auto", device=CPU, bf16=False, cache_dir=tmp_path) == ("torch", None)
    with pytest.raises(RuntimeError, match="exporter broke"):
        build_forward(net, "onnx", device=CPU, bf16=False, cache_dir=tmp_path)


def test_an_unwritable_cache_falls_back_to_the_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    written: list[Path] = []

    def fake_export(net: object, path: Path) -> None:
        if path.is_relative_to(tmp_path / "ro"):
            raise PermissionError(13, "read-only", str(path))
        written.append(path)

    monkeypatch.setattr(onnx_runtime, "export_onnx", fake_export)
    monkeypatch.setattr(onnx_runtime.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    path = onnx_runtime.cached_onnx(MODNet().eval(), tmp_path / "ro")
    assert written == [path] and path.parent == tmp_path / "tmp" / "bgremove-onnx"


def test_settings_default_to_auto_and_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().cpu_runtime == "auto"
    monkeypatch.setenv("BGREMOVE_CPU_RUNTIME", "torch")
    assert Settings().cpu_runtime == "torch"
    monkeypatch.setenv("BGREMOVE_CPU_RUNTIME", "tensorrt")
    with pytest.raises(ValueError):
        Settings()


def test_the_loader_passes_the_setting_to_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.engines import loader

    seen: dict[str, object] = {}

    def factory(**kwargs: object) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(loader, "import_string", lambda path: factory)
    loader.load_engines(Settings(cpu_runtime="torch"))
    assert seen["cpu_runtime"] == "torch"
