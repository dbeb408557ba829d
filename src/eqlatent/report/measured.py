"""``eqlatent report --update-docs``: the README's and docs/results.md's profile tables, regenerated from the runs.

Why: those tables are what a reader trusts first, and hand-typed ones drift from the runs.  The
committed record ``docs/measured.json`` holds every number they show, each entry (one study at
one profile, ``"images/cpu"``) with where it came from (``source``, ``commit``, ``date``).  This
module

1. merges the newest report's ``outputs/report/profiles.json`` into it: the entries present
   there replace theirs; entries not re-run are kept as they are, provenance included (runs of
   the ``full`` and ``paper`` profiles take hours, and are not re-run with every change);
2. rewrites the tables between ``<!-- measured:<name> begin ... -->`` and
   ``<!-- measured:<name> end -->`` in README.md and docs/results.md, rendered from it
   (:mod:`eqlatent.report.render`);

and offers the checks the tests run: :func:`stale_entries` (the docs against the newest
report) and :func:`stale_tables` (the docs' tables against measured.json).
``python -m eqlatent.report.measured [--report DIR] [--docs DIR]`` does the same from an
existing report, without rebuilding it.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from eqlatent.runtime.commandline import OneLineParser, exit_status
from eqlatent.runtime.config import project_root
from eqlatent.errors import ConfigError
from eqlatent.runtime.io import atomic_write_text
from eqlatent.report.profiles import MEASURED, SCHEMA
from eqlatent.report.render import readme_block, results_block

MEASURED_JSON = Path("docs") / "measured.json"
RECORDED = "recorded by an earlier session (runs not kept)"
#: file (relative to the checkout) -> (marker name, renderer)
TABLES: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "README.md": ("profiles", readme_block),
    "docs/results.md": ("profiles-per-seed", results_block),
}
BEGIN = "<!-- measured:{name} begin: rendered from docs/measured.json by `eqlatent report --update-docs`; edit that -->"
END = "<!-- measured:{name} end -->"


def load_json(path: Path, what: str, fix: str) -> dict[str, Any]:
    """Read ``path`` as JSON; a missing or broken file is one line naming ``fix``."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"no {what} at {path}", fix) from None
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{what} {path} is unreadable ({err})", fix) from None
    if data.get("schema") != SCHEMA:
        raise ConfigError(f"{what} {path} has schema {data.get('schema')!r}, this eqlatent reads {SCHEMA}", fix)
    return data


def numbers(entry: dict[str, Any]) -> dict[str, Any]:
    """What must agree between the docs and a report: seeds, devices, metrics, claims, summary (not dates or paths)."""
    return {"seeds": entry.get("seeds"), "summary": entry.get("summary"),
            "per_seed": {s: {k: row.get(k) for k in ("device", "metrics", "claims")}
                         for s, row in entry.get("per_seed", {}).items()}}


def stale_entries(measured: dict[str, Any], profiles: dict[str, Any]) -> list[str]:
    """One line per entry of the report that docs/measured.json lacks or holds other numbers for."""
    out = []
    for key, entry in profiles.get("entries", {}).items():
        have = measured.get("entries", {}).get(key)
        if have is None:
            out.append(f"{key}: in the report, not in docs/measured.json")
        elif numbers(have) != numbers(entry):
            diff = _first_difference(numbers(have), numbers(entry))
            out.append(f"{key}: docs/measured.json differs from the report at {diff}")
    return out


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
    return f"{where} ({a!r} in the docs, {b!r} in the report)"


def merge(measured: dict[str, Any], profiles: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(merged record, keys replaced)``: the report's entries replace theirs, the rest stay with their provenance."""
    entries = dict(measured.get("entries", {}))
    replaced = []
    for key, entry in profiles.get("entries", {}).items():
        entries[key] = entry
        replaced.append(key)
    merged = {**measured, "schema": SCHEMA, "entries": dict(sorted(entries.items()))}
    return merged, replaced


def find_block(text: str, name: str, where: str) -> re.Match:
    """The marked block ``name`` in ``text``; a file without its markers is one line naming them."""
    pattern = re.compile(rf"^<!-- measured:{re.escape(name)} begin[^\n]*-->\n(.*?)^<!-- measured:{re.escape(name)} "
                         rf"end -->$", re.DOTALL | re.MULTILINE)
    match = pattern.search(text)
    if match is None:
        raise ConfigError(f"{where} has no '<!-- measured:{name} begin' ... 'end -->' markers",
                          f"put the two marker lines around the table in {where}")
    return match


def render_into(text: str, name: str, lines: list[str], where: str) -> str:
    """``text`` with the block ``name`` replaced by ``lines`` (the markers kept, the begin one in its current words)."""
    match = find_block(text, name, where)
    body = "\n".join(lines) + "\n"
    return text[:match.start(1)] + body + text[match.end(1):]


def stale_tables(root: Path, measured: dict[str, Any] | None = None) -> list[str]:
    """One line per docs table that is not the rendering of docs/measured.json (someone edited a number by hand)."""
    measured = measured if measured is not None else load_json(root / MEASURED_JSON, "record", _FIX)
    out = []
    for rel, (name, render) in TABLES.items():
        text = (root / rel).read_text()
        have = find_block(text, name, rel).group(1)
        want = "\n".join(render(measured)) + "\n"
        if have != want:
            diff = next((ln for ln in difflib.unified_diff(have.splitlines(), want.splitlines(), lineterm="", n=0)
                         if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))), "")
            out.append(f"{rel}: the table is not the rendering of {MEASURED_JSON} (first difference: {diff[:160]})")
    return out


_FIX = "run `eqlatent report --update-docs` in the checkout (or restore docs/measured.json from git)"


def update_docs(profiles_path: Path, root: Path) -> list[str]:
    """Merge ``profiles_path`` into ``root``/docs/measured.json and re-render the tables; one line per file.

    Everything is read and rendered before anything is written, so a file without its markers
    changes none of them.
    """
    profiles = load_json(profiles_path, "report", "run `eqlatent report` first")
    for rel in TABLES:
        if not (root / rel).is_file():
            raise ConfigError(f"no {rel} under {root}", "run it in the source checkout, or pass --docs <checkout>")
    record = root / MEASURED_JSON
    measured = load_json(record, "record", _FIX) if record.is_file() else {"schema": SCHEMA, "entries": {}}
    merged, replaced = merge(measured, profiles)
    kept = sorted(set(merged["entries"]) - set(replaced))
    recorded = [k for k in kept if merged["entries"][k].get("source") != MEASURED]
    changed = [k for k in replaced if numbers(measured.get("entries", {}).get(k, {})) != numbers(merged["entries"][k])]
    lines = [f"{MEASURED_JSON}: {len(replaced)} entr{'y' if len(replaced) == 1 else 'ies'} from {profiles_path} "
             f"({', '.join(replaced) or 'none'}; {len(changed)} with new numbers), {len(kept)} kept"
             + (f" ({len(recorded)} recorded by an earlier session: {', '.join(recorded)})" if recorded else "")]
    writes = {record: json.dumps(merged, indent=1, ensure_ascii=False) + "\n"}
    for rel, (name, render) in TABLES.items():
        text = (root / rel).read_text()
        new = render_into(text, name, render(merged), rel)
        old_rows = find_block(text, name, rel).group(1).splitlines()
        new_rows = find_block(new, name, rel).group(1).splitlines()
        n = sum(1 for ln in difflib.ndiff(old_rows, new_rows) if ln.startswith("+ "))
        if new != text:
            writes[root / rel] = new
            lines.append(f"{rel}: table rewritten, {n} line(s) changed")
        else:
            lines.append(f"{rel}: table unchanged")
    for path, text in writes.items():
        atomic_write_text(path, text)
    return lines


def main(argv: list[str] | None = None, prog: str = "python -m eqlatent.report.measured") -> int:
    root = project_root()
    ap = OneLineParser(prog=prog, description="Merge outputs/report/profiles.json into docs/measured.json and "
                       "re-render the profile tables of README.md and docs/results.md from it.",
                       epilog=f"example: {prog} --report outputs/report   (`eqlatent report --update-docs` builds "
                              "the report first, then does this)")
    ap.add_argument("--report", type=Path, default=root / "outputs" / "report",
                    help="report folder holding profiles.json (default outputs/report)")
    ap.add_argument("--docs", type=Path, default=root, help="checkout whose docs are updated (default: this one)")
    args = ap.parse_args(argv)
    return exit_status(lambda: print(*update_docs(args.report / "profiles.json", args.docs), sep="\n"))


if __name__ == "__main__":
    sys.exit(main())
