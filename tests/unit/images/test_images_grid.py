"""image_grid (A1111's rows rule, cell k = image k) and grid annotations."""

import pytest
from PIL import Image, ImageChops

from modules.images import GridAnnotation, draw_grid_annotations, draw_prompt_matrix, grid_rows, image_grid

WHITE = (255, 255, 255)


def patterned(index: int, size=(24, 16)) -> Image.Image:
    """An image unlike every other index: a colour plus a diagonal stripe."""
    image = Image.new("RGB", size, (index * 37 % 256, index * 91 % 256, 200 - index))
    for i in range(min(size)):
        image.putpixel((i, i), (index, 255 - index, index * 3 % 256))
    return image


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


@pytest.mark.parametrize(
    ("count", "auto", "no_empty_spots"),
    [(1, 1, 1), (2, 1, 1), (3, 2, 1), (4, 2, 2), (5, 2, 1), (6, 2, 2), (7, 3, 1), (8, 3, 2), (9, 3, 3), (12, 3, 3), (16, 4, 4)],
)
def test_automatic_rows_rule(count, auto, no_empty_spots):
    assert grid_rows(count) == auto
    assert grid_rows(count, prevent_empty_spots=True) == no_empty_spots


def test_rows_options():
    assert grid_rows(8, n_rows=0, batch_size=4) == 4  # one row per batch
    assert grid_rows(8, n_rows=3) == 3
    assert grid_rows(2, n_rows=5) == 2  # never more rows than images
    with pytest.raises(ValueError):
        grid_rows(0)
    with pytest.raises(ValueError, match="rows"):
        grid_rows(4, n_rows=0, batch_size=0)


@pytest.mark.parametrize(("count", "rows", "size"), [(5, None, (72, 32)), (4, None, (48, 32)), (6, 1, (144, 16)), (3, 3, (24, 48))])
def test_grid_size(count, rows, size):
    assert image_grid([patterned(i) for i in range(count)], rows).size == size


def test_cell_k_equals_image_k_and_empty_cells_are_background():
    images = [patterned(i) for i in range(7)]
    grid = image_grid(images)  # 3 rows x 3 cols
    w, h = images[0].size
    for k, image in enumerate(images):
        x, y = k % 3 * w, k // 3 * h
        assert same(grid.crop((x, y, x + w, y + h)), image), k
    for k in (7, 8):
        x, y = k % 3 * w, k // 3 * h
        assert grid.crop((x, y, x + w, y + h)).getcolors() == [(w * h, WHITE)]


def test_smaller_images_are_centred_in_the_largest_cell():
    big, small = patterned(1, (20, 20)), patterned(2, (10, 6))
    grid = image_grid([big, small], rows=1, background="#000000")
    assert grid.size == (40, 20)
    assert same(grid.crop((25, 7, 35, 13)), small)
    assert grid.getpixel((20, 0)) == (0, 0, 0)


def test_grid_errors():
    with pytest.raises(ValueError):
        image_grid([])
    with pytest.raises(ValueError, match="rows"):
        image_grid([patterned(0)], rows=0)


def test_annotations_add_labels_and_keep_cells():
    w, h = 100, 80
    images = [patterned(i, (w, h)) for i in range(6)]
    grid = image_grid(images, rows=2)
    annotated = draw_grid_annotations(grid, w, h, ["Steps: 10", "Steps: 20", "Steps: 30"], ["CFG 5", "CFG 7"])
    pad_left = w * 3 // 4
    pad_top = annotated.height - grid.height
    assert annotated.width == grid.width + pad_left and pad_top > 0
    for k, image in enumerate(images):
        x, y = pad_left + k % 3 * w, pad_top + k // 3 * h
        assert same(annotated.crop((x, y, x + w, y + h)), image), k
    for col in range(3):  # some dark text above every column
        band = annotated.crop((pad_left + col * w, 0, pad_left + (col + 1) * w, pad_top)).convert("L")
        assert band.getextrema()[0] < 100, col
    for row in range(2):  # and left of every row
        band = annotated.crop((0, pad_top + row * h, pad_left, pad_top + (row + 1) * h)).convert("L")
        assert band.getextrema()[0] < 100, row


def test_annotations_without_row_labels_have_no_left_band_and_margins_separate_cells():
    w, h = 60, 40
    grid = image_grid([patterned(i, (w, h)) for i in range(2)], rows=1)
    annotated = draw_grid_annotations(grid, w, h, ["a", "b"], [""], margin=5)
    assert annotated.width == grid.width + 5
    pad_top = annotated.height - grid.height
    assert annotated.crop((w, pad_top, w + 5, pad_top + h)).getcolors() == [(5 * h, WHITE)]


def test_inactive_labels_are_grey_and_label_lists_are_not_mutated():
    w, h = 120, 60
    grid = image_grid([patterned(i, (w, h)) for i in range(2)], rows=1)
    labels = [[GridAnnotation("off", is_active=False)], [GridAnnotation("on")]]
    annotated = draw_grid_annotations(grid, w, h, labels, [""])
    pad_top = annotated.height - grid.height
    left = annotated.crop((0, 0, w, pad_top))
    right = annotated.crop((w, 0, 2 * w, pad_top))
    assert (153, 153, 153) in {c for _, c in left.getcolors(10000)}  # grey text and strike-through line
    assert left.convert("L").getextrema()[0] >= 150  # nothing darker than the inactive grey
    assert right.convert("L").getextrema()[0] < 100  # active text is black (anti-aliased)
    assert [len(x) for x in labels] == [1, 1] and labels[0][0].text == "off"


def test_label_count_must_match_grid():
    grid = image_grid([patterned(i) for i in range(4)], rows=2)
    with pytest.raises(ValueError, match="horizontal texts: 3; must be 2"):
        draw_grid_annotations(grid, 24, 16, ["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match="vertical texts: 1; must be 2"):
        draw_grid_annotations(grid, 24, 16, ["a", "b"], ["x"])


def test_prompt_matrix_labels_every_combination():
    w, h = 64, 64
    grid = image_grid([patterned(i, (w, h)) for i in range(4)], rows=2)
    annotated = draw_prompt_matrix(grid, w, h, ["base", "red", "blue"])
    assert annotated.size[0] == grid.width + w * 3 // 4 and annotated.size[1] > grid.height
