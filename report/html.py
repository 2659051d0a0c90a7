"""Render a loaded run as one self-contained HTML file: inline CSS, JS and SVG, nothing fetched."""

from __future__ import annotations

import json
import re
import time
from html import escape
from pathlib import Path
from typing import Any

from ..retrieval.files import write_atomic
from ..roles import ROLES
from . import plots
from .audit import find_scored_sheets
from .data import OUTCOMES, Probe, Round, RunData, load_run
from .results import ResultFile

ASSETS = Path(__file__).parent / "assets"
REPORT = "report.html"
# Size budget: a run of 300 probes x 3 rounds (4 passages a round, answers of a few hundred
# words) renders under this many bytes; tests/test_report_size.py holds the report to it.
SIZE_BUDGET_BYTES = 8 * 1024 * 1024
CALL_OUTPUT_CHARS = 1500  # a rejected attempt's reply, as shown under "model calls"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")
_CITATION = re.compile(r"\[(P\d{1,3})\]")


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}" if float(value).is_integer() or not digits else f"{value:,.{digits}f}"
    return e(value)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _text_block(text: str, css: str = "text") -> str:
    if not text.strip():
        return f'<p class="{css} empty">(empty)</p>'
    return f'<p class="{css}">{e(text)}</p>'


def _with_citations(text: str) -> str:
    """Escaped answer text with its [P1] citations marked."""
    if not text.strip():
        return '<p class="text empty">(empty)</p>'
    return '<p class="text">{}</p>'.format(
        _CITATION.sub(lambda m: f'<mark class="cite">[{m.group(1)}]</mark>', e(text)))


def _json_for_script(value: Any) -> str:
    """JSON that cannot close its <script> element or open a comment."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _table(headers: list[str], rows: list[list[str]], css: str = "grid") -> str:
    """A table from already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _badge(outcome: str) -> str:
    return f'<span class="badge o-{e(outcome)}">{e(outcome)}</span>'


# --- sections ---------------------------------------------------------------------------------


def _header(run: RunData) -> str:
    name = run.path.resolve().name
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    notes = "".join(f'<p class="note">{e(n)}</p>' for n in run.notes)
    return (f'<header><h1>advqa run report <span class="runname">{e(name)}</span></h1>'
            f'<p class="sub">{e(run.path.resolve())} · generated {e(generated)} · trajectories from '
            f"{e(run.source)}</p>{notes}</header>")


def _nav(run: RunData) -> str:
    links = [("settings", "Settings"), ("funnel", "Funnel"), ("quality", "Quality"), ("rounds", "Rounds"),
             ("cost", "Calls & tokens"), ("coverage", "Coverage")]
    if any(r.kind == "evaluation" for r in run.results):
        links.append(("evaluation", "Evaluation"))
    if any(r.kind == "benchmark" for r in run.results):
        links.append(("benchmark", "Benchmark"))
    links.append(("trajectories", "Trajectories"))
    return "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in links) + "</nav>"


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return e(", ".join(f"{k} {v}" for k, v in value.items()))
    if isinstance(value, list):
        return e(", ".join(str(v) for v in value))
    text = str(value)
    if len(text) > 160 or "\n" in text:
        first = text.strip().splitlines()[0] if text.strip() else ""
        return (f'<details class="long"><summary>{e(first[:100])}…</summary>'
                f'<p class="text">{e(text)}</p></details>')
    return e(text) if text != "" else '<span class="muted">(empty)</span>'


def _settings(run: RunData) -> str:
    config = run.config
    models = config.get("models") or {}
    specs = config.get("model_specs") or {}
    prompts = config.get("prompts") or {}
    rows = [[f"<b>{e(role)}</b>", e(models.get(role, specs.get(role, "–"))), e(prompts.get(role, "–"))]
            for role in ROLES]
    tables = [f'<div class="card"><h3>Models and prompts</h3>{_table(["role", "model", "prompt"], rows)}'
              "</div>"]
    for key in ("campaign", "probe", "index"):
        values = config.get(key)
        if isinstance(values, dict) and values:
            body = [[e(k), _value(v)] for k, v in values.items()]
            tables.append(f'<div class="card"><h3>[{e(key)}]</h3>{_table(["setting", "value"], body)}</div>')
    if not config:
        tables.append('<p class="muted">No config.toml in this run folder.</p>')
    return ('<section id="settings"><h2>Settings</h2><div class="cards">' + "".join(tables)
            + "</div></section>")


def _funnel(run: RunData) -> str:
    stats = run.stats
    probes = run.probes
    asked = sum(1 for p in probes if any(r.question for r in p.rounds))
    judged = sum(1 for p in probes if p.judged)
    reached = sum(1 for p in probes if any((r.divergence or 0) >= run.threshold for r in p.judged))
    seeds = stats.get("probes", len(probes))
    stages = [
        ("seed passages", seeds, "#57606a"),
        ("finished probes", stats.get("finished", 0), "#57606a"),
        ("asked a valid question", asked, "#0969da"),
        ("judged by the critic", judged, "#0969da"),
        ("reached the threshold", reached, "#bc6c00"),
        ("accepted (grounded)", stats.get("accepted_before_dedup", stats.get("accepted", 0)), "#1a7f37"),
        ("kept after de-duplication", stats.get("accepted", 0), "#1a7f37"),
    ]
    funnel = plots.horizontal_bars(
        [plots.Bar(name, [(float(value or 0), color, f"{name}: {value}")],
                   note=f"{value}" + (f" ({value / seeds:.0%})" if seeds else ""))
         for name, value, color in stages],
        "Funnel: from seed passages to kept samples", label_width=190)
    counts = run.outcome_counts()
    outcome_bar = plots.horizontal_bars(
        [plots.Bar("outcomes", [(float(counts[o]), plots.OUTCOME_COLORS[o], f"{o}: {counts[o]}")
                                for o in OUTCOMES], note=f"{len(probes)} probes")],
        "Probe outcomes", label_width=70, row=34, width=440)
    legend = " ".join(f'{_badge(o)} {counts[o]}' for o in OUTCOMES if counts[o])
    cards = [
        ("acceptance rate", f"{stats['acceptance_rate']:.0%}" if "acceptance_rate" in stats else "–"),
        ("mean rounds", _number(stats.get("mean_rounds"), 2)),
        ("model calls", _number(stats.get("model_calls"))),
        ("tokens", _number(stats.get("tokens"))),
        ("tokens per kept sample", _number(stats.get("tokens_per_accepted"))),
        ("wall time", f"{stats['wall_seconds']:,.0f} s" if "wall_seconds" in stats else "–"),
        ("duplicates dropped", _number(stats.get("duplicates_dropped"))),
        ("errored", _number(stats.get("errored"))),
    ]
    if stats.get("cache_hits"):
        cards.append(("calls answered from the cache", _number(stats["cache_hits"])))
    if "cost" in stats:
        cards.append(("cost", f"{stats['cost']:,.4f}"))
    figures = "".join(f'<div class="figure"><div class="big">{v}</div><div>{e(k)}</div></div>'
                      for k, v in cards)
    errors = stats.get("errors") or {}
    error_list = ""
    if errors:
        error_list = "<details><summary>Probe errors ({})</summary><ul>{}</ul></details>".format(
            len(errors), "".join(f"<li><code>{e(k)}</code>: {e(v)}</li>" for k, v in errors.items()))
    return (f'<section id="funnel"><h2>Funnel</h2><div class="figures">{figures}</div><div class="row">'
            f'<div class="plotbox">{funnel}</div><div class="plotbox">{outcome_bar}'
            f'<p class="legend">{legend}</p></div></div>{error_list}</section>')


def _quality(run: RunData) -> str:
    """Is what was accepted right? The audited precision, why rounds were rejected, the round-trip
    and grounding rates, the student's failure, question types, schema parse rates, diversity."""
    quality = run.stats.get("quality") or {}
    audits = find_scored_sheets(run.path)
    cards = []
    for audit in audits:
        low, high = audit.interval
        cards.append((f"audited precision ({audit.path.name}, {audit.marked} samples)",
                      f"{audit.precision:.0%} <span class=\"muted\">[{low:.0%}, {high:.0%}]</span>"))
    if not audits:
        cards.append(("audited precision", '<span class="muted">no scored sheet: advqa audit RUN_DIR</span>'))
    failure = quality.get("student_failure") or {}
    for name, key in (("round trip agrees", "roundtrip_agreement_rate"), ("grounded fact by fact",
                      "fact_grounding_rate"), ("student already right", "student_correct_rate")):
        value = quality.get(key)
        cards.append((name, "–" if value is None else f"{value:.0%}"))
    cards.append(("student failure, accepted (mean)", _score(failure.get("mean"))))
    figures = "".join(f'<div class="figure"><div class="big">{v}</div><div>{e(k)}</div></div>'
                      for k, v in cards)
    rejections = quality.get("rejections") or {}
    rejected = _table(["why a round or question was turned down", "count"],
                      [[e(k), _number(v)] for k, v in rejections.items()]) if rejections else \
        '<p class="muted">nothing rejected</p>'
    types = quality.get("question_types") or {}
    kinds = sorted(set(types.get("asked", {})) | set(types.get("accepted", {})))
    type_table = _table(["question type", "asked", "accepted"],
                        [[e(k), _number(types.get("asked", {}).get(k, 0)),
                          _number(types.get("accepted", {}).get(k, 0))] for k in kinds])
    divergence = quality.get("divergence") or {}
    bins = len(divergence.get("student_wrong") or []) or 10
    histogram = _table(["divergence"] + [f"{i / bins:.1f}" for i in range(bins)],
                       [[e(name)] + [_number(v) for v in divergence.get(key) or [0] * bins]
                        for name, key in (("student wrong", "student_wrong"),
                                          ("student right", "student_right"), ("accepted", "accepted"))])
    parse = quality.get("schema_parse_rate") or {}
    parse_table = _table(["role", "calls", "followed the schema", "held by"],
                         [[e(role), _number(r["calls"]), f"{r['rate']:.0%}",
                           e(", ".join(f"{k} {v}" for k, v in r["paths"].items()))]
                          for role, r in parse.items()])
    diversity = quality.get("diversity") or {}
    diversity_text = " · ".join(f"{e(k.replace('_', ' '))} {_score(v)}" for k, v in diversity.items())
    return (f'<section id="quality"><h2>Quality: is what was accepted right, and hard?</h2>'
            f'<div class="figures">{figures}</div><div class="row"><div>{rejected}</div>'
            f"<div>{type_table}<h5>Schema-held replies</h5>{parse_table}</div></div>"
            f"<h5>Divergence of judged rounds (does it separate what the student got wrong?)</h5>{histogram}"
            f'<p>Diversity of the accepted questions: {diversity_text or "–"}</p></section>')


def _rounds(run: RunData) -> str:
    lines = [plots.Trajectory(anchor=f"p-{i}", label=f"{p.id} ({p.outcome})", outcome=p.outcome,
                              points=[(r.number, float(r.divergence), bool(r.grounded))
                                      for r in p.judged if r.divergence is not None])
             for i, p in enumerate(run.probes)]
    rounds = max(run.max_rounds, max((r.number for p in run.probes for r in p.rounds), default=1))
    per_round = []
    for number in range(1, rounds + 1):
        judged = [r for p in run.probes for r in p.judged if r.number == number]
        accepted = sum(1 for p in run.probes for r in p.judged
                       if r.number == number and r.route == "accepted")
        reached = sum(1 for r in judged if (r.divergence or 0) >= run.threshold)
        grounded = sum(1 for r in judged if r.grounded)
        mean = (sum(r.divergence or 0 for r in judged) / len(judged)) if judged else None
        per_round.append((number, len(judged), reached, grounded, accepted, mean))
    bars = plots.grouped_bars(
        [f"round {n}" for n, *_ in per_round],
        [("judged", "#8c959f", [float(j) for _, j, *_ in per_round]),
         ("reached threshold", "#bc6c00", [float(x[2]) for x in per_round]),
         ("accepted", "#1a7f37", [float(x[4]) for x in per_round])],
        "Probes judged, reaching the threshold and accepted, by round")
    table = _table(["round", "judged", "mean divergence", "reached threshold", "grounded", "accepted"],
                   [[str(n), str(j), _score(m), str(rc), str(g), str(a)] for n, j, rc, g, a, m in per_round])
    plot = plots.divergence_plot(lines, run.threshold, rounds)
    return (f'<section id="rounds"><h2>Divergence and acceptance by round</h2><div class="row">'
            f'<div class="plotbox">{plot}<p class="caption">Each line is a probe (click one to open its '
            f"trajectory); filled points are grounded rounds. A probe is accepted when a grounded round "
            f"reaches the threshold.</p></div><div class=\"plotbox\">{bars}{table}</div></div></section>")


def _cost(run: RunData) -> str:
    per_role = run.stats.get("per_role") or {}
    models = run.config.get("models") or {}
    reasked: dict[str, int] = {}
    for probe in run.probes:
        for call in probe.calls:
            if call.attempt > 1:
                reasked[call.role] = reasked.get(call.role, 0) + 1
    roles = [r for r in ROLES if r in per_role] + [r for r in per_role if r not in ROLES]
    # Columns that campaigns with a response cache, failing calls or prices add to stats.json.
    optional = [(key, name) for key, name in (("cache_hits", "cached"), ("errors", "errors"),
                                              ("cost", "cost"))
                if any(per_role[r].get(key) for r in roles)]
    rows, token_bars, second_bars = [], [], []
    for role in roles:
        values = per_role[role]
        calls = values.get("calls", 0) or 0
        tokens_in, tokens_out = values.get("input_tokens", 0), values.get("output_tokens", 0)
        seconds = float(values.get("seconds", 0.0))
        extra = [f"{values.get(key, 0):,.4f}" if key == "cost" else _number(values.get(key, 0))
                 for key, _ in optional]
        rows.append([f"<b>{e(role)}</b>", e(models.get(role, "–")), _number(calls),
                     _number(reasked.get(role, 0)), *extra, _number(tokens_in), _number(tokens_out),
                     f"{seconds:,.1f}", f"{seconds / calls:.2f}" if calls else "–",
                     _number((tokens_in + tokens_out) / calls) if calls else "–"])
        token_bars.append(plots.Bar(role, [
            (float(tokens_in), "#0969da", f"{role}: {tokens_in:,} input tokens"),
            (float(tokens_out), "#1a7f37", f"{role}: {tokens_out:,} output tokens")],
            note=f"{tokens_in + tokens_out:,}"))
        second_bars.append(plots.Bar(role, [(seconds, "#8250df", f"{role}: {seconds:,.1f} s")],
                                     note=f"{seconds:,.1f} s"))
    if not roles:
        return ('<section id="cost"><h2>Model calls, tokens and time per role</h2>'
                '<p class="muted">No model calls recorded.</p></section>')
    table = _table(["role", "model", "calls", "re-asked", *[name for _, name in optional], "input tokens",
                    "output tokens", "seconds", "s / call", "tokens / call"], rows)
    tokens_plot = plots.horizontal_bars(token_bars, "Tokens per role (input blue, output green)",
                                        label_width=90, width=480)
    seconds_plot = plots.horizontal_bars(second_bars, "Model seconds per role", label_width=90, width=480)
    return (f'<section id="cost"><h2>Model calls, tokens and time per role</h2>{table}<div class="row">'
            f'<div class="plotbox"><h3>Tokens (input, output)</h3>{tokens_plot}</div>'
            f'<div class="plotbox"><h3>Seconds in model calls</h3>{seconds_plot}</div></div>'
            '<p class="caption">Re-asked: calls after a rejected reply (a questioner reply with no usable '
            "question, an unreadable critic verdict). Seconds add up concurrent calls.</p></section>")


def _coverage(run: RunData) -> str:
    by_document: dict[str, dict[str, int]] = {}
    for probe in run.probes:
        counts = by_document.setdefault(probe.document, dict.fromkeys(OUTCOMES, 0))
        counts[probe.outcome] += 1
    scale = max([sum(c.values()) for c in by_document.values()] + [1])
    rows = []
    for document in sorted(by_document, key=lambda d: (-by_document[d]["accepted"], d)):
        counts = by_document[document]
        segments = [(float(counts[o]), plots.OUTCOME_COLORS[o], f"{o} {counts[o]}") for o in OUTCOMES]
        rows.append([e(document), str(sum(counts.values())), f"<b>{counts['accepted']}</b>",
                     str(counts["duplicate"]), str(counts["exhausted"]), str(counts["failed"]),
                     str(counts["error"] + counts["unfinished"]), plots.strip(segments, scale)])
    index = run.config.get("index") or {}
    note = ""
    if index.get("documents"):
        note = (f'<p class="caption">{len(by_document)} of the index\'s {index["documents"]} documents '
                f"had seed passages in this run.</p>")
    table = _table(["document", "probes", "accepted", "duplicates", "exhausted", "failed", "other", ""], rows)
    return (f'<section id="coverage"><h2>Coverage: accepted questions per document</h2>{note}'
            f"{table if rows else '<p class=muted>No probes.</p>'}</section>")


def _ci(values: Any) -> str:
    if isinstance(values, (list, tuple)) and len(values) == 2 and None not in values:
        return f' <span class="muted">[{values[0]:.3f}, {values[1]:.3f}]</span>'
    return ""


def _metric(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def _split(part: Any) -> str:
    if not isinstance(part, dict):
        return "–"
    return f"{_metric(part.get('balanced_accuracy'))} <span class=\"muted\">(n {part.get('n', 0)})</span>"


def _evaluation(result: ResultFile) -> str:
    data = result.data
    settings = data.get("settings") or {}
    described = ", ".join(f"{k} {v}" for k, v in settings.items()
                          if k in ("model", "adapter", "prompt_style", "limit", "scorer") and v is not None)
    rows = []
    for task, values in data["tasks"].items():
        rows.append([e(task), _number(values.get("n")),
                     _metric(values.get("balanced_accuracy")) + _ci(values.get("ci95")),
                     _metric(values.get("accuracy")), _metric(values.get("share_invalid")),
                     _split(values.get("in_reference")), _split(values.get("outside_reference"))])
    macro = data["macro"]
    rows.append(["<b>macro</b>", _number(macro.get("tasks")) + " tasks",
                 f"<b>{_metric(macro.get('balanced_accuracy'))}</b>", _metric(macro.get("accuracy")),
                 _metric(macro.get("share_invalid")), _split(macro.get("in_reference")),
                 _split(macro.get("outside_reference"))])
    table = _table(["task", "n", "balanced accuracy [95% CI]", "accuracy", "invalid", "in reference",
                    "outside reference"], rows)
    return (f'<div class="card wide"><h3>{e(result.path.name)}</h3><p class="caption">{e(result.path)}'
            f"{' · ' + e(described) if described else ''}</p>{table}</div>")


def _family(method: str) -> str:
    return re.sub(r"_(\d+x|dpo)$", "", method)


def _benchmark_plot(methods: dict[str, Any], value, interval, y_label: str, label: str) -> str:
    """One evaluation's score against synthetic tokens: a point per method, the base model dashed."""
    points = [plots.Point(label=name, x=float(m.get("synthetic_tokens") or 0), y=float(value(m)),
                          low=(interval(m) or [None, None])[0], high=(interval(m) or [None, None])[1],
                          family=_family(name))
              for name, m in methods.items() if name != "base" and value(m) is not None]
    base = value(methods.get("base") or {})
    baseline = ("base model", float(base)) if base is not None else None
    return plots.log_x_plot(points, baseline=baseline, x_label="synthetic training tokens (log scale)",
                            y_label=y_label, label=label)


def _closed(m: dict[str, Any], key: str) -> Any:
    return (m.get("closed_book") or {}).get(key)


def _benchmark(result: ResultFile) -> str:
    data = result.data
    methods = data["methods"]
    panels = [_benchmark_plot(methods, lambda m: m.get("macro_balanced_accuracy"),
                              lambda m: m.get("macro_ci95"), "macro balanced accuracy",
                              "Accuracy against synthetic training tokens: LegalBench contract tasks")]
    if any(m.get("closed_book") for m in methods.values()):
        panels = [
            _benchmark_plot(methods, lambda m: _closed(m, "choice_accuracy"),
                            lambda m: (_closed(m, "ci") or {}).get("choice"), "choice accuracy",
                            "Accuracy against synthetic training tokens: closed-book value questions"),
            _benchmark_plot(methods, lambda m: _closed(m, "yes_no_balanced_accuracy"),
                            lambda m: (_closed(m, "ci") or {}).get("yes_no"), "yes/no balanced accuracy",
                            "Accuracy against synthetic training tokens: closed-book yes/no questions"),
            *panels]
    tasks = list(data.get("tasks") or [])
    if not tasks:
        tasks = sorted({t for m in methods.values() for t in (m.get("tasks") or {})})
    rows = []
    for name, m in methods.items():
        task_cells = [_metric(((m.get("tasks") or {}).get(t) or {}).get("balanced_accuracy")) for t in tasks]
        closed = m.get("closed_book") or {}
        ci = closed.get("ci") or {}
        change = (f"{_number(closed.get('learned'), 1)} / {_number(closed.get('forgotten'), 1)}"
                  if "learned" in closed else "–")
        rows.append([f"<b>{e(name)}</b>", _number(m.get("synthetic_tokens")),
                     _number(m.get("training_tokens")),
                     _metric(closed.get("choice_accuracy")) + _ci(ci.get("choice")),
                     _metric(closed.get("yes_no_balanced_accuracy")) + _ci(ci.get("yes_no")), change,
                     _number(len(closed["seeds"]) if isinstance(closed.get("seeds"), list) else None),
                     _metric(m.get("macro_balanced_accuracy")) + _ci(m.get("macro_ci95")), *task_cells])
    table = _table(["method", "synthetic tokens", "training tokens", "closed-book choice accuracy [95% CI]",
                    "closed-book yes/no balanced accuracy [95% CI]", "learned / forgotten", "seeds",
                    "LegalBench macro balanced accuracy [95% CI]", *[e(t) for t in tasks]], rows)
    settings = data.get("settings") or {}
    described = ", ".join(f"{k} {settings[k]}" for k in ("student", "generator", "contracts", "probes",
                                                          "training_seeds", "tasks", "limit", "seeds")
                          if k in settings)
    plotted = "".join(f'<div class="plotbox">{p}</div>' for p in panels if p)
    return (f'<div class="card wide"><h3>{e(result.path.name)}</h3><p class="caption">{e(result.path)}'
            f"{' · ' + e(described) if described else ''}</p>"
            f'{plotted or "<p class=muted>No method with synthetic tokens.</p>"}'
            f"{table}</div>")


def _results(run: RunData) -> str:
    parts = []
    evaluations = [r for r in run.results if r.kind == "evaluation"]
    benchmarks = [r for r in run.results if r.kind == "benchmark"]
    if evaluations:
        parts.append('<section id="evaluation"><h2>Evaluation</h2>'
                     + "".join(_evaluation(r) for r in evaluations) + "</section>")
    if benchmarks:
        parts.append('<section id="benchmark"><h2>Sample efficiency</h2>'
                     + "".join(_benchmark(r) for r in benchmarks) + "</section>")
    return "".join(parts)


# --- trajectories ---------------------------------------------------------------------------


def _passage(label: str, passage_id: str, document: str, *, cited: bool = False, seed: bool = False) -> str:
    flags = ('<span class="flag cited">cited</span>' if cited else "") + \
            ('<span class="flag seed">seed</span>' if seed else "")
    prefix = f"<b>{e(label)}</b> · " if label else ""
    document_part, _, position = passage_id.rpartition("#")
    chunk = f"#{position}" if document_part == document else passage_id
    return (f'<details class="passage" data-pid="{e(passage_id)}"><summary>{prefix}'
            f'<span class="pdoc">{e(document)}</span> <code>{e(chunk)}</code>{flags}</summary>'
            '<div class="ptext"></div></details>')


def _critic(round_: Round, threshold: float) -> str:
    if round_.divergence is None:
        return ""
    scores = " · ".join(f"{e(k)} {_score(v)}" for k, v in round_.scores.items())
    passed = "≥" if round_.divergence >= threshold else "<"
    grounded = ("yes" if round_.grounded else "no") + (f" ({e(round_.grounding_method)}"
                                                         + (f", score {round_.grounding_score:.2f}"
                                                            if round_.grounding_score is not None else "")
                                                         + ")" if round_.grounding_method else "")
    items = [
        ("divergence", f"<b>{round_.divergence:.3f}</b> {passed} threshold {threshold:.2f} "
                       f'<span class="muted">({e(round_.scorer)})</span>'),
        ("scores", scores or "–"),
        ("grounded", grounded),
        ("critic said grounded", "–" if round_.critic_grounded is None else
         ("yes" if round_.critic_grounded else "no") + ' <span class="muted">(recorded, not used)</span>'),
        ("verdict read from", e(round_.verdict_parsed_with or "–")
         + (' <span class="warn">critic reply unreadable: divergence from code scorers, feedback '
            "written by code</span>" if round_.verdict_parsed_with == "none" else "")),
    ]
    if round_.fabricated_citations:
        items.append(("fabricated citations", e(", ".join(round_.fabricated_citations))))
    if round_.rejections:
        items.append(("rejected because", f'<span class="warn">{e(", ".join(round_.rejections))}</span>'
                      + (f" ({e(round_.roundtrip)})" if round_.roundtrip else "")))
    if round_.student_failure is not None:
        items.append(("student failure", _score(round_.student_failure)))
    if round_.reason:
        items.append(("reason", e(round_.reason)))
    items.append(("feedback", f'<span class="feedback">{e(round_.feedback) or "–"}</span>'))
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f'<div class="critic"><h5>Critic</h5><dl>{rows}</dl></div>'


def _calls(round_: Round) -> str:
    if not round_.calls:
        return ""
    last_attempt: dict[str, int] = {}
    for call in round_.calls:
        last_attempt[call.role] = max(last_attempt.get(call.role, 0), call.attempt)
    rows = []
    for call in round_.calls:
        shown = (call.attempt < last_attempt[call.role] or not round_.judged or bool(call.error)
                 or (call.role == "critic" and round_.verdict_parsed_with in ("none", "")))
        output = ""
        if shown:
            text = call.error or call.output
            clipped = text if len(text) <= CALL_OUTPUT_CHARS else text[:CALL_OUTPUT_CHARS] + "…"
            output = f'<span class="{"warn" if call.error else "raw"}">{e(clipped)}</span>'
        rows.append([e(call.role) + (' <span class="muted">(cached)</span>' if call.cached else ""),
                     str(call.attempt), e(call.model), _number(call.input_tokens),
                     _number(call.output_tokens), f"{call.seconds:.2f}", output])
    tokens = sum(c.input_tokens + c.output_tokens for c in round_.calls)
    seconds = sum(c.seconds for c in round_.calls)
    retries = sum(1 for c in round_.calls if c.attempt > 1)
    summary = (f"Model calls: {len(round_.calls)}" + (f" ({retries} re-asked)" if retries else "")
               + f" · {tokens:,} tokens · {seconds:.1f} s")
    table = _table(["role", "attempt", "model", "in", "out", "s", "reply (rejected or unreadable)"],
                   rows, css="grid calls")
    return f'<details class="calls"><summary>{summary}</summary>{table}</details>'


def _round(round_: Round, threshold: float, ended: str = "") -> str:
    """One round; `ended` is how the probe ended when this unjudged round was its last."""
    route = round_.route or (ended if not round_.judged else "")
    route_badge = f'<span class="route r-{e(route)}">→ {e(route)}</span>' if route else ""
    head = f'<h4>Round {round_.number} {route_badge}'
    if round_.divergence is not None:
        head += f' <span class="muted">divergence {round_.divergence:.2f}'
        head += " · grounded" if round_.grounded else " · not grounded"
        head += "</span>"
    head += "</h4>"
    if not round_.judged and not round_.question:
        body = ('<p class="muted">No usable question this round (the questioner\'s replies are below).</p>'
                if ended == "failed" else '<p class="muted">This round did not finish.</p>')
    else:
        kind = f' <span class="muted">({e(round_.question_type)})</span>' if round_.question_type else ""
        intended = (f'<p class="muted">intended answer: {e(round_.intended_answer)}</p>'
                    if round_.intended_answer else "")
        body = (f'<div class="question"><h5>Question{kind}</h5>{_text_block(round_.question)}{intended}</div>'
                '<div class="answers">'
                f'<div class="answer student"><h5>Student <span class="muted">(question only)</span></h5>'
                f"{_text_block(round_.student_answer)}</div>"
                f'<div class="answer expert"><h5>Expert <span class="muted">(from the passages)</span></h5>'
                f"{_with_citations(round_.expert_answer)}</div></div>")
        body += _critic(round_, threshold)
        if round_.passages:
            body += ('<div class="passages"><h5>Passages the expert saw</h5>'
                     + "".join(_passage(p.label, p.id, p.document, cited=p.cited) for p in round_.passages)
                     + "</div>")
    return f'<section class="round">{head}{body}{_calls(round_)}</section>'


def _probe(index: int, probe: Probe, threshold: float) -> str:
    best = next((r for r in probe.rounds if r.number == probe.best_round and r.question), None) \
        or next((r for r in reversed(probe.rounds) if r.question), None)
    question = best.question if best else (probe.failure or "no question")
    spark = plots.sparkline([r.divergence for r in probe.judged], threshold) if probe.judged \
        else '<span class="nospark"></span>'
    best_div = probe.best_divergence
    meta = f"{len(probe.judged)} judged round{'s' if len(probe.judged) != 1 else ''}"
    if best_div is not None:
        meta += f" · best {best_div:.2f}"
    summary = (f"<summary>{_badge(probe.outcome)}<span class=\"pdoc\">{e(probe.document)}</span>"
               f'<span class="meta">{e(meta)}</span>{spark}'
               f'<span class="q">{e(question[:220])}</span></summary>')
    body = [f'<p class="pid">probe <code>{e(probe.id)}</code></p>']
    if probe.failure:
        body.append(f'<p class="warn">{e(probe.failure)}</p>')
    body.append('<div class="seed"><h5>Seed passage</h5>'
                + _passage("", probe.seed, probe.document, seed=True) + "</div>")
    ended = probe.outcome if probe.outcome in ("failed", "error", "unfinished") else ""
    body.extend(_round(r, threshold, ended if r is probe.rounds[-1] else "") for r in probe.rounds)
    return (f'<details class="probe" id="p-{index}" data-outcome="{e(probe.outcome)}" '
            f'data-document="{e(probe.document)}">{summary}<div class="probe-body">{"".join(body)}</div>'
            "</details>")


def _trajectories(run: RunData) -> str:
    counts = run.outcome_counts()
    outcome_options = "".join(f'<option value="{o}">{o} ({counts[o]})</option>'
                              for o in OUTCOMES if counts[o])
    documents = run.documents
    document_options = "".join(f'<option value="{e(d)}">{e(d)}</option>' for d in documents)
    controls = (
        '<div class="controls">'
        '<label>Outcome <select id="f-outcome"><option value="">all</option>'
        f"{outcome_options}</select></label>"
        '<label>Document <select id="f-document"><option value="">all</option>'
        f"{document_options}</select></label>"
        '<label class="grow">Search <input id="f-text" type="search" '
        'placeholder="words in questions, answers, feedback, probe ids"></label>'
        '<button type="button" id="f-open">expand all</button>'
        '<button type="button" id="f-close">collapse all</button>'
        f'<span id="f-count" class="muted">{len(run.probes)} of {len(run.probes)} probes</span></div>')
    items = "".join(_probe(i, p, run.threshold) for i, p in enumerate(run.probes))
    empty = '<p class="muted" id="f-empty" hidden>No probe matches these filters.</p>'
    if not run.probes:
        items = '<p class="muted">This run has no probes yet.</p>'
    return (f'<section id="trajectories"><h2>Trajectories</h2>{controls}{empty}'
            f'<div id="probes">{items}</div></section>')


def _passages_data(run: RunData) -> str:
    wanted = {ref.id for p in run.probes for r in p.rounds for ref in r.passages}
    wanted |= {p.seed for p in run.probes}
    data = {pid: {"d": run.passages[pid].document, "t": run.passages[pid].text}
            for pid in sorted(wanted) if pid in run.passages}
    return f'<script type="application/json" id="passages-data">{_json_for_script(data)}</script>'


def render_report(run: RunData) -> str:
    """The whole report as one HTML string."""
    name = run.path.resolve().name
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<link rel="icon" href="data:,">',
        f"<title>advqa report: {e(name)}</title><style>{_asset('report.css')}</style></head><body>",
        _header(run), _nav(run), "<main>", _settings(run), _funnel(run), _quality(run), _rounds(run),
        _cost(run),
        _coverage(run), _results(run), _trajectories(run), "</main>",
        f'<footer>advqa · {len(run.probes)} probes · data: {e(run.path.resolve())}/'
        "{config.toml, stats.json, traces.jsonl, checkpoints.sqlite}</footer>",
        _passages_data(run), f"<script>{_asset('report.js')}</script></body></html>",
    ])


def write_report(run_dir: str | Path, out: str | Path | None = None,
                 results: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Write RUN_DIR/report.html (or `out`) and return its path."""
    run = load_run(run_dir, results)
    target = Path(out) if out is not None else run.path / REPORT
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, render_report(run))  # workers may write it at once; a kill leaves the old one
