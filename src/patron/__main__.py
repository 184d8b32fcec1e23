from __future__ import annotations

from patron.cli import main

main()
