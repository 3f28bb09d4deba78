"""A1111's processing names as scripts use them, without a model (the demo-model runs are in
tests/integration/test_scripts_api.py)."""

import pytest
from PIL import Image

from modules import images, processing
from modules.images import read_infotext
from modules.processing import (Processed, StableDiffusionProcessingImg2Img, StableDiffusionProcessingTxt2Img,
                                fix_seed, process_images)


def test_lazy_names_come_from_the_facade_and_the_engine_never_imports_it():
    import subprocess
    import sys

    code = ("import sys, modules.processing, modules.generation_jobs, modules.engine_state; "
            "print('modules.a1111_processing' in sys.modules, 'modules.scripts' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert processing.process_images is process_images
    with pytest.raises(AttributeError):
        processing.no_such_name  # noqa: B018


def test_p_has_a1111_attributes_and_round_trips_to_params():
    p = StableDiffusionProcessingTxt2Img(prompt="a cat", steps=7, width=64, height=64, outpath_samples="x",
                                         sampler_index="Euler a")
    assert (p.steps, p.sampler_name, p.outpath_samples, p.extra_generation_params) == (7, "Euler a", "x", {})
    assert p.all_prompts is None and p.enable_hr is False
    params = p.to_params("a cat", "", 1, 2)
    assert (params.kind, params.steps, params.seed, params.subseed) == ("txt2img", 7, 1, 2)
    p.steps = 0
    with pytest.raises(processing.ParamsError, match="steps"):
        p.to_params("a cat", "", 1, 2)
    with pytest.raises(TypeError, match="no_such_argument"):
        StableDiffusionProcessingTxt2Img(no_such_argument=1)


def test_img2img_p_calls_the_mask_image_mask():
    mask = Image.new("L", (8, 8), 255)
    p = StableDiffusionProcessingImg2Img(init_images=[Image.new("RGB", (8, 8))], mask=mask)
    assert p.image_mask is mask
    p.image_mask = None
    assert p.mask is None


def test_fix_seed_makes_random_seeds_concrete_and_keeps_given_ones():
    p = StableDiffusionProcessingTxt2Img(seed=-1, subseed="12")
    fix_seed(p)
    assert 0 <= p.seed < 2**32 and p.subseed == 12
    p.seed = [3, 4]
    fix_seed(p)
    assert p.seed == [3, 4]


def test_processed_as_scripts_build_it():
    p = StableDiffusionProcessingTxt2Img(prompt=["first", "second"], seed=[5, 6], width=64, height=64)
    grid = Image.new("RGB", (4, 4))
    processed = Processed(p, [grid], 5, "the info", index_of_first_image=1)
    assert (processed.prompt, processed.seed, processed.infotexts) == ("first", 5, ["the info"])
    assert processed.js_dict()["index_of_first_image"] == 1 and '"seed": 5' in processed.js()


def test_process_images_outside_a_job_says_so():
    with pytest.raises(RuntimeError, match="inside a generation job"):
        process_images(StableDiffusionProcessingTxt2Img())


def test_images_save_image_takes_a1111s_arguments(tmp_path):
    image = Image.new("RGB", (8, 8), (255, 0, 0))
    fullfn, txt = images.save_image(image, tmp_path, "xyz_grid", 5, "a prompt", "png", info="Steps: 3", grid=True,
                                    p=StableDiffusionProcessingTxt2Img())
    assert fullfn.endswith(".png") and txt is None
    assert read_infotext(Image.open(fullfn))[0] == "Steps: 3"
