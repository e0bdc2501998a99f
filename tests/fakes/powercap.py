"""A fake /sys/class/powercap tree, for RAPL tests without RAPL hardware."""

from __future__ import annotations

from pathlib import Path


class FakePowercap:
    """Writes intel-rapl zones under ``root``; ``set`` changes a counter like the kernel would."""

    def __init__(self, root: Path, packages: int = 1, dram: bool = True, max_uj: int = 1_000_000) -> None:
        self.root = root
        self.max_uj = max_uj
        self.zones: dict[str, Path] = {}
        for n in range(packages):
            pkg = root / f"intel-rapl:{n}"
            self._zone(pkg, f"package-{n}")
            self.zones[f"package-{n}"] = pkg
            self._zone(pkg / f"intel-rapl:{n}:0", "core")
            if dram:
                self._zone(pkg / f"intel-rapl:{n}:1", "dram")
                self.zones[f"package-{n}/dram"] = pkg / f"intel-rapl:{n}:1"

    def _zone(self, path: Path, name: str) -> None:
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "max_energy_range_uj").write_text(f"{self.max_uj}\n")
        (path / "energy_uj").write_text("0\n")

    def set(self, zone: str, uj: int) -> None:
        (self.zones[zone] / "energy_uj").write_text(f"{uj % self.max_uj}\n")
