"""Files Patron writes for others to read (keys, certificates)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_whole(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all, with ``mode`` from the start (private by default).

    Readers that wait for a file to appear (the pytest plugin waits for the CA bundle) never
    see it half-written, and a key file is never readable by others, even for a moment.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
