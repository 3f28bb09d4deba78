"""The procedural training data of the shapes-demo model and the pixel classifier that scores it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tools.shapes_dataset import (
    CAPTION_KINDS,
    COLOURS,
    PALETTE,
    SHAPES,
    ShapeScene,
    Triple,
    all_triples,
    caption_for,
    classify,
    full_caption,
    random_scene,
    render,
    render_dataset,
    split_triples,
)


def test_render_paints_background_and_shape_in_their_palette_colours() -> None:
    image = render(ShapeScene("red", "square", "blue", (10, 20, 30)))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == PALETTE["blue"]
    assert tuple(image[63, 63]) == PALETTE["blue"]
    assert tuple(image[35, 25]) == PALETTE["red"]  # inside the box (rows 20..49, cols 10..39)
    assert tuple(image[35, 45]) == PALETTE["blue"]  # right of it


def test_triangle_points_up_and_circle_leaves_box_corners_empty() -> None:
    triangle = render(ShapeScene("white", "triangle", "black", (10, 10, 40)))
    assert tuple(triangle[11, 12]) == PALETTE["black"]  # top-left corner of its box is empty
    assert tuple(triangle[48, 12]) == PALETTE["white"]  # bottom-left is filled
    circle = render(ShapeScene("white", "circle", "black", (10, 10, 40)))
    assert tuple(circle[11, 11]) == PALETTE["black"]
    assert tuple(circle[30, 30]) == PALETTE["white"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"fg": "pink"}, "fg"),
        ({"bg": "teal"}, "bg"),
        ({"shape": "hexagon"}, "shape"),
        ({"bg": "red"}, "must differ"),
        ({"box": (40, 0, 30)}, "box"),
    ],
)
def test_scene_rejects_bad_fields_by_name(kwargs: dict, field: str) -> None:
    values = {"fg": "red", "shape": "circle", "bg": "blue", "box": (0, 0, 20)} | kwargs
    with pytest.raises(ValueError, match=field):
        ShapeScene(**values)


def test_captions_name_every_part_and_empty_caption_is_for_dropout() -> None:
    triple = Triple("green", "triangle", "yellow")
    assert full_caption(triple) == "a green triangle on a yellow background"
    assert caption_for(triple, "fg_shape") == "a green triangle"
    assert caption_for(triple, "shape") == "a triangle"
    assert caption_for(triple, "bg") == "on a yellow background"
    assert caption_for(triple, "empty") == ""
    assert abs(sum(w for _, w in CAPTION_KINDS) - 1.0) < 1e-9
    with pytest.raises(ValueError, match="kind"):
        caption_for(triple, "poem")


def test_held_out_triples_never_appear_in_training_captions() -> None:
    train, held = split_triples(seed=0, held_out=24)
    assert len(held) == 24 and len(train) + len(held) == len(all_triples())
    assert not set(train) & set(held)
    assert {t.shape for t in held} == set(SHAPES)
    train_full_captions = {caption_for(t, kind) for t in train for kind, _ in CAPTION_KINDS}
    assert not {full_caption(t) for t in held} & train_full_captions
    # Each held-out colour and shape word is still taught by other training triples.
    for t in held:
        assert any(u.fg == t.fg and u.shape == t.shape for u in train)
        assert any(u.bg == t.bg for u in train)
    assert split_triples(seed=0) == split_triples(seed=0)
    with pytest.raises(ValueError, match="held_out"):
        split_triples(held_out=0)


def test_render_dataset_is_deterministic_and_balanced() -> None:
    train, _ = split_triples()
    images_a, index_a = render_dataset(train, 2 * len(train), seed=7)
    images_b, index_b = render_dataset(train, 2 * len(train), seed=7)
    assert np.array_equal(images_a, images_b) and np.array_equal(index_a, index_b)
    assert np.all(np.bincount(index_a, minlength=len(train)) == 2)
    images_c, _ = render_dataset(train, 2 * len(train), seed=8)
    assert not np.array_equal(images_a, images_c)


def test_classifier_reads_back_every_rendered_scene() -> None:
    rng = random.Random(3)
    triples = all_triples()
    for _ in range(150):
        triple = rng.choice(triples)
        reading = classify(render(random_scene(triple, rng)))
        assert (reading.fg, reading.shape, reading.bg) == (triple.fg, triple.shape, triple.bg)


def test_classifier_tolerates_pixel_noise_and_blur() -> None:
    rng = random.Random(4)
    noise = np.random.default_rng(4)
    for triple in [Triple(fg, shape, bg) for fg, bg in [("red", "white"), ("orange", "purple"), ("black", "green")] for shape in SHAPES]:
        image = render(random_scene(triple, rng)).astype(np.float32)
        blurred = (image + np.roll(image, 1, axis=0) + np.roll(image, 1, axis=1)) / 3
        noisy = np.clip(blurred + noise.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        reading = classify(noisy)
        assert (reading.fg, reading.shape, reading.bg) == (triple.fg, triple.shape, triple.bg)


def test_classifier_reports_no_shape_on_a_plain_image_and_rejects_bad_arrays() -> None:
    plain = np.full((64, 64, 3), PALETTE["green"], dtype=np.uint8)
    reading = classify(plain)
    assert reading.bg == "green" and reading.fg is None and reading.shape is None
    with pytest.raises(ValueError, match="image"):
        classify(np.zeros((64, 64), dtype=np.uint8))


def test_palette_colours_are_far_apart() -> None:
    values = np.array([PALETTE[c] for c in COLOURS], dtype=float)
    distances = np.sqrt(((values[:, None] - values[None]) ** 2).sum(-1))
    assert distances[~np.eye(len(COLOURS), dtype=bool)].min() > 80
