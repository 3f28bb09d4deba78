"""The Gradio page. Here: the top bar with checkpoint and VAE choice; tabs come later.

Handlers only convert values and call the engine; errors become toasts, never tracebacks.
"""

from __future__ import annotations

import gradio as gr

from modules.engine_state import EngineState
from modules.options import OptionError
from modules.sd_models.safe_load import CheckpointLoadError


def _status(state: EngineState) -> str:
    model = state.models.current_or_none
    if model is not None:
        return f"Loaded **{model.info.title}** ({model.arch.label}, {model.load_seconds:.1f}s)"
    return f"No checkpoint loaded: {state.models.last_error}" if state.models.last_error else "Loading checkpoint…"


def create_ui(state: EngineState) -> gr.Blocks:
    models, options = state.models, state.options

    def checkpoint_titles() -> list[str]:
        return [c.title for c in models.checkpoints]

    def select_checkpoint(title: str):
        try:
            options.update({"sd_model_checkpoint": title})
        except (OptionError, CheckpointLoadError) as e:
            gr.Warning(str(e))
        current = options.sd_model_checkpoint
        return gr.update(choices=checkpoint_titles(), value=current), _status(state)

    def refresh_checkpoints():
        models.refresh()
        return gr.update(choices=checkpoint_titles(), value=options.sd_model_checkpoint), \
            gr.update(choices=models.vae_choices(), value=options.sd_vae)

    def select_vae(choice: str):
        try:
            options.update({"sd_vae": choice})
        except (OptionError, CheckpointLoadError) as e:
            gr.Warning(str(e))
        return gr.update(value=options.sd_vae)

    def on_load():
        models.wait_idle(timeout=300)  # show the checkpoint once the background load is done
        return gr.update(choices=checkpoint_titles(), value=options.sd_model_checkpoint), _status(state)

    with gr.Blocks(title="Easel") as demo:
        with gr.Row(elem_id="quicksettings"):
            checkpoint = gr.Dropdown(label="Stable Diffusion checkpoint", choices=checkpoint_titles(),
                                     value=options.sd_model_checkpoint or None, elem_id="setting_sd_model_checkpoint",
                                     allow_custom_value=True)
            refresh = gr.Button("🔄", elem_id="refresh_sd_model_checkpoint", scale=0, min_width=40)
            vae = gr.Dropdown(label="SD VAE", choices=models.vae_choices(), value=options.sd_vae,
                              elem_id="setting_sd_vae")
        status = gr.Markdown(_status(state), elem_id="model_status")
        checkpoint.input(select_checkpoint, inputs=checkpoint, outputs=[checkpoint, status])
        refresh.click(refresh_checkpoints, outputs=[checkpoint, vae])
        vae.input(select_vae, inputs=vae, outputs=vae)
        demo.load(on_load, outputs=[checkpoint, status])
    return demo
