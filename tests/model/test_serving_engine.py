"""The MODNet engine: sizing, batching equivalence, shapes, loading, errors (real network, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from model.modnet import MODNet
from model.serving import (
    ModelOutOfMemory,
    ModnetEngine,
    cpu_has_native_bf16,
    create_engine,
    network_input_size,
)
from model.weights import ModelInfo, WeightsError, save_safetensors
from service.contract import EngineOutOfMemory, MattingEngine
from service.imaging.matte_scale import matte_at_full_size

INFO = ModelInfo(name="modnet-test", version="v0", sha256_prefix="00000000")
SIZE = 128  # small inference size keeps the real network fast on CPU; the logic is size-independent


def _image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth, textured RGB image (a flat one would make InstanceNorm degenerate)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack(
        [np.sin(xx / (5 + seed) + yy / 11) * 100 + 128, yy * 255 / height, xx * 255 / width], axis=-1
    )
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def net() -> MODNet:
    torch.manual_seed(0)
    return MODNet().eval()


@pytest.fixture()
def engine(net: MODNet) -> ModnetEngine:
    return ModnetEngine(net, INFO, device=torch.device("cpu"), inference_size=SIZE, max_batch_size=16)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((512, 768), (512, 768)),  # between the bounds: kept (reference rule)
        ((1000, 1500), (512, 768)),  # entirely larger: short side -> 512
        ((100, 200), (512, 1024)),  # entirely smaller: scaled up
        ((333, 517), (320, 512)),  # kept, floored to 32
        ((600, 601), (512, 512)),
        ((1, 20000), (32, 2048)),  # long side capped at 4 x 512, short side at least 32
        ((20000, 1), (2048, 32)),
        ((5000, 300), (2048, 96)),  # 300 x 2048/5000 = 122.9 -> 96
    ],
)
def test_network_input_size_follows_the_reference_with_a_cap(
    shape: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert network_input_size(*shape, 512) == expected


@given(
    st.integers(1, 60_000),
    st.integers(1, 60_000),
    st.sampled_from([64, 256, 512, 1024]),
)
def test_network_input_size_is_always_bounded_and_divisible(h: int, w: int, size: int) -> None:
    rh, rw = network_input_size(h, w, size)
    assert rh % 32 == 0 and rw % 32 == 0
    assert min(rh, rw) >= 32 and max(rh, rw) <= 4 * size


def test_engine_satisfies_the_service_protocol(engine: ModnetEngine) -> None:
    assert isinstance(engine, MattingEngine)
    assert engine.name == "modnet"
    assert engine.model_id == "modnet-test-v0 (sha256:00000000)"


def test_bucket_key_is_the_network_input_shape(engine: ModnetEngine) -> None:
    assert engine.bucket_key(_image(200, 300, 1)) == (128, 192)
    assert engine.bucket_key(_image(400, 600, 1)) == (128, 192)
    assert engine.bucket_key(_image(100, 150, 1)) == (96, 128)


def test_result_in_a_batch_equals_result_alone(engine: ModnetEngine) -> None:
    # Same bucket, different content and even different original sizes.
    images = [_image(200, 300, 1), _image(200, 300, 2), _image(400, 600, 3), _image(220, 330, 4)]
    assert len({engine.bucket_key(img) for img in images}) == 1
    batched = engine.predict_batch(images)
    for image, alpha in zip(images, batched, strict=True):
        alone = engine.predict_batch([image])[0]
        assert np.abs(alone - alpha).max() <= 1 / 255
    # Distinct inputs give distinct mattes (the comparison above is not vacuous).
    assert np.abs(batched[0] - batched[1]).max() > 1e-3


@pytest.mark.parametrize("shape", [(333, 517), (1, 300), (2000, 7), (64, 64)])
def test_alpha_has_the_input_shape_and_range(engine: ModnetEngine, shape: tuple[int, int]) -> None:
    # The engine answers at its network input size; the pipeline upsamples to the photo.
    (alpha,) = engine.predict_batch([_image(*shape, seed=5)])
    assert alpha.shape == engine.input_size(*shape)
    assert matte_at_full_size(engine, _image(*shape, seed=5)).shape == shape
    assert alpha.dtype == np.float32
    assert alpha.flags.c_contiguous
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_mixed_batch_is_grouped_by_bucket_split_by_max_batch_size_and_kept_in_order(net: MODNet) -> None:
    engine = ModnetEngine(net, INFO, device=torch.device("cpu"), inference_size=SIZE, max_batch_size=2)
    seen: list[tuple[int, ...]] = []
    hook = net.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape)))
    try:
        images = [_image(200, 300, s) for s in range(3)] + [_image(100, 150, 9), _image(200, 300, 3)]
        alphas = engine.predict_batch(images)
    finally:
        hook.remove()
    assert sorted(seen) == sorted([(2, 3, 128, 192), (2, 3, 128, 192), (1, 3, 96, 128)])
    assert [a.shape for a in alphas] == [engine.input_size(*img.shape[:2]) for img in images]
    assert np.abs(alphas[3] - engine.predict_batch([images[3]])[0]).max() <= 1 / 255


def test_read_only_input_is_accepted_and_not_modified(engine: ModnetEngine) -> None:
    image = _image(90, 120, 6)
    image.setflags(write=False)
    before = image.copy()
    engine.predict_batch([image])
    assert np.array_equal(image, before)


def test_bad_image_layout_is_rejected(engine: ModnetEngine) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        engine.predict_batch([np.zeros((64, 64, 4), dtype=np.uint8)])


def test_cuda_out_of_memory_becomes_model_out_of_memory(engine: ModnetEngine, net: MODNet) -> None:
    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    working, engine._forward = engine._forward, exhausted  # type: ignore[assignment]
    with pytest.raises(ModelOutOfMemory) as err:
        engine.predict_batch([_image(64, 64, 1)])
    assert isinstance(err.value, EngineOutOfMemory)  # what the service catches, as a MemoryError
    assert isinstance(err.value, MemoryError)
    engine._forward = working
    assert engine.predict_batch([_image(64, 64, 1)])[0].shape == engine.input_size(64, 64)


def test_warmup_and_close(engine: ModnetEngine) -> None:
    engine.warmup()
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.predict_batch([_image(64, 64, 1)])


def test_create_engine_returns_none_without_weights(tmp_path: Path) -> None:
    assert create_engine(weights_path=tmp_path / "absent.safetensors") is None


def test_create_engine_loads_an_exported_safetensors(tmp_path: Path, net: MODNet) -> None:
    path = tmp_path / "modnet_people.safetensors"
    save_safetensors(net, path, {"name": "modnet-people", "version": "v1"}, dtype=torch.float32)
    # torch runtime: this is about the weights round trip, bit for bit (ONNX: test_onnx_runtime.py)
    loaded = create_engine(
        weights_path=path, device="cpu", inference_size=SIZE, max_batch_size=4, cpu_runtime="torch"
    )
    assert loaded is not None
    assert loaded.model_id.startswith("modnet-people-v1 (sha256:")
    image = _image(150, 210, 7)
    reference = ModnetEngine(net, INFO, device=torch.device("cpu"), inference_size=SIZE)
    np.testing.assert_array_equal(loaded.predict_batch([image])[0], reference.predict_batch([image])[0])


@pytest.mark.parametrize(
    ("metadata_size", "setting", "expected"),
    [("320", 0, 320), (None, 0, 512), ("320", 256, 256)],  # setting > metadata > the reference's 512
)
def test_inference_size_comes_from_the_weights_unless_set(
    tmp_path: Path, net: MODNet, metadata_size: str | None, setting: int, expected: int
) -> None:
    path = tmp_path / "m.safetensors"
    metadata = {"name": "m", "version": "v1"} | ({"inference_size": metadata_size} if metadata_size else {})
    save_safetensors(net, path, metadata)
    engine = create_engine(weights_path=path, device="cpu", inference_size=setting)
    assert engine is not None and engine.inference_size == expected
    assert engine.bucket_key(_image(1080, 1920, 0)) == network_input_size(1080, 1920, expected)


def test_a_nonsense_inference_size_in_the_metadata_is_refused(tmp_path: Path, net: MODNet) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(net, path, {"name": "m", "version": "v1", "inference_size": "big"})
    with pytest.raises(WeightsError, match="inference_size"):
        create_engine(weights_path=path, device="cpu")


def test_alpha_levels_from_the_metadata_stretch_the_matte(tmp_path: Path, net: MODNet) -> None:
    plain, levelled = tmp_path / "plain.safetensors", tmp_path / "levelled.safetensors"
    save_safetensors(net, plain, {"name": "m", "version": "v1"}, dtype=torch.float32)
    save_safetensors(
        net, levelled, {"name": "m", "version": "v1", "alpha_levels": "0.2,0.7"}, dtype=torch.float32
    )
    image = _image(150, 210, 3)
    raw = create_engine(weights_path=plain, device="cpu", inference_size=SIZE)
    stretched = create_engine(weights_path=levelled, device="cpu", inference_size=SIZE)
    assert raw is not None and stretched is not None and stretched.alpha_levels == (0.2, 0.7)
    expected = np.clip((raw.predict_batch([image])[0] - 0.2) / 0.5, 0.0, 1.0)
    np.testing.assert_allclose(stretched.predict_batch([image])[0], expected, atol=1e-5)


@pytest.mark.parametrize("levels", ["0.5,0.2", "x,y", "0.1", "-0.1,0.9"])
def test_nonsense_alpha_levels_are_refused(tmp_path: Path, net: MODNet, levels: str) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(net, path, {"name": "m", "version": "v1", "alpha_levels": levels})
    with pytest.raises(WeightsError, match="alpha_levels"):
        create_engine(weights_path=path, device="cpu")


def test_cpu_bf16_is_close_to_fp32_but_really_used(tmp_path: Path, net: MODNet) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(net, path, {"name": "m", "version": "v1"}, dtype=torch.float32)
    images = [_image(150, 210, 4)]
    fp32 = create_engine(weights_path=path, device="cpu", inference_size=SIZE, cpu_precision="fp32")
    bf16 = create_engine(weights_path=path, device="cpu", inference_size=SIZE, cpu_precision="bf16")
    assert fp32 is not None and bf16 is not None
    want, got = fp32.predict_batch(images)[0], bf16.predict_batch(images)[0]
    assert got.dtype == np.float32 and got.shape == want.shape
    # bf16 ran (not bit-equal) and stays close; random weights amplify rounding (the shipped
    # weights differ by 0.003 on average on the validation photos).
    assert 0 < np.abs(got - want).mean() < 0.05


def test_cpu_precision_auto_follows_the_cpu_and_nonsense_is_refused(tmp_path: Path, net: MODNet) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(net, path, {"name": "m", "version": "v1"})
    auto = create_engine(weights_path=path, device="cpu", cpu_precision="auto")
    assert auto is not None and auto._cpu_bf16 == cpu_has_native_bf16()
    with pytest.raises(ValueError, match="cpu_precision"):
        create_engine(weights_path=path, device="cpu", cpu_precision="fp8")


def test_create_engine_raises_on_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "modnet_people.safetensors"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(WeightsError):
        create_engine(weights_path=path, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_explicit_cuda_without_cuda_is_an_error(tmp_path: Path, net: MODNet) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(net, path, {"name": "m", "version": "v1"})
    with pytest.raises(ValueError, match="CUDA is not available"):
        create_engine(weights_path=path, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_engine_agrees_with_cpu_fp32(net: MODNet) -> None:
    images = [_image(200, 300, 1), _image(400, 600, 2)]
    cpu = ModnetEngine(net, INFO, device=torch.device("cpu"), inference_size=SIZE)
    expected = cpu.predict_batch(images)
    gpu_net = MODNet()
    gpu_net.load_state_dict(net.state_dict())
    gpu = ModnetEngine(gpu_net, INFO, device=torch.device("cuda"), inference_size=SIZE)
    assert gpu.dtype == torch.float16
    for got, want in zip(gpu.predict_batch(images), expected, strict=True):
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.abs(got - want).mean() < 0.01 and np.abs(got - want).max() < 0.1
    gpu.close()


def test_array_runtime_out_of_memory_becomes_model_out_of_memory(engine: ModnetEngine) -> None:
    """A runtime that takes numpy batches (ONNX Runtime's path) runs out of host memory."""

    class Exhausted:
        def run_array(self, batch: np.ndarray) -> np.ndarray:
            raise MemoryError("cannot allocate the batch")

    working, engine._forward = engine._forward, Exhausted()  # type: ignore[assignment]
    try:
        with pytest.raises(ModelOutOfMemory):
            engine.predict_batch([_image(64, 64, 1)])
    finally:
        engine._forward = working
