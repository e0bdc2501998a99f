"""Which CPU microarchitecture this is, from CPUID fields, even on a VM that hides the model name.

A cloud VM often reports ``model name : AMD EPYC`` or ``Intel Xeon Processor (Icelake)``,
but ``/proc/cpuinfo`` still carries the CPUID vendor, family, model and stepping, and the
instruction-set flags, which the hypervisor passes through. Those identify the
microarchitecture (Intel's and AMD's published family/model numbers, as in the Linux
kernel's ``arch/x86/include/asm/intel-family.h`` and AMD's processor programming
references); on Arm, the implementer and part number do (``arch/arm64/include/asm/cputype.h``).
The flags then corroborate (AMX exists from Sapphire Rapids on) or, where the model number
is not in the table, bound the answer. What was inferred, and from which fields, is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (family, model) -> (microarchitecture, stepping ranges that refine it or None)
_INTEL: dict[int, tuple[str, ...] | str] = {
    45: "Sandy Bridge",  # Sandy Bridge-EP
    42: "Sandy Bridge",
    62: "Ivy Bridge",  # Ivy Bridge-EP
    58: "Ivy Bridge",
    63: "Haswell",  # Haswell-EP
    60: "Haswell",
    69: "Haswell",
    70: "Haswell",
    79: "Broadwell",  # Broadwell-EP
    86: "Broadwell",  # Broadwell-DE
    61: "Broadwell",
    71: "Broadwell",
    78: "Skylake",  # client
    94: "Skylake",  # client
    85: ("Skylake",) * 5 + ("Cascade Lake",) * 5 + ("Cooper Lake",) * 2,  # by stepping: 0-4, 5-9, 10-11
    142: "Coffee Lake",  # Kaby/Coffee/Whiskey Lake mobile
    158: "Coffee Lake",  # Kaby/Coffee Lake desktop
    106: "Ice Lake",  # Ice Lake-SP
    108: "Ice Lake",  # Ice Lake-D
    143: "Sapphire Rapids",
    207: "Emerald Rapids",
    173: "Granite Rapids",
    174: "Granite Rapids",  # Granite Rapids-D
}
# AMD: family -> (first model, last model, name, core); server parts first, client parts by their core
_AMD: dict[int, list[tuple[int, int, str, str]]] = {
    23: [(0x01, 0x01, "Naples", "Zen"), (0x30, 0x3F, "Rome", "Zen 2"), (0x70, 0x7F, "Matisse", "Zen 2")],
    25: [
        (0x00, 0x0F, "Milan", "Zen 3"),
        (0x20, 0x2F, "Vermeer", "Zen 3"),
        (0x10, 0x1F, "Genoa", "Zen 4"),
        (0xA0, 0xAF, "Bergamo", "Zen 4c"),
        (0x60, 0x6F, "Raphael", "Zen 4"),
    ],
    26: [(0x00, 0x0F, "Turin", "Zen 5"), (0x10, 0x1F, "Turin Dense", "Zen 5c"), (0x40, 0x4F, "Granite Ridge", "Zen 5")],
}
_ARM_PARTS = {  # implementer 0x41 (Arm Ltd) part numbers
    0xD0C: "Neoverse N1",  # AWS Graviton2, Ampere Altra
    0xD40: "Neoverse V1",  # AWS Graviton3
    0xD4F: "Neoverse V2",  # AWS Graviton4, Google Axion
    0xD49: "Neoverse N2",
}


@dataclass(frozen=True)
class Microarch:
    """The inferred microarchitecture and the evidence for it.

    Attributes:
        name: ``Milan``, ``Ice Lake``, ``Neoverse V1``... or None when it cannot be told.
        vendor: ``intel``, ``amd``, ``arm`` or ``unknown``.
        core: The core generation where it helps (``Zen 3``).
        evidence: One sentence naming the fields it came from.
        fields: The raw fields read (vendor, family, model, stepping, model name, flags used).
        virtual: The kernel sees a hypervisor.
        bounded: True when only a lower bound was inferred from flags ("Sapphire Rapids or later").
    """

    name: str | None
    vendor: str
    core: str | None
    evidence: str
    fields: dict[str, Any] = field(default_factory=dict)
    virtual: bool = False
    bounded: bool = False

    def label(self) -> str:
        """``Milan (Zen 3), from CPUID family 25 model 1`` style, for reports."""
        if self.name is None:
            return f"unidentified ({self.evidence})"
        core = f" ({self.core})" if self.core else ""
        return f"{self.name}{' or later' if self.bounded else ''}{core}"


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor block of ``/proc/cpuinfo`` as a dict (keys stripped)."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def infer(info: dict[str, str]) -> Microarch:
    """Infer the microarchitecture from parsed cpuinfo fields (see the module docstring)."""
    flags = set((info.get("flags") or info.get("Features") or "").split())
    virtual = "hypervisor" in flags
    model_name = info.get("model name", "")
    vendor_id = info.get("vendor_id", "")
    family, model, stepping = _int(info.get("cpu family")), _int(info.get("model")), _int(info.get("stepping"))
    raw = {
        "vendor_id": vendor_id,
        "cpu family": family,
        "model": model,
        "stepping": stepping,
        "model name": model_name,
        "flags used": sorted(flags & {"amx_tile", "avx512_vnni", "avx512f", "avx2", "hypervisor"}),
    }
    if vendor_id == "GenuineIntel":
        return _intel(family, model, stepping, flags, raw, virtual)
    if vendor_id in ("AuthenticAMD", "HygonGenuine"):
        return _amd(family, model, raw, virtual)
    implementer, part = _int(info.get("CPU implementer")), _int(info.get("CPU part"))
    if implementer is not None:
        raw.update({"CPU implementer": implementer, "CPU part": part})
        name = _ARM_PARTS.get(part or -1) if implementer == 0x41 else None
        where = f"CPU implementer {implementer:#x} part {part:#x}" if part is not None else "CPU implementer"
        if name is None:
            return Microarch(None, "arm", None, f"{where} is not in wattcut's table", raw, virtual)
        return Microarch(name, "arm", None, f"from {where}", raw, virtual)
    return Microarch(None, "unknown", None, f"vendor {vendor_id or 'not reported'}", raw, virtual)


def _intel(
    family: int | None, model: int | None, stepping: int | None, flags: set[str], raw: dict[str, Any], virtual: bool
) -> Microarch:
    where = f"CPUID family {family} model {model} stepping {stepping}"
    entry = _INTEL.get(model or -1) if family == 6 else None
    if isinstance(entry, tuple):
        name = entry[stepping] if stepping is not None and stepping < len(entry) else None
    else:
        name = entry
    if name is not None:
        if "amx_tile" in flags and name not in ("Sapphire Rapids", "Emerald Rapids", "Granite Rapids"):
            return Microarch(
                None, "intel", None, f"{where} says {name}, but the CPU has AMX: contradictory", raw, virtual
            )
        return Microarch(name, "intel", None, f"from {where}", raw, virtual)
    # Not in the table: bound it by instruction sets, newest first.
    if "amx_tile" in flags:
        return Microarch(
            "Sapphire Rapids", "intel", None, f"{where} unknown; AMX flag: Sapphire Rapids or later", raw, virtual, True
        )
    return Microarch(None, "intel", None, f"{where} is not in wattcut's table", raw, virtual)


def _amd(family: int | None, model: int | None, raw: dict[str, Any], virtual: bool) -> Microarch:
    where = f"CPUID family {family} model {model}"
    for lo, hi, name, core in _AMD.get(family or -1, []):
        if model is not None and lo <= model <= hi:
            return Microarch(name, "amd", core, f"from {where}", raw, virtual)
    return Microarch(None, "amd", None, f"{where} is not in wattcut's table", raw, virtual)


def this_machine(path: Path = Path("/proc/cpuinfo")) -> Microarch:
    """The microarchitecture of the CPU this process runs on."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Microarch(None, "unknown", None, f"{path} is not readable")
    return infer(parse_cpuinfo(text))
