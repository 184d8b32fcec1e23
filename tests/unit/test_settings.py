"""Settings come from PATRON_* variables, and every one is documented."""

from __future__ import annotations

from pathlib import Path

from patron.settings import Settings, describe

ROOT = Path(__file__).resolve().parents[2]


def test_from_env_and_overrides() -> None:
    settings = Settings.from_env({"PATRON_PORT": "9000", "PATRON_DATABASE_URL": "sqlite:///x.db"})
    assert settings.port == 9000 and settings.database_url == "sqlite:///x.db"
    assert Settings.from_env({"PATRON_PORT": "9000"}, port=1).port == 1
    assert Settings.from_env({}).database_url == "sqlite:///patron.db"


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for env_var, _default, _help in describe():
        assert env_var in readme, f"{env_var} is not documented in README.md"
