"""Shell completion (`bertcli --install-completion`, typer's): the bash script it installs
completes commands, options and choices."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import bertcli_exe

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _complete(words: str, env: dict) -> list[str]:
    """What bash completes for `words` (the last word may be partial), with the script that
    `bertcli --show-completion bash` prints sourced."""
    shown = subprocess.run([*bertcli_exe(), "--show-completion", "bash"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    script = shown.stdout
    line = words.split(" ")
    test = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in line)}); "
            f"COMP_CWORD={len(line) - 1}; _bertcli_completion bertcli; "
            'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", test], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


@pytest.fixture()
def env(new_user_env):
    exe = bertcli_exe()[0]
    if not exe.endswith("bertcli"):
        pytest.skip("the bertcli entry point is not installed")
    # typer's own switch: `--show-completion bash` takes the shell named, instead of looking for
    # a shell among the parent processes (a runner that starts pytest without one has none)
    return {**new_user_env, "PATH": os.path.dirname(exe) + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(sys.path), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def test_bash_completes_commands_options_and_choices(env):
    assert _complete("bertcli summ", env) == ["summarize"]
    assert "--strategy" in _complete("bertcli summarize --str", env)
    assert _complete("bertcli summarize --strategy ", env) == ["learned", "central", "cluster", "lead"]
    assert "pull" in _complete("bertcli models ", env)


def test_install_completion_is_offered(run_cli):
    proc = run_cli("--help")
    assert "--install-completion" in proc.out and "--show-completion" in proc.out
