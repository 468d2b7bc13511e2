"""specc play in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium; never a
browser Playwright downloads) on `specc play` started as a user starts it. It draws an X and an O
with mouse strokes on the quick start's x_or_o run and expects X and O, types the lecture's
flights sentences to a tagger and expects the lecture's tags, and checks that a phone-sized
viewport needs no horizontal scrolling. Screenshots go to tmp_path, and also to the folder
named by SPECC_PLAY_SCREENSHOTS (the README's pictures: docs/pictures).

Without playwright or Chromium the tests skip, saying which is missing; with
SPECC_REQUIRE_BROWSER=1 (as .ci/run sets) they fail instead."""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest

from tests.test_play import playing, trained

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
# seed-examples §5: the lecture's sentences and their slots
LECTURE_TAGS = {"arrive Beijing on November 2nd": ["other", "dest", "other", "time", "time"],
                "leave Beijing on November 2nd": ["other", "depart", "other", "time", "time"]}


def _missing() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'playwright is not installed (python -m pip install -e ".[play-test]")'
    if not CHROMIUM.is_file():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("SPECC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SPECC_REQUIRE_BROWSER=1, but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def xo_page(tmp_path_factory):
    """The URL of `specc play` on the quick start's x_or_o run: `specc train specs/x_or_o.nn`."""
    yield from playing(trained(tmp_path_factory.mktemp("runs"), "x_or_o.nn"))


@pytest.fixture(scope="module")
def tagger_page(tmp_path_factory):
    """The URL of `specc play` on specs/slots_elman.nn trained for 3 epochs on the flights data."""
    yield from playing(trained(tmp_path_factory.mktemp("runs"), "slots_elman.nn", 3))


def open_page(browser, url: str, **context):
    """A new page on `url`, once the model is shown. bypass_csp: Playwright's waits evaluate
    strings, which the page's Content-Security-Policy forbids."""
    page = browser.new_context(bypass_csp=True, **context).new_page()
    page.goto(url)
    page.wait_for_function("document.body.dataset.ready === 'true'")
    return page


def settled(page) -> None:
    """Wait until the latest drawing or text is answered."""
    page.wait_for_function("document.body.dataset.settled === 'true'")


def stroke(page, points) -> None:
    """One mouse stroke through `points`, given as fractions (x, y) of the canvas."""
    box = page.locator("#canvas").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def draw_x(page) -> None:
    stroke(page, [(0.2, 0.2), (0.5, 0.5), (0.8, 0.8)])
    stroke(page, [(0.8, 0.2), (0.5, 0.5), (0.2, 0.8)])


def draw_o(page) -> None:
    stroke(page, [(0.5 + 0.3 * math.cos(a), 0.5 + 0.33 * math.sin(a))
                  for a in (2 * math.pi * k / 24 for k in range(25))])


def best_class(page) -> str:
    return page.locator("#bars .bar.best").get_attribute("data-class")


def screenshot(page, path: Path) -> None:
    """The whole page to `path`, and to $SPECC_PLAY_SCREENSHOTS/NAME when that is set."""
    page.screenshot(path=str(path), full_page=True)
    folder = os.environ.get("SPECC_PLAY_SCREENSHOTS")
    if folder:
        shutil.copyfile(path, Path(folder) / path.name)


def no_horizontal_scrolling(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_drawing_an_x_and_an_o_shows_x_and_o_with_the_feature_maps(browser, xo_page, tmp_path):
    page = open_page(browser, xo_page, viewport={"width": 1100, "height": 900})
    assert page.locator("#title").inner_text() == "specc play: x_or_o"
    facts = page.locator("#facts").inner_text()
    assert facts.startswith("400 parameters · input image: 1x12x12 · trained: x_or_o/checkpoint.npz · "
                            "held-out (test, 400 samples) accuracy ")
    assert "model x_or_o" in page.locator("#spec").inner_text()
    draw_x(page)
    settled(page)
    assert best_class(page) == "X"
    assert page.locator("#answer").inner_text().startswith("label = X (probability ")
    # the maps of both conv layers, per channel: 3 and 8 small canvases
    assert [page.locator(f'.layer[data-layer="{layer}"] canvas').count() for layer in ("conv@8", "conv@13")] == [3, 8]
    screenshot(page, tmp_path / "play_x_or_o.png")

    page.locator("#clear").click()
    settled(page)
    draw_o(page)
    settled(page)
    assert best_class(page) == "O"
    screenshot(page, tmp_path / "play_x_or_o_o.png")


def test_typing_the_lecture_sentences_shows_the_lecture_tags(browser, tagger_page, tmp_path):
    page = open_page(browser, tagger_page, viewport={"width": 1100, "height": 800})
    assert " · held-out (test, 300 sentences) accuracy " in page.locator("#facts").inner_text()
    for sentence, tags in LECTURE_TAGS.items():
        page.locator("#text").fill("")
        page.locator("#text").press_sequentially(sentence, delay=15)
        settled(page)
        spans = page.locator("#tags .tag")
        assert [spans.nth(k).get_attribute("data-word") for k in range(spans.count())] == sentence.split()
        assert [spans.nth(k).get_attribute("data-tag") for k in range(spans.count())] == tags
    screenshot(page, tmp_path / "play_slots.png")


def test_a_phone_sized_page_needs_no_horizontal_scrolling(browser, xo_page, tagger_page, tmp_path):
    for url, act, name in ((xo_page, draw_x, "play_phone_x_or_o.png"),
                           (tagger_page, lambda p: p.locator("#text").fill("leave Beijing for Taipei tomorrow morning"),
                            "play_phone_slots.png")):
        page = open_page(browser, url, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        act(page)
        settled(page)
        assert no_horizontal_scrolling(page), page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, tmp_path / name)
