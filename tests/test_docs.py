"""Every `heterocat` command shown in the README and docs/ is one the command line accepts: its
command exists and its options parse (the GPAW runs themselves are the other tests' business)."""

import re
import shlex
from pathlib import Path

import pytest

from heterocat.cli.main import _build_parser

ROOT = Path(__file__).resolve().parents[1]


def shown_commands() -> list[tuple[str, str]]:
    """(file, command line) of every `heterocat ...` line in a bash block, continuation lines joined."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
            text = re.sub(r"\\\n\s*", " ", block)
            for line in text.splitlines():
                line = line.split("  #")[0].split(" | ")[0].strip()
                if line.startswith("heterocat "):
                    out.append((path.name, line))
    return out


def test_the_docs_show_commands():
    assert len(shown_commands()) > 40


@pytest.mark.parametrize(("where", "line"), shown_commands())
def test_a_shown_command_parses(where, line):
    argv = shlex.split(line.replace("<hash>", "HASH"))[1:]
    if argv[0] == "submit":  # the workflow script's options follow; checked by the script's parser
        from heterocat.run.scripts import parser

        parser("submit", free_energy=True).parse_args([a for a in argv[2:]])
        return
    try:
        _build_parser().parse_args(argv)
    except SystemExit as err:
        pytest.fail(f"{where}: {line!r} does not parse (exit {err.code})")


def test_the_settings_reference_is_current():
    """docs/settings.md is generated from the one settings table (and every setting has a meaning)."""
    from heterocat.calculate.settings import MEANING, SCHEMA, settings_reference

    names = {f"{s}.{k}" if isinstance(r, dict) else s for s, r in SCHEMA.items()
             for k in (r if isinstance(r, dict) else [s])}
    assert names == set(MEANING)
    assert (ROOT / "docs" / "settings.md").read_text() == settings_reference()
