"""Textual-inversion training on the bundled demo model, judged by what its images show.

The embedding "zorb" starts from the word "shape" and is trained on pictures of purple circles
on white: a made-up word the demo model has never read. Before training, "a zorb on a white
background" draws shapes of any colour (measured: purple 2/16 seeds, circle 0/16); after 100
steps (~7 s on one CPU thread) it draws purple circles on white (16/16), and its loss on one
fixed batch is 25 % lower.
"""

import csv
import random

import numpy as np
import pytest
from PIL import Image

from modules.networks import EmbeddingDatabase, read_embedding_file
from modules.processing import NullProgress, Txt2ImgParams, generate
from modules.processing.extra_networks import ExtraNetworks
from modules.training import TrainParams, create_embedding, train_embedding
from tests.helpers import fixed_batch_loss
from tools.shapes_dataset import Triple, classify, random_scene, render

CONCEPT = Triple("purple", "circle", "white")
PROMPT = "a zorb on a white background"
SEEDS = range(100, 116)
STEPS = 100


@pytest.fixture
def concept_dir(tmp_path):
    """16 pictures of the concept, and a template that names it the way the demo model reads."""
    rng = random.Random(0)
    folder = tmp_path / "concept"
    folder.mkdir()
    for index in range(16):
        Image.fromarray(render(random_scene(CONCEPT, rng))).save(folder / f"{index:02d}.png")
    templates = tmp_path / "textual_inversion_templates"
    templates.mkdir()
    (templates / "concept.txt").write_text("a [name]\na [name] on a white background\n", encoding="utf-8")
    return tmp_path


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


def test_training_teaches_the_demo_model_a_new_word(demo, concept_dir):
    model, settings, _ = demo
    data_dir, embeddings_dir = concept_dir, concept_dir / "embeddings"
    create_embedding("zorb", 2, "shape", model, embeddings_dir)
    initial = read_embedding_file(embeddings_dir / "zorb.pt").parts[""]
    before = readings(model, settings, data_dir, embeddings_dir)

    params = TrainParams(embedding_name="zorb", data_root="concept", learn_rate="0.05", batch_size=4, steps=STEPS,
                         training_width=64, training_height=64, template_filename="concept.txt",
                         save_embedding_every=50, create_image_every=50, seed=0)
    result = train_embedding(params, model, NullProgress(), embeddings=EmbeddingDatabase([embeddings_dir]),
                             data_dir=data_dir)
    after = readings(model, settings, data_dir, embeddings_dir)

    assert share(before, fg="purple") <= 0.25 and share(before, shape="circle") <= 0.25
    assert share(after, fg="purple") >= 0.75 and share(after, shape="circle") >= 0.75
    assert share(after, bg="white") >= 0.75
    # A1111's outputs, on the real model
    stored = read_embedding_file(embeddings_dir / "zorb.pt")
    # the per-step loss is dominated by the random timestep; on one fixed batch it falls
    concept_images = data_dir / "concept"
    assert fixed_batch_loss(model, concept_images, "zorb", PROMPT, [stored.parts[""]]) \
        < 0.9 * fixed_batch_loss(model, concept_images, "zorb", PROMPT, [initial])
    assert stored.step == STEPS and stored.sd_checkpoint == model.info.shorthash
    assert [p.name for p in result.snapshots] == ["zorb-50.pt", "zorb-100.pt"]
    assert [p.name for p in result.images if p.parent.name == "images"] == ["zorb-50.png", "zorb-100.png"]
    with open(result.log_dir / "textual_inversion_loss.csv", newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == list(range(1, STEPS + 1))
    last_preview = classify(np.asarray(Image.open(result.log_dir / "images" / "zorb-100.png").convert("RGB")))
    assert (last_preview.fg, last_preview.shape) == ("purple", "circle")
