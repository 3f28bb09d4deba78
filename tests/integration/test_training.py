"""Textual-inversion training on the tiny random SD1 model: create, train, resume, interrupt, API."""

import csv
import random

import pytest
import torch
from PIL import Image, ImageDraw

from modules import sampling
from modules.images.image_folders import find_images
from modules.networks import EmbeddingDatabase, read_embedding_file
from modules.sd_models.safe_load import load_pickle_tree
from modules.processing import NullProgress, ParamsError
from modules.training import (
    TRAIN_JOB_KIND,
    TrainParams,
    create_embedding,
    parse_schedule,
    prompt_text,
    train_embedding,
    vectors_checksum,
)
from modules.training import dataset as ds
from modules.training import trainer as trainer_module
from modules.training.loss import clip_gradient, target_for
from modules.training.previews import preview_params
from tests.helpers import InterruptAfter, api_client, fixed_batch_loss

PROMPT = "a photo of a purp"


@pytest.fixture(scope="module")
def sd1(tiny_models):
    return tiny_models("sd1")


@pytest.fixture
def images_dir(tmp_path):
    """Two purple circles on dark ground; one captioned by a .txt, one by its file name."""
    folder = tmp_path / "data"
    folder.mkdir()
    for index, colour in enumerate([(200, 40, 200), (150, 30, 220)]):
        image = Image.new("RGB", (64, 64), (20, 20, 20))
        ImageDraw.Draw(image).ellipse((12, 12, 52, 52), fill=colour)
        image.save(folder / f"{index:03d}-purple circle.png")
    (folder / "000-purple circle.txt").write_text("purple, circle, dark background", encoding="utf-8")
    return folder


def shapes_of_sizes(folder, sizes):
    """A folder of purple circles, one per (width, height)."""
    folder.mkdir()
    for index, (width, height) in enumerate(sizes):
        image = Image.new("RGB", (width, height), (20, 20, 20))
        ImageDraw.Draw(image).ellipse((width // 5, height // 5, width * 4 // 5, height * 4 // 5), fill=(200, 40, 200))
        image.save(folder / f"{index:03d}-purple circle.png")
    return folder


@pytest.fixture
def embeddings_dir(tmp_path):
    return tmp_path / "embeddings"


MINIMAL_TRAIN = {"embedding_name": "purp", "data_root": "images"}


def params(**changes):
    base = dict(embedding_name="purp", data_root="data", learn_rate="0.05", steps=10, batch_size=2,
                training_width=64, training_height=64, save_embedding_every=0, create_image_every=0,
                template_filename="subject_filewords.txt", seed=0)
    return TrainParams(**{**base, **changes})


def train(model, tmp_path, embeddings_dir, ctx=None, **changes):
    return train_embedding(params(**changes), model, ctx or NullProgress(),
                           embeddings=EmbeddingDatabase([embeddings_dir]), data_dir=tmp_path)


def stored(path):
    return read_embedding_file(path)


# --- create ------------------------------------------------------------------------------------

def test_created_embedding_is_a1111_pt_and_loads_with_its_vector_count(sd1, embeddings_dir):
    path = create_embedding("purp", 3, "circle", sd1, embeddings_dir)
    assert path == embeddings_dir / "purp.pt"
    tree = load_pickle_tree(path)
    assert tree["string_to_token"] == {"*": 265} and tree["name"] == "purp" and tree["step"] == 0
    loaded = EmbeddingDatabase([embeddings_dir]).load(sd1)
    assert loaded.api_dict()["loaded"]["purp"]["vectors"] == 3
    # "circle" is one token: every vector starts as that token's row of the embedding table
    [token] = sd1.tokenizers[0]("circle", add_special_tokens=False)["input_ids"]
    row = sd1.text_encoders[0].get_input_embeddings().weight[token]
    assert all(torch.equal(v, row) for v in loaded.loaded["purp"].vectors[0])


def test_init_text_is_spread_over_the_vectors_and_empty_text_gives_zeros(sd1, embeddings_dir):
    ids = sd1.tokenizers[0]("purple circle", add_special_tokens=False)["input_ids"]
    table = sd1.text_encoders[0].get_input_embeddings().weight
    vectors = stored(create_embedding("two", 4, "purple circle", sd1, embeddings_dir)).parts[""]
    assert len(ids) == 2 and [torch.equal(vectors[i], table[ids[i // 2]]) for i in range(4)] == [True] * 4
    assert not stored(create_embedding("zero", 2, "", sd1, embeddings_dir)).parts[""].any()


def test_create_refuses_existing_and_bad_names_naming_the_field(sd1, embeddings_dir):
    create_embedding("purp", 1, "circle", sd1, embeddings_dir)
    with pytest.raises(ParamsError, match="already exists") as error:
        create_embedding("purp", 1, "square", sd1, embeddings_dir)
    assert error.value.field == "name"
    create_embedding("purp", 2, "square", sd1, embeddings_dir, overwrite=True)
    assert stored(embeddings_dir / "purp.pt").vector_count == 2
    for bad in ("", "../up", "a/b", ".hidden", "trailing "):
        with pytest.raises(ParamsError) as error:
            create_embedding(bad, 1, "x", sd1, embeddings_dir)
        assert error.value.field == "name"
    for count in (0, 76, 1.5):
        with pytest.raises(ParamsError) as error:
            create_embedding("ok", count, "x", sd1, embeddings_dir)
        assert error.value.field == "num_vectors_per_token"
    assert sorted(p.name for p in embeddings_dir.iterdir()) == ["purp.pt"]


# --- learning-rate schedule, prompts, targets ----------------------------------------------------

def test_learn_rate_schedule_follows_a1111_syntax():
    schedule = parse_schedule("0.005:100, 1e-3:1000, 1e-5")
    assert [(p.rate, p.end_step) for p in schedule.phases] == [(0.005, 100), (1e-3, 1000), (1e-5, None)]
    assert [schedule.rate_at(s) for s in (0, 99, 100, 999, 1000, 10**6)] == [0.005, 0.005, 1e-3, 1e-3, 1e-5, 1e-5]
    assert schedule.end_step(500) == 500
    ends = parse_schedule("0.01:10, 0.001:20")
    assert ends.rate_at(19) == 0.001 and ends.rate_at(20) is None and ends.end_step(100) == 20
    assert parse_schedule("0.1:-1").phases[0].end_step is None and parse_schedule(0.02).rate_at(5) == 0.02
    for bad in ("", "fast", "0.1:x", "0.1, 0.2:5", "0.1:10, 0.2:5", "0", "-0.1", "0.1:0", "1:2:3"):
        with pytest.raises(ParamsError) as error:
            parse_schedule(bad)
        assert error.value.field == "learn_rate"


def test_prompt_text_fills_name_and_filewords_with_shuffle_and_dropout():
    rng = random.Random(3)
    filled = prompt_text("a photo of a [name], [filewords]", "purp", "purple, circle", rng)
    assert filled == "a photo of a purp, purple, circle"
    shuffled = {prompt_text("[filewords]", "x", "a,b,c,d", rng, shuffle_tags=True) for _ in range(20)}
    assert len(shuffled) > 1 and all(sorted(s.split(",")) == ["a", "b", "c", "d"] for s in shuffled)
    assert prompt_text("[filewords]", "x", "a,b,c,d", rng, tag_drop_out=1.0) == ""


def test_captions_come_from_txt_files_else_the_file_name(images_dir):
    first, second = find_images(images_dir)
    assert ds.caption_for(first) == "purple, circle, dark background"
    assert ds.caption_for(second) == "purple circle"


def test_v_prediction_target_is_v():
    latents, noise = torch.full((1, 1, 1, 1), 2.0), torch.full((1, 1, 1, 1), 3.0)
    alphas = torch.tensor([0.25])
    v = target_for(latents, noise, alphas, torch.tensor([0]), "v_prediction")
    assert v.item() == pytest.approx(0.5 * 3.0 - 0.75**0.5 * 2.0)
    assert torch.equal(target_for(latents, noise, alphas, torch.tensor([0]), "epsilon"), noise)


# --- training -------------------------------------------------------------------------------------

def test_training_lowers_the_loss_and_changes_only_the_embedding(sd1, tmp_path, images_dir, embeddings_dir):
    path = create_embedding("purp", 2, "circle", sd1, embeddings_dir)
    create_embedding("other", 1, "square", sd1, embeddings_dir)
    other_bytes = (embeddings_dir / "other.pt").read_bytes()
    before = stored(path).parts[""]
    weights = {f"{name}.{key}": t.clone() for name, m in sd1.modules().items() for key, t in m.state_dict().items()}
    flags = [p.requires_grad for m in sd1.modules().values() for p in m.parameters()]

    result = train(sd1, tmp_path, embeddings_dir, save_embedding_every=5, create_image_every=10)

    after = stored(path)
    assert (result.initial_step, result.step, len(result.losses)) == (0, 10, 10)
    assert after.step == 10 and after.sd_checkpoint == sd1.info.shorthash and after.sd_checkpoint_name == "sd1"
    assert not torch.equal(after.parts[""], before)
    trained_loss = fixed_batch_loss(sd1, images_dir, "purp", PROMPT, [after.parts[""]])
    assert trained_loss < fixed_batch_loss(sd1, images_dir, "purp", PROMPT, [before])
    for name, m in sd1.modules().items():
        for key, tensor in m.state_dict().items():
            assert torch.equal(tensor, weights[f"{name}.{key}"]), f"{name}.{key} changed"
    assert all(p.grad is None for m in sd1.modules().values() for p in m.parameters())
    assert [p.requires_grad for m in sd1.modules().values() for p in m.parameters()] == flags
    assert (embeddings_dir / "other.pt").read_bytes() == other_bytes
    # A1111's outputs: snapshots named <name>-<step>, the loss log, previews
    assert [p.name for p in result.snapshots] == ["purp-5.pt", "purp-10.pt"]
    snapshot = stored(result.snapshots[0])
    assert snapshot.step == 5 and load_pickle_tree(result.snapshots[0])["name"] == "purp-5"
    with open(result.log_dir / "textual_inversion_loss.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, 11)) and float(rows[0]["learn_rate"]) == 0.05
    assert [p.parent.name for p in result.images] == ["images", "image_embeddings"]
    assert stored(result.images[1]).vector_count == 2  # the PNG carries the embedding
    assert load_pickle_tree(path.with_name("purp.pt.optim"))["hash"] == vectors_checksum([after.parts[""]])


def test_resume_continues_the_step_count_and_stops_at_max_steps(sd1, tmp_path, images_dir, embeddings_dir):
    path = create_embedding("purp", 1, "circle", sd1, embeddings_dir)
    first = train(sd1, tmp_path, embeddings_dir, steps=3)
    second = train(sd1, tmp_path, embeddings_dir, steps=5)
    assert (first.step, second.initial_step, second.step) == (3, 3, 5)
    assert [r.step for r in second.records] == [4, 5] and stored(path).step == 5
    done = train(sd1, tmp_path, embeddings_dir, steps=5)
    assert (done.step, done.records) == (5, [])
    # the schedule's last end step also ends training
    assert train(sd1, tmp_path, embeddings_dir, steps=100, learn_rate="0.01:6").step == 6


def record_clipping(monkeypatch):
    """Calls of the trainer's gradient clipping: (mode, limit, largest |grad| before, after)."""
    calls = []

    def recording(vectors, mode, limit):
        largest = lambda: max(v.grad.abs().max().item() for v in vectors)  # noqa: E731
        before = largest()
        clip_gradient(vectors, mode, limit)
        calls.append((mode, limit, before, largest()))

    monkeypatch.setattr(trainer_module, "clip_gradient", recording)
    return calls


def test_interrupt_saves_what_is_done(sd1, tmp_path, images_dir, embeddings_dir, monkeypatch):
    path = create_embedding("purp", 1, "circle", sd1, embeddings_dir)
    before = stored(path).parts[""]
    ctx = InterruptAfter(2)
    clipping = record_clipping(monkeypatch)
    result = train(sd1, tmp_path, embeddings_dir, ctx=ctx, steps=50, clip_grad_mode="value",
                   clip_grad_value="1e-5:1, 5e-6")
    assert result.interrupted and result.step == 2 and ctx.steps == [1, 2] and ctx.total == (1, 50)
    saved = stored(path)
    assert saved.step == 2 and not torch.equal(saved.parts[""], before)
    # "value" clipping ran before each optimizer step with its schedule's limit and clamped the gradient
    assert [(mode, limit) for mode, limit, _, _ in clipping] == [("value", 1e-5), ("value", 5e-6)]
    assert all(largest > limit and clipped == pytest.approx(limit) for _, limit, largest, clipped in clipping)


def test_gradient_accumulation_counts_batches_per_step_and_epochs(sd1, tmp_path, images_dir, embeddings_dir):
    path = create_embedding("purp", 1, "circle", sd1, embeddings_dir)
    before = stored(path).parts[""]
    # 2 images, batches of 1, 2 batches per step: every step is one epoch
    result = train(sd1, tmp_path, embeddings_dir, steps=2, batch_size=1, gradient_step=2, clip_grad_mode="norm",
                   clip_grad_value="0.5", latent_sampling_method="random", use_weight=True)
    assert [(r.step, r.epoch, r.epoch_step) for r in result.records] == [(1, 0, 0), (2, 1, 0)]
    assert not torch.equal(stored(path).parts[""], before)
    with pytest.raises(ParamsError) as error:
        train(sd1, tmp_path, embeddings_dir, steps=4, batch_size=1, gradient_step=3)
    assert error.value.field == "gradient_step"


def test_varsize_trains_each_image_at_its_own_size_in_batches_of_one_size(sd1, tmp_path, embeddings_dir,
                                                                          monkeypatch):
    shapes_of_sizes(tmp_path / "mixed", [(64, 64), (64, 64), (77, 45), (79, 47)])
    create_embedding("purp", 1, "circle", sd1, embeddings_dir)
    latent_sizes = []
    loss = trainer_module.embedding_loss

    def recording(model, encoder, latents, *args, **kwargs):
        latent_sizes.append((len(latents), *latents.shape[-2:]))
        return loss(model, encoder, latents, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "embedding_loss", recording)
    # training_width/height are ignored under varsize
    result = train(sd1, tmp_path, embeddings_dir, data_root="mixed", varsize=True, steps=4, batch_size=2,
                   training_width=128, training_height=128)
    assert result.step == 4
    # 77x45 and 79x47 are both cut down to 72x40 (latent 5x9): 2 batches an epoch, each of one size
    assert sorted(latent_sizes) == [(2, 5, 9), (2, 5, 9), (2, 8, 8), (2, 8, 8)]


def test_gradient_clipping_by_value_and_by_norm():
    vectors = torch.zeros(2, 3, requires_grad=True)
    vectors.grad = torch.tensor([[4.0, -3.0, 0.1], [0.0, 0.0, 0.0]])
    clip_gradient([vectors], "value", 0.5)
    assert torch.equal(vectors.grad, torch.tensor([[0.5, -0.5, 0.1], [0.0, 0.0, 0.0]]))
    vectors.grad = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    clip_gradient([vectors], "norm", 1.0)
    assert vectors.grad.norm().item() == pytest.approx(1.0, rel=1e-4)
    assert vectors.grad[0, 1] / vectors.grad[0, 0] == pytest.approx(4 / 3)
    # SDXL's two sets of vectors are clipped by their joint norm
    clip_l, clip_g = torch.zeros(1, 2, requires_grad=True), torch.zeros(1, 1, requires_grad=True)
    clip_l.grad, clip_g.grad = torch.tensor([[0.0, 3.0]]), torch.tensor([[4.0]])
    clip_gradient([clip_l, clip_g], "norm", 1.0)
    assert clip_l.grad[0, 1].item() == pytest.approx(0.6, rel=1e-4) and clip_g.grad[0, 0].item() == pytest.approx(0.8, rel=1e-4)


def test_alpha_weights_and_latent_sampling_methods(sd1, tmp_path):
    folder = tmp_path / "alpha"
    folder.mkdir()
    image = Image.new("RGBA", (64, 64), (200, 40, 200, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 31, 63), fill=(0, 0, 0, 0))  # left half transparent
    image.save(folder / "half.png")
    paths = find_images(folder)
    generator = torch.Generator().manual_seed(0)
    [weighted] = ds.load_images(paths, sd1, 64, 64, False, "deterministic", True, generator)
    assert weighted.weight.shape == (8, 8) and weighted.weight.mean().item() == pytest.approx(1.0)
    assert weighted.weight[:, :3].max() < 0.1 < weighted.weight[:, 5:].min()
    [random_image] = ds.load_images(paths, sd1, 64, 64, False, "random", False, generator)
    [once] = ds.load_images(paths, sd1, 64, 64, False, "once", False, generator)
    assert not torch.equal(random_image.latent(generator), random_image.latent(generator))
    assert torch.equal(once.latent(generator), once.latent(generator)) and once.weight is None
    assert torch.equal(weighted.latent(generator), random_image.mean)  # deterministic: the posterior mean


def test_preview_settings_follow_a1111():
    own = preview_params(params(preview_from_txt2img=True, preview_prompt="a purp", preview_sampler_name="DDIM",
                                preview_steps=7, preview_width=128), "a photo of a purp", seed=3)
    assert (own.prompt, own.steps, own.width, own.sampler_name) == ("a purp", 7, 128, "DDIM")
    batch = preview_params(params(), "a photo of a purp", seed=3)
    assert (batch.prompt, batch.steps, batch.width, batch.seed) == ("a photo of a purp", 20, 64, 3)


def test_v_prediction_model_trains(tiny_models, tmp_path, images_dir, embeddings_dir):
    model = tiny_models("sd2-v")
    assert model.arch.prediction_type == "v_prediction"
    path = create_embedding("purp", 1, "circle", model, embeddings_dir)
    result = train(model, tmp_path, embeddings_dir, steps=2)
    assert result.step == 2 and all(loss == loss for loss in result.losses) and stored(path).step == 2


@pytest.mark.parametrize("changes, field", [
    ({"data_root": "missing"}, "data_root"), ({"data_root": "empty"}, "data_root"),
    ({"template_filename": "nope.txt"}, "template_filename"), ({"embedding_name": "unknown"}, "embedding_name"),
    ({"learn_rate": "0.1:x"}, "learn_rate"), ({"training_width": 60}, "training_width"),
    ({"batch_size": 3}, "batch_size"), ({"latent_sampling_method": "sometimes"}, "latent_sampling_method"),
    ({"clip_grad_mode": "norm", "clip_grad_value": "big"}, "clip_grad_value"),
    ({"create_image_every": 1, "preview_from_txt2img": True, "preview_sampler_name": "Nope"}, "preview_sampler_name"),
])
def test_bad_input_names_the_field_and_writes_nothing(sd1, tmp_path, images_dir, embeddings_dir, changes, field):
    path = create_embedding("purp", 1, "circle", sd1, embeddings_dir)
    (tmp_path / "empty").mkdir()
    original = path.read_bytes()
    with pytest.raises(ParamsError) as error:
        train(sd1, tmp_path, embeddings_dir, save_embedding_every=1, **changes)
    assert error.value.field == field
    assert path.read_bytes() == original and not (tmp_path / "textual_inversion").exists()


def test_sdxl_trains_the_vectors_of_both_text_encoders(tiny_models, tmp_path, images_dir, embeddings_dir):
    model = tiny_models("sdxl")
    path = create_embedding("purp", 2, "circle", model, embeddings_dir)
    assert set(load_pickle_tree(path)) >= {"clip_l", "clip_g"}
    before = stored(path)

    result = train(model, tmp_path, embeddings_dir, steps=6, save_embedding_every=3, create_image_every=6)

    after = stored(path)
    assert after.step == 6 and set(after.parts) == {"clip_l", "clip_g"}
    assert all(not torch.equal(after.parts[part], before.parts[part]) for part in ("clip_l", "clip_g"))
    trained = [after.parts["clip_l"], after.parts["clip_g"]]
    assert fixed_batch_loss(model, images_dir, "purp", PROMPT, trained) \
        < fixed_batch_loss(model, images_dir, "purp", PROMPT, [before.parts["clip_l"], before.parts["clip_g"]])
    assert [p.name for p in result.snapshots] == ["purp-3.pt", "purp-6.pt"]
    assert set(stored(result.snapshots[0]).parts) == {"clip_l", "clip_g"}
    assert set(stored(result.images[1]).parts) == {"clip_l", "clip_g"}  # the preview PNG carries both
    assert load_pickle_tree(path.with_name("purp.pt.optim"))["hash"] == vectors_checksum(trained)
    resumed = train(model, tmp_path, embeddings_dir, steps=8)
    assert (resumed.initial_step, resumed.step) == (6, 8)
    assert EmbeddingDatabase([embeddings_dir]).load(model).loaded["purp"].vectors[1].shape[0] == 2


def test_the_sdxl_refiner_is_refused(tiny_models, tmp_path, images_dir, embeddings_dir):
    create_embedding("purp", 1, "circle", tiny_models("sdxl"), embeddings_dir)
    refiner = tiny_models("sdxl-refiner")
    with pytest.raises(ParamsError, match="SD1, SD2 and SDXL"):
        train(refiner, tmp_path, embeddings_dir)
    with pytest.raises(ParamsError, match="load an SD1, SD2 or SDXL base model") as error:
        create_embedding("other", 1, "circle", refiner, embeddings_dir)
    assert error.value.field == "model" and not (embeddings_dir / "other.pt").exists()


# --- API --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory, tiny_checkpoints):
    """One app for the API tests (its start costs more than the requests)."""
    data_dir = tmp_path_factory.mktemp("training-api")
    with api_client(data_dir, {"one.safetensors": tiny_checkpoints["sd1"]}) as (client, state):
        yield client, state


def test_api_creates_and_trains_an_embedding_in_a1111_shapes(api, images_dir):
    client, state = api
    response = client.post("/sdapi/v1/create/embedding",
                           json={"name": "api-purp", "num_vectors_per_token": 2, "overwrite_old": False,
                                 "init_text": "circle"})
    assert response.status_code == 200, response.text
    path = state.paths.embeddings_dir / "api-purp.pt"
    assert response.json() == {"info": f"create embedding filename: {path}"}
    assert client.get("/sdapi/v1/embeddings").json()["loaded"]["api-purp"]["vectors"] == 2
    body = {"id_task": "task(1)", "embedding_name": "api-purp", "learn_rate": "0.01", "batch_size": 1,
            "gradient_step": 1, "data_root": str(images_dir), "log_directory": "textual_inversion",
            "training_width": 64, "training_height": 64, "steps": 3, "save_embedding_every": 0, "create_image_every": 0,
            "template_filename": "style_filewords.txt", "seed": 1, "preview_sampler_index": 2}  # pre-1.6 client
    response = client.post("/sdapi/v1/train/embedding", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"info": f"train embedding complete: filename: {path} error: None"}
    assert stored(path).step == 3
    [job] = [j for j in state.jobs.list() if j.kind == TRAIN_JOB_KIND]
    assert job.status.value == "done" and len(job.result["losses"]) == 3
    assert job.params["preview_sampler_name"] == sampling.sampler_names()[2]


def test_api_reads_the_pre_1_6_preview_sampler_index_as_a_name():
    names = sampling.sampler_names()
    assert TrainParams.from_dict({**MINIMAL_TRAIN, "preview_sampler_index": 1}).preview_sampler_name == names[1]
    newer = TrainParams.from_dict({**MINIMAL_TRAIN, "preview_sampler_index": 1, "preview_sampler_name": "DDIM"})
    assert newer.preview_sampler_name == "DDIM"  # both sent: the current name wins
    for bad in (len(names), -1, "Euler", True):
        with pytest.raises(ParamsError) as error:
            TrainParams.from_dict({**MINIMAL_TRAIN, "preview_sampler_index": bad})
        assert error.value.field == "preview_sampler_index"


@pytest.mark.parametrize("route, body, field", [
    ("create", {"name": "a/b"}, "name"),
    ("create", {"name": "ok", "num_vectors_per_token": 0}, "num_vectors_per_token"),
    ("create", {"name": "ok", "colour": "red"}, "colour"),
    ("train", {"learn_rate": "soon"}, "learn_rate"),
    ("train", {"data_root": "missing"}, "data_root"),
    ("train", {"steps": "many"}, "steps"),
    ("train", {"unknown_field": 1}, "unknown_field"),
])
def test_api_bad_input_is_422_naming_the_field(api, images_dir, route, body, field):
    assert_train_api_refuses(api, images_dir, route, body, field, 422)


@pytest.mark.parametrize("sizes, body, field", [
    ([(64, 64), (77, 45)], {"batch_size": 2}, "batch_size"),  # no two images of one size
    ([(64, 64), (77, 45)], {"gradient_step": 3}, "gradient_step"),  # 2 batches an epoch
    ([(64, 64), (64, 5)], {}, "data_root"),  # under 8 pixels high
])
def test_api_refuses_a_varsize_dataset_without_a_whole_step_as_422(api, tmp_path, sizes, body, field):
    client, state = api
    client.post("/sdapi/v1/create/embedding", json={"name": "purp"})
    outputs = (state.paths.embeddings_dir, state.paths.data_dir / "textual_inversion")
    before = files_under(*outputs)
    folder = shapes_of_sizes(tmp_path / "mixed", sizes)
    assert_train_api_refuses(api, folder, "train", {"varsize": True, **body}, field, 422)
    assert files_under(*outputs) == before and (state.paths.embeddings_dir / "purp.pt").is_file()


def files_under(*folders):
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def test_api_unknown_embedding_is_404(api, images_dir):
    assert_train_api_refuses(api, images_dir, "train", {"embedding_name": "nope"}, "embedding_name", 404)


def assert_train_api_refuses(api, images_dir, route, body, field, status):
    client, state = api
    client.post("/sdapi/v1/create/embedding", json={"name": "purp"})
    base = {"embedding_name": "purp", "data_root": str(images_dir), "training_width": 64, "training_height": 64,
            "steps": 1} if route == "train" else {}
    jobs_before = len(state.jobs.list())
    response = client.post(f"/sdapi/v1/{route}/embedding", json={**base, **body})
    assert response.status_code == status, response.text
    assert field in response.text
    assert len(state.jobs.list()) == jobs_before


def test_training_job_and_generation_never_overlap(api, images_dir):
    client, state = api
    client.post("/sdapi/v1/create/embedding", json={"name": "queued", "init_text": "circle"})
    train_id = state.jobs.submit(TRAIN_JOB_KIND, params(embedding_name="queued", data_root=str(images_dir),
                                                       steps=4, batch_size=1).to_dict(), owner="a")
    generation_id = state.jobs.submit("txt2img", {"prompt": "queued circle", "steps": 2, "width": 64, "height": 64},
                                      owner="b")
    trained, generated = state.jobs.wait(train_id, 120), state.jobs.wait(generation_id, 120)
    assert trained.status.value == "done" and generated.status.value == "done"
    first, second = sorted([trained, generated], key=lambda job: job.started_at)
    assert second.started_at >= first.finished_at
