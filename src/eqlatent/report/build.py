"""``make report``: aggregate every finished run under ``outputs/`` into REPORT.md and index.html.

``python -m eqlatent.report [--outputs DIR] [--out DIR] [--update-docs [--docs DIR]]``.  The HTML page
embeds its figures as data URIs so it opens offline and can be mailed as one file.  Beside them,
``profiles.json`` holds the numbers of the docs' profile tables (:mod:`eqlatent.report.profiles`);
``--update-docs`` merges it into docs/measured.json and re-renders those tables
(:mod:`eqlatent.report.measured`).  One section per registered study (:mod:`eqlatent.report.registry`;
the built-in ones in :mod:`eqlatent.report.claims`).
"""

from __future__ import annotations

import base64
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from markdown.extensions.toc import slugify

from eqlatent.runtime.commandline import OneLineParser
from eqlatent.runtime.config import project_root
from eqlatent.errors import ConfigError, EqlatentError
from eqlatent.runtime.io import atomic_write_text
from eqlatent.runtime.markdown import markdown_table
from eqlatent.report import claims  # noqa: F401  (registers the built-in studies' sections)
from eqlatent.report import claim_o3  # noqa: F401  (registers the QM9-3D study's section)
from eqlatent.report.collect import Cell, find_runs, group_cells
from eqlatent.report.measured import update_docs
from eqlatent.report.profiles import write_profiles
from eqlatent.report.registry import STUDIES, reported_study

VERDICTS = "Verdicts"


def separate_lists(lines: list[str]) -> list[str]:
    """Put a blank line before every list that directly follows a paragraph line.

    Why: Markdown (python-markdown, and the original spec) reads a ``- item`` line right
    under a paragraph as part of that paragraph, so the report's bullet lists rendered as
    one run-on paragraph in index.html.  GitHub is lenient; the HTML page is not.
    """
    out: list[str] = []
    for line in (x for block in lines for x in block.split("\n")):
        starts_list = line.lstrip().startswith(("- ", "* "))
        prev = out[-1] if out else ""
        if starts_list and prev.strip() and not prev.lstrip().startswith(("- ", "* ")):
            out.append("")
        out.append(line)
    return out


def _figures(cell: Cell, report_dir: Path, limit: int = 6) -> list[str]:
    run = cell.runs[0]
    figs = sorted(p for p in run.path.rglob("*.png") if "wandb" not in p.relative_to(run.path).parts)[:limit]
    return [f"![{f.stem}]({os.path.relpath(f, report_dir)})" for f in figs]


def _verdict_word(held: bool | None) -> str:
    return "not evaluated" if held is None else ("HELD" if held else "DID NOT HOLD")


def build_report(output_root: Path, report_dir: Path) -> str:
    """Write REPORT.md, index.html and profiles.json for every run found; return the markdown."""
    cells = group_cells(find_runs(output_root))
    if not cells:
        raise ConfigError(f"no finished runs (metrics.json) under {output_root}",
                          "run `make reproduce` or `make sweep-molecules` first")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections: dict[str, list[str]] = {study.title: [] for study in STUDIES}
    verdicts, unregistered = [], []
    for cell in cells:
        study = reported_study(cell.study)
        if study is None:
            unregistered.append(f"`{cell.study}` ({cell.profile} profile, {len(cell.runs)} run(s))")
            continue
        seeds = ", ".join(str(s) for s in cell.seeds)
        lines, cell_verdicts = study.section(cell)
        sections[study.title] += lines + _figures(cell, report_dir) + [""]
        verdicts += [[v.claim, cell.study, cell.profile, seeds, f"**{_verdict_word(v.held)}**"] for v in cell_verdicts]
    md = ["# eqlatent report", "",
          f"Generated {stamp} from {sum(len(c.runs) for c in cells)} finished run(s) under `{output_root}`. "
          "Every number below was measured by those runs; mean ± sample std over seeds. The seed of each run is "
          "listed with its cell.", "", "Contents:", ""]
    md += [f"- [{title}](#{slugify(title, '-')})" for title in [VERDICTS, *sections]] + [""]
    md += [f"## {VERDICTS}", ""]
    md += markdown_table(["claim", "study", "profile", "seeds", "verdict"], sorted(verdicts)) + [""]
    if unregistered:
        md += ["Not reported (no report section is registered for their study, see `eqlatent.report.registry`): "
               + ", ".join(unregistered) + ".", ""]
    for study in STUDIES:
        md += [f"## {study.title}", ""]
        md += sections[study.title] or [study.empty, ""]
    md = separate_lists(md)
    text = "\n".join(md) + "\n"
    atomic_write_text(report_dir / "REPORT.md", text)
    atomic_write_text(report_dir / "index.html", to_html(text, report_dir))
    write_profiles(cells, output_root, report_dir, project_root())
    return text


def to_html(markdown_text: str, base: Path) -> str:
    """Self-contained HTML: tables rendered, PNGs inlined as base64."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "toc"])

    def inline(match: re.Match) -> str:
        path = (base / match.group(1)).resolve()
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.4}"
             "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
             "img{max-width:100%;border:1px solid #eee;margin:4px 0}code{background:#f4f4f4}"
             "ul{margin:.4em 0 .8em 1.2em;padding-left:1em}li{margin:.2em 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>eqlatent report</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")


def main(argv: list[str] | None = None, prog: str = "python -m eqlatent.report") -> int:
    root = project_root() / "outputs"
    ap = OneLineParser(prog=prog, description="Aggregate every finished run under outputs/ into "
                       "outputs/report/REPORT.md and a self-contained index.html.",
                       epilog=f"example: {prog} --outputs outputs --out outputs/report; after new runs of a "
                              f"profile: {prog} --update-docs, then commit README.md, docs/results.md and "
                              "docs/measured.json")
    ap.add_argument("--outputs", type=Path, default=root, help="folder searched for runs (default outputs/)")
    ap.add_argument("--out", type=Path, default=root / "report", help="report folder (default outputs/report)")
    ap.add_argument("--update-docs", action="store_true",
                    help="then merge its profiles.json into docs/measured.json and re-render the profile tables of "
                         "README.md and docs/results.md (prints one line per file)")
    ap.add_argument("--docs", type=Path, default=project_root(), metavar="DIR",
                    help="with --update-docs: the checkout whose docs are updated (default: this one)")
    args = ap.parse_args(argv)
    try:
        text = build_report(args.outputs.resolve(), args.out.resolve())
        updated = update_docs(args.out.resolve() / "profiles.json", args.docs.resolve()) if args.update_docs else []
    except EqlatentError as err:   # "no finished runs ... -- fix: ..." is the user's to mend: status 2
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"written {args.out / 'REPORT.md'}, {args.out / 'index.html'} and {args.out / 'profiles.json'}",
          file=sys.stderr)
    for line in updated:
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
