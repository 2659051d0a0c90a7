"""The run report in a real headless Chromium: it loads offline without errors, filters, opens passages."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from report_runs import HOSTILE, scripted_run, synthetic_run

from advqa.report import load_run, write_report
from advqa.report.html import SIZE_BUDGET_BYTES

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: install Debian's chromium (`make test` tries) to run browser tests")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def scripted(small_index, tmp_path_factory):
    run = tmp_path_factory.mktemp("browser") / "run"
    stats = scripted_run(small_index, run)
    return write_report(run), stats


class Opened:
    """A page showing a report, with everything that went wrong while it loaded and ran."""

    def __init__(self, browser, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on("request", lambda r: None if r.url.startswith(("file://", "data:"))
                     else self.problems.append(f"network request: {r.url}"))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")

    def visible(self) -> int:
        return self.page.locator("details.probe:visible").count()

    def close(self) -> None:
        self.page.close()


def distinct_colours(png: bytes) -> int:
    """Distinct pixel colours of a PNG (PIL when present, else a rough decoder for 8-bit RGB(A))."""
    try:
        from PIL import Image
    except ImportError:
        return _rough_colours(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=image.width * image.height))


def _rough_colours(png: bytes) -> int:
    # Filtered scanlines still differ wherever the picture does: count distinct 3-byte groups.
    pos, data = 8, b""
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            data += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(data)
    return len({raw[i:i + 3] for i in range(0, len(raw) - 3, 3)})


def test_report_loads_offline_without_errors(browser, scripted):
    path, stats = scripted
    opened = Opened(browser, path)
    try:
        page = opened.page
        assert opened.problems == []
        assert page.locator("#funnel svg.plot").count() >= 1
        label = page.locator("#rounds svg.plot").first.get_attribute("aria-label")
        assert label.startswith("Divergence per round")
        assert page.locator("#rounds svg.plot a.traj").count() == stats["probes"]  # one line per probe
        assert page.locator("#trajectories details.probe").count() == stats["probes"]
        assert opened.visible() == stats["probes"]
        assert page.locator("#f-count").inner_text() == f"{stats['probes']} of {stats['probes']} probes"
        shot = page.screenshot(full_page=True)
        assert distinct_colours(shot) > 50  # not a blank page
        assert opened.problems == []
    finally:
        opened.close()


def test_filters_change_what_is_visible(browser, scripted):
    path, stats = scripted
    opened = Opened(browser, path)
    try:
        page = opened.page
        expected = {o: page.locator(f'details.probe[data-outcome="{o}"]').count()
                    for o in ("accepted", "exhausted", "failed")}
        assert expected["accepted"] == stats["accepted"] and expected["exhausted"] == stats["exhausted"]
        for outcome, count in expected.items():
            if count:
                page.select_option("#f-outcome", outcome)
                assert opened.visible() == count < stats["probes"]
                assert page.locator("#f-count").inner_text().startswith(f"{count} of")
        page.select_option("#f-outcome", "")
        assert opened.visible() == stats["probes"]
        lease = page.locator('details.probe[data-document="lease.md"]').count()
        page.select_option("#f-document", "lease.md")
        assert opened.visible() == lease < stats["probes"]
        page.select_option("#f-document", "")
        page.fill("#f-text", "no such words anywhere xyzzy")
        assert opened.visible() == 0 and page.locator("#f-empty").is_visible()
        # A subject the scripted questioner asked about in some probes but not all.
        count_with = "w => [...document.querySelectorAll('details.probe')]" \
                     ".filter(p => p.textContent.toLowerCase().includes(w)).length"
        subjects = ["invoiced", "survives", "starts", "liability", "lessee"]
        word, expected = next((w, n) for w in subjects
                              if 0 < (n := page.evaluate(count_with, w)) < stats["probes"])
        page.fill("#f-text", word)
        assert opened.visible() == expected
        assert opened.problems == []
    finally:
        opened.close()


def test_passage_text_opens_in_place(browser, scripted):
    path, _ = scripted
    run = load_run(path.parent)
    opened = Opened(browser, path)
    try:
        page = opened.page
        probe = page.locator("details.probe").first
        probe.locator("summary").first.click()
        passage = probe.locator(".round details.passage").first
        assert passage.locator(".ptext").inner_text() == ""  # filled on demand
        passage.locator("summary").click()
        # The toggle event that fills the text is dispatched as a task after the click returns.
        sync_api.expect(passage.locator(".ptext")).not_to_have_text("")
        text = passage.locator(".ptext").inner_text()
        expected = run.passages[passage.get_attribute("data-pid")].text
        assert text.strip() == expected.strip() and len(text) > 20
        assert probe.locator(".answer.student").first.is_visible()
        assert probe.locator(".answer.expert mark.cite").count() >= 1
        assert opened.problems == []
    finally:
        opened.close()


def test_clicking_a_line_in_the_divergence_plot_opens_its_probe(browser, scripted):
    path, _ = scripted
    opened = Opened(browser, path)
    try:
        page = opened.page
        link = page.locator("#rounds svg.plot a.traj").nth(1)
        target = link.get_attribute("href").lstrip("#")
        assert page.locator(f"#{target}").get_attribute("open") is None
        page.evaluate("id => { window.location.hash = id; }", target)
        page.wait_for_function("id => document.getElementById(id).open", arg=target)
        assert opened.problems == []
    finally:
        opened.close()


def test_run_with_nothing_accepted_renders(browser, small_index, tmp_path):
    run = tmp_path / "run"
    stats = scripted_run(small_index, run, accept=False)
    assert stats["accepted"] == 0
    opened = Opened(browser, write_report(run))
    try:
        assert opened.problems == []
        assert opened.visible() == stats["probes"]
        options = opened.page.locator("#f-outcome option").all_inner_texts()
        assert not any(o.startswith("accepted") for o in options)
        assert distinct_colours(opened.page.screenshot()) > 50
    finally:
        opened.close()


def test_hostile_text_renders_as_text(browser, tmp_path):
    run = tmp_path / "run"
    synthetic_run(run, probes=20, rounds=2, documents=3, pool=30, hostile=True)
    opened = Opened(browser, write_report(run))
    try:
        page = opened.page
        page.click("#f-open")
        for passage in page.locator("details.passage").all()[:12]:
            passage.locator("summary").click()
            sync_api.expect(passage.locator(".ptext")).not_to_have_text("")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("body").is_visible()  # the injected <style> did not hide it
        body = page.locator("main").inner_text()
        assert HOSTILE["question"] in body and HOSTILE["document"] in body
        assert HOSTILE["passage"] in body
        assert opened.problems == []  # an injected <img src=x> would be a failed request
    finally:
        opened.close()


def test_run_of_300_probes_renders_within_budget(browser, tmp_path):
    run = tmp_path / "run"
    synthetic_run(run, probes=300, rounds=3, all_rounds=True)
    path = write_report(run)
    assert path.stat().st_size < SIZE_BUDGET_BYTES
    opened = Opened(browser, path)
    try:
        page = opened.page
        assert opened.visible() == 300
        page.select_option("#f-outcome", "exhausted")
        assert opened.visible() == page.locator('details.probe[data-outcome="exhausted"]').count() < 300
        page.select_option("#f-outcome", "")
        page.fill("#f-text", "timeouterror")  # the errored probes' reason
        assert opened.visible() == page.locator('details.probe[data-outcome="error"]').count() > 0
        assert opened.problems == []
    finally:
        opened.close()
