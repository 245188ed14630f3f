"""The pages in a real browser (Debian's chromium, driven by Playwright) against the real
server: log in, read the command centre, the case list and the situation report, log out,
and the public page shows no personal data. No console error, no request leaves the server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .test_web_access import PASSWORD, Server, server  # noqa: F401  (the fixture)

CHROMIUM = "/usr/bin/chromium"
EXPECTED_REFUSAL = "the server responded with a status of 401"
ARTIFACTS = Path(
    os.environ.get("RINGFENCE_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


def test_an_epidemiologist_works_through_the_pages(server: Server) -> None:  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (CI installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    problems: list[str] = []
    persons = [r[0] for r in server.store.fetchall("SELECT person_id FROM persons")]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(f"{server.url}/login")
        page.fill("input[name=username]", "epidemiologist")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert page.locator("[role=alert]").inner_text() == "wrong user name or password"
        page.fill("input[name=username]", "epidemiologist")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        assert "Daily bulletin, 20 January 2022" in page.inner_text("main")
        assert "epidemiologist (epidemiologist)" in page.inner_text("header")
        # The epi curve is drawn (an image served by the app, not fetched from elsewhere).
        drawn = page.eval_on_selector("img[src='/charts/epi-curve.svg']", "i => i.naturalWidth")
        assert drawn > 0
        page.screenshot(path=str(ARTIFACTS / "web-command-centre.png"), full_page=True)

        page.click("text=Cases")
        page.wait_for_url(f"{server.url}/cases")
        cases = server.store.fetchall("SELECT count(*) FROM cases")[0][0]
        assert page.locator("#cases tbody tr").count() == cases
        page.screenshot(path=str(ARTIFACTS / "web-cases.png"), full_page=True)

        # A case and its place in the chain: D was exposed by A at the restaurant.
        page.click("text=C-D")
        page.wait_for_url(f"{server.url}/cases/C-D")
        page.wait_for_function("document.body.dataset.graph !== undefined", timeout=30_000)
        shown = int(page.evaluate("document.body.dataset.graph"))
        # A exposed D; D's own contacts are everyone it exposed who was not a case already.
        contacts = server.store.fetchall(
            "SELECT count(DISTINCT k.person_id) FROM contacts k LEFT JOIN cases c "
            "ON c.person_id = k.person_id WHERE k.case_person_id = 'D' AND c.person_id IS NULL"
        )[0][0]
        assert shown == 2 + contacts
        assert page.locator("#graph canvas").count() > 0
        page.screenshot(path=str(ARTIFACTS / "web-case.png"), full_page=True)
        page.click("text=Every decision about D")
        page.wait_for_url(f"{server.url}/persons/D")
        assert "case C-D" in page.inner_text("main")
        # Confirm one of the cycle's orders, with the reason, and see it recorded.
        form = page.locator("#orders form.decide").first
        form.locator("select[name=kind]").select_option("confirm")
        form.locator("input[name=reason]").fill("isolation confirmed with the hospital")
        form.locator("button").click()
        page.wait_for_url(f"{server.url}/persons/D?done=confirm")
        assert "isolation confirmed with the hospital" in page.inner_text("#actions")

        # The restaurant where A exposed D: closed, with its cases and environment sample.
        page.goto(f"{server.url}/places/R1")
        assert page.locator("#place-cases tbody tr").count() >= 2
        assert "door handle" in page.inner_text("#environment")
        page.screenshot(path=str(ARTIFACTS / "web-place.png"), full_page=True)

        page.click("text=Loops")
        page.wait_for_url(f"{server.url}/loops")
        assert "Loop L1" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / "web-loops.png"), full_page=True)

        page.click("text=Situation report")
        page.wait_for_function("document.body.dataset.charts === 'rendered'", timeout=30_000)
        assert page.locator("div.chart svg").count() >= 5
        page.screenshot(path=str(ARTIFACTS / "web-sitrep.png"), full_page=True)

        page.goto(f"{server.url}/")
        page.click("text=Log out")
        page.wait_for_url(f"{server.url}/login")
        page.goto(f"{server.url}/cases")
        assert "log in first" in page.inner_text("body")

        page.goto(f"{server.url}/public")
        text = page.inner_text("body")
        assert "Daily bulletin, 20 January 2022" in text
        page.screenshot(path=str(ARTIFACTS / "web-public.png"), full_page=True)
        browser.close()
    # The refused login and the refused page answer 401, which the browser logs as an error.
    assert not [m for m in problems if EXPECTED_REFUSAL not in m], problems
    outside = [u for u in requests if not u.startswith((server.url, "data:", "blob:", "about:"))]
    assert not outside, outside
    words = set(text.replace("(", " ").replace(")", " ").replace(",", " ").split())
    assert not words & {p for p in persons if len(p) > 1}


def test_tracer_lab_site_and_member_workflows_in_the_browser(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

        def logged_in(role: str) -> object:
            context = browser.new_context(viewport={"width": 1000, "height": 800})
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{server.url}/login")
            page.fill("input[name=username]", role)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            return page

        # The tracer records an outcome with one click.
        tracer = logged_in("tracer")
        tracer.click("text=Follow-up")
        first = tracer.locator("#follow-up tbody tr").first
        person = first.locator("td").first.inner_text()
        first.locator("button[value=reached]").click()
        tracer.wait_for_url(f"{server.url}/follow-up?done=*")
        assert f"Recorded: {person}." in tracer.inner_text("main")
        tracer.screenshot(path=str(ARTIFACTS / "web-follow-up.png"), full_page=True)
        notes = server.store.fetchall(
            "SELECT actor, kind, reason FROM actions WHERE target = ?", (person,)
        )
        assert ("tracer", "note", "follow-up: reached") in notes

        # The lab uploads a file with one bad row and sees the rejection.
        lab = logged_in("lab")
        lab.click("text=Lab upload")
        upload = tmp_path / "results.csv"
        upload.write_text(
            "result_id,sample_id,reported_at,outcome\n"
            "WEB1,S0001,2022-01-20 12:00,negative\n"
            "WEB2,S0001,2022-01-20 12:00,perhaps\n",
            encoding="utf-8",
        )
        lab.set_input_files("input[name=file]", str(upload))
        lab.click("main button[type=submit]")
        assert "2 rows read, 1 added, 0 already stored, 1 refused." in lab.inner_text("#summary")
        row = lab.locator("#rejections tbody tr").first.inner_text()
        assert "3" in row and "outcome" in row
        lab.screenshot(path=str(ARTIFACTS / "web-lab-upload.png"), full_page=True)

        # The site releases a person.
        site = logged_in("site")
        site.click("text=Roster")
        first = site.locator("#roster tbody tr").first
        first.locator("button").click()
        site.wait_for_url(f"{server.url}/site?done=*")
        assert "Release recorded" in site.inner_text("main")
        released = server.store.fetchall(
            "SELECT count(*) FROM actions WHERE kind = 'release' AND actor = 'site'"
        )[0][0]
        assert released == 1

        # A member reports their temperature and sees their own status only.
        member = logged_in("member")
        member.wait_for_url(f"{server.url}/public")
        member.click("text=My status")
        member.fill("input[name=temperature]", "37.9")
        member.select_option("select[name=severity]", "mild")
        member.click("main button[type=submit]")
        member.wait_for_url(f"{server.url}/me?done=yes")
        assert "your report is recorded" in member.inner_text("main")
        reported = server.store.fetchall(
            "SELECT severity, temperature_c FROM symptoms WHERE person_id = 'D' "
            "AND reported_at > '2026-01-01'"
        )
        assert reported == [("mild", 37.9)]
        member.screenshot(path=str(ARTIFACTS / "web-member.png"), full_page=True)
        browser.close()
    assert not problems, problems
    outside = [u for u in requests if not u.startswith((server.url, "data:", "blob:", "about:"))]
    assert not outside, outside
