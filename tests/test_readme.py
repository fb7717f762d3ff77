"""The README stays true: its test command is CI's, its code examples are safe to copy."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    tests = [b.strip() for b in _blocks("bash") if "pytest" in b]
    assert tests, "no test command in the README"
    assert tests[0] in ci


def test_a_script_starting_a_local_cluster_has_the_main_guard():
    """Worker processes import the script: without the guard every worker would run it again."""
    starts = [b for b in _blocks("python") if "local_cluster(" in b]
    assert starts
    for block in starts:
        guard = block.find('if __name__ == "__main__":')
        assert guard != -1 and guard < block.find("local_cluster("), block
