"""The voting page in a real headless Chromium against a real server: keys, buttons, playback, resume."""

from pathlib import Path

import pytest
from test_votes_support import SECRET_WORDS, make_results, running_server

from fpeval.votes.design import GAP_PX, design_study
from fpeval.votes.study import Study

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing and could not be installed (`make browser` runs apt-get install chromium)",
        allow_module_level=True,
    )


def test_annotator_votes_with_keys_and_buttons_and_resumes_after_reload(tmp_path):
    results = make_results(tmp_path / "results", images=("img0", "img1"), frames=8, size=32)
    summary = design_study(results, tmp_path / "study", gold=1, repeats=1, annotators=["browser_ann"])
    token = summary.annotator_tokens["browser_ann"]
    with running_server(summary.root) as (base, _), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/?token={token}")
            assert page.url == f"{base}/"  # the token left the address bar

            def wait_done(n):
                page.wait_for_selector(f"body[data-done='{n}']", timeout=10_000)
                page.wait_for_selector("#task:not([hidden])", timeout=10_000)

            wait_done(0)
            assert page.inner_text("#progress") == "0 / 8 done"
            assert page.inner_text("#prompt") == "a red ball"
            # The side-by-side video decodes and plays; space pauses, r replays.
            page.wait_for_function("document.getElementById('video').readyState >= 2", timeout=10_000)
            assert page.evaluate("document.getElementById('video').videoWidth") == 32 + GAP_PX + 32
            page.wait_for_function("document.getElementById('input-image').naturalWidth === 32")
            page.evaluate("document.getElementById('video').play()")
            page.keyboard.press(" ")
            assert page.evaluate("document.getElementById('video').paused") is True
            page.keyboard.press("r")
            page.wait_for_function("!document.getElementById('video').paused")

            html = page.content()
            for word in SECRET_WORDS:
                assert word not in html

            expected = []
            for n, key, choice in [
                (0, "1", "left"),
                (1, "ArrowRight", "right"),
                (2, "3", "tie"),
                (3, "4", "both_bad"),
                (4, "s", "skip"),
                (5, "ArrowLeft", "left"),
            ]:
                pair_id = page.get_attribute("body", "data-pair")
                page.keyboard.press(key)
                wait_done(n + 1)
                expected.append((pair_id, choice))

            page.reload()  # resume where the annotator left off
            wait_done(6)
            assert page.inner_text("#progress") == "6 / 8 done"
            pair_id = page.get_attribute("body", "data-pair")
            page.keyboard.press("2")
            wait_done(7)
            expected.append((pair_id, "right"))
            pair_id = page.get_attribute("body", "data-pair")
            page.click("button[data-choice='tie']")
            page.wait_for_selector("#finished:not([hidden])", timeout=10_000)
            assert page.is_hidden("#task")
            expected.append((pair_id, "tie"))
            assert page.inner_text("#progress") == "8 / 8 done"
        finally:
            browser.close()
    study = Study.open(summary.root)
    votes = study.store.votes(study.study_id)
    assert list(zip(votes["pair_id"], votes["choice"], strict=True)) == expected
    assert (votes["time_on_task_s"] >= 0).all() and votes["annotator"].eq("browser_ann").all()
    study.store.close()


def test_the_page_without_a_token_asks_for_the_personal_link(tmp_path):
    results = make_results(tmp_path / "results", images=("img0",), frames=2, size=16)
    summary = design_study(results, tmp_path / "study", gold=0, repeats=0)
    with running_server(summary.root) as (base, _), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/")
            page.wait_for_selector("#signin:not([hidden])", timeout=10_000)
            assert page.is_hidden("#task")
        finally:
            browser.close()


def test_from_a_run_to_peoples_ranks_in_its_table(tmp_path):
    """The annotator path end to end: a run, a study designed from it, a link, votes cast with the
    keyboard in Chromium (with a reload mid-way), the report, and the run's table with people's ranks."""
    from mini_tiny import write_tiny_mini
    from typer.testing import CliRunner

    from fpeval.runs.grid import Grid
    from fpeval.runs.runner import run
    from fpeval.runs.tables import build_table, format_table
    from fpeval.votes.cli import votes_app

    denoiser, _ = write_tiny_mini(tmp_path)
    grid = Grid.model_validate(
        dict(
            name="people",
            model=str(denoiser),
            samples=dict(heldout=2, seeds=[0]),
            sections=1,
            sampler=dict(steps=1),
            batch=2,
            rows=[dict(name="inverted", variant="inverted"), dict(name="repeat", variant="repeat_i2v")],
            metrics=["clarity_laplacian"],
        )
    )
    out = run(grid, tmp_path / "run", progress=False, log=lambda _: None)
    summary = design_study(out, tmp_path / "study", gold=0, repeats=0, annotators=["web_ann"])
    study = Study.open(summary.root)
    pairs = study.store.pairs(study.study_id).set_index("pair_id")
    total = len(pairs)
    with running_server(summary.root) as (base, _), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/?token={summary.annotator_tokens['web_ann']}")
            for n in range(total):
                page.wait_for_selector(f"body[data-done='{n}']", timeout=10_000)
                if n == 1:
                    page.reload()  # resume where the annotator left off
                    page.wait_for_selector(f"body[data-done='{n}']", timeout=10_000)
                page.wait_for_selector("#task:not([hidden])", timeout=10_000)
                pair = pairs.loc[page.get_attribute("body", "data-pair")]
                left_is_inverted = (
                    study.store.items(study.study_id)
                    .set_index("item_id")
                    .loc[pair["left_item"], "competitor"]
                    == "inverted"
                )
                page.keyboard.press("1" if left_is_inverted else "2")  # this annotator prefers inverted
            page.wait_for_selector("#finished:not([hidden])", timeout=10_000)
        finally:
            browser.close()
    assert study.store.count_votes(study.study_id) == total
    study.store.close()
    report = CliRunner().invoke(votes_app, ["report", str(summary.root), "--rounds", "50"])
    assert report.exit_code == 0, report.output
    table = build_table(out, votes=summary.root)
    assert f"Ratings from people ({total} votes, 1 annotators" in format_table(table)
    assert table.loc["inverted", "rank"] == 1 and table.loc["repeat", "rank"] == 2
