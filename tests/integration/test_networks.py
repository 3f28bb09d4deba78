"""Extra networks on tiny random-weight models: textual-inversion embeddings and LoRA patches."""

import os

import pytest
import safetensors.torch
import torch
from PIL import Image, PngImagePlugin

from modules.cmd_args import parse_args
from modules.devices import decide_policy
from modules.networks import EmbeddingDatabase, encode_png_embedding
from modules.processing.conditioning import build_prompt_encoder
from modules.sd_models.checkpoints import CheckpointInfo
from modules.sd_models.loader import load_model

SETTINGS = {"emphasis": "Original", "CLIP_stop_at_last_layers": 1, "comma_padding_backtrack": 20}
WIDTH = 64  # hidden size of every tiny text encoder (modules.sd_models.random_weights.TINY_TEXT)


@pytest.fixture(scope="module")
def models(tiny_checkpoints):
    loaded = {}

    def get(name):
        if name not in loaded:
            path = tiny_checkpoints[name]
            loaded[name] = load_model(CheckpointInfo(path, path.name, sha256="0" * 64), decide_policy(parse_args([])))
        return loaded[name]

    return get


class RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def vectors(count, width=WIDTH, seed=0):
    return torch.randn(count, width, generator=torch.Generator().manual_seed(seed))


def a1111_pt(vecs, step=120):
    return {"string_to_token": {"*": 265}, "string_to_param": {"*": torch.nn.Parameter(vecs.clone())},
            "name": "ignored-inside", "step": step, "sd_checkpoint": "abcdef12", "sd_checkpoint_name": "tiny"}


def single_token_words(tokenizer, count):
    """Words that are one token each, to write embedding vectors into directly."""
    words = ["zebra", "quartz", "violin", "pepper", "castle"]
    picked = [(w, tokenizer(w, add_special_tokens=False)["input_ids"]) for w in words]
    picked = [(w, ids[0]) for w, ids in picked if len(ids) == 1]
    assert len(picked) >= count
    return picked[:count]


def encode_with_rows_written(model, prompt, rows_per_encoder):
    """Conditioning of `prompt` after writing vectors into token-embedding rows, restored after."""
    saved = []
    try:
        for encoder, rows in zip(model.text_encoders, rows_per_encoder):
            table = encoder.get_input_embeddings().weight
            for token, vector in rows:
                saved.append((table, token, table.data[token].clone()))
                table.data[token] = vector.to(table.dtype)
        return build_prompt_encoder(model, SETTINGS).encode_texts([prompt])
    finally:
        for table, token, old in saved:
            table.data[token] = old


@pytest.fixture
def sd1_embeddings(tmp_path):
    folder = tmp_path / "embeddings"
    (folder / "sub" / "deeper").mkdir(parents=True)
    torch.save(a1111_pt(vectors(2, seed=1)), folder / "oldstyle.pt")
    torch.save({"<cat-toy>": vectors(1, seed=2)[0]}, folder / "sub" / "concept.bin")
    safetensors.torch.save_file({"emb_params": vectors(3, seed=3)}, str(folder / "sub" / "deeper" / "tri.safetensors"))
    safetensors.torch.save_file({"emb_params": vectors(2, width=32, seed=4)}, str(folder / "narrow.safetensors"))
    safetensors.torch.save_file({"clip_l": vectors(1), "clip_g": vectors(1)}, str(folder / "xlonly.safetensors"))
    return folder


def test_every_format_loads_and_mismatches_are_listed_as_skipped(models, sd1_embeddings):
    result = EmbeddingDatabase([sd1_embeddings]).load(models("sd1"))
    assert sorted(result.loaded) == ["concept", "oldstyle", "tri"]
    api = result.api_dict()
    assert api["loaded"]["oldstyle"] == {"step": 120, "sd_checkpoint": "abcdef12", "sd_checkpoint_name": "tiny",
                                         "shape": WIDTH, "vectors": 2}
    assert api["loaded"]["tri"]["vectors"] == 3 and api["loaded"]["concept"]["vectors"] == 1
    assert sorted(api["skipped"]) == ["narrow", "xlonly"]
    assert api["skipped"]["narrow"]["shape"] == 32
    assert "width 32" in result.skipped["narrow"].reason and "64" in result.skipped["narrow"].reason
    assert "clip_l + clip_g" in result.skipped["xlonly"].reason
    assert torch.equal(result.loaded["oldstyle"].vectors[0], vectors(2, seed=1))


def test_embedding_equals_writing_its_vectors_into_the_token_table(models, sd1_embeddings):
    model = models("sd1")
    result = EmbeddingDatabase([sd1_embeddings]).load(model)
    (w1, t1), (w2, t2) = single_token_words(model.tokenizers[0], 2)
    encoder = build_prompt_encoder(model, SETTINGS, embeddings=result.lookups)
    with_embedding = encoder.encode_texts(["a photo of oldstyle on a table"]).cross_attn
    direct = encode_with_rows_written(model, f"a photo of {w1} {w2} on a table",
                                      [[(t1, vectors(2, seed=1)[0]), (t2, vectors(2, seed=1)[1])]]).cross_attn
    plain = build_prompt_encoder(model, SETTINGS).encode_texts(["a photo of oldstyle on a table"]).cross_attn
    assert torch.allclose(with_embedding, direct, atol=1e-6)
    assert not torch.allclose(with_embedding, plain, atol=1e-3)
    # tokens before the embedding see nothing of it (causal attention)
    assert torch.equal(with_embedding[:, :4], plain[:, :4])


def test_sdxl_embedding_feeds_clip_l_and_clip_g_to_their_encoders(models, tmp_path):
    model = models("sdxl")
    clip_l, clip_g = vectors(1, seed=10), vectors(1, seed=11)
    safetensors.torch.save_file({"clip_l": clip_l, "clip_g": clip_g}, str(tmp_path / "xlstyle.safetensors"))
    torch.save(a1111_pt(vectors(1)), tmp_path / "sd1style.pt")
    result = EmbeddingDatabase([tmp_path]).load(model)
    assert list(result.loaded) == ["xlstyle"] and list(result.skipped) == ["sd1style"]
    assert result.api_dict()["loaded"]["xlstyle"]["shape"] == 2 * WIDTH
    [(word, token)] = single_token_words(model.tokenizers[0], 1)
    got = build_prompt_encoder(model, SETTINGS, embeddings=result.lookups).encode_texts(["a xlstyle dog"])
    want = encode_with_rows_written(model, f"a {word} dog", [[(token, clip_l[0])], [(token, clip_g[0])]])
    assert torch.allclose(got.cross_attn, want.cross_attn, atol=1e-6)
    assert torch.allclose(got.pooled, want.pooled, atol=1e-6)


def test_png_embedding_reads_its_text_chunk(models, tmp_path):
    data = {"string_to_param": {"*": vectors(2, seed=5)}, "name": "pictured", "step": 7}
    info = PngImagePlugin.PngInfo()
    info.add_text("sd-ti-embedding", encode_png_embedding(data))
    Image.new("RGB", (8, 8)).save(tmp_path / "whatever.png", pnginfo=info)
    Image.new("RGB", (8, 8)).save(tmp_path / "preview.png")  # an ordinary image is not listed at all
    result = EmbeddingDatabase([tmp_path]).load(models("sd1"))
    assert list(result.loaded) == ["pictured"] and not result.skipped
    assert torch.allclose(result.loaded["pictured"].vectors[0], vectors(2, seed=5))
    assert result.api_dict()["loaded"]["pictured"]["step"] == 7


def test_code_running_pickle_is_refused_without_running(models, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"string_to_param": {"*": vectors(1)}, "payload": RunsCode(marker)}, tmp_path / "evil.pt")
    result = EmbeddingDatabase([tmp_path]).load(models("sd1"))
    assert not marker.exists()
    assert list(result.skipped) == ["evil"] and "refused to load" in result.skipped["evil"].reason
    assert result.api_dict()["skipped"]["evil"]["vectors"] is None


def test_ti_hashes_name_the_used_embeddings(models, sd1_embeddings):
    import hashlib

    result = EmbeddingDatabase([sd1_embeddings]).load(models("sd1"))
    digest = hashlib.sha256((sd1_embeddings / "oldstyle.pt").read_bytes()).hexdigest()[:12]
    assert result.ti_hashes(["a tri cat", "(oldstyle:1.2) and tri"]) == \
        f"tri: {result.loaded['tri'].shorthash}, oldstyle: {digest}"
    assert result.ti_hashes(["no embeddings here"]) is None


@pytest.fixture
def embedding_reads(monkeypatch):
    """Names of the embedding files read from disk, in order."""
    import modules.networks.embeddings as embeddings_module

    reads = []
    real_read = embeddings_module.read_embedding_file
    monkeypatch.setattr(embeddings_module, "read_embedding_file",
                        lambda path, *a: reads.append(path.name) or real_read(path, *a))
    return reads


def test_reload_reads_only_new_or_changed_files(models, sd1_embeddings, embedding_reads):
    reads = embedding_reads
    db = EmbeddingDatabase([sd1_embeddings])
    db.load(models("sd1"))
    assert len(reads) == 5
    reads.clear()
    torch.save(a1111_pt(vectors(4, seed=9)), sd1_embeddings / "added.pt")
    torch.save(a1111_pt(vectors(3, seed=8)), sd1_embeddings / "oldstyle.pt")
    os.utime(sd1_embeddings / "oldstyle.pt", ns=(1, 1))  # a new mtime even on coarse clocks
    again = db.load(models("sd1"))
    assert sorted(reads) == ["added.pt", "oldstyle.pt"]
    assert again.loaded["added"].data.vector_count == 4 and again.loaded["oldstyle"].data.vector_count == 3


def test_one_database_rechecks_its_embeddings_when_the_model_family_changes(models, tmp_path, embedding_reads):
    sd1_vectors, clip_l, clip_g = vectors(2, seed=20), vectors(1, seed=21), vectors(1, seed=22)
    torch.save(a1111_pt(sd1_vectors), tmp_path / "sd1style.pt")
    safetensors.torch.save_file({"clip_l": clip_l, "clip_g": clip_g}, str(tmp_path / "xlstyle.safetensors"))
    db = EmbeddingDatabase([tmp_path])
    for family in ["sd1", "sdxl", "sd1", "sdxl"]:
        result = db.load(models(family))
        own, other = ("sd1style", "xlstyle") if family == "sd1" else ("xlstyle", "sd1style")
        assert list(result.loaded) == [own] and list(result.skipped) == [other], family
        assert len(result.lookups) == len(models(family).text_encoders)
        want = (sd1_vectors,) if family == "sd1" else (clip_l, clip_g)
        assert all(torch.equal(got, w) for got, w in zip(result.loaded[own].vectors, want, strict=True))
    assert "clip_l + clip_g" in db.load(models("sd1")).skipped["xlstyle"].reason
    assert "one set of vectors" in db.load(models("sdxl")).skipped["sd1style"].reason
    assert sorted(embedding_reads) == ["sd1style.pt", "xlstyle.safetensors"]  # read once, checked per model


# ---------------------------------------------------------------- LoRA

from modules.networks import LoraLibrary, apply_networks, extract_networks, remove_networks  # noqa: E402
from modules.sd_models.ldm_layout import unet_key_to_ldm  # noqa: E402


@pytest.fixture
def lora_dir(tmp_path):
    folder = tmp_path / "Lora"
    folder.mkdir()
    return folder


@pytest.fixture
def library(lora_dir):
    library = LoraLibrary([lora_dir])
    yield library
    for patcher in list(library.patchers.values()):
        patcher.restore()  # the module-scoped models go back to their original weights


def module_at(model, component, path):
    root = model.unet if component == "unet" else model.text_encoders[int(component[-1])]
    return root.get_submodule(path)


def ldm_name(model, path):
    config = model.unet.config
    attention = {i for i, t in enumerate(config.up_block_types) if "CrossAttn" in t}
    return unet_key_to_ldm(path + ".weight", config.layers_per_block, attention)[: -len(".weight")]


def te_core(path):
    return path.removeprefix("text_model.")


def lora_pair(weight, rank, seed):
    g = torch.Generator().manual_seed(seed)
    out_ch, in_ch = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    down = torch.randn(rank, in_ch, *kernel, generator=g) * 0.1
    up = torch.randn(out_ch, rank, *([1] * len(kernel)), generator=g) * 0.1
    return up, down


def expected_delta(weight, up, down, alpha, rank):
    scale = alpha / rank if alpha is not None else 1.0
    return (up.flatten(1) @ down.flatten(1)).reshape(weight.shape) * scale


def write_lora(path, entries):
    safetensors.torch.save_file({k: v.contiguous() for k, v in entries.items()}, str(path))


def state_of(model):
    out = {f"unet.{k}": v.clone() for k, v in model.unet.state_dict().items()}
    for i, te in enumerate(model.text_encoders):
        out |= {f"te{i}.{k}": v.clone() for k, v in te.state_dict().items()}
    return out


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


def state_key(component, path, param):
    """A parameter's key in state_of."""
    return f"{'unet' if component == 'unet' else 'te' + component[-1]}.{path}.{param}"


SD1_TARGETS = [  # (component, module path, key style)
    ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "diffusers"),
    ("unet", "mid_block.resnets.0.conv1", "diffusers"),  # 3x3 conv: LoCon
    ("unet", "up_blocks.1.attentions.0.proj_in", "ldm"),  # 1x1 conv, LDM-named
    ("unet", "up_blocks.0.resnets.0.conv_shortcut", "ldm"),
    ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te"),
    ("text_encoder_0", "encoder.layers.1.mlp.fc1", "te"),
]


def kohya_key(model, component, path, style):
    if style == "diffusers":
        return "lora_unet_" + path.replace(".", "_")
    if style == "ldm":
        return "lora_unet_" + ldm_name(model, path).replace(".", "_")
    prefix = {"sd1": ["lora_te_"], "sd2": ["lora_te_"], "sdxl": ["lora_te1_", "lora_te2_"]}[model.arch.family]
    prefix = prefix[int(component[-1])]
    return prefix + "text_model_" + te_core(path).replace(".", "_")


def build_kohya(model, targets, rank=4, alpha=2.0, seed=0):
    entries, deltas = {}, {}
    for n, (component, path, style) in enumerate(targets):
        weight = module_at(model, component, path).weight.detach()
        up, down = lora_pair(weight, rank, seed + n)
        key = kohya_key(model, component, path, style)
        entries |= {f"{key}.lora_up.weight": up, f"{key}.lora_down.weight": down, f"{key}.alpha": torch.tensor(alpha)}
        deltas[(component, path)] = expected_delta(weight, up, down, alpha, rank)
    return entries, deltas


def test_kohya_lora_adds_scaled_up_down_and_removal_restores_exactly(models, library, lora_dir):
    model = models("sd1")
    entries, deltas = build_kohya(model, SD1_TARGETS)
    write_lora(lora_dir / "style.safetensors", entries)
    before = state_of(model)
    prompt, uses = extract_networks("a cat <lora:style:0.5:0.75>")
    assert prompt == "a cat "
    with apply_networks(model, uses, library) as report:
        assert report.warnings == [] and report.applied == ["style"]
        assert report.patched_parameters == len(SD1_TARGETS)
        for (component, path, _), multiplier in zip(SD1_TARGETS, [0.75] * 4 + [0.5] * 2):
            key = f"{'unet' if component == 'unet' else 'te0'}.{path}.weight"
            got = module_at(model, component, path).weight.detach()
            assert torch.allclose(got, before[key] + multiplier * deltas[(component, path)], atol=1e-6), path
        untouched = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.weight"
        assert torch.equal(model.unet.state_dict()[untouched[5:]], before[untouched])
    remove_networks(model, library)
    assert_same_state(state_of(model), before)


def test_weight_zero_or_no_tag_leaves_every_weight_identical(models, library, lora_dir):
    model = models("sd1")
    write_lora(lora_dir / "style.safetensors", build_kohya(model, SD1_TARGETS)[0])
    before = state_of(model)
    with apply_networks(model, extract_networks("a cat <lora:style:0>")[1], library) as report:
        assert report.patched_parameters == 0
        assert_same_state(state_of(model), before)
    with apply_networks(model, extract_networks("a cat <lora:style:1>")[1], library):
        pass
    with apply_networks(model, extract_networks("a cat")[1], library) as report:  # the next job, no tag
        assert report.applied == []
        assert_same_state(state_of(model), before)


def test_same_networks_on_the_next_job_reuse_the_patched_weights(models, library, lora_dir):
    model = models("sd1")
    write_lora(lora_dir / "style.safetensors", build_kohya(model, SD1_TARGETS)[0])
    uses = extract_networks("<lora:style:0.8>")[1]
    original = state_of(model)
    with apply_networks(model, uses, library) as first:
        patched = state_of(model)
    with apply_networks(model, uses, library) as second:
        assert not first.reused and second.reused and second.applied == ["style"]
        assert_same_state(state_of(model), patched)
    with apply_networks(model, extract_networks("<lora:style:0.4>")[1], library) as third:
        assert not third.reused  # another multiplier is another set
    with apply_networks(model, uses, library, keep=False) as fourth:
        assert not fourth.reused
    assert_same_state(state_of(model), original)  # keep=False restores the originals on exit


SDXL_TARGETS = [
    ("unet", "down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q", "ldm"),  # input_blocks.*
    ("unet", "up_blocks.0.attentions.1.proj_in", "ldm"),
    ("unet", "mid_block.resnets.0.conv1", "ldm"),
    ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te"),
    ("text_encoder_1", "text_model.encoder.layers.1.self_attn.out_proj", "te"),
]


def test_kohya_sdxl_lora_reaches_unet_and_both_text_encoders(models, library, lora_dir):
    model = models("sdxl")
    entries, deltas = build_kohya(model, SDXL_TARGETS, rank=2, alpha=1.0)
    assert any(k.startswith("lora_unet_input_blocks_") for k in entries)
    assert any(k.startswith("lora_te2_") for k in entries)
    write_lora(lora_dir / "xl.safetensors", entries)
    before = state_of(model)
    with apply_networks(model, extract_networks("<lora:xl:1.5>")[1], library) as report:
        assert report.warnings == [] and report.patched_parameters == len(SDXL_TARGETS)
        for component, path, _ in SDXL_TARGETS:
            key = f"{'unet' if component == 'unet' else 'te' + component[-1]}.{path}.weight"
            got = module_at(model, component, path).weight.detach()
            assert torch.allclose(got, before[key] + 1.5 * deltas[(component, path)], atol=1e-6), path
    remove_networks(model, library)
    assert_same_state(state_of(model), before)


SD2_TARGETS = [
    ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k", "ldm"),  # reads the OpenCLIP context
    ("unet", "up_blocks.1.attentions.0.proj_in", "diffusers"),  # a linear projection in SD2
    ("unet", "mid_block.resnets.0.conv1", "ldm"),
    ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te"),
    ("text_encoder_0", "encoder.layers.1.mlp.fc2", "te"),
]


def assert_patched_as_computed(model, before, deltas, te_multiplier, unet_multiplier):
    for (component, path), delta in deltas.items():
        multiplier = te_multiplier if component != "unet" else unet_multiplier
        want = before[state_key(component, path, "weight")] + multiplier * delta
        assert torch.allclose(module_at(model, component, path).weight.detach(), want, atol=1e-6), path


def test_kohya_lora_patches_sd2_unet_and_its_converted_open_clip_encoder(models, library, lora_dir):
    model = models("sd2")
    assert model.arch.family == "sd2" and len(model.text_encoders) == 1
    entries, deltas = build_kohya(model, SD2_TARGETS, rank=2, alpha=1.0)
    assert sum(k.startswith("lora_te_text_model_encoder_layers_") for k in entries) == 6
    write_lora(lora_dir / "sd2.safetensors", entries)
    before = state_of(model)
    with apply_networks(model, extract_networks("<lora:sd2:0.8:1.2>")[1], library) as report:
        assert report.warnings == [] and report.patched_parameters == len(SD2_TARGETS)
        assert_patched_as_computed(model, before, deltas, 0.8, 1.2)
    remove_networks(model, library)
    assert_same_state(state_of(model), before)


OPEN_CLIP_KEYS = {  # file module name in the OpenCLIP layout → the converted encoder's module
    "sd2": {
        "model_transformer_resblocks_0_attn_q_proj": "encoder.layers.0.self_attn.q_proj",  # A1111's own name
        "lora_te_model_transformer_resblocks_1_mlp_c_fc": "encoder.layers.1.mlp.fc1",
        "cond_stage_model.model.transformer.resblocks.0.attn.out_proj": "encoder.layers.0.self_attn.out_proj",
    },
    "sdxl": {
        "1_model_transformer_resblocks_0_mlp_c_proj": "text_model.encoder.layers.0.mlp.fc2",
        "lora_te2_model_transformer_resblocks_1_attn_v_proj": "text_model.encoder.layers.1.self_attn.v_proj",
        "conditioner.embedders.1.model.transformer.resblocks.1.attn.out_proj":
            "text_model.encoder.layers.1.self_attn.out_proj",
    },
}


@pytest.mark.parametrize("name", ["sd2", "sdxl"])
def test_lora_keys_in_the_open_clip_layout_reach_the_converted_encoder(models, library, lora_dir, name):
    model = models(name)
    component = f"text_encoder_{len(model.text_encoders) - 1}"  # the OpenCLIP one comes last
    entries, deltas = {}, {}
    for n, (key, path) in enumerate(OPEN_CLIP_KEYS[name].items()):
        weight = module_at(model, component, path).weight.detach()
        up, down = lora_pair(weight, 2, 80 + n)
        entries |= {f"{key}.lora_up.weight": up, f"{key}.lora_down.weight": down}
        deltas[(component, path)] = expected_delta(weight, up, down, None, 2)
    write_lora(lora_dir / "openclip.safetensors", entries)
    before = state_of(model)
    with apply_networks(model, extract_networks("<lora:openclip:0.9>")[1], library) as report:
        assert report.warnings == [] and report.patched_parameters == len(deltas)
        assert_patched_as_computed(model, before, deltas, 0.9, 0.9)
    remove_networks(model, library)
    assert_same_state(state_of(model), before)


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_peft_lora_a_b_keys_without_alpha(models, library, lora_dir, name):
    model = models(name)
    targets = [("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k"),
               ("text_encoder_0", "encoder.layers.1.self_attn.v_proj")]
    if name == "sdxl":
        targets.append(("text_encoder_1", "text_model.encoder.layers.0.mlp.fc2"))
    prefixes = {"unet": "unet.", "text_encoder_0": "text_encoder.text_model.", "text_encoder_1": "text_encoder_2.text_model."}
    entries, deltas = {}, {}
    for n, (component, path) in enumerate(targets):
        weight = module_at(model, component, path).weight.detach()
        up, down = lora_pair(weight, 3, 50 + n)
        key = prefixes[component] + (path if component == "unet" else te_core(path))
        entries |= {f"{key}.lora_A.weight": down, f"{key}.lora_B.weight": up}
        deltas[(component, path)] = expected_delta(weight, up, down, None, 3)
    write_lora(lora_dir / "peft.safetensors", entries)
    before = state_of(model)
    with apply_networks(model, extract_networks("<lyco:peft:0.6>")[1], library) as report:
        assert report.warnings == [] and report.patched_parameters == len(targets)
        for component, path in targets:
            key = f"{'unet' if component == 'unet' else 'te' + component[-1]}.{path}.weight"
            got = module_at(model, component, path).weight.detach()
            assert torch.allclose(got, before[key] + 0.6 * deltas[(component, path)], atol=1e-6), path


def test_unknown_keys_unsupported_types_and_missing_files_are_warnings_naming_the_file(models, library, lora_dir):
    model = models("sd1")
    entries, _ = build_kohya(model, SD1_TARGETS[:1])
    entries["lora_unet_no_such_block_0_proj.lora_up.weight"] = torch.zeros(4, 2)
    entries["lora_unet_no_such_block_0_proj.lora_down.weight"] = torch.zeros(2, 4)
    entries["lora_unet_mid_block_attentions_0_proj_out.oft_diag"] = torch.zeros(2, 4, 4)
    entries["lora_unet_mid_block_attentions_0_proj_out.rescale"] = torch.zeros(2, 4, 1)
    entries["lora_unet_mid_block_attentions_0_proj_in.oft_blocks"] = torch.zeros(2, 4, 4)  # 8 rows, not 64
    entries["something_else"] = torch.zeros(1)
    write_lora(lora_dir / "odd.safetensors", entries)
    uses = extract_networks("<lora:odd:1> <lora:missing:1> <hypernet:old:1>")[1]
    with apply_networks(model, uses, library) as report:
        text = "\n".join(report.warnings)
        assert report.applied == ["odd"] and report.patched_parameters == 1
    assert "odd.safetensors: 1 of 4 modules match nothing" in text and "no_such_block" in text
    assert "odd.safetensors: 1 modules not applied: OFT modules with oft_diag and rescale are not supported" in text
    assert ("odd.safetensors: lora_unet_mid_block_attentions_0_proj_in not applied to unet.mid_block.attentions.0"
            ".proj_in: OFT has 2 blocks of 4 rows, the weight 64 rows") in text
    assert "odd.safetensors: 1 keys of unknown meaning ignored (e.g. something_else)" in text
    assert "LoRA 'missing' not found" in text and "'hypernet' is not supported" in text


def test_lora_hashes_for_infotext_use_the_tensor_data_hash(models, library, lora_dir):
    import hashlib

    model = models("sd1")
    write_lora(lora_dir / "style.safetensors", build_kohya(model, SD1_TARGETS[:2])[0])
    raw = (lora_dir / "style.safetensors").read_bytes()
    header = int.from_bytes(raw[:8], "little")
    with apply_networks(model, extract_networks("<lora:style:1>")[1], library) as report:
        assert report.lora_hashes == f"style: {hashlib.sha256(raw[8 + header:]).hexdigest()[:12]}"


def test_an_unloaded_model_is_freed_with_its_patcher(tiny_checkpoints, lora_dir):
    import gc
    import weakref

    path = tiny_checkpoints["sd1"]
    model = load_model(CheckpointInfo(path, path.name, sha256="0" * 64), decide_policy(parse_args([])))
    write_lora(lora_dir / "style.safetensors", build_kohya(model, SD1_TARGETS)[0])
    library = LoraLibrary([lora_dir])
    with apply_networks(model, extract_networks("<lora:style:1>")[1], library):
        pass
    gone = weakref.ref(model.unet)
    del model
    gc.collect()
    assert gone() is None and len(library.patchers) == 0


def test_fp16_weights_get_the_fp32_sum_cast_once_and_restore_exactly(tiny_checkpoints, lora_dir):
    path = tiny_checkpoints["sd1"]
    model = load_model(CheckpointInfo(path, path.name, sha256="0" * 64), decide_policy(parse_args([])))
    model.unet.to(torch.float16)
    targets = SD1_TARGETS[:2]
    entries, deltas = build_kohya(model, targets)
    write_lora(lora_dir / "a.safetensors", entries)
    write_lora(lora_dir / "b.safetensors", build_kohya(model, targets, seed=7)[0])
    _, deltas_b = build_kohya(model, targets, seed=7)
    before = state_of(model)
    library = LoraLibrary([lora_dir])
    with apply_networks(model, extract_networks("<lora:a:0.3> <lora:b:0.9>")[1], library):
        for component, path_, _ in targets:
            weight = module_at(model, component, path_).weight.detach()
            original = before[f"unet.{path_}.weight"].float()
            want = original + (deltas[(component, path_)] * 0.3 + deltas_b[(component, path_)] * 0.9)
            assert weight.dtype == torch.float16
            assert torch.equal(weight, want.half())
    remove_networks(model, library)
    assert_same_state(state_of(model), before)


# ---------------------------------------------------------------- every LoRA type, as files on real models

from tests.network_reference import (  # noqa: E402
    boft_delta,
    cayley,
    dora_delta,
    glora_delta,
    ia3_delta,
    kronecker,
    loha_delta,
    oft_delta,
    tucker_product,
)


def small(g, *shape):
    return torch.randn(*shape, generator=g) * 0.1


def lokr_split(weight):
    """LoKr factor shapes: w1 takes 4 x 4 blocks, w2 the rest (with the kernel, for convolutions)."""
    rows, inputs = weight.shape[:2]
    return (4, 4), (rows // 4, inputs // 4, *weight.shape[2:])


def build_loha(weight, bias, g):
    rows, inputs = weight.shape[0], weight[0].numel()
    factors = [small(g, rows, 2) * 3, small(g, 2, inputs) * 3, small(g, rows, 2) * 3, small(g, 2, inputs) * 3]
    params = dict(zip(("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"), factors)) | {"alpha": torch.tensor(1.0)}
    return params, {"weight": loha_delta(weight.shape, *factors, 1.0)}


def build_loha_tucker(weight, bias, g):  # convolutions: the kernel lives in the cores
    rows, inputs, kh, kw = weight.shape
    w1a, w1b, w2a, w2b = small(g, 2, rows), small(g, 2, inputs), small(g, 2, rows), small(g, 2, inputs)
    t1, t2 = small(g, 2, 2, kh, kw) * 10, small(g, 2, 2, kh, kw) * 10
    params = {"hada_w1_a": w1a, "hada_w1_b": w1b, "hada_w2_a": w2a, "hada_w2_b": w2b, "hada_t1": t1, "hada_t2": t2,
              "alpha": torch.tensor(4.0)}
    return params, {"weight": loha_delta(weight.shape, w1a, w1b, w2a, w2b, 4.0, t1, t2)}


def build_lokr(weight, bias, g):  # w1 full, w2 = w2_a w2_b (w2_b carries the kernel)
    (o1, i1), (o2, i2, *kernel) = lokr_split(weight)
    w1, w2a, w2b = small(g, o1, i1) * 10, small(g, o2, 2), small(g, 2, i2 * weight[0, 0].numel())
    params = {"lokr_w1": w1, "lokr_w2_a": w2a, "lokr_w2_b": w2b, "alpha": torch.tensor(1.0)}
    return params, {"weight": kronecker(w1, (w2a @ w2b).reshape(o2, i2, *kernel)) * 0.5}


def build_lokr_low_rank_w1(weight, bias, g):  # w1 = w1_a w1_b, w2 full
    (o1, i1), w2_shape = lokr_split(weight)
    w1a, w1b, w2 = small(g, o1, 2), small(g, 2, i1), small(g, *w2_shape)
    params = {"lokr_w1_a": w1a, "lokr_w1_b": w1b, "lokr_w2": w2, "alpha": torch.tensor(8.0)}
    return params, {"weight": kronecker(w1a @ w1b, w2) * 4.0}


def build_lokr_tucker(weight, bias, g):  # w2 = Tucker product of lokr_t2 with w2_a, w2_b
    (o1, i1), (o2, i2, kh, kw) = lokr_split(weight)
    w1, t2, w2a, w2b = small(g, o1, i1) * 10, small(g, 2, 2, kh, kw), small(g, 2, o2), small(g, 2, i2)
    params = {"lokr_w1": w1, "lokr_t2": t2, "lokr_w2_a": w2a, "lokr_w2_b": w2b, "alpha": torch.tensor(2.0)}
    return params, {"weight": kronecker(w1, tucker_product(t2, w2a, w2b))}


def build_ia3(weight, bias, g, on_input=False):
    scale = small(g, weight.shape[1 if on_input else 0]) * 10
    return {"weight": scale, "on_input": torch.tensor(on_input)}, {"weight": ia3_delta(weight, scale, on_input)}


def build_full(weight, bias, g):
    diff, diff_b = small(g, *weight.shape), small(g, *bias.shape)
    return {"diff": diff, "diff_b": diff_b}, {"weight": diff, "bias": diff_b}


def build_norm(weight, bias, g):
    w_norm, b_norm = small(g, *weight.shape), small(g, *bias.shape)
    return {"w_norm": w_norm, "b_norm": b_norm}, {"weight": w_norm, "bias": b_norm}


def build_dora(weight, bias, g):
    kernel = weight.shape[2:]
    up, down = small(g, weight.shape[0], 2, *[1] * len(kernel)), small(g, 2, weight.shape[1], *kernel)
    columns = weight.transpose(0, 1).flatten(1).norm(dim=1)
    magnitude = (columns * (1 + small(g, weight.shape[1]))).reshape(1, -1, *[1] * (weight.ndim - 2))
    params = {"lora_up.weight": up, "lora_down.weight": down, "alpha": torch.tensor(1.0), "dora_scale": magnitude}
    return params, {"weight": dora_delta(weight, expected_delta(weight, up, down, 1.0, 2), magnitude)}


def build_cp_locon(weight, bias, g):  # up 1x1, mid kxk, down 1x1 (LyCORIS use_tucker)
    rows, inputs, kh, kw = weight.shape
    up, mid, down = small(g, rows, 2, 1, 1), small(g, 2, 2, kh, kw), small(g, 2, inputs, 1, 1)
    params = {"lora_up.weight": up, "lora_mid.weight": mid, "lora_down.weight": down, "alpha": torch.tensor(1.0)}
    return params, {"weight": tucker_product(mid, up.flatten(1).T, down.flatten(1)) * 0.5}


def build_oft(weight, bias, g):  # kohya: Q blocks, alpha caps their norm (small here, so the cap binds)
    blocks = small(g, weight.shape[0] // 8, 8, 8)
    return {"oft_blocks": blocks, "alpha": torch.tensor(0.005)}, {"weight": oft_delta(weight, cayley(blocks, 0.005))}


def build_oft_diag(weight, bias, g):  # LyCORIS: the rotations themselves
    rotations = cayley(small(g, weight.shape[0] // 8, 8, 8))
    return {"oft_diag": rotations}, {"weight": oft_delta(weight, rotations)}


def build_boft(weight, bias, g):  # 3 butterfly factors of 4-row blocks
    blocks = small(g, 3, weight.shape[0] // 4, 4, 4)
    return {"oft_blocks": blocks, "alpha": torch.tensor(0.0)}, {"weight": boft_delta(weight, cayley(blocks))}


def build_glora(weight, bias, g):  # on a 3x3 conv b2 carries the kernel
    rows, inputs = weight.shape[:2]
    a1, a2 = small(g, inputs, 2), small(g, 2, inputs)
    b1, b2 = small(g, rows, 2), small(g, 2, inputs, *weight.shape[2:])
    params = {"a1.weight": a1, "a2.weight": a2, "b1.weight": b1, "b2.weight": b2, "alpha": torch.tensor(1.0)}
    return params, {"weight": glora_delta(weight, a1, a2, b1, b2, 1.0)}


TYPE_BUILDERS = {  # type → (builder, the kinds of module it is tried on)
    "loha": (build_loha, ["attn", "pointwise", "te", "te2"]),
    "loha_tucker": (build_loha_tucker, ["conv"]),
    "lokr": (build_lokr, ["attn", "conv", "te", "te2"]),
    "lokr_low_rank_w1": (build_lokr_low_rank_w1, ["conv", "te_mlp", "te2_mlp"]),
    "lokr_tucker": (build_lokr_tucker, ["conv"]),
    "ia3": (build_ia3, ["attn", "te", "te2"]),
    "ia3_on_input": (lambda w, b, g: build_ia3(w, b, g, on_input=True), ["attn", "te_mlp", "te2_mlp"]),
    "full": (build_full, ["attn_out", "conv", "te", "te2"]),
    "norm": (build_norm, ["group_norm", "layer_norm", "te_norm", "te2_norm"]),
    "dora": (build_dora, ["attn", "conv", "te", "te2"]),
    "cp_locon": (build_cp_locon, ["conv"]),
    "oft": (build_oft, ["attn", "te"]),
    "oft_diag": (build_oft_diag, ["conv", "te"]),
    "boft": (build_boft, ["conv", "te2"]),
    "glora": (build_glora, ["pointwise", "conv", "te_mlp", "te2"]),
}

MODULE_KINDS = {  # (component, module path, key style)
    "sd1": {
        "attn": ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "ldm"),
        "attn_out": ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0", "diffusers"),
        "conv": ("unet", "mid_block.resnets.0.conv1", "diffusers"),  # 3x3
        "pointwise": ("unet", "up_blocks.1.attentions.0.proj_in", "ldm"),  # 1x1 conv
        "group_norm": ("unet", "down_blocks.0.resnets.0.norm1", "ldm"),
        "layer_norm": ("unet", "mid_block.attentions.0.transformer_blocks.0.norm2", "ldm"),
        "te": ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te"),
        "te_mlp": ("text_encoder_0", "encoder.layers.1.mlp.fc1", "te"),
        "te_norm": ("text_encoder_0", "encoder.layers.0.layer_norm1", "te"),
    },
    "sdxl": {
        "attn": ("unet", "down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q", "ldm"),
        "attn_out": ("unet", "mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0", "ldm"),
        "conv": ("unet", "up_blocks.0.resnets.0.conv2", "ldm"),
        "pointwise": ("unet", "up_blocks.0.attentions.1.proj_in", "ldm"),  # linear in SDXL
        "group_norm": ("unet", "up_blocks.1.resnets.0.norm2", "ldm"),
        "layer_norm": ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.norm1", "diffusers"),
        "te": ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te"),
        "te_mlp": ("text_encoder_0", "encoder.layers.1.mlp.fc1", "te"),
        "te_norm": ("text_encoder_0", "encoder.layers.1.layer_norm2", "te"),
        "te2": ("text_encoder_1", "text_model.encoder.layers.1.self_attn.out_proj", "te"),
        "te2_mlp": ("text_encoder_1", "text_model.encoder.layers.0.mlp.fc2", "te"),
        "te2_norm": ("text_encoder_1", "text_model.final_layer_norm", "te"),
    },
}


def build_typed_file(model, name, kind):
    """A LoRA file's entries of one type for `model` and the change each parameter should see."""
    build, module_kinds = TYPE_BUILDERS[kind]
    entries, deltas = {}, {}
    for n, module_kind in enumerate(k for k in module_kinds if k in MODULE_KINDS[name]):
        component, path, style = MODULE_KINDS[name][module_kind]
        module = module_at(model, component, path)
        bias = module.bias.detach().float() if module.bias is not None else None
        params, changes = build(module.weight.detach().float(), bias, torch.Generator().manual_seed(n))
        key = kohya_key(model, component, path, style)
        entries |= {f"{key}.{param}": value for param, value in params.items()}
        deltas |= {state_key(component, path, param): (change, component) for param, change in changes.items()}
    return entries, deltas


@pytest.mark.parametrize("kind", list(TYPE_BUILDERS))
@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_each_lora_type_file_changes_weights_as_computed_directly(models, library, lora_dir, name, kind):
    model = models(name)
    entries, deltas = build_typed_file(model, name, kind)
    write_lora(lora_dir / f"{kind}.safetensors", entries)
    before = state_of(model)
    with apply_networks(model, extract_networks(f"<lyco:{kind}:0.7:0.4>")[1], library) as report:
        assert report.warnings == [] and report.patched_parameters == len(deltas)
        during = state_of(model)
        for key, (change, component) in deltas.items():
            multiplier = 0.4 if component == "unet" else 0.7
            assert change.abs().max() > 1e-3, key  # the update is not nothing
            assert torch.allclose(during[key], before[key] + multiplier * change, atol=1e-5), key
        moved = [k for k in before if k not in deltas and not torch.equal(before[k], during[k])]
        assert moved == []
    remove_networks(model, library)
    assert_same_state(state_of(model), before)


def test_dyn_uses_the_first_ranks_and_is_part_of_the_applied_set(models, library, lora_dir):
    model = models("sd1")
    component, path, style = SD1_TARGETS[0]
    weight = module_at(model, component, path).weight.detach()
    up, down = lora_pair(weight, 6, seed=3)
    key = kohya_key(model, component, path, style)
    write_lora(lora_dir / "dy.safetensors", {f"{key}.lora_up.weight": up, f"{key}.lora_down.weight": down,
                                             f"{key}.alpha": torch.tensor(3.0)})
    original = weight.clone()
    with apply_networks(model, extract_networks("<lora:dy:0.5:dyn=2>")[1], library):
        want = original + 0.5 * (up[:, :2] @ down[:2]) * (3.0 / 6)
        assert torch.allclose(module_at(model, component, path).weight, want, atol=1e-6)
    with apply_networks(model, extract_networks("<lora:dy:0.5:0.5:2>")[1], library) as positional:
        assert positional.reused  # the 4th positional argument is dyn too
    with apply_networks(model, extract_networks("<lora:dy:0.5>")[1], library) as full:
        assert not full.reused
        want = original + 0.5 * (up @ down) * (3.0 / 6)
        assert torch.allclose(module_at(model, component, path).weight, want, atol=1e-6)
