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


def test_reload_reads_only_new_or_changed_files(models, sd1_embeddings, monkeypatch):
    import modules.networks.embeddings as embeddings_module

    reads = []
    real_read = embeddings_module.read_embedding_file
    monkeypatch.setattr(embeddings_module, "read_embedding_file", lambda path, *a: reads.append(path.name) or real_read(path, *a))
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
    prefix = {"sd1": ["lora_te_"], "sdxl": ["lora_te1_", "lora_te2_"]}[model.arch.family][int(component[-1])]
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


# ---------------------------------------------------------------- OFT, BOFT, GLoRA, DyLoRA

from tests.network_reference import boft_delta, cayley, glora_delta, oft_delta  # noqa: E402


def lycoris_module(kind, weight, seed):
    """A LyCORIS module's parameters for `weight` and the weight change they mean (multiplier 1)."""
    g = torch.Generator().manual_seed(seed)
    rows, inputs = weight.shape[:2]
    weight = weight.float()
    if kind == "oft":  # kohya: Q blocks, alpha caps their norm (small here, so the cap binds)
        blocks = torch.randn(rows // 8, 8, 8, generator=g) * 0.1
        return {"oft_blocks": blocks, "alpha": torch.tensor(0.005)}, oft_delta(weight, cayley(blocks, 0.005))
    if kind == "oft_diag":  # LyCORIS: the rotations themselves
        rotations = cayley(torch.randn(rows // 8, 8, 8, generator=g) * 0.1)
        return {"oft_diag": rotations}, oft_delta(weight, rotations)
    if kind == "boft":  # 3 butterfly factors of 4-row blocks
        blocks = torch.randn(3, rows // 4, 4, 4, generator=g) * 0.1
        return {"oft_blocks": blocks, "alpha": torch.tensor(0.0)}, boft_delta(weight, cayley(blocks))
    assert kind == "glora"
    kernel = weight.shape[2:]
    a1, a2 = torch.randn(inputs, 2, generator=g) * 0.1, torch.randn(2, inputs, generator=g) * 0.1
    b1, b2 = torch.randn(rows, 2, generator=g) * 0.1, torch.randn(2, inputs, *kernel, generator=g) * 0.1
    params = {"a1.weight": a1, "a2.weight": a2, "b1.weight": b1, "b2.weight": b2, "alpha": torch.tensor(1.0)}
    return params, glora_delta(weight, a1, a2, b1, b2, 1.0)


LYCORIS_TARGETS = {  # (component, module path, key style, type)
    "sd1": [
        ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "ldm", "oft"),
        ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te", "oft_diag"),
        ("unet", "mid_block.resnets.0.conv1", "diffusers", "boft"),  # 3x3 conv
        ("unet", "up_blocks.1.attentions.0.proj_in", "ldm", "glora"),  # 1x1 conv
        ("text_encoder_0", "encoder.layers.1.mlp.fc1", "te", "glora"),
    ],
    "sdxl": [
        ("unet", "down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q", "ldm", "oft"),
        ("unet", "mid_block.resnets.0.conv1", "ldm", "oft_diag"),
        ("text_encoder_1", "text_model.encoder.layers.1.self_attn.out_proj", "te", "boft"),
        ("text_encoder_0", "encoder.layers.0.self_attn.q_proj", "te", "glora"),
        ("unet", "up_blocks.0.resnets.0.conv2", "ldm", "glora"),  # 3x3 conv, b2 carries the kernel
    ],
}


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_oft_boft_and_glora_files_change_weights_as_computed_directly(models, library, lora_dir, name):
    model = models(name)
    entries, deltas = {}, {}
    for n, (component, path, style, kind) in enumerate(LYCORIS_TARGETS[name]):
        params, deltas[(component, path)] = lycoris_module(kind, module_at(model, component, path).weight.detach(), n)
        key = kohya_key(model, component, path, style)
        entries |= {f"{key}.{param}": value for param, value in params.items()}
    write_lora(lora_dir / "lyco.safetensors", entries)
    before = state_of(model)
    with apply_networks(model, extract_networks("<lyco:lyco:0.7:0.4>")[1], library) as report:
        assert report.warnings == [] and report.patched_parameters == len(LYCORIS_TARGETS[name])
        for component, path, _, kind in LYCORIS_TARGETS[name]:
            key = f"{'unet' if component == 'unet' else 'te' + component[-1]}.{path}.weight"
            multiplier = 0.4 if component == "unet" else 0.7
            got = module_at(model, component, path).weight.detach()
            assert torch.allclose(got, before[key] + multiplier * deltas[(component, path)], atol=1e-5), (kind, path)
            assert deltas[(component, path)].abs().max() > 1e-3, kind  # the update is not nothing
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
