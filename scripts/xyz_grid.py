"""X/Y/Z plot (A1111's scripts/xyz_grid.py): one image per combination of up to three axes'
values, laid out as a labelled grid (Z makes one grid per value, side by side).

script_args, in A1111's order: x_type, x_values, x_values_dropdown, y_type, y_values,
y_values_dropdown, z_type, z_values, z_values_dropdown, draw_legend, include_lone_images,
include_sub_grids, no_fixed_seeds, vary_seeds_x, vary_seeds_y, vary_seeds_z, margin_size,
csv_mode. An axis type is its index in this tab's list (as A1111's dropdown sends it) or
its label ("Prompt S/R"). Values: "1-5", "1-5 (+2)", "1-10 [5]", comma lists with quotes.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

import gradio as gr

import modules.scripts as scripts
from modules import images
from modules.images import GridAnnotation, quote
from modules.processing import Processed, fix_seed, process_images
from modules.processing.params import ParamsError
from modules.script_helpers import announce_jobs, parse_values, save_grid, stopped, to_csv
from modules.script_helpers.xyz_axes import (AxisOption, AxisOptionImg2Img, AxisOptionTxt2Img,  # noqa: F401
                                             axis_options, str_permutations)

MAX_GRID_MEGAPIXELS = 200  # A1111's img_max_size_mp default
AXES = ("X", "Y", "Z")


@dataclass
class Axis:
    name: str  # "X", "Y" or "Z"
    option: AxisOption
    text: str  # the values as the user wrote them (infotext "X Values")
    values: list


class Script(scripts.Script):
    def title(self):
        return "X/Y/Z plot"

    def options(self, is_img2img: bool) -> list[AxisOption]:
        return [option for option in axis_options if option.shown_on(is_img2img)]

    def ui(self, is_img2img):
        options = self.options(is_img2img)
        labels = [option.label for option in options]
        rows = []
        for name, default in (("x", labels[1]), ("y", labels[0]), ("z", labels[0])):
            with gr.Row():
                axis_type = gr.Dropdown(label=f"{name.upper()} type", choices=labels, value=default, type="index",
                                        elem_id=self.elem_id(f"{name}_type"))
                values = gr.Textbox(label=f"{name.upper()} values", lines=1, elem_id=self.elem_id(f"{name}_values"))
                values_dropdown = gr.Dropdown(label=f"{name.upper()} values", visible=False, multiselect=True,
                                              interactive=True, choices=[], elem_id=self.elem_id(f"{name}_values_dropdown"))
                fill = gr.Button(value="\U0001f4d2", visible=False, size="sm", min_width=40,
                                 elem_id=f"xyz_grid_fill_{name}_tool_button")
            rows.append((axis_type, values, values_dropdown, fill))

        with gr.Row(variant="compact", elem_id="axis_options"):
            with gr.Column():
                draw_legend = gr.Checkbox(label="Draw legend", value=True, elem_id=self.elem_id("draw_legend"))
                no_fixed_seeds = gr.Checkbox(label="Keep -1 for seeds", value=False,
                                             elem_id=self.elem_id("no_fixed_seeds"))
                with gr.Row():
                    vary_seeds_x = gr.Checkbox(label="Vary seeds for X", value=False, min_width=80,
                                               elem_id=self.elem_id("vary_seeds_x"))
                    vary_seeds_y = gr.Checkbox(label="Vary seeds for Y", value=False, min_width=80,
                                               elem_id=self.elem_id("vary_seeds_y"))
                    vary_seeds_z = gr.Checkbox(label="Vary seeds for Z", value=False, min_width=80,
                                               elem_id=self.elem_id("vary_seeds_z"))
            with gr.Column():
                include_lone_images = gr.Checkbox(label="Include Sub Images", value=False,
                                                  elem_id=self.elem_id("include_lone_images"))
                include_sub_grids = gr.Checkbox(label="Include Sub Grids", value=False,
                                                elem_id=self.elem_id("include_sub_grids"))
                csv_mode = gr.Checkbox(label="Use text inputs instead of dropdowns", value=False,
                                       elem_id=self.elem_id("csv_mode"))
            with gr.Column():
                margin_size = gr.Slider(label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2,
                                        elem_id=self.elem_id("margin_size"))

        self._wire_ui(options, rows, csv_mode)
        (x_type, x_values, x_dropdown, _), (y_type, y_values, y_dropdown, _), (z_type, z_values, z_dropdown, _) = rows
        self.infotext_fields = [(x_type, "X Type"), (x_values, "X Values"), (y_type, "Y Type"),
                                (y_values, "Y Values"), (z_type, "Z Type"), (z_values, "Z Values")]
        return [x_type, x_values, x_dropdown, y_type, y_values, y_dropdown, z_type, z_values, z_dropdown,
                draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds,
                vary_seeds_x, vary_seeds_y, vary_seeds_z, margin_size, csv_mode]

    def _wire_ui(self, options: list[AxisOption], rows: list, csv_mode: Any) -> None:
        """Axes with a fixed set of values (samplers, checkpoints…) pick them from a dropdown
        (📒 fills in every choice) unless "Use text inputs" is on; swap buttons as A1111."""
        def select_axis(index, text, picked, use_text):
            choices = options[index or 0].choice_list(self) if 0 <= (index or 0) < len(options) else None
            has_choices = choices is not None
            if has_choices and use_text and picked:
                text, picked = to_csv([v for v in picked if v in choices]), []
            elif has_choices and not use_text and text:
                picked, text = [v for v in parse_values(text, "str") if v in choices], ""
            return (gr.update(visible=has_choices), gr.update(visible=not has_choices or use_text, value=text),
                    gr.update(choices=choices or [], visible=has_choices and not use_text, value=picked or []))

        def fill(index, use_text):
            choices = options[index or 0].choice_list(self)
            if not choices:
                return gr.update(), gr.update()
            return (gr.update(value=to_csv(choices)), gr.update()) if use_text else (gr.update(), gr.update(value=choices))

        for axis_type, values, dropdown, fill_button in rows:
            axis_type.change(select_axis, [axis_type, values, dropdown, csv_mode], [fill_button, values, dropdown],
                             show_progress="hidden")
            csv_mode.change(select_axis, [axis_type, values, dropdown, csv_mode], [fill_button, values, dropdown],
                            show_progress="hidden")
            fill_button.click(fill, [axis_type, csv_mode], [values, dropdown], show_progress="hidden")

        with gr.Row(variant="compact", elem_id="swap_axes"):
            for (a, b), elem in (((0, 1), "xy_grid_swap_axes_button"), ((1, 2), "yz_grid_swap_axes_button"),
                                 ((0, 2), "xz_grid_swap_axes_button")):
                button = gr.Button(value=f"Swap {'XYZ'[a]}/{'XYZ'[b]} axes", elem_id=elem)
                swapped = [*rows[a][:3], *rows[b][:3]]

                def swap(t1, v1, d1, t2, v2, d2):
                    return options[t2].label, v2, d2, options[t1].label, v1, d1
                button.click(swap, swapped, swapped, show_progress="hidden")

    # --- arguments ----------------------------------------------------------------------------

    def _option(self, axis: str, value: Any) -> AxisOption:
        options = self.options(self.is_img2img)
        if isinstance(value, bool) or value is None:
            value = 0 if value is None else value
        if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= int(value) < len(options):
            return options[int(value)]
        if isinstance(value, str):
            for option in options:
                if option.label.lower() == value.strip().lower():
                    return option
        raise ParamsError("script_args", f"{axis} type {value!r} is not one of this tab's axis types: "
                                         f"{[option.label for option in options]} (or their index)")

    def _axis(self, name: str, option: AxisOption, text: Any, picked: Any, csv_mode: bool) -> Axis:
        if option.label == "Nothing":
            return Axis(name, option, "", [0])
        use_dropdown = option.choices is not None and not csv_mode and bool(picked)
        source = list(picked) if use_dropdown else ("" if text is None else str(text))
        shown = to_csv(source) if use_dropdown else source
        try:
            values = option.prepare(source) if option.prepare is not None else parse_values(source, option.kind)
            if option.kind == "str":
                values = [option.type(v) for v in values]
            if option.confirm is not None:
                option.confirm(self, values)
        except ParamsError as e:
            raise ParamsError("script_args", f"{name} values ({option.label}): {str(e).split(': ', 1)[-1]}") from None
        except (ValueError, TypeError, RuntimeError) as e:
            raise ParamsError("script_args", f"{name} values ({option.label}): {e}") from None
        return Axis(name, option, shown, values)

    def _axes(self, args: tuple) -> tuple[list[Axis], dict[str, Any]]:
        (x_type, x_values, x_dropdown, y_type, y_values, y_dropdown, z_type, z_values, z_dropdown, draw_legend,
         include_lone_images, include_sub_grids, no_fixed_seeds, vary_x, vary_y, vary_z, margin_size,
         csv_mode) = (list(args) + [None] * 18)[:18]
        axes = [self._axis(name, self._option(name, kind), text, picked, bool(csv_mode))
                for name, kind, text, picked in (("X", x_type, x_values, x_dropdown), ("Y", y_type, y_values, y_dropdown),
                                                 ("Z", z_type, z_values, z_dropdown))]
        flags = dict(draw_legend=True if draw_legend is None else bool(draw_legend),
                     include_lone_images=bool(include_lone_images), include_sub_grids=bool(include_sub_grids),
                     no_fixed_seeds=bool(no_fixed_seeds), vary=(bool(vary_x), bool(vary_y), bool(vary_z)),
                     margin_size=int(margin_size or 0))
        return axes, flags

    def check_args(self, request, *args):
        """Refuse bad axis types and values when the job is queued (422 naming the axis and value)."""
        axes, _ = self._axes(args)
        prompt, negative = request.get("prompt"), request.get("negative_prompt") or ""
        for axis in axes:
            if axis.option.label == "Prompt S/R" and isinstance(prompt, str) \
                    and axis.values[0] not in prompt and axis.values[0] not in negative:
                raise ParamsError("script_args", f"{axis.name} values (Prompt S/R): {axis.values[0]!r} is not in "
                                                 "the prompt or negative prompt (the first value is what is replaced)")
        width, height = request.get("width", 512), request.get("height", 512)
        cells = len(axes[0].values) * len(axes[1].values) * len(axes[2].values)
        if isinstance(width, int) and isinstance(height, int) and cells * width * height / 1e6 > MAX_GRID_MEGAPIXELS:
            raise ParamsError("script_args", f"the grid would be {cells * width * height / 1e6:.0f} megapixels "
                                             f"({cells} images); at most {MAX_GRID_MEGAPIXELS}")

    # --- run ------------------------------------------------------------------------------------

    def run(self, p, *args):
        axes, flags = self._axes(args)
        if not flags["no_fixed_seeds"]:
            fix_seed(p)
            for axis in axes:
                if axis.option.label in ("Seed", "Var. seed"):
                    axis.values = [random.randrange(4294967294) if v in (None, "", -1) else v for v in axis.values]
        xs, ys, zs = (axis.values for axis in axes)
        announce_jobs(len(xs) * len(ys) * len(zs) * p.n_iter, p.steps)

        cells: dict[tuple[int, int, int], Processed] = {}
        for ix, iy, iz in _cell_order(axes):
            if stopped():
                break
            cells[ix, iy, iz] = self._cell(p, axes, (ix, iy, iz), flags["vary"])
        if not cells:
            return Processed(p, [])
        return self._grid(p, axes, cells, flags)

    def _cell(self, p, axes: list[Axis], index: tuple[int, int, int], vary: tuple[bool, bool, bool]) -> Processed:
        pc = copy.copy(p)
        pc.styles = list(p.styles or [])
        pc.override_settings = dict(p.override_settings)
        pc.extra_generation_params = dict(p.extra_generation_params)
        for axis, i in zip(axes, index):
            axis.option.apply(pc, axis.values[i], axis.values)
        xdim = len(axes[0].values) if vary[0] else 1
        ydim = len(axes[1].values) if vary[1] else 1
        if isinstance(pc.seed, int):
            pc.seed += (index[0] if vary[0] else 0) + (index[1] * xdim if vary[1] else 0) \
                + (index[2] * xdim * ydim if vary[2] else 0)
        return process_images(pc)

    def _grid(self, p, axes: list[Axis], cells: dict, flags: dict[str, Any]) -> Processed:
        xs, ys, zs = (axis.values for axis in axes)
        first = next(iter(cells.values()))
        blank_size = first.images[0].size if first.images else (p.width, p.height)
        order = [(ix, iy, iz) for iz in range(len(zs)) for iy in range(len(ys)) for ix in range(len(xs))]
        pictures = [cells[i].images[0] if i in cells and cells[i].images else images_blank(blank_size) for i in order]
        infos = [cells[i].infotexts[0] if i in cells and cells[i].infotexts else "" for i in order]
        prompts = [cells[i].prompt if i in cells else "" for i in order]
        seeds = [cells[i].seed if i in cells else -1 for i in order]
        labels = [[axis.option.format_value(p, axis.option, v) for v in axis.values] for axis in axes]
        per_grid = len(xs) * len(ys)
        sub_grids = []
        for iz in range(len(zs)):
            part = pictures[iz * per_grid:(iz + 1) * per_grid]
            grid = images.image_grid(part, rows=len(ys))
            if flags["draw_legend"]:
                grid = images.draw_grid_annotations(grid, part[0].width, part[0].height,
                                                    [[GridAnnotation(x)] for x in labels[0]],
                                                    [[GridAnnotation(y)] for y in labels[1]], flags["margin_size"])
            sub_grids.append(grid)
        if len(zs) == 1:
            main = sub_grids[0]
        else:
            main = images.image_grid(sub_grids, rows=1)
            if flags["draw_legend"]:
                main = images.draw_grid_annotations(main, sub_grids[0].width, sub_grids[0].height,
                                                    [[GridAnnotation(z)] for z in labels[2]], [[GridAnnotation()]])
        main_info = _with_fields(infos[0], _axis_fields(axes, flags["no_fixed_seeds"], ("X", "Y", "Z")))
        sub_infos = [_with_fields(infos[iz * per_grid], _axis_fields(axes, flags["no_fixed_seeds"], ("X", "Y")))
                     for iz in range(len(zs))]
        save_grid(p, main, "xyz_grid", main_info, prompts[0], seeds[0])
        result_images, result_infos = [main], [main_info]
        result_prompts, result_seeds = [], []
        if flags["include_sub_grids"] and len(zs) > 1:
            for iz, grid in enumerate(sub_grids):
                save_grid(p, grid, "xyz_grid", sub_infos[iz], prompts[iz * per_grid], seeds[iz * per_grid])
            result_images += sub_grids
            result_infos += sub_infos
            result_prompts += [prompts[iz * per_grid] for iz in range(len(zs))]
            result_seeds += [seeds[iz * per_grid] for iz in range(len(zs))]
        if flags["include_lone_images"]:
            result_images += pictures
            result_infos += infos
        result_prompts += prompts
        result_seeds += seeds
        grids = len(result_images) - (len(pictures) if flags["include_lone_images"] else 0)
        return Processed(p, result_images, seeds[0], main_info, all_prompts=result_prompts, all_seeds=result_seeds,
                         infotexts=result_infos, index_of_first_image=grids)


def _cell_order(axes: list[Axis]) -> list[tuple[int, int, int]]:
    """Every (ix, iy, iz), the costliest axis (checkpoints) outermost so it changes least (A1111)."""
    costs = [axis.option.cost for axis in axes]
    outer = sorted(range(3), key=lambda i: (-costs[i], {0: 2, 1: 1, 2: 0}[i]))  # ties: Z, then Y, then X outermost
    sizes = [len(axis.values) for axis in axes]
    order = []

    def walk(level: int, index: list[int]) -> None:
        if level == 3:
            order.append(tuple(index))
            return
        axis = outer[level]
        for i in range(sizes[axis]):
            index[axis] = i
            walk(level + 1, index)
    walk(0, [0, 0, 0])
    return order


def images_blank(size: tuple[int, int]):
    """A black cell for an image that was not made (interrupted), as A1111 leaves one."""
    from PIL import Image

    return Image.new("RGB", size)


def _axis_fields(axes: list[Axis], no_fixed_seeds: bool, names: tuple[str, ...]) -> dict[str, str]:
    """A1111's grid infotext fields: Script, X Type, X Values (and Fixed X Values for seeds)."""
    fields = {"Script": "X/Y/Z plot"}
    for axis in axes:
        if axis.name not in names or axis.option.label == "Nothing":
            continue
        fields[f"{axis.name} Type"] = axis.option.label
        fields[f"{axis.name} Values"] = axis.text
        if axis.option.label in ("Seed", "Var. seed") and not no_fixed_seeds:
            fields[f"Fixed {axis.name} Values"] = ", ".join(str(v) for v in axis.values)
    return fields


def _with_fields(infotext: str, fields: dict[str, str]) -> str:
    """The cell's infotext with the grid's fields added to its parameters line."""
    extra = ", ".join(f"{key}: {quote(value)}" for key, value in fields.items())
    return f"{infotext}, {extra}" if infotext else extra


__all__ = ["AxisOption", "AxisOptionImg2Img", "AxisOptionTxt2Img", "Script", "axis_options", "str_permutations"]
