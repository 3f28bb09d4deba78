"""Helpers the built-in scripts (scripts/) share: the running job (settings, progress,
saving grids and samples as A1111 does) and A1111's value-list syntax for X/Y/Z plot.

Scripts reach the engine only through `p`, the processing facade and these helpers."""

from modules.script_helpers.job import (announce_jobs, job_settings, job_state, save_grid, save_sample, setting,
                                        stopped)
from modules.script_helpers.values import csv_list, parse_values, to_csv

__all__ = ["announce_jobs", "csv_list", "job_settings", "job_state", "parse_values", "save_grid", "save_sample",
           "setting", "stopped", "to_csv"]
