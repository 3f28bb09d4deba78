"""Textual-inversion training on the bundled demo model, judged by what its images show.

The embedding "zorb" starts from the word "shape" and is trained on pictures of purple circles
on white: a made-up word the demo model has never read. Before training, "a zorb on a white
background" draws shapes of any colour (measured: purple 2/16 seeds, circle 0/16); after 100
steps (~7 s on one CPU thread) it draws purple circles on white (16/16), and its loss on one
fixed batch is 25 % lower. The 100-step run is done once; the resume and interrupt tests
continue copies of it for a few steps.
"""

import csv
import random
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from modules.networks import EmbeddingDatabase, read_embedding_file
from modules.processing import NullProgress, Txt2ImgParams, generate
from modules.processing.extra_networks import ExtraNetworks
from modules.sd_models.safe_load import load_pickle_tree
from modules.training import TrainParams, create_embedding, train_embedding, vectors_checksum
from tests.helpers import InterruptAfter, fixed_batch_loss
from tools.shapes_dataset import Triple, classify, random_scene, render

CONCEPT = Triple("purple", "circle", "white")
PROMPT = "a zorb on a white background"
SEEDS = range(100, 116)
STEPS = 100


def make_concept_dir(data_dir):
    """16 pictures of the concept, and a template that names it the way the demo model reads."""
    rng = random.Random(0)
    folder = data_dir / "concept"
    folder.mkdir()
    for index in range(16):
        Image.fromarray(render(random_scene(CONCEPT, rng))).save(folder / f"{index:02d}.png")
    templates = data_dir / "textual_inversion_templates"
    templates.mkdir()
    (templates / "concept.txt").write_text("a [name]\na [name] on a white background\n", encoding="utf-8")


def train(model, data_dir, steps, ctx=None, learn_rate="0.05"):
    params = TrainParams(embedding_name="zorb", data_root="concept", learn_rate=learn_rate, batch_size=4, steps=steps,
                         training_width=64, training_height=64, template_filename="concept.txt",
                         save_embedding_every=50, create_image_every=50, seed=0)
    return train_embedding(params, model, ctx or NullProgress(),
                           embeddings=EmbeddingDatabase([data_dir / "embeddings"]), data_dir=data_dir)


@pytest.fixture(scope="module")
def first_run(demo, tmp_path_factory):
    """"zorb" trained STEPS steps from "shape", with the demo model's readings before and after."""
    model, settings, _ = demo
    data_dir = tmp_path_factory.mktemp("demo-training")
    make_concept_dir(data_dir)
    embeddings_dir = data_dir / "embeddings"
    create_embedding("zorb", 2, "shape", model, embeddings_dir)
    initial = read_embedding_file(embeddings_dir / "zorb.pt").parts[""]
    before = readings(model, settings, data_dir, embeddings_dir)
    # the same seeded run with a negligible rate: the untrained loss on the very same noise and timesteps
    untrained_dir = tmp_path_factory.mktemp("demo-untrained")
    shutil.copytree(data_dir, untrained_dir, dirs_exist_ok=True)
    untrained = train(model, untrained_dir, STEPS, learn_rate="1e-12")
    result = train(model, data_dir, STEPS)
    after = readings(model, settings, data_dir, embeddings_dir)
    return SimpleNamespace(data_dir=data_dir, initial=initial, before=before, after=after, result=result,
                           untrained=untrained)


@pytest.fixture
def continued(first_run, tmp_path):
    """A copy of the first run's data dir (embedding, .optim, loss log) to train further."""
    data_dir = tmp_path / "data"
    shutil.copytree(first_run.data_dir, data_dir)
    return data_dir, data_dir / first_run.result.log_dir.relative_to(first_run.data_dir)


def loss_rows(log_dir):
    with open(log_dir / "textual_inversion_loss.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def adam_steps(embedding_file):
    """The step count AdamW keeps for the vectors, from the optimizer state saved beside them."""
    [state] = load_pickle_tree(embedding_file.with_name(embedding_file.name + ".optim"))["optimizer_state_dict"][
        "state"].values()
    return int(state["step"])


def readings(model, settings, data_dir, embeddings_dir):
    networks = ExtraNetworks(embeddings=EmbeddingDatabase([embeddings_dir]))
    found = []
    for seed in SEEDS:
        params = Txt2ImgParams(prompt=PROMPT, seed=seed, steps=20, width=64, height=64, sampler_name="Euler a",
                               cfg_scale=7, do_not_save_samples=True, do_not_save_grid=True)
        image = generate(params, model, settings, data_dir, extra_networks=networks).images[0]
        found.append(classify(np.asarray(image)))
    return found


def share(found, **wanted):
    return sum(all(getattr(r, key) == value for key, value in wanted.items()) for r in found) / len(found)


def test_training_teaches_the_demo_model_a_new_word(demo, first_run):
    model = demo[0]
    data_dir, result, before, after = first_run.data_dir, first_run.result, first_run.before, first_run.after
    assert share(before, fg="purple") <= 0.25 and share(before, shape="circle") <= 0.25
    assert share(after, fg="purple") >= 0.75 and share(after, shape="circle") >= 0.75
    assert share(after, bg="white") >= 0.75
    # A1111's outputs, on the real model
    stored = read_embedding_file(data_dir / "embeddings" / "zorb.pt")
    # the per-step loss is dominated by the random timestep; on one fixed batch it falls
    concept_images = data_dir / "concept"
    assert fixed_batch_loss(model, concept_images, "zorb", PROMPT, [stored.parts[""]]) \
        < 0.9 * fixed_batch_loss(model, concept_images, "zorb", PROMPT, [first_run.initial])
    assert stored.step == STEPS and stored.sd_checkpoint == model.info.shorthash
    assert adam_steps(data_dir / "embeddings" / "zorb.pt") == STEPS
    assert [p.name for p in result.snapshots] == ["zorb-50.pt", "zorb-100.pt"]
    assert [p.name for p in result.images if p.parent.name == "images"] == ["zorb-50.png", "zorb-100.png"]
    rows = loss_rows(result.log_dir)
    assert [int(row["step"]) for row in rows] == list(range(1, STEPS + 1))
    # the logged loss swings with each step's random timestep; against the untrained embedding on
    # the same noise and timesteps it is lower in most steps of the last half
    losses = [float(row["loss"]) for row in rows]
    assert losses == pytest.approx(result.losses, abs=1e-6)
    half = STEPS // 2
    paired = list(zip(losses[half:], first_run.untrained.losses[half:]))
    assert sum(trained < untrained for trained, untrained in paired) >= 0.8 * len(paired)  # measured: 48/50
    assert np.mean(losses[half:]) < np.mean(first_run.untrained.losses[half:])
    last_preview = classify(np.asarray(Image.open(result.log_dir / "images" / "zorb-100.png").convert("RGB")))
    assert (last_preview.fg, last_preview.shape) == ("purple", "circle")


def test_resume_on_the_demo_model_continues_step_count_loss_log_and_optimizer(demo, first_run, continued):
    data_dir, log_dir = continued
    earlier_rows = loss_rows(log_dir)
    result = train(demo[0], data_dir, STEPS + 6)
    assert (result.initial_step, result.step, [r.step for r in result.records]) == \
        (STEPS, STEPS + 6, list(range(STEPS + 1, STEPS + 7)))
    embedding = data_dir / "embeddings" / "zorb.pt"
    assert read_embedding_file(embedding).step == STEPS + 6
    rows = loss_rows(log_dir)
    assert rows[:STEPS] == earlier_rows and [int(row["step"]) for row in rows[STEPS:]] == list(
        range(STEPS + 1, STEPS + 7))
    # the saved AdamW state was loaded and stepped on: a fresh optimizer would count 6
    assert adam_steps(embedding) == STEPS + 6


def test_interrupt_on_the_demo_model_saves_embedding_and_optimizer_state(demo, continued):
    data_dir, log_dir = continued
    embedding = data_dir / "embeddings" / "zorb.pt"
    result = train(demo[0], data_dir, STEPS + 50, ctx=InterruptAfter(3))
    assert result.interrupted and result.step == STEPS + 3
    saved = read_embedding_file(embedding)
    assert saved.step == STEPS + 3 and adam_steps(embedding) == STEPS + 3
    # the .optim belongs to the saved vectors, so the next run picks it up
    assert load_pickle_tree(embedding.with_name("zorb.pt.optim"))["hash"] == vectors_checksum([saved.parts[""]])
    assert int(loss_rows(log_dir)[-1]["step"]) == STEPS + 3
