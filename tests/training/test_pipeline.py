"""The pipeline end to end at toy scale on a few real photos (CPU): labels, training that lowers
the loss, resuming, SOC, export that loads back. The tiny preset keeps it to seconds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from model.backbone_init import load_imagenet_backbone
from model.training.cli import main as cli_main
from model.training.config import PRESETS, TrainConfig
from model.training.data_sources import labelled_training_photos, load_split, soc_photos
from model.training.export import MAX_BYTES, export_weights, reproduce_commands, run_config
from model.training.paths import Locations
from model.training.soc import adapt
from model.training.stages import report
from model.training.torch_setup import new_network, param_groups, set_train_mode
from model.training.train_supervised import supervised_step, train_supervised, validate
from model.training.training_data import AugmentedPhotos, BatchPlan, to_source
from model.training.validation import load_val_photos
from model.weights import load_modnet, read_state_dict

TINY = PRESETS["tiny"].with_overrides(
    {"steps": "4", "val_every": "2", "soc_steps": "2", "soc_val_every": "1"}
)


def test_validation_photos_are_never_training_photos(mini_people: Locations) -> None:
    split = load_split(mini_people)
    items = list(labelled_training_photos(mini_people, split, log=False))
    trained = {item.photo.key for item in items}
    assert trained and not trained & {photo.key for photo in split.val}
    assert any(item.mask is None for item in items)  # unlabelled photos train on teacher labels


def test_soc_adds_the_labelled_training_scenes_only_on_request(mini_people: Locations) -> None:
    split = load_split(mini_people)
    plain = {photo.key for photo in soc_photos(split, with_labelled_scenes=False)}
    wider = {photo.key for photo in soc_photos(split, with_labelled_scenes=True)}
    assert plain == {"unlabeled/ai-face"}
    assert wider - plain == {photo.key for photo in split.train if photo.mask_path is not None}
    assert not wider & {photo.key for photo in split.val}


def test_loss_decreases_on_a_fixed_batch(mini_people: Locations) -> None:
    items = labelled_training_photos(mini_people, load_split(mini_people), log=False)
    sources = [to_source(item, 96) for item in items]
    keys = BatchPlan(sources, 4, 64, 64, 0.0, seed=0, start_step=0, end_step=1).plan(0)
    samples = [AugmentedPhotos(sources, seed=0)[key] for key in keys]
    images = torch.stack([image for image, _ in samples])
    alpha = torch.stack([a for _, a in samples])
    torch.manual_seed(0)
    net = new_network()
    load_imagenet_backbone(net, mini_people.backbone_npz)
    set_train_mode(net, freeze_backbone_bn=True)
    optimizer = torch.optim.AdamW(param_groups(net, 0.0), lr=2e-3)
    losses = [
        supervised_step(net, optimizer, images, alpha, TrainConfig(grad_clip=5.0)).total.item()
        for _ in range(12)
    ]
    assert min(losses[-3:]) < 0.7 * losses[0], losses


def test_train_resume_soc_export(
    mini_people: Locations, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loc = Locations(**{**vars(mini_people), "runs_dir": tmp_path / "runs"})
    run_dir = loc.run_dir(TINY.run)

    # A chunk whose time is up at once stops after one step and leaves a resumable checkpoint.
    first = train_supervised(TINY.with_overrides({"chunk_minutes": "1e-9"}), loc, log=lambda _: None)
    assert (first.step, first.finished) == (1, False)
    second = train_supervised(TINY, loc, log=lambda _: None)
    assert (second.step, second.finished) == (TINY.steps, True)
    assert torch.load(run_dir / "last.pt", weights_only=True)["step"] == TINY.steps
    validated = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in validated if r["stage"] == "val"] == [2, 4]  # none at the chunk cut
    assert second.best is not None and (run_dir / "best.pt").is_file()
    kept = {p.name: torch.load(p, weights_only=True)["step"] for p in (run_dir / "validated").iterdir()}
    assert kept == {"step_2.pt": 2, "step_4.pt": 4}  # every validated EMA, for full-size choosing

    soc = adapt(TINY, loc, log=lambda _: None)
    assert soc.step == TINY.soc_steps
    assert {p.name for p in (run_dir / "validated").glob("soc_step_*.pt")} == {
        "soc_step_1.pt",
        "soc_step_2.pt",
    }

    out = tmp_path / "weights" / "modnet_people.safetensors"
    assert export_weights(TINY, loc, 64, "test-1", force=True, out=out) == 0
    assert 0 < out.stat().st_size < MAX_BYTES
    _, info = load_modnet(out)
    assert (info.name, info.version) == ("modnet-people", "test-1")
    state, _ = read_state_dict(out)
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    # The shipped file never gets worse: the same checkpoint again does not beat it, so it is refused.
    assert export_weights(TINY, loc, 64, "test-2", force=False, out=out) == 1
    assert load_modnet(out)[1].version == "test-1"
    card = (out.parent / "MODEL_CARD.md").read_text()
    assert "| method |" in card and "GPL-3.0" in card and "do not reach the teacher yet" in card
    assert "inference size 64" in card and "inference size 96" in card  # the size sweep
    info = load_modnet(out)[1]
    assert info.inference_size == 64  # the size it was scored at ships with it
    assert info.alpha_levels is not None
    lo, hi = info.alpha_levels
    assert 0.0 <= lo < hi <= 1.0 and f"Alpha levels {lo}, {hi}" in card  # the fitted values, in both
    digest, name = (out.parent / "SHA256SUMS").read_text().split()
    assert name == out.name and digest == hashlib.sha256(out.read_bytes()).hexdigest()

    # A validated step picked by hand (the full-size report may rank it above best.pt): scored and
    # exported as shipped, named in the card.
    picked = run_dir / "validated" / "step_2.pt"
    assert report(TINY, loc, 0, None, False, 0, picked) == 0
    named = f"MODNet modnet-people-{TINY.run}/validated/step_2.pt (step_2.safetensors)"
    assert named in capsys.readouterr().out  # the picked file, not the preset's run
    other = tmp_path / "picked" / "modnet_people.safetensors"
    assert export_weights(TINY, loc, 64, None, force=True, out=other, picked=picked) == 0
    assert load_modnet(other)[1].version.endswith(f"{TINY.run}-step2")
    assert f"step 2 of {TINY.run} (EMA, step_2.pt)" in (other.parent / "MODEL_CARD.md").read_text()

    # Two weight files side by side: the reference's rows join the table and the photos listed are
    # the ones whose IoU moved between them (not the teacher's gaps).
    capsys.readouterr()
    assert report(TINY, loc, 0, other, False, 2, None, out) == 0
    printed = capsys.readouterr().out
    assert "| reference: MODNet modnet-people-test-1" in printed and "step2" in printed
    assert f"photos whose IoU moved most from {out}" in printed and "IoU reference / ours" in printed
    assert "trail the teacher" not in printed and "Teacher" not in printed


def test_hard_example_mining_redraws_at_each_validation_and_resumes_the_same_batches(
    mini_people: Locations, tmp_path: Path
) -> None:
    mining = TINY.with_overrides({"run": "tiny-hard", "hard_mining": "2", "steps": "5"})
    logs: dict[str, list[str]] = {"whole": [], "cut": []}
    finals = {}
    for name, chunks in (("whole", ["0"]), ("cut", ["1e-9", "1e-9", "0"])):
        loc = Locations(**{**vars(mini_people), "runs_dir": tmp_path / name})
        for minutes in chunks:  # a chunk of no time stops after one step: cuts at steps 1 and 2
            train_supervised(mining.with_overrides({"chunk_minutes": minutes}), loc, log=logs[name].append)
        finals[name] = torch.load(loc.run_dir(mining.run) / "last.pt", weights_only=True)
    mined = [line for line in logs["whole"] if line.startswith("hard examples")]
    assert len(mined) == 3  # at the start and the validations of steps 2 and 4, not at the last step
    boost = finals["whole"]["boost"]
    assert boost is not None and boost.max() > boost.min()  # the toy photos are not equally hard
    # Cut into chunks (the boost travels in the checkpoint) the run sees the same batches.
    assert torch.equal(finals["cut"]["boost"], boost)
    for key, value in finals["whole"]["model"].items():
        assert torch.allclose(finals["cut"]["model"][key], value, atol=1e-5), key


def test_second_phase_continues_another_run_and_the_card_lists_both(
    mini_people: Locations, tmp_path: Path
) -> None:
    loc = Locations(**{**vars(mini_people), "runs_dir": tmp_path / "runs"})
    quiet = lambda _: None  # noqa: E731
    train_supervised(TINY, loc, log=quiet)
    phase_two = TINY.with_overrides(
        {"run": "tiny-2", "continue_from": TINY.run, "steps": "6", "train_size": "96", "soc_steps": "3"}
    )
    outcome = train_supervised(phase_two, loc, log=quiet)
    assert (outcome.step, outcome.finished) == (6, True)
    records = [json.loads(line) for line in (loc.run_dir("tiny-2") / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["stage"] == "val"] == [6]  # picked up at step 4, not 0
    adapt(phase_two, loc, log=quiet)

    last = torch.load(loc.run_dir("tiny-2") / "last.pt", weights_only=True)
    cfg = run_config(loc.run_dir("tiny-2"), last)
    assert (cfg.continue_from, cfg.soc_steps) == (TINY.run, 3)  # SOC's own settings, not the preset's
    first, second = reproduce_commands(cfg, loc)
    assert first.startswith("python -m model.training train --preset tiny") and "continue_from" not in first
    assert "--run tiny-2" in second and "--set continue_from=tiny" in second and "--set soc_steps=3" in second

    phase_three = phase_two.with_overrides({"run": "tiny-3", "continue_from": "tiny-2", "steps": "7"})
    assert train_supervised(phase_three, loc, log=quiet).step == 7
    commands = reproduce_commands(phase_three, loc)
    assert [c.split()[3] for c in commands] == ["train", "train", "all"]  # every phase, in order
    assert "--run tiny-2" in commands[1] and "--set continue_from=tiny-2" in commands[2]


def test_continuing_a_missing_run_says_so(mini_people: Locations, tmp_path: Path) -> None:
    loc = Locations(**{**vars(mini_people), "runs_dir": tmp_path / "runs"})
    with pytest.raises(FileNotFoundError, match="continue_from"):
        train_supervised(TINY.with_overrides({"continue_from": "nope"}), loc, log=lambda _: None)


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["all", "--help"]])
def test_cli_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from model.training.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0 and "usage" in capsys.readouterr().out


def test_soc_starts_from_a_picked_checkpoint(mini_people: Locations, tmp_path: Path) -> None:
    loc = Locations(**{**vars(mini_people), "runs_dir": tmp_path / "runs"})
    train_supervised(TINY, loc, log=lambda _: None)
    run_dir = loc.run_dir(TINY.run)
    picked = torch.load(run_dir / "validated" / "step_2.pt", weights_only=True)
    best = torch.load(run_dir / "best.pt", weights_only=True)
    assert picked["scores"] != best["scores"]  # else this test could not tell them apart
    outcome = adapt(TINY, loc, log=lambda _: None, start=run_dir / "validated" / "step_2.pt")
    assert vars(outcome.before) == picked["scores"]
    # Its soc_last.pt belongs to that start: SOC from another one in the same run folder is refused.
    with pytest.raises(ValueError, match="continues SOC from"):
        adapt(TINY, loc, log=lambda _: None, start=run_dir / "validated" / "step_4.pt")
    # SOC in its own run folder (as the campaign runs it), one of its steps exported from the
    # supervised run: the card says it is SOC, from which start, and how to rebuild both.
    soc_cfg = TINY.with_overrides({"run": "tiny-soc"})
    adapt(soc_cfg, loc, log=lambda _: None, start=run_dir / "validated" / "step_4.pt")
    soc_step = loc.run_dir("tiny-soc") / "validated" / f"soc_step_{TINY.soc_steps}.pt"
    weights = tmp_path / "soc" / "modnet_people.safetensors"
    assert export_weights(TINY, loc, 64, None, force=True, out=weights, picked=soc_step) == 0
    card = (weights.parent / "MODEL_CARD.md").read_text()
    assert f"SOC step {TINY.soc_steps} of tiny-soc, started from step 4 of {TINY.run} (EMA" in card
    assert f"SOC step {TINY.soc_steps} of tiny-soc: training-time validation IoU" in card
    soc_command = f"soc --preset tiny --run tiny-soc --checkpoint {run_dir / 'validated' / 'step_4.pt'}"
    assert soc_command in card
    assert "python -m model.training train --preset tiny --set steps=4 --set val_every=2\n" in card
    assert "not kept" not in card


def test_a_soup_is_the_mean_of_its_checkpoints_and_exports_with_its_recipe(
    mini_people: Locations, tmp_path: Path
) -> None:
    loc = Locations(**{**vars(mini_people), "runs_dir": tmp_path / "runs"})
    train_supervised(TINY, loc, log=lambda _: None)
    run_dir = loc.run_dir(TINY.run)
    paths = [run_dir / "validated" / "step_2.pt", run_dir / "validated" / "step_4.pt"]
    out = run_dir / "soup.pt"
    assert cli_main(["soup", *map(str, paths), "--out", str(out)]) == 0
    a, b = (torch.load(p, weights_only=True)["ema"] for p in paths)
    mixed = torch.load(out, weights_only=True)
    name = next(k for k, v in a.items() if v.is_floating_point() and not torch.equal(v, b[k]))
    assert torch.allclose(mixed["ema"][name], (a[name] + b[name]) / 2)
    weights = tmp_path / "soup" / "modnet_people.safetensors"
    assert export_weights(TINY, loc, 64, None, force=True, out=weights, picked=out) == 0
    card = (weights.parent / "MODEL_CARD.md").read_text()
    assert f"Weights: the mean of steps 2 and 4 of {TINY.run} (EMA)" in card
    assert f"python -m model.training soup {paths[0]} {paths[1]} --out {out}" in card  # reproducible
    assert f"export --preset tiny --checkpoint {out}" in card
    with pytest.raises(ValueError, match="at least two"):
        cli_main(["soup", str(paths[0]), "--out", str(out)])
    # SOC from a soup, which was never validated: it scores the soup first, as validation does
    # (eval mode), and leaves the soup's BatchNorm statistics as they were.
    val_photos = load_val_photos(load_split(loc).val, TINY.val_short_side)
    net = new_network()
    net.load_state_dict(mixed["ema"])
    expected = validate(net.eval(), val_photos, TINY.val_size)
    outcome = adapt(TINY, loc, log=lambda _: None, start=out)
    assert outcome.step == TINY.soc_steps and outcome.before == expected
    # ... or from a weights file (the shipped one, without runs/): scored the same way.
    (run_dir / "soc_last.pt").unlink()  # else SOC refuses: that file continues the soup's SOC
    shipped, _ = load_modnet(weights)
    expected = validate(shipped.eval(), val_photos, TINY.val_size)
    assert adapt(TINY, loc, log=lambda _: None, start=weights).before == expected

    # A weights file as an ingredient (the shipped one, once runs/ is gone): its fp16 tensors join
    # the mean, and the card names it by version, since the shipped file is what the soup replaces.
    with_file = run_dir / "soup_with_file.pt"
    assert cli_main(["soup", str(weights), str(paths[1]), "--out", str(with_file)]) == 0
    from_file = shipped.state_dict()[name].float()
    assert not torch.equal(from_file, b[name])
    mixed = torch.load(with_file, weights_only=True)
    assert torch.allclose(mixed["ema"][name], (from_file + b[name]) / 2)
    assert mixed["step"] == 4 and mixed["config"] == torch.load(paths[1], weights_only=True)["config"]
    version = read_state_dict(weights)[1].version
    assert f"modnet_people.safetensors ({version}), validated/step_4.pt" in mixed["source"]
