"""How much memory this machine has for specc, and the refusal of anything that would not fit,
made before it is allocated: SPECC_MEMORY_LIMIT when set (a size such as 8GiB), else what the
system says is available now (MemAvailable on Linux)."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from .errors import SpecError

LIMIT_VARIABLE = "SPECC_MEMORY_LIMIT"
UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30, "t": 2**40, "tib": 2**40}
FALLBACK_MEMORY = 16 * 2**30  # where the system tells nothing


@dataclass(frozen=True)
class Available:
    """Memory the estimates are held against, and where the figure comes from."""

    bytes: int
    source: str  # completes "more than the 20.1 GiB ...": "this machine has available"

    def phrase(self) -> str:
        return f"the {human(self.bytes)} {self.source}"


def parse_size(text: str) -> int:
    """A size as a user writes it: bytes, or a number with a unit (KiB MiB GiB TiB or K M G T:
    powers of 1024; kB MB GB TB: powers of 1000).

    >>> parse_size("16GiB"), parse_size("1.5 G"), parse_size("500MB"), parse_size("4096")
    (17179869184, 1610612736, 500000000, 4096)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*", text)
    unit = match and UNITS.get(match.group(2).lower())
    if not unit:
        raise SpecError(f"{LIMIT_VARIABLE}={text!r} is not a size",
                        expected="bytes, or a number with a unit, like 16GiB, 512MiB or 8GB",
                        hint=f"unset {LIMIT_VARIABLE} to use the memory this machine has available")
    return int(float(match.group(1)) * unit)


def _meminfo_available() -> int | None:
    """MemAvailable from /proc/meminfo (Linux): free memory plus what the kernel can reclaim."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file says kB and means KiB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_memory() -> int | None:
    """Free pages, else all pages, times the page size (systems without /proc/meminfo)."""
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf(pages)
        except (ValueError, OSError, AttributeError):
            continue
    return None


def available_memory() -> Available:
    """SPECC_MEMORY_LIMIT when set, else the memory this machine has available now."""
    limit = os.environ.get(LIMIT_VARIABLE)
    if limit:
        return Available(parse_size(limit), f"that {LIMIT_VARIABLE} allows")
    found = _meminfo_available() or _sysconf_memory()
    if found:
        return Available(found, "this machine has available")
    return Available(FALLBACK_MEMORY, "assumed available (this system does not say)")


def human(count: int) -> str:
    """Bytes as a reader takes them in: up to GiB, then a power of ten past a billion GiB.
    Integers of any size (a float would overflow past 10^308, str() past 4,300 digits).

    >>> human(72), human(3 * 2**10), human(5 * 2**19), human(80 * 10**9), human(10**400 + 1)
    ('72 bytes', '3.0 KiB', '2.5 MiB', '74.5 GiB', 'about 10^400 bytes')
    """
    if count >= 2**60:
        return f"about 10^{int(math.log10(count))} bytes"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count} bytes"


def check_fits(size: int, what: str, hint: str) -> None:
    """SpecError unless `size` bytes (the size of `what`, read from a header before anything is
    allocated) fit in the memory available."""
    memory = available_memory()
    if size > memory.bytes:
        raise SpecError(f"{what} needs {human(size)}, more than {memory.phrase()}", hint=hint)
