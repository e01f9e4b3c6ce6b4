"""The model card written next to the exported weights (model/weights/MODEL_CARD.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CardFacts:
    version: str
    weights_file: str
    size_mb: float
    source: str  # which checkpoint (supervised / SOC, step)
    preset: str
    config_lines: list[str]
    train_commands: list[str]  # in order; more than one when a run continued another
    device: str
    steps: int | None  # supervised steps when the weights are one run's; None for a picked lineage
    wall_minutes: float | None
    table: str
    val_photos: int
    soc_effect: str
    inference_size: int
    alpha_levels: tuple[float, float]
    full_run_owed: bool
    size_sweep: str  # markdown table of IoU/MAE/time per inference size, or ""
    category_table: str = ""  # model.training.failure_report's per-category table, or ""


GPU_COMMAND = "python -m model.training all --preset gpu"

SOURCES = [
    (
        "../shared/data/people/segmentation-remove-bg (250 photos, remove.bg masks)",
        "labels (mask-corrected teacher), validation",
        "no licence given (VikramShenoy97/Human-Segmentation-Dataset): training and evaluation only, "
        "never redistributed",
    ),
    (
        "../shared/data/people/unlabeled (108 photos)",
        "teacher labels, SOC adaptation",
        "mixed (vladmandic/human samples, MIT repo; coral test images, Apache-2.0)",
    ),
    (
        "RVM MobileNetV3 (`rvm_mobilenetv3_fp32.onnx`)",
        "teacher only: soft alpha labels",
        "GPL-3.0: never shipped, never imported by the service; only its outputs (labels) are used",
    ),
    (
        "ImageNet MobileNetV2 1.0 (`mobilenet_v2_imagenet_folded.npz`)",
        "backbone initialisation",
        "Apache-2.0",
    ),
    (
        "../shared/data/people/celebamask-parsing (1,100 portraits, face-parsing masks; 100 unlabelled)",
        "labels (parsing mask > 0, teacher in the boundary band), portrait validation",
        "CelebAMask-HQ subset: CelebA terms, non-commercial research; training and evaluation only, "
        "never redistributed",
    ),
    (
        "../shared/data/people/figaro1k-hair (1,050 hair photos, hair-only masks)",
        "teacher labels, hair validation (hair kept)",
        "Figaro1k: research use, no formal licence; training and evaluation only, never redistributed",
    ),
    ("MODNet architecture", "network design", "Apache-2.0 (reference implementation)"),
]

CATEGORY_SECTION = """
## Per category, with the failures users see

Every held-out photo: {scene} scene photos (remove.bg masks), close portraits (face-parsing masks) and
hair photos (hair masks), full size. Beside IoU and MAE: *lost foreground*, the share of the person mask
the matte drops (arms, hands); *stray blobs*, the share of the image covered by alpha >= 0.5 regions that
do not touch the person (clutter); *hair kept*, the share of hair-mask pixels with alpha >= 0.5
(`python -m model.training report --weights <file>`, `model/training/failure_report.py`).

{table}
"""

SPEED_SECTION = """
## CPU training speed

Measured on the 2-core AMD EPYC (AVX512-BF16) with `python -m bench.train_speed` (table in
docs/benchmarks.md): freezing backbone stages 0-6 makes a step 1.68x faster; bf16 autocast (0.66x) and
channels_last (0.81x) make it slower, so the campaign trains in fp32 with those stages frozen.
"""


def _sources_table() -> str:
    rows = ["| what | role | licence |", "|---|---|---|"]
    rows += [f"| {what} | {role} | {licence} |" for what, role, licence in SOURCES]
    return "\n".join(rows)


def _effort(f: CardFacts) -> str:
    steps = "trained" if f.steps is None else f"{f.steps} supervised steps"
    wall = f", {f.wall_minutes:.0f} min wall time" if f.wall_minutes is not None else ""
    return f"{steps} on {f.device}{wall}"


def render(f: CardFacts) -> str:
    owed = (
        "**These weights come from CPU training on 2 cores and do not reach the teacher yet.** The CPU "
        "campaign continues them (`make train-campaign`, resumable across sessions; `make export-campaign` "
        "ships a checkpoint only when it beats both GrabCut and the weights it replaces). "
        f"`{GPU_COMMAND}` on a GPU is the faster route when one is available."
        if f.full_run_owed
        else "These weights come from the full GPU run."
    )
    categories = (
        CATEGORY_SECTION.format(scene=f.val_photos, table=f.category_table) if f.category_table else ""
    )
    config = "\n".join(f"    {line}" for line in f.config_lines)
    commands = "\n".join(f"      {line}" for line in f.train_commands)
    return f"""# MODNet people — model card

`{f.weights_file}` ({f.size_mb:.1f} MB, fp16 safetensors), metadata name `modnet-people`, version
`{f.version}`. Architecture: MODNet (Ke et al. 2020) with a MobileNetV2 backbone, `hr_channels=32`,
the official checkpoint's key names. Loaded by `model.weights.load_modnet`; served by default when
this file exists (`X-Engine: modnet`).

{owed}

## Intended use and known limits

- Portrait and people photos: one or a few people, the main subject reasonably large. It is a
  people matting model, not general salient-object segmentation: objects that are not people
  (products, animals, a sign someone holds away from the body) are background to it.
- Trained on about 1,100 photos (210 scene photos with remove.bg masks, 108 unlabelled scene photos,
  400 close portraits, 400 hair photos); crowds, tiny distant people, unusual poses and hair against busy
  backgrounds are its weak spots. Fine hair is softer than the teacher's.
- Soft edges: the network sees a 1080p photo at 320 x 544, so its matte is 3.4x coarser than the
  photo. The service brings it to full resolution edge-aware (guided by the photo,
  `BGREMOVE_UPSAMPLING=guided`, the default): the boundary band's error against the teacher falls
  ~3 % and against remove.bg's masks ~1 % vs bilinear (IoU unchanged to 0.0003;
  `python -m bench.edge_upsample`). It cannot add detail the network did not see: strands of hair
  finer than ~3 photo pixels at 1080p stay a soft blur, on 12 MP photos more so.
- Flip averaging (`BGREMOVE_FLIP_AVERAGE=true`, off by default): the service also runs each photo
  mirrored and averages the two mattes, for twice the network work. On the weights of 2026-12-08
  (the c30 soup) it raised every measure of every held-out category: scenes 0.8966 / 0.0322 ->
  0.9001 / 0.0319, lost foreground 6.72 -> 6.58 %, close portraits 0.9491 / 0.0401 -> 0.9527 /
  0.0392, hair kept 99.16 -> 99.46 %, for 2.1x the engine time (`python -m bench.flip_average`
  measures any weights file).
- Inference size {f.inference_size} (short side, reference resize rule): written into the file's
  metadata, used by the service unless `BGREMOVE_INFERENCE_SIZE` says otherwise. It is the size the
  whole-portrait batches were trained at; other sizes score lower (see the size sweep below).
- Alpha levels {f.alpha_levels[0]}, {f.alpha_levels[1]} (metadata `alpha_levels`): where the network's
  output sits on sure background and sure foreground of the training photos (90th / 10th
  percentile); the service stretches them to exact 0 and 1, so cut-outs carry no faint ghost of
  the old background (`model/training/calibrate.py`). The tables below include the stretch.

## Validation ({f.val_photos} held-out photos with remove.bg masks)

Split: `model/training/val_split.txt`, chosen once by a hash of each photo's key and never trained
on. IoU of alpha ≥ 0.5 and mean absolute alpha error, both against the remove.bg masks (the only
labels not made by the teacher), photos at full size; means over photos.

{f.table}
{f.size_sweep}{categories}{SPEED_SECTION}
## Data, teacher and licences

{_sources_table()}

Labels (`model/training/soft_labels.py`, version 3): the teacher's soft alpha within a band of 3 % of the
short side around the person mask's boundary (remove.bg masks; face-parsing classes > 0), the mask beyond
twice that, linear in between; inside the mask the label is at least the mask ramped in over a fifth of
the band, so the teacher may soften an edge but not erase a limb. Hair photos: the teacher's alpha, raised
inside the hair mask the same way. Unlabelled photos: the teacher's alpha alone. Photos whose masks keep
large non-person objects are left out of training. Weights trained on these sets inherit their
research-only terms for the data; check them against your use.

## Training

- Weights: {f.source}; {_effort(f)}.
- Recipe: backbone from the ImageNet npz (its folded BatchNorm kept frozen); MODNet's three losses
  (semantic L2 on the blurred 1/16 matte, detail L1 in the trimap band, matte L1 + compositional);
  backgrounds swapped for other photos' background regions, gradients, textures and clutter; flips,
  zoomed crops and whole portraits at the service's input shape; colour jitter, blur, noise, JPEG
  and resampling artefacts; AdamW with warm-up and cosine decay; EMA of the weights, validated
  every few hundred steps, best kept; SOC self-supervised adaptation on the unlabelled photos,
  kept only when it improves validation. These weights: {f.soc_effect} (training-time validation:
  photos shrunk to the run's `val_short_side`, scored at its `val_size`).
- Commands (preset `{f.preset}`{", in order" if len(f.train_commands) > 1 else ""}):

{commands}

- Settings:

{config}

Reproduce the full run on a GPU: `{GPU_COMMAND}` (resumable: rerun the same command after an
interruption). Stages: `python -m model.training --help`.
"""
