"""A description of the machine a benchmark ran on, for the README and the JSON results."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from pathlib import Path

from pydantic import BaseModel


class Machine(BaseModel):
    nproc: int
    cpu_model: str
    ram_gb: float
    python: str
    sqlite: str
    platform: str
    load_average: tuple[float, float, float] | None

    def line(self) -> str:
        load = "n/a" if self.load_average is None else ", ".join(f"{value:.2f}" for value in self.load_average)
        return (
            f"{self.nproc} CPUs ({self.cpu_model}), {self.ram_gb:.1f} GB RAM, Python {self.python}, "
            f"SQLite {self.sqlite}, {self.platform}; load average {load}"
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def describe() -> Machine:
    """The current machine: CPU count and model, RAM, Python and SQLite versions, load."""
    try:
        load: tuple[float, float, float] | None = os.getloadavg()
    except OSError:
        load = None
    return Machine(
        nproc=os.cpu_count() or 1,
        cpu_model=_cpu_model(),
        ram_gb=_ram_gb(),
        python=sys.version.split()[0],
        sqlite=sqlite3.sqlite_version,
        platform=platform.platform(),
        load_average=load,
    )


def save_results(path: str | Path, machine: Machine, **sections: BaseModel) -> None:
    """Write a bench script's results as JSON: ``{"machine": ..., <section>: ...}``."""
    document = {"machine": machine.model_dump(), **{name: part.model_dump(mode="json") for name, part in sections.items()}}
    Path(path).write_text(json.dumps(document, indent=1), encoding="utf-8")
