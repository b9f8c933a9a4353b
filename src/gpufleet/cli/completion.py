"""``gpufleet completion bash|zsh``: a shell completion script, generated from the parser.

The script holds, for each command path (``""``, ``trace``, ``trace convert``, ...), the
words that may come next (its subcommands and its options) and, for each option with
fixed choices, those choices. Its completion function walks the words typed so far to
the deepest known command path, then offers that path's words (or the choices of the
option just typed); anything else (a file, a number) falls back to the shell's file
completion (``complete -o default``). zsh runs the same function through its bash
completion layer (``bashcompinit``), so both shells complete the same words.

Generated here from argparse rather than with shtab: shtab is no dependency of gpufleet,
and what the parser knows (commands, options, choices) is all the script needs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from gpufleet.errors import ExitCode

SHELLS = ("bash", "zsh")


def command_words(p: argparse.ArgumentParser, path: str = "") -> dict[str, list[str]]:
    """Each command path and the words that may follow it: subcommands, the fixed choices
    of its positional arguments (``completion bash``), then its options."""
    words: list[str] = []
    found: dict[str, list[str]] = {path: words}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                words.append(name)
                found.update(command_words(child, f"{path} {name}".strip()))
        elif action.option_strings:
            words.extend(action.option_strings)
        elif action.choices:
            words.extend(str(c) for c in action.choices)
    return found


def option_choices(p: argparse.ArgumentParser, path: str = "") -> dict[str, list[str]]:
    """``"PATH OPTION"`` -> its fixed choices, for every option that has them."""
    found: dict[str, list[str]] = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.update(option_choices(child, f"{path} {name}".strip()))
        elif action.option_strings and action.choices:
            for opt in action.option_strings:
                found[f"{path} {opt}".strip()] = [str(c) for c in action.choices]
    return found


def bash_script(p: argparse.ArgumentParser) -> str:
    """The bash completion script for the parser ``p`` (its prog names the command)."""
    prog = p.prog
    fn = "_" + "".join(c if c.isalnum() else "_" for c in prog)
    words = command_words(p)
    choices = option_choices(p)
    word_cases = "\n".join(
        f"        {shlex.quote(path)}) echo {shlex.quote(' '.join(ws))} ;;"
        for path, ws in words.items()
    )
    choice_cases = "\n".join(
        f"        {shlex.quote(key)}) echo {shlex.quote(' '.join(cs))} ;;"
        for key, cs in choices.items()
    )
    return f"""\
# {prog} completion for bash (from `{prog} completion bash`). Load it with
#   source <({prog} completion bash)
# or save it as ~/.local/share/bash-completion/completions/{prog}

{fn}_words() {{
    case "$1" in
{word_cases}
        *) return 1 ;;
    esac
}}

{fn}_choices() {{
    case "$1" in
{choice_cases}
        *) return 1 ;;
    esac
}}

{fn}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" w next i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        [[ "$w" == -* ]] && continue
        next="${{path:+$path }}$w"
        {fn}_words "$next" >/dev/null && path="$next"
    done
    if ((COMP_CWORD > 1)); then
        local opts
        if opts="$({fn}_choices "${{path:+$path }}${{COMP_WORDS[COMP_CWORD - 1]}}")"; then
            mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
            return 0
        fi
    fi
    mapfile -t COMPREPLY < <(compgen -W "$({fn}_words "$path")" -- "$cur")
}}

complete -o default -F {fn} {prog}
"""


def zsh_script(p: argparse.ArgumentParser) -> str:
    """The zsh script: the bash script run through zsh's ``bashcompinit``."""
    return (
        f"#compdef {p.prog}\n"
        f"# {p.prog} completion for zsh: source <({p.prog} completion zsh) in ~/.zshrc\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(p)
    )


def cmd_completion(args: argparse.Namespace) -> int:
    root: argparse.ArgumentParser = args.root_parser
    sys.stdout.write(bash_script(root) if args.shell == "bash" else zsh_script(root))
    return ExitCode.OK


def add_commands(sub: Any, root: argparse.ArgumentParser) -> None:
    """Registered after every other group: the script is made from ``root`` as run."""
    c = sub.add_parser(
        "completion",
        help="print a shell completion script: source <(gpufleet completion bash)",
    )
    c.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    c.set_defaults(fn=cmd_completion, root_parser=root)
