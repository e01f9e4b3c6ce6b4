"""MODNet's arithmetic rearranged for ONNX Runtime's CPU kernels before and after export.

The same function, computed in an order ONNX Runtime runs faster (mattes equal to float rounding,
~1e-5; `tests/model/test_onnx_arrangement.py`). Both steps exist because of how ONNX Runtime lays
out convolutions on x86: a Conv runs in its blocked "NCHWc" layout only when its input channels are
a multiple of the vector block (16 with AVX-512, 8 with AVX2); otherwise it falls back to a plain
im2col convolution with layout reorders around it. Measured on the 2-core AVX512 EPYC, interleaved
call by call (docs/benchmarks.md, "Fourth session"):

1. `arranged_for_export` (before export, on a copy of the network): each Conv + IBNorm + ReLU block
   whose halves both run blocked becomes two convolutions, one per half of IBNorm. The BatchNorm
   half is folded into its conv's weights and its ReLU fuses into the conv; only the InstanceNorm
   half keeps a normalisation node. That drops a Split, a BatchNormalization and a ReLU per block.
2. `split_small_concat_inputs` (after export, on the ONNX graph): a Conv over a Concat whose
   channel count is not a block multiple because a 3-channel image was appended (the fusion
   branch's full-resolution conv on 32 + 3 channels, the detail branch's 3 + 32 and 64 + 32 + 3) is
   computed as Conv(the feature part) + Conv(the image): the large part then runs blocked, and
   ONNX Runtime fuses the Add into it. The full-resolution conv alone took 22 of ~145 ms.

At 320 x 544, 150 calls each taking turns with the plain export: step 2 alone 0.91x its time, both
steps 0.90x (both against step 2 alone: 0.97x). Measured and left out: every IBNorm block in halves
(1.05x, slower: halves of 8 channels and unblocked inputs), splitting every Concat input apart
(third session: 174 -> 187 ms), and float formats below fp32 (they change the matte).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
import torch
from torch import nn

from model.modnet.blocks import Conv2dIBNormRelu, IBNorm

if TYPE_CHECKING:
    import onnx  # optional at run time (the service serves with torch without it): imported in use

# ONNX Runtime's NCHWc block on AVX-512 (8 on AVX2: a multiple of 16 suits both).
NCHWC_BLOCK = 16
# A Concat input narrower than this is split off its Conv: it is the image (3 channels) appended
# to feature maps whose channel counts are multiples of 16.
SMALL_INPUT_CHANNELS = 8


def _conv_like(like: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """`like`'s geometry (kernel, stride, padding) with other weights and output channels."""
    conv = copy.deepcopy(like)
    conv.out_channels = weight.shape[0]
    conv.weight = nn.Parameter(weight.clone(), requires_grad=False)
    conv.bias = nn.Parameter(bias.clone(), requires_grad=False)
    return conv


class TwoHalfConv(nn.Module):
    """Conv2dIBNormRelu in eval mode as two convolutions, one per half of IBNorm's channels:
    BatchNorm folded into the first half's weights, InstanceNorm after the second's."""

    def __init__(self, block: Conv2dIBNormRelu) -> None:
        super().__init__()
        conv, norm = block.layers[0], block.layers[1]
        assert isinstance(conv, nn.Conv2d) and isinstance(norm, IBNorm)
        assert conv.bias is not None  # MODNet's blocks all have one
        half = norm.bnorm_channels
        bn = norm.bnorm
        assert bn.running_mean is not None and bn.running_var is not None
        # Eval-mode BatchNorm is y = (x - mean) * scale + beta: folded into the conv that feeds it.
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        weight, bias = conv.weight.detach(), conv.bias.detach()
        self.batch_half = _conv_like(
            conv,
            weight[:half] * scale[:, None, None, None],
            (bias[:half] - bn.running_mean) * scale + bn.bias.detach(),
        )
        self.instance_half = _conv_like(conv, weight[half:], bias[half:])
        self.inorm = norm.inorm
        self.relu = len(block.layers) > 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C_in, H, W] -> [B, C_out, H / stride, W / stride], as the block it replaces
        first, second = self.batch_half(x), self.inorm(self.instance_half(x))
        if self.relu:
            first, second = torch.relu(first), torch.relu(second)
        return torch.cat((first, second), dim=1)


def _splits_into_blocked_halves(module: nn.Module) -> TypeGuard[Conv2dIBNormRelu]:
    """A Conv + IBNorm block whose two halves would both run blocked: input channels and each
    half's output channels multiples of the block. Elsewhere two unblocked convs were slower than
    one (measured: every block split, 1.05x the time)."""
    if not (
        isinstance(module, Conv2dIBNormRelu)
        and len(module.layers) > 1
        and isinstance(module.layers[1], IBNorm)
    ):
        return False
    conv, norm = module.layers[0], module.layers[1]
    assert isinstance(conv, nn.Conv2d)
    widths = (conv.in_channels, norm.bnorm_channels, norm.inorm_channels)
    return all(width % NCHWC_BLOCK == 0 for width in widths)


def arranged_for_export(net: nn.Module) -> nn.Module:
    """A copy of `net` (eval mode) with every Conv + IBNorm block whose halves run blocked
    (`_splits_into_blocked_halves`) as a `TwoHalfConv`; the others stay as they are."""
    arranged = copy.deepcopy(net).eval()

    def replace_in(module: nn.Module) -> None:
        for name, child in module.named_children():
            if _splits_into_blocked_halves(child):
                setattr(module, name, TwoHalfConv(child))
            else:
                replace_in(child)

    replace_in(arranged)
    return arranged


def _channels(model: onnx.ModelProto) -> dict[str, int]:
    """Channel count (axis 1) of every tensor whose shape inference knows it."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    found = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input]:
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].HasField("dim_value"):
            found[info.name] = dims[1].dim_value
    return found


def split_small_concat_inputs(model: onnx.ModelProto) -> int:
    """Rewrites, in place, each Conv (group 1) over a channel Concat with a narrow input (< 8
    channels) as Conv(Concat of the wide inputs) + Conv(Concat of the narrow ones), the bias on the
    first; the Add is what ONNX Runtime fuses into the blocked conv. Returns how many Convs."""
    from onnx import helper, numpy_helper

    graph = model.graph
    channels = _channels(model)
    weights = {tensor.name: tensor for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    shared_concats: dict[tuple[str, ...], str] = {}  # one new Concat per input group, shared by its Convs
    nodes: list[onnx.NodeProto] = []
    rewritten = 0

    def concat_of(inputs: list[str], name: str) -> str:
        if len(inputs) == 1:
            return inputs[0]
        if tuple(inputs) not in shared_concats:
            output = f"{name}_out"
            nodes.append(helper.make_node("Concat", inputs, [output], name=name, axis=1))
            shared_concats[tuple(inputs)] = output
        return shared_concats[tuple(inputs)]

    for node in graph.node:
        concat = producers.get(node.input[0]) if node.op_type == "Conv" else None
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        concat_axis = (
            {a.name: helper.get_attribute_value(a) for a in concat.attribute}.get("axis") if concat else None
        )
        widths = [channels.get(name, 0) for name in concat.input] if concat else []
        if (
            concat is None
            or concat.op_type != "Concat"
            or concat_axis != 1
            or attributes.get("group", 1) != 1
            or node.input[1] not in weights
            or 0 in widths
            or all(w >= SMALL_INPUT_CHANNELS for w in widths)
            or all(w < SMALL_INPUT_CHANNELS for w in widths)
        ):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(weights[node.input[1]])
        starts = np.cumsum([0, *widths])
        parts = []
        for part, wide in (("wide", True), ("narrow", False)):
            members = [i for i, w in enumerate(widths) if (w >= SMALL_INPUT_CHANNELS) == wide]
            columns = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in members])
            weight_name = f"{node.name}_{part}_weight"
            graph.initializer.append(
                numpy_helper.from_array(np.ascontiguousarray(weight[:, columns]), weight_name)
            )
            source = concat_of([concat.input[i] for i in members], f"{concat.name}_{part}")
            bias = node.input[2:3] if wide else []
            output = f"{node.output[0]}_{part}"
            nodes.append(
                helper.make_node(
                    "Conv", [source, weight_name, *bias], [output], name=f"{node.name}_{part}", **attributes
                )
            )
            parts.append(output)
        nodes.append(helper.make_node("Add", parts, [node.output[0]], name=f"{node.name}_sum"))
        rewritten += 1
    used = {name for node in nodes for name in node.input} | {output.name for output in graph.output}
    kept = [node for node in nodes if node.op_type != "Concat" or any(o in used for o in node.output)]
    del graph.node[:]
    graph.node.extend(kept)
    still_used = {name for node in kept for name in node.input}
    unused = [tensor for tensor in graph.initializer if tensor.name not in still_used]
    for tensor in unused:
        graph.initializer.remove(tensor)
    return rewritten
