"""Presets say where their numbers come from, and the check fails on a comment that names no source.

Model presets (strict): the file opens with a comment header that declares its sources as tags
(``# [HF] Hugging Face config.json of meta-llama/Llama-2-7b-hf ...``). Every line holding a value
(all but ``kind``, ``name``, ``description`` and section keys such as ``moe:``) carries a comment that
uses a declared tag *and* says which field/row/section of it (``# [HF] num_hidden_layers``), or gives
a reason for a number that is archsim's own (``# archsim choice: <why>``, ``# assumption: <why>``).
A comment that only repeats the preset's name (the broken template ``# llama-2-7b3`` of the first
version), an undeclared tag, a bare tag, or a declared tag no line uses are errors.

Hardware and memory presets keep the looser rule (a comment on the line or on its parent key) plus
the template rule; their tags are not declared in one form across files.
"""

from __future__ import annotations

import re

import pytest

from archsim import presets

#: A source declared in the header: ``# [TAG] description`` (the description names the document).
DECLARED = re.compile(r"^#\s*\[([A-Z][A-Z0-9-]*)\]\s+(\S.{15,})$")
TAG = re.compile(r"\[([A-Z][A-Z0-9-]*)\]")
#: archsim's own numbers: the phrase, a colon, then a reason of at least three words.
OWN = re.compile(r"\b(archsim choice|assumption):\s*\S+(?:\s+\S+){2,}")
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")
LIST_LINE = re.compile(r"^\s*-\s+(?P<rest>.*)$")
EXEMPT_KEYS = {"kind", "name", "description"}  # identifiers, not facts


def _split_comment(rest: str) -> tuple[str, str | None]:
    """Value and inline comment of the text after ``key:`` (YAML needs whitespace before ``#``)."""
    parts = re.split(r"\s#", " " + rest, maxsplit=1)
    return parts[0].strip(), (parts[1].strip() if len(parts) == 2 else None)


def _is_template(comment: str, name: str) -> bool:
    """A comment that is only the preset's name (optionally with trailing digits), tags aside."""
    text = TAG.sub("", comment).strip(" #;,.()")
    return re.fullmatch(re.escape(name) + r"\d*", text, flags=re.IGNORECASE) is not None


def provenance_problems(text: str, name: str) -> list[str]:
    """Every way a model preset's text fails to cite its sources, as ``line N: key: message``."""
    lines = text.splitlines()
    header: list[str] = []
    for line in lines:
        if line.startswith("#"):
            header.append(line)
        elif line.strip():
            break
    declared = {m.group(1) for h in header if (m := DECLARED.match(h))}
    problems = [] if declared else ["header: declares no source (a comment line '# [TAG] <document>')"]
    used: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := KEY_LINE.match(line):
            key, (value, comment) = m["key"], _split_comment(m["rest"])
            if not value or (not m["indent"] and key in EXEMPT_KEYS):
                continue  # a section key (its children are checked) or an identifier
        elif m := LIST_LINE.match(line):
            key, (value, comment) = "-", _split_comment(m["rest"])
        else:
            problems.append(f"line {number}: cannot be checked (not 'key: value' or '- value'): {line.strip()!r}")
            continue
        where = f"line {number}: {key}"
        if comment is None:
            problems.append(f"{where}: no source comment")
            continue
        tags = set(TAG.findall(comment))
        used |= tags & declared
        if tags - declared:
            problems.append(f"{where}: tag(s) {sorted(tags - declared)} not declared in the header")
        if _is_template(comment, name):
            problems.append(f"{where}: comment only repeats the preset name: {comment!r}")
        elif not (tags & declared) and not OWN.search(comment):
            problems.append(f"{where}: comment names no source (no declared tag, no 'archsim choice: <why>'): "
                            f"{comment!r}")
        elif tags & declared and not OWN.search(comment) and not TAG.sub("", comment).strip(" ;,.()"):
            problems.append(f"{where}: a bare tag does not say which field, row or section: {comment!r}")
    problems += [f"header: [{tag}] is declared but no line uses it" for tag in sorted(declared - used)]
    return problems


MODELS = presets.preset_names("models")


@pytest.mark.parametrize("name", MODELS)
def test_model_preset_cites_a_source_per_line(name):
    text = presets.preset_path("models", name).read_text()
    assert provenance_problems(text, name) == []


GOOD = """\
# Example (vendor, 2024). Sources:
# [HF] Hugging Face config.json of example/model-7b
# [PAPER] Someone et al. 2024, "A Model", Table 1 row 7B
kind: model
name: example
arch: decoder             # [PAPER] decoder-only
num_layers: 32            # [HF] num_hidden_layers; [PAPER] Table 1
max_seq_len: 2048         # archsim choice: the study's longest prompt plus its decode steps
moe:
  top_k: 2                # [HF] num_experts_per_tok
"""

BAD = {
    "first-version template": (
        "# llama-2-7b3\nkind: model\nname: llama-2-7b\nnum_layers: 32            # llama-2-7b3\n",
        ["header: declares no source", "only repeats the preset name"]),
    "tag with the name only": (GOOD.replace("# [PAPER] decoder-only", "# [PAPER] example"),
                               ["only repeats the preset name"]),
    "no comment": (GOOD.replace("            # [HF] num_hidden_layers; [PAPER] Table 1", ""),
                   ["line 7: num_layers: no source comment"]),
    "undeclared tag": (GOOD.replace("[HF] num_experts_per_tok", "[CFG] num_experts_per_tok"),
                       ["['CFG'] not declared", "names no source"]),
    "bare tag": (GOOD.replace("# [HF] num_experts_per_tok", "# [HF]"), ["a bare tag does not say"]),
    "choice without a reason": (GOOD.replace("archsim choice: the study's longest prompt plus its decode steps",
                                             "archsim choice"), ["names no source"]),
    "prose that names nothing": (GOOD.replace("# [PAPER] decoder-only", "# from the model card"),
                                 ["names no source"]),
    "list item without source": (GOOD + "  layers:\n  - 3\n", ["line 12: -: no source comment"]),
    "block scalar": (GOOD + "notes: |\n  free text\n", ["line 11: notes: no source comment",
                                                         "line 12: cannot be checked"]),
}


def test_checker_accepts_a_cited_preset():
    assert provenance_problems(GOOD, "example") == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_checker_rejects(case):
    text, expected = BAD[case]
    problems = provenance_problems(text, "llama-2-7b" if case == "first-version template" else "example")
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected), problems


LOOSE = [(kind, name) for kind in ("hardware", "memory") for name in presets.preset_names(kind)]


@pytest.mark.parametrize(("kind", "name"), LOOSE, ids=[f"{k}/{n}" for k, n in LOOSE])
def test_every_number_cites_a_source(kind, name):
    """Hardware/memory: each line holding a number has a comment, or its parent key's line does; none is a template."""
    lines = presets.preset_path(kind, name).read_text().splitlines()

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" -"))

    for i, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        _, comment = _split_comment(line)
        assert comment is None or not _is_template(comment, name), f"{kind}/{name} line {i + 1}: {line.strip()!r}"
        body = line.split("#", 1)[0]
        if not re.search(r":\s*[-+]?\.?\d", body) or comment is not None:
            continue
        if body.strip().startswith(("name:", "description:", "part:")):
            continue
        parent = next((lines[j] for j in range(i - 1, -1, -1)
                       if lines[j].strip() and not lines[j].lstrip().startswith("#")
                       and indent(lines[j]) < indent(line)), "")
        assert "#" in parent, f"{kind}/{name} line {i + 1} has no source: {line.strip()!r}"
