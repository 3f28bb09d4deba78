"""The extra networks panel under each prompt: cards for embeddings, LoRAs and checkpoints
with search; a click puts the network's syntax into the prompt (or takes it out again),
a checkpoint card loads that checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from modules.engine_state import EngineState
from modules.options import OptionError
from modules.sd_models.safe_load import CheckpointLoadError
from modules.ui import network_cards
from modules.ui.network_cards import NetworkCard
from modules.ui.quicksettings import QuickSettings, model_status

KINDS = {"embedding": "Textual Inversion", "lora": "Lora", "checkpoint": "Checkpoints"}
ELEM_NAMES = {"embedding": "textual_inversion", "lora": "lora", "checkpoint": "checkpoints"}


@dataclass
class ExtraNetworksPanel:
    search: gr.Textbox
    galleries: dict[str, gr.Gallery]  # kind -> its cards
    shown: gr.State  # kind -> list[NetworkCard], in gallery order


def all_cards(state: EngineState) -> dict[str, list[NetworkCard]]:
    """The cards of every kind, from the engine's lists as they are."""
    networks = state.extra_networks
    return {"embedding": network_cards.embedding_cards(networks.embeddings, state.models.current_or_none),
            "lora": network_cards.lora_cards(networks.loras),
            "checkpoint": network_cards.checkpoint_cards(state.models.checkpoints)}


def refresh_engine_lists(state: EngineState) -> None:
    """Have the engine rescan its LoRA and checkpoint folders (POST /sdapi/v1/refresh-loras and
    refresh-checkpoints); the embedding database rescans whenever it is read."""
    state.extra_networks.loras.refresh()
    state.models.refresh()


def gallery_value(cards: list[NetworkCard]) -> list[tuple[Any, str]]:
    placeholder = Image.new("RGB", (96, 96), (128, 128, 128))  # cards without a preview image
    return [(str(card.preview) if card.preview else placeholder, card.name) for card in cards]


def create_panel(tab: str, state: EngineState, prompt: gr.Textbox) -> ExtraNetworksPanel:
    with gr.Accordion("Extra networks", open=False, elem_id=f"{tab}_extra_networks") as accordion:
        with gr.Row():
            search = gr.Textbox(placeholder="Search…", show_label=False, elem_id=f"{tab}_extra_search", scale=4)
            refresh = gr.Button("Refresh", elem_id=f"{tab}_extra_refresh", scale=1, size="sm")
        galleries = {}
        with gr.Tabs(elem_id=f"{tab}_extra_tabs"):
            for kind, label in KINDS.items():
                with gr.Tab(label, id=kind, elem_id=f"{tab}_{ELEM_NAMES[kind]}_cards_tab"):
                    galleries[kind] = gr.Gallery(show_label=False, columns=6, height=260, allow_preview=False,
                                                 fit_columns=False, object_fit="cover", interactive=False,
                                                 elem_id=f"{tab}_{ELEM_NAMES[kind]}_cards")
        shown = gr.State({})
    panel = ExtraNetworksPanel(search, galleries, shown)

    def show(query: str):
        cards = {kind: network_cards.filter_cards(found, query) for kind, found in all_cards(state).items()}
        return [cards, *[gallery_value(cards[kind]) for kind in galleries]]

    def refresh_and_show(query: str):
        refresh_engine_lists(state)
        return show(query)

    outputs = [shown, *galleries.values()]
    for event in (accordion.expand, search.change):
        event(show, inputs=search, outputs=outputs, show_progress="hidden")
    refresh.click(refresh_and_show, inputs=search, outputs=outputs, show_progress="hidden")

    def insert(kind: str):
        def handler(cards: dict[str, list[NetworkCard]], text: str, event: gr.SelectData):
            card = cards[kind][event.index]
            return network_cards.toggle_in_prompt(text, card.prompt_text)
        return handler

    for kind in ("embedding", "lora"):
        galleries[kind].select(insert(kind), inputs=[shown, prompt], outputs=prompt, show_progress="hidden")
    return panel


def wire_checkpoint_cards(panel: ExtraNetworksPanel, state: EngineState, quick: QuickSettings) -> None:
    """A checkpoint card loads the checkpoint; the top bar shows it."""
    dropdown = quick.components.get("sd_model_checkpoint")

    def load(cards: dict[str, list[NetworkCard]], event: gr.SelectData):
        card = cards["checkpoint"][event.index]
        try:
            state.options.update({"sd_model_checkpoint": card.name})
        except (OptionError, CheckpointLoadError) as e:
            gr.Warning(str(e))
        updates = {quick.status: model_status(state)}
        if dropdown is not None:
            updates[dropdown] = state.options.sd_model_checkpoint
        return updates

    outputs = [quick.status, *([dropdown] if dropdown is not None else [])]
    panel.galleries["checkpoint"].select(load, inputs=panel.shown, outputs=outputs, show_progress="minimal")
