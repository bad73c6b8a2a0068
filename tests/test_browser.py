"""What a person sees: Debian's Chromium, driven by Playwright, on a live chat server.

No browser is downloaded: ``make browser`` (part of ``make test``) installs the
``chromium`` package with apt-get, and Playwright drives that binary.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import rag
from tests.conftest import ROOT
from tests.fake_openai import FakeChatServer, Reply, source_number
from tests.ui_server import EVIL_ABSTRACT, EVIL_TITLE, running_chat, write_evil_collection

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "test-results" / "web-chat.png"
WAIT_MS = 60_000  # how long to wait for the page to catch up before giving up (never asserted on)
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make browser` (installs Debian's chromium package)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def seed_chat(seed_store, cache_dir):
    settings = rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir, llm="")
    with running_chat(settings) as url:
        yield url


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory, cache_dir) -> Path:
    folder = tmp_path_factory.mktemp("evil")
    settings = rag.Settings.from_env(vectorstore_dir=folder / "vectorstore", cache_dir=cache_dir, llm="")
    rag.ingest([write_evil_collection(folder)], settings=settings, progress=False)
    return folder / "vectorstore"


@pytest.fixture(scope="module")
def evil_chat(evil_store, cache_dir):
    settings = rag.Settings.from_env(vectorstore_dir=evil_store, cache_dir=cache_dir, llm="")
    with running_chat(settings) as url:
        yield url


@pytest.fixture(scope="module")
def evil_llm_chat(evil_store, cache_dir):
    """The chat in LLM mode, its LLM a scripted server on 127.0.0.1 (no proxy in between)."""
    with pytest.MonkeyPatch.context() as env, FakeChatServer() as llm:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env.delenv(name, raising=False)
            env.delenv(name.lower(), raising=False)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        settings = rag.Settings.from_env(
            vectorstore_dir=evil_store, cache_dir=cache_dir, llm="openai:test-model", llm_base_url=llm.url,
            llm_api_key="test-key", llm_timeout=30,
        )  # fmt: skip
        with running_chat(settings) as url:
            yield url, llm


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def outside(page: Page) -> list[str]:
    """Requests that left this machine; PaperChat must work offline."""
    urls: list[str] = []
    local = ("http://127.0.0.1", "data:")
    page.on("request", lambda r: None if r.url.startswith(local) else urls.append(r.url))
    return urls


def ask(page: Page, question: str) -> None:
    """Type a question, send it, and wait until its answer is complete."""
    answers = page.locator('#pc-chat [data-testid="bot"]')
    before = answers.count()
    page.locator("#pc-question textarea").fill(question)
    page.keyboard.press("Enter")
    expect(answers).to_have_count(before + 1)
    # The textbox is given back once the answer has finished streaming.
    expect(page.locator("#pc-question textarea")).to_be_editable()


def last_answer(page: Page):
    return page.locator('#pc-chat [data-testid="bot"]').last


def test_ask_see_citations_open_a_reference_follow_up_and_clear(page, outside, seed_chat, seed_settings):
    cited = rag.answer("What does DiffuseVAE do?", settings=seed_settings).citations[0]
    page.goto(seed_chat)
    expect(page.locator(".pc-header")).to_contain_text("44 papers indexed")

    ask(page, "What does DiffuseVAE do?")
    answer = last_answer(page)
    expect(answer.locator("p").first).to_contain_text("[1]")
    reference = answer.locator(".pc-ref")
    expect(reference).to_have_count(1)
    expect(reference.locator("summary")).to_have_text(f"[1] {cited.title}")
    highlight = reference.locator("mark")
    expect(highlight).to_be_hidden()
    reference.locator("summary").click()
    expect(highlight).to_be_visible()
    expect(highlight).to_have_text(cited.snippet)
    cited_row = page.locator("#pc-sources li.pc-cited")
    expect(cited_row).to_have_count(1)
    expect(cited_row).to_contain_text(cited.title)
    expect(cited_row).to_contain_text("cited [1]")
    expect(page.locator("#pc-sources li")).to_have_count(10)
    page.locator('#pc-chat [data-testid="user"]').last.evaluate("e => e.scrollIntoView({block: 'start'})")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT)

    ask(page, "Which datasets did they use?")
    answer = last_answer(page)
    expect(answer.locator(".pc-ref summary")).to_have_text(f"[1] {cited.title}")
    answer.locator(".pc-ref summary").click()
    expect(answer.locator(".pc-ref mark")).to_contain_text("CIFAR-10 and CelebA-64")  # names the datasets

    page.locator("#pc-clear").click()
    expect(page.locator('#pc-chat [data-testid="bot"]')).to_have_count(0)
    expect(page.locator("#pc-sources li")).to_have_count(0)
    assert outside == []


def test_not_in_the_collection_looks_different_from_a_cited_answer(page, seed_chat):
    page.goto(seed_chat)
    ask(page, "How do I bake sourdough bread at home?")
    answer = last_answer(page)
    expect(answer.locator(".pc-abstain")).to_contain_text("Not in the collection")
    expect(answer.locator(".pc-ref")).to_have_count(0)
    expect(page.locator("#pc-sources")).to_contain_text("none answers the question")
    expect(page.locator("#pc-sources li.pc-cited")).to_have_count(0)


def test_html_and_markdown_in_titles_abstracts_and_questions_show_as_text(page, outside, evil_chat):
    page.goto(evil_chat)
    question = 'How do quokkas find their routes? <img src=x onerror="window.__pwned=4"> **really**'
    ask(page, question)
    expect(page.locator('#pc-chat [data-testid="user"]').last).to_have_text(question)
    answer = last_answer(page)
    expect(answer.locator(".pc-ref summary")).to_have_text(f"[1] {EVIL_TITLE}")
    expect(page.locator("#pc-sources li.pc-cited .pc-title")).to_have_text(EVIL_TITLE)
    answer.locator(".pc-ref summary").click()
    expect(answer.locator(".pc-abstract")).to_have_text(EVIL_ABSTRACT)
    expect(answer.locator(".pc-abstract mark")).to_be_visible()

    assert page.evaluate("window.__pwned") is None  # no injected handler or script ran
    injected = "img[src='x'], svg[onload], [onerror], a[href^='javascript'], script:not([src])"
    assert page.locator(f"#pc-chat :is({injected}), #pc-sources :is({injected})").count() == 0
    assert outside == []


def evil_llm_answer(body) -> str:
    """An LLM answer that passes the citation check (the paper itself holds these words) and is full of
    HTML, a script and Markdown links."""
    n = source_number(body, "<script>")
    return (
        "Quokkas find their way across Rottnest Island using scent trails "
        f'<img src=x onerror="window.__pwned=2"> [{n}]. We model quokka routing as a shortest-path problem '
        f'over a graph of scent markers <svg onload="window.__pwned=3"></svg> [{n}]. See '
        f"[details](javascript:alert(2)) and <script>window.__pwned=1</script> for the field data [{n}]."
    )


# Records every element that could run script or navigate as soon as it enters the chat, so
# that what is on the page only while the LLM's tokens stream in is checked too.
WATCH_INJECTED = """() => {
    window.__injected = [];
    const bad = "img[src='x'], svg[onload], [onerror], [onload], a[href^='javascript'], script";
    new MutationObserver(records => {
        for (const record of records) for (const node of record.addedNodes) {
            if (node.nodeType !== 1 || !node.closest('#pc-chat, #pc-sources')) continue;
            if (node.matches(bad) || node.querySelector(bad)) {
                window.__injected.push(node.outerHTML.slice(0, 300));
            }
        }
    }).observe(document.body, {childList: true, subtree: true});
}"""


def test_html_scripts_and_links_in_an_llm_written_answer_show_as_text(page, outside, evil_llm_chat):
    url, llm = evil_llm_chat
    llm.script(Reply(evil_llm_answer))
    page.goto(url)
    page.evaluate(WATCH_INJECTED)
    question = "How do quokkas find their routes? [see](javascript:alert(3)) <b>now</b>"
    ask(page, question)
    expect(page.locator('#pc-chat [data-testid="user"]').last).to_have_text(question)
    answer = last_answer(page)
    body = answer.locator("p").first
    expect(body).to_contain_text('scent trails <img src=x onerror="window.__pwned=2"> [1].')
    expect(body).to_contain_text('scent markers <svg onload="window.__pwned=3"></svg> [1].')
    expect(body).to_contain_text(
        "See [details](javascript:alert(2)) and <script>window.__pwned=1</script> for"
    )
    expect(answer).not_to_contain_text("extractive answer")  # the LLM's own answer, not the fallback
    expect(answer.locator(".pc-ref summary")).to_have_text(f"[1] {EVIL_TITLE}")
    assert len(llm.requests) == 1 and llm.requests[0]["body"]["stream"] is True

    assert page.evaluate("window.__pwned") is None  # nothing ran, while streaming or after
    assert page.evaluate("window.__injected") == []
    injected = "img[src='x'], svg[onload], [onerror], a[href^='javascript'], script:not([src])"
    assert page.locator(f"#pc-chat :is({injected}), #pc-sources :is({injected})").count() == 0
    assert outside == []
