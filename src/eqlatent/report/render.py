"""The README's and docs/results.md's profile tables, rendered from ``docs/measured.json``.

Why rendered: a hand-typed table drifts from the runs.  Each cell is formatted here from one
entry of measured.json (:mod:`eqlatent.report.profiles` documents the metric names), and
every number that was not regenerated from runs this time -- an entry "recorded by an
earlier session" -- carries a footnote mark naming the commit and date it came from.

The README shows one seed per profile (the lowest) and a one-line claims summary; docs/results.md
shows min–max over every seed of an entry, the claims per seed count, and each entry's provenance.
"""

from __future__ import annotations

import textwrap
from typing import Any, Callable, Iterable

from eqlatent.runtime.markdown import markdown_table
from eqlatent.report.profiles import MEASURED

#: the studies the tables show, and the profiles in the order their rows appear (others follow, sorted)
TABLE_STUDIES = ("images", "molecules", "molecules_3d", "molecules_zinc")
#: a study's name in the time, seeds and claims cells where it is not its experiment's name
STUDY_LABELS = {"molecules_zinc": "zinc"}
#: what tells a study's claim apart from another study's claim of the same number (ZINC's claim 1 beside QM9's)
CLAIM_SUFFIXES = {"molecules_zinc": " on ZINC"}
#: the latent sizes each molecules column shows in its header's order; other sizes are named where they ran
MOLECULES_HEADER_DIMS = (1, 4)
ZINC_HEADER_DIMS = (2, 4)
#: latent sizes the ZINC cells leave out: the VAE barely decodes ZINC at d = 1, so its exact rate (near 0) says
#: nothing of the reconstruction's quality -- what d = 1 is for, claim 1, is in the claims
ZINC_HIDDEN_DIMS = (1,)
PROFILE_ORDER = ("cpu", "full", "paper")
DEFAULT_PROFILE = "cpu"
#: encoders the README's images column shows, in order; docs/results.md shows every encoder
README_ENCODERS = ("c8", "c16", "so2", "cnn_aug")
CONTROL = "cnn_plain"
#: QM9 targets measured in eV (eqlatent.data.qm9 converts them from Hartree): their MAEs are shown with the unit
EV_TARGETS = ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G")
_MARKS = "¹²³⁴⁵⁶⁷⁸⁹"


class Footnotes:
    """Footnote marks for numbers recorded by an earlier session, numbered in order of first use.

    ``key`` groups records under one mark (the README: one per commit and date; the docs: one per entry).
    Numbers regenerated from runs (``source`` = :data:`MEASURED`) get no mark.
    """

    def __init__(self, key: Callable[[str, dict[str, Any]], Any]) -> None:
        self.key = key
        self.notes: dict[Any, list[tuple[str, dict[str, Any]]]] = {}

    def mark(self, name: str, record: dict[str, Any] | None) -> str:
        if not record or record.get("source") == MEASURED:
            return ""
        k = self.key(name, record)
        self.notes.setdefault(k, [])
        if all(n != name for n, _ in self.notes[k]):
            self.notes[k].append((name, record))
        return _symbol(list(self.notes).index(k))

    def marks(self) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
        """``(mark, [(name, record), ...])`` per footnote, in the order of their marks."""
        return [(_symbol(i), recs) for i, recs in enumerate(self.notes.values())]


def _symbol(i: int) -> str:
    return _MARKS[i] if i < len(_MARKS) else f"[{i + 1}]"


def _wrap(paragraphs: list[str], width: int = 115, indent: str = "") -> list[str]:
    """Prose lines wrapped as the rest of the docs are (a table row is never passed here)."""
    return [line for p in paragraphs
            for line in (textwrap.wrap(p, width, subsequent_indent=indent, break_long_words=False,
                                       break_on_hyphens=False) or [""])]


def acc(v: float) -> str:
    return f"{v:.3f}"


def pct(v: float) -> str:
    s = f"{100 * v:.1f}"
    return "100" if s == "100.0" else s


def minutes(s: float, upto: float | None = None) -> str:
    """9.8 min, 84 min, 13 h: the precision a wall time deserves; with ``upto``, the span ``9.8–11.2 min``."""
    hi = s if upto is None else upto

    def fmt(x: float) -> str:
        if hi >= 5 * 3600:
            return f"{x / 3600:.0f}"
        return f"{x / 60:.1f}" if hi < 3600 else f"{x / 60:.0f}"

    unit = "h" if hi >= 5 * 3600 else "min"
    return f"{span(s, hi, fmt)} {unit}"


def span(lo: float, hi: float, fmt: Callable[[float], str]) -> str:
    a, b = fmt(lo), fmt(hi)
    return a if a == b else f"{a}–{b}"


def seeds_label(seeds: Iterable[int]) -> str:
    s = sorted(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))


def profiles_of(measured: dict[str, Any]) -> list[str]:
    found = {e["profile"] for e in measured.get("entries", {}).values() if e["study"] in TABLE_STUDIES}
    found |= {key.split("/", 1)[1] for key in measured.get("projections", {}) if key.split("/", 1)[0] in TABLE_STUDIES}
    return [p for p in PROFILE_ORDER if p in found] + sorted(found - set(PROFILE_ORDER))


def _entry(measured: dict[str, Any], study: str, profile: str) -> dict[str, Any] | None:
    return measured.get("entries", {}).get(f"{study}/{profile}")


def _first_seed(entry: dict[str, Any], device: str | None = None) -> tuple[int, dict[str, Any]] | None:
    rows = sorted((int(s), row) for s, row in entry.get("per_seed", {}).items()
                  if device is None or str(row.get("device", "cpu")).startswith(device))
    return rows[0] if rows else None


def _dims(metrics: Iterable[str], prefix: str = "exact.d") -> list[int]:
    return sorted(int(k[len(prefix):]) for k in metrics if k.startswith(prefix))


def _label(study: str) -> str:
    return STUDY_LABELS.get(study, study)


def _profile_label(profile: str) -> str:
    return f"`{profile}` (default)" if profile == DEFAULT_PROFILE else f"`{profile}`"


def _claims(measured: dict[str, Any], profile: str, notes: Footnotes, counts: bool) -> str:
    """``1, 2 held, 3 did not hold`` over the profile's entries; with ``counts``, the seeds as ``(k/n)``."""
    groups: dict[str, list[str]] = {"held": [], "mixed": [], "did not hold": []}
    marks: list[str] = []
    for study in TABLE_STUDIES:
        entry = _entry(measured, study, profile)
        if not entry or not entry.get("summary", {}).get("claims"):
            continue
        for number, c in entry["summary"]["claims"].items():
            claim, held, n = number + CLAIM_SUFFIXES.get(study, ""), c["held"], c["evaluated"]
            count = f" ({held}/{n})" if counts else ""
            if held == n:
                groups["held"].append(claim + count)
            elif held == 0:
                groups["did not hold"].append(claim + count)
            else:
                groups["mixed"].append(f"{claim} held in {held} of {n} seeds")
        mark = notes.mark(f"{study}/{profile}", entry)
        marks += [mark] if mark and mark not in marks else []
    said = [(_and(sorted(cs)) + ("" if word == "mixed" else f" {word}")) for word, cs in groups.items() if cs]
    return ", ".join(said) + ",".join(marks)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- the README -------------------------------------------------------------------------------------------------


def _readme_images(entry: dict[str, Any] | None, mark: str) -> str:
    first = _first_seed(entry) if entry else None
    if first is None:
        return "not yet run"
    seed, row = first
    m = row["metrics"]
    cell = " / ".join(acc(m[f"acc.{e}"]) if f"acc.{e}" in m else "–" for e in README_ENCODERS) + mark
    return cell + (f" (seed {seed})" if seed != 0 else "")


def _readme_molecules(entry: dict[str, Any] | None, mark: str) -> str:
    """QM9: exact rate per latent size -- over every seed (min–max) when several seeds ran, since one seed of the
    4-epoch d = 1 VAE is not a result -- and validity."""
    return _readme_exact(entry, mark, MOLECULES_HEADER_DIMS)


def _readme_zinc(entry: dict[str, Any] | None, mark: str) -> str:
    """ZINC: as QM9's cell, at the latent sizes the VAE decodes ZINC from (d = 1 left out: see ZINC_HIDDEN_DIMS)."""
    return _readme_exact(entry, mark, ZINC_HEADER_DIMS, hide=ZINC_HIDDEN_DIMS)


def _readme_exact(entry: dict[str, Any] | None, mark: str, header: tuple[int, ...], hide: tuple[int, ...] = ()) -> str:
    """Exact rate per latent size and validity; bare ``a % / b %`` when the sizes are the column ``header``'s,
    each named (``d = 8: c %``) otherwise, so that a number is never read under another size's heading."""
    first = _first_seed(entry) if entry else None
    if first is None:
        return "not yet run"
    seed, row = first
    m = row["metrics"]
    summary = entry.get("summary", {})
    dims = [d for d in _dims(m) if d not in hide]
    if not dims:
        return "–" + mark + (f" (seed {seed})" if seed != 0 else "")

    def exact(d: int) -> str:
        over = summary.get(f"exact.d{d}", {})
        return span(over["min"], over["max"], pct) if over.get("n", 1) > 1 else pct(m[f"exact.d{d}"])

    exact_text = (" / ".join(f"{exact(d)} %" for d in dims) if dims == list(header)
                  else ", ".join(f"d = {d}: {exact(d)} %" for d in dims))
    valid = {d: pct(m[f"valid.d{d}"]) for d in dims if f"valid.d{d}" in m}
    if len(set(valid.values())) == 1:
        valid_text = f", {next(iter(valid.values()))} % valid"
    elif valid:   # in the exact rates' order, named where those are
        valid_text = (f", valid {' / '.join(valid.values())} %" if list(valid) == list(header) == dims
                      else ", valid " + ", ".join(f"d = {d}: {v} %" for d, v in valid.items()))
    else:
        valid_text = ""
    cell = exact_text + valid_text
    several = [d for d in dims if summary.get(f"exact.d{d}", {}).get("n", 1) > 1]
    seeds = entry.get("seeds") or [seed]
    return cell + mark + (f" (exact: seeds {seeds_label(seeds)})" if several else
                          f" (seed {seed})" if seed != 0 else "")


def _mae(target: str, text: str) -> str:
    return f"{text} eV" if target in EV_TARGETS else text


def _readme_molecules_3d(entry: dict[str, Any] | None, mark: str) -> str:
    """The e3nn regressor's test MAE of the gap (or of each trained target), first seed."""
    first = _first_seed(entry) if entry else None
    if first is None:
        return "not yet run"
    seed, row = first
    maes = {k[4:]: v for k, v in row["metrics"].items() if k.startswith("mae.")}
    if "gap" in maes:
        cell = _mae("gap", f"{maes['gap']:.3f}")
    else:   # a run trained on other targets: each named
        cell = ", ".join(f"{t} {_mae(t, f'{v:.3f}')}" for t, v in sorted(maes.items())) or "–"
    return cell + mark + (f" (seed {seed})" if seed != 0 else "")


def _time(measured: dict[str, Any], profile: str, device: str, notes: Footnotes, docs: bool) -> str:
    """Per study: the wall time of its runs on ``device`` (or training time, or the paper-check projection)."""
    parts = []
    for study in TABLE_STUDIES:
        name, label = f"{study}/{profile}", _label(study)
        entry = _entry(measured, study, profile)
        rows = sorted((int(s), r) for s, r in (entry or {}).get("per_seed", {}).items()
                      if str(r.get("device", "cpu")).startswith(device))
        walls = [(s, r["metrics"]["wall_s"]) for s, r in rows if "wall_s" in r["metrics"]]
        trains = [(s, r["metrics"]["train_s"]) for s, r in rows if "train_s" in r["metrics"]]
        projected = measured.get("projections", {}).get(name, {}).get(f"{device}_s")
        if walls:
            ws = walls if docs else walls[:1]
            text = minutes(min(w for _, w in ws), max(w for _, w in ws))
            if docs:
                text += f" (seed{'s' if len(ws) > 1 else ''} {seeds_label(s for s, _ in ws)})"
            parts.append(f"{label} {text}{notes.mark(name, entry)}")
        elif trains:
            parts.append(f"{label} {minutes(trains[0][1])} of training{notes.mark(name, entry)}")
        elif projected is not None:
            mark = notes.mark(name + " projection", measured["projections"][name])
            parts.append(f"{label} projected {minutes(projected)}{mark}")
    return ", ".join(parts) or "not measured"


def _regenerated(measured: dict[str, Any]) -> str:
    made = sorted({(e.get("commit") or "no git", e.get("date", "?")) for e in measured.get("entries", {}).values()
                   if e.get("source") == MEASURED and e["study"] in TABLE_STUDIES})
    return "; ".join(f"commit {c}, {d}" for c, d in made)


def readme_block(measured: dict[str, Any]) -> list[str]:
    """The README's table: one seed per profile, the ceiling, the claims, and where recorded numbers came from."""
    notes = Footnotes(lambda name, rec: (rec.get("commit"), rec.get("date")))
    ceiling = ""
    for profile in profiles_of(measured):
        entry = _entry(measured, "molecules", profile)
        first = _first_seed(entry) if entry else None
        if first and "ceiling" in first[1]["metrics"]:
            ceiling = (f", of a ceiling of {pct(first[1]['metrics']['ceiling'])} %"
                       f"{notes.mark(f'molecules/{profile}', entry)} any equivariant decoder can reach on QM9")
            break
    rows, claims = [], []
    for p in profiles_of(measured):
        img, mol = _entry(measured, "images", p), _entry(measured, "molecules", p)
        m3d, zinc = _entry(measured, "molecules_3d", p), _entry(measured, "molecules_zinc", p)
        rows.append([_profile_label(p), _readme_images(img, notes.mark(f"images/{p}", img)),
                     _readme_molecules(mol, notes.mark(f"molecules/{p}", mol)),
                     _readme_molecules_3d(m3d, notes.mark(f"molecules_3d/{p}", m3d)),
                     _readme_zinc(zinc, notes.mark(f"molecules_zinc/{p}", zinc)),
                     _time(measured, p, "cpu", notes, docs=False), _time(measured, p, "gpu", notes, docs=False)])
        said = _claims(measured, p, notes, counts=False)
        if said:
            claims.append(f"`{p}`: {said}")
    out = ["Measured by the pipeline (seed 0 unless stated; accuracy on rotated test digits; \"exact\" = test "
           f"molecules rebuilt exactly from the posterior mean{ceiling}; on a GPU: [docs/gpu.md](docs/gpu.md)).", ""]
    out += markdown_table(["profile", "images: c8 / c16 / so2 / cnn_aug", "molecules: exact at d = 1 / d = 4, valid",
                           "qm9_3d: gap test MAE", "zinc: exact at d = 2 / d = 4, valid", "2 CPU cores", "one GPU"],
                           rows)
    out += [""]
    said = ["Paper claims: " + "; ".join(claims) + "."] if claims else []
    recorded = notes.marks()
    if recorded:
        said.append("Marked numbers were recorded by an earlier session whose runs were not kept (commit, date of "
                    "the docs they came from): " + "; ".join(f"{m} {recs[0][1].get('commit')}, {recs[0][1].get('date')}"
                                                           for m, recs in recorded) + ".")
    regenerated = _regenerated(measured)
    said.append("Numbers without a mark are regenerated from the runs under `outputs/` by `eqlatent report "
                "--update-docs`" + (f" ({regenerated})." if regenerated else "."))
    return _wrap(out[:1]) + out[1:] + _wrap([" ".join(said)])


# --- docs/results.md ----------------------------------------------------------------------------------------------


def _docs_images(entry: dict[str, Any] | None, mark: str) -> str:
    if not entry:
        return "not yet run"
    summ = entry.get("summary", {})
    encoders = [k[4:] for k in summ if k.startswith("acc.")]
    order = [e for e in README_ENCODERS if e in encoders] + sorted(set(encoders) - set(README_ENCODERS) - {CONTROL})
    cell = ", ".join(f"{e} {span(summ[f'acc.{e}']['min'], summ[f'acc.{e}']['max'], acc)}" for e in order)
    if CONTROL in encoders:
        c = summ[f"acc.{CONTROL}"]
        cell += f" ({CONTROL}, upright-trained control: {span(c['min'], c['max'], acc)})"
    return cell + mark


def _docs_molecules(entry: dict[str, Any] | None, mark: str, hide: tuple[int, ...] = ()) -> str:
    """Exact rate (and its share of the ceiling) per latent size, the ceiling, validity: min–max over the seeds."""
    if not entry:
        return "not yet run"
    summ = entry.get("summary", {})
    dims = [d for d in _dims(summ) if d not in hide]
    if not dims:
        return "–" + mark
    parts = []
    for d in dims:
        e = summ[f"exact.d{d}"]
        of = summ.get(f"exact_of_ceiling.d{d}")
        extra = f"; {span(of['min'], of['max'], pct)} % of the ceiling" if of else ""
        parts.append(f"{span(e['min'], e['max'], pct)} % (d = {d}{extra})")
    cell = "exact " + ", ".join(parts)
    if "ceiling" in summ:
        cell += f"; ceiling {span(summ['ceiling']['min'], summ['ceiling']['max'], pct)} %"
    valid = [summ[f"valid.d{d}"] for d in _dims(summ, "valid.d") if d not in hide]
    if valid:
        cell += f"; rdkit-valid {span(min(v['min'] for v in valid), max(v['max'] for v in valid), pct)} %"
    return cell + mark


def _docs_molecules_3d(entry: dict[str, Any] | None, mark: str) -> str:
    if not entry:
        return "not yet run"
    summ = entry.get("summary", {})
    parts = [f"{k[4:]} {_mae(k[4:], span(v['min'], v['max'], lambda x: f'{x:.3f}'))}"
             for k, v in sorted(summ.items()) if k.startswith("mae.")]
    return ("test MAE " + ", ".join(parts) if parts else "–") + mark


def _docs_zinc(entry: dict[str, Any] | None, mark: str) -> str:
    """ZINC: as QM9's cell, d = 1 left out (see ZINC_HIDDEN_DIMS)."""
    return _docs_molecules(entry, mark, hide=ZINC_HIDDEN_DIMS)


def _docs_seeds(measured: dict[str, Any], profile: str) -> str:
    seeds = {_label(s): seeds_label(e["seeds"]) for s in TABLE_STUDIES if (e := _entry(measured, s, profile))}
    if len(set(seeds.values())) <= 1:
        return next(iter(seeds.values()), "–")
    return "; ".join(f"{s} {label}" for s, label in seeds.items())   # "; ": a label may hold commas ("0, 2")


def results_block(measured: dict[str, Any]) -> list[str]:
    """docs/results.md's table: min–max over each entry's seeds, claims per seed count, each entry's provenance."""
    notes = Footnotes(lambda name, rec: name)
    rows = []
    for p in profiles_of(measured):
        img, mol = _entry(measured, "images", p), _entry(measured, "molecules", p)
        m3d, zinc = _entry(measured, "molecules_3d", p), _entry(measured, "molecules_zinc", p)
        rows.append([_profile_label(p), _docs_seeds(measured, p), _docs_images(img, notes.mark(f"images/{p}", img)),
                     _docs_molecules(mol, notes.mark(f"molecules/{p}", mol)),
                     _docs_molecules_3d(m3d, notes.mark(f"molecules_3d/{p}", m3d)),
                     _docs_zinc(zinc, notes.mark(f"molecules_zinc/{p}", zinc)),
                     _claims(measured, p, notes, counts=True) or "not evaluated",
                     _time(measured, p, "cpu", notes, docs=True), _time(measured, p, "gpu", notes, docs=True)])
    out = _wrap(["Rendered from [measured.json](measured.json) by `eqlatent report --update-docs` (see "
                 "[commands](commands.md)): min–max over the seeds listed; accuracy on rotated test digits; "
                 "molecules rebuilt from the posterior mean; qm9_3d: the e3nn regressor's test MAE per trained target; "
                 "zinc: as molecules, from d = 2 up (at d = 1 the VAE barely decodes ZINC; claim 1 is in the claims); "
                 "claims: in how many seeds each held.", ""])
    out += markdown_table(["profile", "seeds", "images: test accuracy on rotated digits",
                           "molecules: test reconstruction (posterior mean)", "qm9_3d: e3nn regressor",
                           "zinc: test reconstruction (posterior mean)", "paper claims", "time on 2 CPU cores",
                           "time on one GPU"], rows)
    out += [""]
    for mark, recs in notes.marks():
        name, rec = recs[0]
        note = f" {rec['note']}" if rec.get("note") else ""
        out += _wrap([f"- {mark} `{name}`: {rec.get('source')}; commit {rec.get('commit')}, {rec.get('date')}.{note}"],
                     indent="  ")
    measured_entries = [(k, e) for k, e in measured.get("entries", {}).items()
                        if e.get("source") == MEASURED and e["study"] in TABLE_STUDIES]
    for key, e in measured_entries:
        rows = sorted((int(s), r) for s, r in e["per_seed"].items())
        runs = ", ".join(f"`{r['run']}`" for _, r in rows if "run" in r)
        out += _wrap([f"- `{key}`: regenerated from the runs {runs} (commit {e.get('commit')}, {e.get('date')})."],
                     indent="  ")
    return out
