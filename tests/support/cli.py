"""A config file with the demo network imported through the real CLI, for CLI tests."""

from __future__ import annotations

from pathlib import Path

from bot.cli import main
from bot.demo import demo_file

FILES = ("schools", "people", "audit", "terms")


def demo_config(folder: Path, *, name: str = "CLI Network", files: tuple[str, ...] = FILES) -> Path:
    """Write ``peerbot.toml`` in ``folder`` and import the demo's ``files`` with ``network import``."""
    config = folder / "peerbot.toml"
    config.write_text(f'[network]\nname = "{name}"\n', encoding="utf-8")
    args = ["--config", str(config), "network", "import"]
    for kind in files:
        path = folder / f"{kind}.csv"
        path.write_bytes(demo_file(f"{kind}.csv").data)
        args += [f"--{kind}", str(path)]
    assert main(args) == 0
    return config
