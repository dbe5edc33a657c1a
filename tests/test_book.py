"""The course site builds from the committed notebooks and every page opens cleanly in a browser.

The site is built once (``sparsekit.course.book.build``), served on 127.0.0.1, and each page - the intro,
the syllabus, the claims report and the eight notebooks - is opened in headless Chromium (Debian's
``chromium``, driven by Playwright). A page fails on an HTTP error, a broken image, a JavaScript
error or a failed request, and the intro must link every page. ``.ci/run`` installs Chromium when
it is missing; elsewhere the test is skipped with the command to install it.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from sparsekit.course import book

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = ["index.html", "syllabus.html", "verdicts.html", "glossary.html", "claims.html", "contract.html",
         "thesis_reber.html"] + [
    f"notebooks/{p.stem}.html" for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = book.build(tmp_path_factory.mktemp("site") / "html")
    handler = functools.partial(QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_every_page_is_built(site):
    out, _ = site
    missing = [p for p in PAGES if not (out / p).exists()]
    assert not missing, f"pages not built: {missing}"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run should have installed it (apt-get install chromium)")
        pytest.skip("no chromium: apt-get install chromium to run the site test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


# A table, code block or output wider than the article is "cut" unless it, or a box around it inside the
# article, scrolls horizontally.
CUT = """() => {
  const article = document.querySelector('article') || document.body;
  const right = article.getBoundingClientRect().right;
  const cut = [];
  for (const el of article.querySelectorAll('table, pre, .cell_output, .output')) {
    const wide = el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > right + 1;
    if (!wide) continue;
    let scrolls = false;
    for (let a = el; a && a !== article.parentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && a.getBoundingClientRect().right <= right + 1) { scrolls = true; break; }
    }
    if (!scrolls) cut.push(el.tagName.toLowerCase() + ': ' + (el.textContent || '').trim().slice(0, 50));
  }
  return cut;
}"""


def open_page(browser, url: str) -> dict:
    """Load ``url`` at 1280 x 900; return its HTTP status, JavaScript errors, failed requests, broken
    images, the tables and code blocks cut at that width, and the ids its anchors can point to."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, failed = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    response = page.goto(url, wait_until="networkidle")
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    n_images = page.evaluate("document.images.length")
    has_math = page.evaluate("document.querySelectorAll('mjx-container').length")
    links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
    cut = page.evaluate(CUT)
    ids = page.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
    page.close()
    return dict(status=response.status if response else None, errors=errors, failed=failed, broken=broken,
                n_images=n_images, has_math=has_math, links=links, cut=cut, ids=ids)


def test_pages_open_without_errors(site, browser):
    _, base = site
    problems = {}
    seen = {}
    for p in PAGES:
        r = seen[p] = open_page(browser, base + p)
        bad = {k: r[k] for k in ("errors", "failed", "broken", "cut") if r[k]}
        if r["status"] != 200:
            bad["status"] = r["status"]
        if bad:
            problems[p] = bad
    assert not problems, problems
    # the lessons carry their figures, and lesson 00 its typeset maths
    assert all(seen[p]["n_images"] >= 2 for p in PAGES if p.startswith("notebooks/")), \
        {p: seen[p]["n_images"] for p in PAGES if p.startswith("notebooks/")}
    assert seen["notebooks/00_sparsity_tour.html"]["has_math"] > 10
    linked = set(seen["index.html"]["links"])
    assert all(any(p in link for link in linked) for p in PAGES[1:]), "the intro does not link every page"
    # every link into the glossary lands on an entry
    anchors = set(seen["glossary.html"]["ids"])
    into = {(p, link.split("#", 1)[1]) for p in PAGES for link in seen[p]["links"]
            if "glossary.html#" in link}
    assert into and not {a for a in into if a[1] not in anchors}, sorted(a for a in into if a[1] not in anchors)


def test_the_checker_sees_a_broken_page(site, browser, tmp_path):
    out, base = site
    bad = out / "broken_fixture.html"
    bad.write_text('<html><body><img src="missing.png"><script>undefinedFunction()</script>'
                   '<article style="width: 600px"><pre style="overflow-x: visible">' + "x" * 400 + '</pre>'
                   '<div style="overflow-x: auto"><table><tr><td>' + "y" * 400 + '</td></tr></table></div>'
                   '</article></body></html>')
    try:
        r = open_page(browser, base + "broken_fixture.html")
    finally:
        bad.unlink()
    assert r["broken"] and r["errors"] and r["failed"]
    assert r["cut"] == ["pre: " + "x" * 50]  # the pre is cut; the table scrolls inside its box
