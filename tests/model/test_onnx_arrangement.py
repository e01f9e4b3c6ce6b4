"""The export's rearrangement for ONNX Runtime (model.onnx_arrangement): the same matte, other nodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from model.modnet import MODNet
from model.modnet.blocks import IBNorm
from model.onnx_arrangement import TwoHalfConv, arranged_for_export, split_small_concat_inputs
from model.onnx_runtime import INPUT_NAME, export_onnx


def trained_looking_network() -> MODNet:
    """Random weights, with BatchNorm statistics and affines away from identity (as after training),
    so that folding them into the convs has something to get wrong."""
    torch.manual_seed(3)
    net = MODNet()
    generator = torch.Generator().manual_seed(4)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.3)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data = torch.rand(size, generator=generator) + 0.5
            module.bias.data = torch.randn(size, generator=generator) * 0.2
    return net.eval()


def session(model: Path | bytes) -> ort.InferenceSession:
    return ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), providers=["CPUExecutionProvider"]
    )


def test_arranged_network_gives_the_same_matte_and_splits_only_blocked_halves() -> None:
    net = trained_looking_network()
    image = torch.rand(2, 3, 64, 96) * 2 - 1
    arranged = arranged_for_export(net)
    with torch.inference_mode():
        expected = net(image, inference=True)[2]
        found = arranged(image, inference=True)[2]
    assert float((found - expected).abs().max()) < 1e-5
    assert float(expected.std()) > 0.01  # a matte that varies, so the comparison means something
    halves = {name for name, module in arranged.named_modules() if isinstance(module, TwoHalfConv)}
    assert {"hr_branch.conv_hr2x.0", "lr_branch.conv_lr16x", "f_branch.conv_f2x"} <= halves
    # 35, 99 and 24 input channels, or halves of 8 outputs: left whole (two unblocked convs are slower).
    assert not halves & {
        "f_branch.conv_f.0",
        "hr_branch.conv_enc2x",
        "hr_branch.conv_hr4x.0",
        "hr_branch.tohr_enc4x",
    }
    assert isinstance(net.f_branch.conv_f2x.layers[1], IBNorm)  # a copy was arranged, not the network


def test_conv_over_a_concat_with_the_image_is_split_in_two() -> None:
    # features (32 channels) and image (3) concatenated, then a 3x3 conv with a bias: the rewrite
    # computes Conv(features) + Conv(image) and drops the Concat, with the same output.
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(16, 35, 3, 3)).astype(np.float32)
    bias = rng.normal(size=16).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Concat", ["features", "image"], ["both"], name="cat", axis=1),
            helper.make_node("Conv", ["both", "w", "b"], ["out"], name="conv", pads=[1, 1, 1, 1]),
        ],
        "g",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 32, "h", "w"]),
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 16, "h", "w"])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    inputs = {
        "features": rng.normal(size=(1, 32, 12, 20)).astype(np.float32),
        "image": rng.normal(size=(1, 3, 12, 20)).astype(np.float32),
    }
    expected = session(model.SerializeToString()).run(None, inputs)[0]
    assert split_small_concat_inputs(model) == 1
    onnx.checker.check_model(model)
    assert [node.op_type for node in model.graph.node] == ["Conv", "Conv", "Add"]
    assert {tensor.name for tensor in model.graph.initializer} == {
        "b",
        "conv_wide_weight",
        "conv_narrow_weight",
    }
    found = session(model.SerializeToString()).run(None, inputs)[0]
    assert float(np.abs(found - expected).max()) < 1e-4


def test_exported_graph_has_no_conv_on_a_narrow_concat_and_the_same_matte(tmp_path: Path) -> None:
    net = trained_looking_network()
    path = tmp_path / "modnet.onnx"
    export_onnx(net, path)
    model = onnx.load(str(path))
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    channels = {
        info.name: info.type.tensor_type.shape.dim[1].dim_value
        for info in inferred
        if len(info.type.tensor_type.shape.dim) == 4
    }
    producers = {output: node for node in model.graph.node for output in node.output}
    concat_widths = [
        channels[conv.input[0]]
        for conv in model.graph.node
        if conv.op_type == "Conv"
        and conv.input[0] in producers
        and producers[conv.input[0]].op_type == "Concat"
    ]
    assert concat_widths and all(width % 16 == 0 for width in concat_widths)  # e.g. not 35 or 99 any more
    # The three convs that had the image appended: fusion (32 + 3), detail (3 + 32, 64 + 32 + 3).
    assert len([node for node in model.graph.node if node.name.endswith("_sum")]) == 3
    image = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.inference_mode():
        expected = net(image, inference=True)[2].numpy()
    found = session(path).run(None, {INPUT_NAME: image.numpy()})[0]
    assert float(np.abs(found - expected).max()) < 1e-4
