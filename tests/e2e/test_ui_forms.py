"""The UI's Gradio-free conversions: form values -> params, infotext -> form values, editor
images -> init image and mask, batch folders, extension switches, progress text, page assets."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from modules.jobs import Job, JobProgress, JobStatus
from modules.options import OptionInfo
from modules.processing import Img2ImgParams, ParamsError, Txt2ImgParams, batch_folders
from modules.prompting import PromptStyle, StyleDatabase
from modules.sd_models.checkpoints import CheckpointInfo
from modules.ui import editor_images, img2img, job_progress, params_form, results, txt2img
from modules.ui.img2img_size import RESIZE_TO, SizeChoice
from modules.extensions import list_extensions, read_disabled, save_enabled
from modules.ui.page_assets import collect_assets
from modules.ui.settings import matches, option_value

INFOTEXT = ("a cat, oil painting\nNegative prompt: blurry\n"
            "Steps: 12, Sampler: DPM++ 2M Karras, CFG scale: 5.5, Seed: 42, Size: 512x768, Model hash: abc, "
            "Variation seed: 7, Variation seed strength: 0.25, Denoising strength: 0.4, Hires upscale: 1.5, "
            "Hires upscaler: Latent, Mask blur: 8, Mask mode: Inpaint not masked, Masked content: latent noise, "
            "Inpaint area: Only masked, Masked area padding: 16")


def test_form_values_become_validated_params_with_whole_numbers_as_ints():
    params = params_form.params_from_form(Txt2ImgParams, {"prompt": "cat", "steps": 12.0, "width": 64.0,
                                                          "height": 128, "cfg_scale": 5, "seed": -1.0})
    assert (params.steps, params.width, params.height, params.seed) == (12, 64, 128, -1)
    assert isinstance(params.steps, int) and isinstance(params.cfg_scale, float)


@pytest.mark.parametrize("values, field", [({"width": 500}, "width"), ({"steps": 2.5}, "steps"),
                                           ({"sampler_name": "Nope"}, "sampler_name")])
def test_bad_form_values_name_the_field(values, field):
    with pytest.raises(ParamsError) as error:
        params_form.params_from_form(Txt2ImgParams, values)
    assert error.value.field == field


def test_unknown_form_field_is_a_programming_error():
    with pytest.raises(ValueError, match="'mask' is not a Txt2ImgParams field"):
        params_form.params_from_form(Txt2ImgParams, {"mask": None})


def test_infotext_fills_txt2img_fields_and_splits_the_schedule_from_the_sampler():
    values = params_form.values_from_infotext(INFOTEXT, Txt2ImgParams)
    assert values["prompt"] == "a cat, oil painting" and values["negative_prompt"] == "blurry"
    assert (values["steps"], values["cfg_scale"], values["seed"]) == (12, 5.5, 42)
    assert (values["width"], values["height"]) == (512, 768)
    assert (values["sampler_name"], values["scheduler"]) == ("DPM++ 2M", "Karras")
    assert (values["subseed"], values["subseed_strength"]) == (7, 0.25)
    assert values["enable_hr"] is True and values["hr_scale"] == 1.5 and values["denoising_strength"] == 0.4
    assert "mask_blur" not in values  # img2img-only fields stay out


def test_infotext_fills_inpaint_fields():
    values = params_form.values_from_infotext(INFOTEXT, Img2ImgParams)
    assert values["mask_blur"] == 8 and values["inpainting_mask_invert"] == 1
    assert values["inpainting_fill"] == 2 and values["inpaint_full_res"] is True
    assert values["inpaint_full_res_padding"] == 16 and "enable_hr" not in values


def test_infotext_styles_are_peeled_off_the_prompts(tmp_path):
    styles = StyleDatabase(tmp_path / "styles.csv")
    styles.put(PromptStyle("painting", "oil painting", "blurry"))
    values = params_form.values_from_infotext(INFOTEXT, Txt2ImgParams, styles)
    assert values["styles"] == ["painting"]
    assert values["prompt"] == "a cat" and values["negative_prompt"] == ""


@pytest.fixture(scope="module")
def tabs(tmp_path_factory):
    """The txt2img and img2img tabs, built as the page builds them (no server, no browser), over
    a data dir that lists one checkpoint: (blocks, txt2img tab, img2img tab)."""
    import gradio as gr

    from modules.engine_state import EngineState
    from modules.ui.token_counter import TokenCounter
    from tests.helpers import make_args

    data = tmp_path_factory.mktemp("ui-forms")
    checkpoint = data / "models" / "Stable-diffusion" / "refiner.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"listed, never loaded")
    state = EngineState.create(make_args(data))
    counter = TokenCounter(state.models)
    with gr.Blocks() as blocks:
        t2i, i2i = txt2img.create_tab(state, counter), img2img.create_tab(state, counter)
    return blocks, t2i, i2i


def test_both_tabs_have_the_refiner_and_their_params_carry_it(tabs):
    _, t2i, i2i = tabs
    for tab in (t2i, i2i):
        checkpoint, switch_at = tab.fields["refiner_checkpoint"], tab.fields["refiner_switch_at"]
        assert (checkpoint.elem_id, switch_at.elem_id) == (f"{tab.row.tab}_refiner_checkpoint",
                                                           f"{tab.row.tab}_refiner_switch_at")
        assert [value for _, value in checkpoint.choices] == ["None", "refiner.safetensors"]
    refiner = {"prompt": "a cat", "steps": 3, "refiner_checkpoint": "refiner.safetensors", "refiner_switch_at": 0.6}
    image = {"image": Image.new("RGB", (64, 64))}
    for off in (False, True):
        form = dict(refiner, refiner_checkpoint=params_form.NO_REFINER) if off else refiner
        expected = (None, None) if off else ("refiner.safetensors", 0.6)
        i2i_params = img2img.build_params("img2img", form, image, SizeChoice(RESIZE_TO, 1.0))
        for params in (txt2img.build_params(form), i2i_params):
            assert (params.refiner_checkpoint, params.refiner_switch_at) == expected


def test_infotext_refiner_fills_both_tabs_and_an_infotext_without_one_turns_it_off():
    with_refiner = INFOTEXT + ", Refiner: refiner [0123456789], Refiner switch at: 0.6"
    for cls in (Txt2ImgParams, Img2ImgParams):
        values = params_form.values_from_infotext(with_refiner, cls)
        assert (values["refiner_checkpoint"], values["refiner_switch_at"]) == ("refiner [0123456789]", 0.6)
        values = params_form.values_from_infotext(INFOTEXT, cls)
        assert values["refiner_checkpoint"] == params_form.NO_REFINER and "refiner_switch_at" not in values


def _checkpoint(name: str, sha256: str | None) -> CheckpointInfo:
    return CheckpointInfo(Path("/models") / name, name, sha256=sha256)


def test_an_infotext_refiner_name_finds_the_listed_checkpoint():
    listed = [_checkpoint("sub/xl-refiner.safetensors", "abcdef0123" + "0" * 54),
              _checkpoint("plain.ckpt", None)]
    title = params_form.checkpoint_title
    assert title("xl-refiner [abcdef0123]", listed) == "sub/xl-refiner.safetensors [abcdef0123]"
    assert title("renamed [abcdef0123]", listed) == "sub/xl-refiner.safetensors [abcdef0123]"  # by hash
    assert title("plain [9999999999]", listed) == "plain.ckpt"  # not hashed yet: by name
    assert title("sub/xl-refiner.safetensors [abcdef0123]", listed) == "sub/xl-refiner.safetensors [abcdef0123]"
    for unknown in ("gone [9999999999]", "None", "", None):
        assert title(unknown, listed) == params_form.NO_REFINER


def test_the_refiner_dropdown_shows_the_checkpoint_a_pasted_infotext_names(tabs):
    blocks, _, i2i = tabs
    dropdown = i2i.fields["refiner_checkpoint"]
    [resolve] = [f.fn for f in blocks.fns.values() if dropdown in f.inputs and dropdown in f.outputs]
    assert resolve("refiner [0123456789]") == "refiner.safetensors"
    assert resolve("refiner.safetensors") == "refiner.safetensors"
    assert resolve("gone [0123456789]") == params_form.NO_REFINER


def test_plain_prompt_is_not_taken_for_an_infotext():
    assert not params_form.has_parameters("a cat, oil painting")
    assert params_form.has_parameters(INFOTEXT)


def _layer(size, box):
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 255, 255, 128), box)
    return layer


def test_inpaint_mask_is_where_the_brush_went_on_the_background():
    background = Image.new("RGBA", (32, 16), (10, 20, 30, 255))
    editor = {"background": background, "layers": [_layer((32, 16), (4, 2, 8, 6))], "composite": background}
    init, mask = editor_images.init_and_mask("inpaint", {"inpaint": editor})
    assert init.mode == "RGB" and init.getpixel((0, 0)) == (10, 20, 30)
    assert mask.mode == "L" and mask.getbbox() == (4, 2, 8, 6) and mask.getpixel((5, 3)) == 255


def test_inpaint_without_paint_or_image_says_what_to_do():
    background = Image.new("RGBA", (8, 8))
    with pytest.raises(ParamsError, match="paint the area"):
        editor_images.init_and_mask("inpaint", {"inpaint": {"background": background, "layers": []}})
    with pytest.raises(ParamsError, match="upload an image first"):
        editor_images.init_and_mask("sketch", {"sketch": None})
    with pytest.raises(ParamsError, match="both an image and a mask"):
        editor_images.init_and_mask("inpaint_upload", {"inpaint_base": background})


def test_sketch_uses_the_composite_and_transparency_turns_white():
    composite = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    composite.putpixel((1, 1), (255, 0, 0, 255))
    init, mask = editor_images.init_and_mask("sketch", {"sketch": {"composite": composite}})
    assert mask is None and init.getpixel((1, 1)) == (255, 0, 0) and init.getpixel((0, 0)) == (255, 255, 255)


def test_uploaded_mask_is_resized_to_the_image():
    base = Image.new("RGB", (16, 16))
    mask = Image.new("L", (8, 8), 0)
    mask.paste(255, (0, 0, 4, 4))
    _, result = editor_images.init_and_mask("inpaint_upload", {"inpaint_base": base, "inpaint_mask": mask})
    assert result.size == (16, 16) and result.getbbox() == (0, 0, 8, 8)


def test_batch_folder_masks_by_name_and_output_names(tmp_path):
    inputs, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    inputs.mkdir(), masks.mkdir()
    for name in ("b.png", "a.jpg", "notes.txt"):
        (inputs / name).write_bytes(b"x")
    (masks / "b.webp").write_bytes(b"x")
    files = batch_folders.batch_inputs(str(inputs))
    assert [f.name for f in files] == ["a.jpg", "b.png"]
    assert batch_folders.find_mask(masks, files[0]) is None
    assert batch_folders.find_mask(masks, files[1]) == masks / "b.webp"
    job_files = [tmp_path / "00.png", tmp_path / "01.png"]
    for index, path in enumerate(job_files):
        path.write_bytes(bytes([index]))
    copied = batch_folders.copy_results([str(p) for p in job_files], files[1], batch_folders.output_folder(str(out)))
    assert copied == [str(out / "b.png"), str(out / "b-1.png")] and (out / "b-1.png").read_bytes() == b"\x01"
    with pytest.raises(ParamsError, match="input directory: .* is not a folder"):
        batch_folders.batch_inputs(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParamsError, match="no images"):
        batch_folders.batch_inputs(str(tmp_path / "empty"))


def test_extension_switches_persist_and_survive_a_removed_folder(tmp_path):
    extensions = tmp_path / "extensions"
    for name in ("beta", "Alpha", ".hidden"):
        (extensions / name / "javascript").mkdir(parents=True)
    assert [(e.name, e.enabled) for e in list_extensions(extensions, tmp_path)] == [("Alpha", True), ("beta", True)]
    assert save_enabled(extensions, tmp_path, ["Alpha"]) == ["beta"]
    assert json.loads((tmp_path / "extensions-state.json").read_text()) == {"disabled_extensions": ["beta"]}
    assert [(e.name, e.enabled) for e in list_extensions(extensions, tmp_path)] == [("Alpha", True), ("beta", False)]
    (extensions / "beta" / "javascript").rmdir(), (extensions / "beta").rmdir()
    save_enabled(extensions, tmp_path, ["Alpha"])
    assert read_disabled(tmp_path) == ["beta"]  # a re-install keeps the choice
    with pytest.raises(ValueError, match="'gamma' is not installed"):
        save_enabled(extensions, tmp_path, ["gamma"])


def test_page_assets_run_core_script_first_and_skip_disabled_extensions(tmp_path):
    javascript = tmp_path / "javascript"
    javascript.mkdir()
    (javascript / "a.js").write_text("var a = 1;")
    (javascript / "easel.js").write_text("var core = 1;")
    extensions = tmp_path / "extensions"
    for name in ("on", "off"):
        (extensions / name / "javascript").mkdir(parents=True)
        (extensions / name / "javascript" / "x.js").write_text(f"var {name} = 1;")
        (extensions / name / "style.css").write_text(f".{name} {{}}")
    (tmp_path / "user.css").write_text(".user {}")
    save_enabled(extensions, tmp_path, ["on"])
    assets = collect_assets(javascript, tmp_path, list_extensions(extensions, tmp_path))
    assert [name for name, _ in assets.scripts] == ["easel.js", "a.js", "on/x.js"]
    assert [name for name, _ in assets.styles] == ["easel", "on/style.css", "user.css"]
    assert assets.load_js().startswith("() => {") and "var on = 1;" in assets.load_js()


def _job(status, progress=None, result=None, error=None):
    return Job("id1", "ui:x", "txt2img", {}, status, 1, progress=progress or JobProgress(), result=result, error=error,
               started_at=10.0, finished_at=12.5)


def test_progress_text_and_outcome_messages():
    running = _job(JobStatus.RUNNING, JobProgress(job_no=1, job_count=2, sampling_step=5, sampling_steps=20,
                                                  fraction=0.625, eta_relative=75))
    assert job_progress.progress_text(running) == "image 2/2, step 5/20, 62%, ETA 1m 15s"
    assert 'width:62.5%' in job_progress.progress_html(running, "a.png")
    assert job_progress.progress_text(_job(JobStatus.QUEUED)) == "Waiting in the queue…"
    failed = _job(JobStatus.FAILED, error="ParamsError: width: must be a multiple of 8")
    assert job_progress.finished_message(failed) == "Generation failed: ParamsError: width: must be a multiple of 8"
    done = _job(JobStatus.DONE, result={"images": ["/x/00.png"], "infotexts": ["cat"]})
    assert job_progress.finished_message(done) is None and job_progress.job_seconds(done) == 2.5
    assert job_progress.finished_message(_job(JobStatus.INTERRUPTED, result={"images": []})).startswith("Interrupted")
    assert "&lt;b&gt;" in job_progress.error_html("<b>")


def test_setting_values_are_converted_to_the_option_type_and_searchable():
    quality = OptionInfo("jpeg_quality", 80, "Quality for saved jpeg images", "Saving", "slider",
                         minimum=1, maximum=100)
    assert option_value(quality, 65.0) == 65 and isinstance(option_value(quality, 65.0), int)
    assert option_value(OptionInfo("pattern", "", "Pattern", "Saving"), None) == ""
    assert matches(quality, "JPEG") and matches(quality, "saving") and not matches(quality, "vae")


def test_network_card_click_toggles_its_syntax_in_the_prompt():
    from modules.ui.network_cards import toggle_in_prompt

    assert toggle_in_prompt("a cat", "<lora:style:1>") == "a cat, <lora:style:1>"
    assert toggle_in_prompt("a cat, <lora:style:0.6>", "<lora:style:1>") == "a cat"
    assert toggle_in_prompt("", "badhands") == "badhands"
    assert toggle_in_prompt("catalog,", "cat") == "catalog, cat"
    assert toggle_in_prompt("catalog, cat", "cat") == "catalog"


def test_network_cards_find_previews_beside_the_files(tmp_path):
    from modules.networks import EmbeddingDatabase, LoraLibrary
    from modules.ui.network_cards import embedding_cards, lora_cards

    (tmp_path / "Lora" / "sub").mkdir(parents=True)
    (tmp_path / "Lora" / "sub" / "b.safetensors").write_bytes(b"x")
    (tmp_path / "Lora" / "sub" / "b.preview.jpg").write_bytes(b"x")
    (tmp_path / "Lora" / "a.pt").write_bytes(b"x")
    cards = lora_cards(LoraLibrary([tmp_path / "Lora"]))
    assert [(c.name, c.prompt_text, c.preview and c.preview.name) for c in cards] == [
        ("a", "<lora:a:1>", None), ("b", "<lora:b:1>", "b.preview.jpg")]
    (tmp_path / "emb").mkdir()
    for name in ("word.pt", "word.png", "inpng.png", "other.preview.png"):
        (tmp_path / "emb" / name).write_bytes(b"x")
    cards = embedding_cards(EmbeddingDatabase([tmp_path / "emb"]), model=None)  # no model: every file
    assert [(c.name, c.preview and c.preview.name) for c in cards] == [("inpng", None), ("word", "word.png")]


class _Widget:  # the attributes ui_config reads from a Gradio component
    def __init__(self, label, value, choices=None):
        self.label, self.value, self.choices = label, value, choices


class Slider(_Widget):
    def __init__(self, label, value, minimum, maximum, step):
        super().__init__(label, value)
        self.minimum, self.maximum, self.step = minimum, maximum, step


def test_ui_config_applies_stored_defaults_and_records_missing_ones(tmp_path):
    from modules.ui.ui_config import apply_ui_config

    path = tmp_path / "ui-config.json"
    path.write_text(json.dumps({"txt2img/Sampling steps/value": 30, "txt2img/Sampling steps/maximum": 200,
                                "txt2img/Sampling method/value": "No such sampler"}))
    steps = Slider("Sampling steps", 20, 1, 150, 1)
    sampler = _Widget("Sampling method", "Euler", choices=["Euler", "DDIM"])
    prompt = _Widget("Prompt", "")
    assert apply_ui_config(path, "txt2img", [steps, sampler, prompt]) == 2
    assert (steps.value, steps.maximum, sampler.value) == (30, 200, "Euler")  # the unknown sampler is ignored
    stored = json.loads(path.read_text())
    assert stored["txt2img/Prompt/value"] == "" and stored["txt2img/Sampling steps/minimum"] == 1
    assert stored["txt2img/Sampling method/value"] == "No such sampler"  # the user's text is left alone


def test_save_offers_saved_files_only_when_every_image_was_saved(tmp_path):
    images, saved = ["jobs/1/00.png", "jobs/1/01.png"], ["out/00001-7.jpg", "out/00002-8.jpg"]
    assert results.download_files({"images": images, "saved": saved}) == saved
    assert results.download_files({"images": images, "saved": saved[:1]}) == images  # e.g. a grid-only save
    assert results.download_files({"images": images}) == images and results.download_files({}) == []


def test_zip_keeps_file_names_and_numbers_a_clash(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"first")
    (tmp_path / "b" / "x.png").write_bytes(b"second")
    archive = results.zip_files([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")], tmp_path)
    with zipfile.ZipFile(archive) as opened:
        assert {name: opened.read(name) for name in opened.namelist()} == {"x.png": b"first",
                                                                          "00001-x.png": b"second"}
