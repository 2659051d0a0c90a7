"""Prompt files: one per role, `{name}` placeholders, replaceable from a folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..retrieval.files import write_atomic
from ..roles import ROLES
from .errors import PromptError

PROMPTS_DIR = Path(__file__).parent / "prompts"

# What each role's prompt must contain, and what it may contain besides.
REQUIRED = {
    "questioner": {"focus", "feedback"},
    "student": {"question"},
    "expert": {"question", "passages"},
    "critic": {"question", "student_answer", "expert_answer", "passages"},
}
OPTIONAL = {
    "questioner": {"document", "passage", "guidance", "accepted_questions", "answer", "question_type",
                   "type_hint", "example_sentence", "example_reply"},
    "student": set(),
    "expert": set(),
    "critic": {"intended_answer"},
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class PromptSet:
    """The four role templates and where each came from."""

    templates: dict[str, str]
    sources: dict[str, str]

    def render(self, role: str, **values: str) -> str:
        """Fill a role's template; a value's own braces are left as they are."""
        template = self.templates[role]
        return _PLACEHOLDER.sub(
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
        )


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def check_template(role: str, template: str, source: str) -> None:
    """Raise PromptError when a template lacks a required placeholder or names an unknown one."""
    found = placeholders(template)
    missing = sorted(REQUIRED[role] - found)
    if missing:
        names = ", ".join("{" + m + "}" for m in missing)
        raise PromptError(f"{source}: the {role} prompt is missing the placeholder {names}")
    unknown = sorted(found - REQUIRED[role] - OPTIONAL[role])
    if unknown:
        allowed = ", ".join("{" + a + "}" for a in sorted(REQUIRED[role] | OPTIONAL[role]))
        raise PromptError(f"{source}: unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")


def load_prompts(override_dir: str | Path | None = None) -> PromptSet:
    """Load the packaged prompts, replacing any role whose file is in `override_dir`."""
    templates: dict[str, str] = {}
    sources: dict[str, str] = {}
    for role in ROLES:
        path = PROMPTS_DIR / f"{role}.txt"
        templates[role], sources[role] = path.read_text(encoding="utf-8"), f"advqa:{role}.txt"
    if override_dir is not None:
        folder = Path(override_dir)
        if not folder.is_dir():
            raise PromptError(f"{folder}: prompts folder not found")
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise PromptError(f"{folder}: no prompt files (expected any of "
                              + ", ".join(f"{r}.txt" for r in ROLES) + ")")
        for path in files:
            if path.stem not in ROLES:
                raise PromptError(f"{path}: not a role prompt (expected "
                                  + ", ".join(f"{r}.txt" for r in ROLES) + ")")
            try:
                templates[path.stem] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise PromptError(f"{path}: cannot read prompt ({error})") from None
            sources[path.stem] = str(path)
    for role in ROLES:
        check_template(role, templates[role], sources[role])
    return PromptSet(templates=templates, sources=sources)


def export_prompts(folder: str | Path) -> list[Path]:
    """Write the packaged prompt files into `folder` for editing."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for role in ROLES:
        target = out / f"{role}.txt"
        write_atomic(target, (PROMPTS_DIR / f"{role}.txt").read_text(encoding="utf-8"))
        written.append(target)
    return written
