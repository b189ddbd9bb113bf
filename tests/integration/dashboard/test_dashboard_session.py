"""Signing in and out of the dashboard, its cookie, and the CSRF check on every form."""

from __future__ import annotations

from api.conftest import Api

from .helpers import Browser


async def test_pages_send_the_viewer_to_sign_in_and_back(api: Api, browser: Browser) -> None:
    page = await browser.get("/dashboard/integrations?vendor=buildium", follow=False)
    assert page.status == 303
    assert page.headers["Location"].startswith("/dashboard/sign-in?next=")
    form = await browser.get(page.headers["Location"])
    assert form.status == 200 and 'name="api_key"' in form.html
    signed = await browser.post(
        "/dashboard/sign-in",
        {"api_key": api.admin_key, "next": "/dashboard/integrations?vendor=buildium"},
    )
    assert signed.status == 200 and signed.url.endswith("/dashboard/integrations?vendor=buildium")
    assert "Buildium" in signed.html and "+ New customer" in signed.html


async def test_the_session_cookie_is_httponly_strict_and_holds_no_url_key(
    api: Api, browser: Browser
) -> None:
    await browser.get("/dashboard/sign-in")
    async with browser.session.post(
        browser.base + "/dashboard/sign-in",
        data={"csrf_token": browser.token, "api_key": api.admin_key},
        allow_redirects=False,
    ) as answer:
        assert answer.status == 303
        assert api.admin_key not in answer.headers["Location"]
        cookies = [h for h in answer.headers.getall("Set-Cookie") if h.startswith("syncd_session=")]
    assert len(cookies) == 1
    cookie = cookies[0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert "max-age" not in cookie and "expires" not in cookie  # a session cookie
    page = await browser.get("/dashboard/integrations")
    assert api.admin_key not in page.html
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_a_read_key_or_a_wrong_key_cannot_sign_in(api: Api, browser: Browser) -> None:
    refused = await browser.sign_in(api.read_key)
    assert refused.status == 401 and "needs an admin key" in refused.html
    wrong = await browser.sign_in("sk_not-a-key")
    assert wrong.status == 401 and "Unknown or revoked API key" in wrong.html
    still_out = await browser.get("/dashboard/integrations", follow=False)
    assert still_out.status == 303


async def test_sign_in_refuses_a_form_without_its_token(api: Api, browser: Browser) -> None:
    await browser.get("/dashboard/sign-in")
    forged = await browser.post("/dashboard/sign-in", {"api_key": api.admin_key}, token="x")
    assert forged.status == 403
    assert (await browser.get("/dashboard/integrations", follow=False)).status == 303


async def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(
    api: Api, browser: Browser
) -> None:
    await browser.sign_in(api.admin_key)
    page = await browser.get("/dashboard/integrations/new?vendor=buildium&environment=sandbox")
    form = {
        "vendor": "buildium", "environment": "sandbox", "name": "Forged",
        "credential_client_id": "a", "credential_client_secret": "b",
    }  # fmt: skip
    missing = await browser.post("/dashboard/integrations/new", form, token="")
    assert missing.status == 403 and "security token" in missing.html
    wrong = await browser.post(
        "/dashboard/integrations/new",
        form,
        token=page.csrf[:-1] + ("1" if page.csrf.endswith("0") else "0"),
    )
    assert wrong.status == 403
    elsewhere = await browser.post(
        "/dashboard/integrations/new", form, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status == 403 and "another site" in elsewhere.html
    assert await api.store.list_integrations() == []


async def test_sign_out_ends_the_session_and_a_revoked_key_ends_it_too(
    api: Api, browser: Browser
) -> None:
    await browser.sign_in(api.admin_key)
    page = await browser.get("/dashboard/integrations")
    out = await browser.post("/dashboard/sign-out", token=page.csrf)
    assert out.status == 200 and 'name="api_key"' in out.html
    assert (await browser.get("/dashboard/integrations", follow=False)).status == 303

    from syncd.services.keys import create_key, revoke_key

    record, secret = await create_key(api.keys, name="temp", scope="admin", rate_limit=1000)
    await browser.sign_in(secret)
    assert (await browser.get("/dashboard/integrations")).status == 200
    await revoke_key(api.keys, record.id)
    assert (await browser.get("/dashboard/integrations", follow=False)).status == 303
    fragment = await browser.get("/dashboard/integrations/x/jobs?fragment=1", follow=False)
    assert fragment.status == 401


async def test_redirects_after_sign_in_stay_on_the_dashboard(api: Api, browser: Browser) -> None:
    await browser.get("/dashboard/sign-in")
    page = await browser.post(
        "/dashboard/sign-in", {"api_key": api.admin_key, "next": "https://evil.example/x"}
    )
    assert page.url.endswith("/dashboard/integrations")


async def test_unknown_dashboard_paths_answer_a_page(api: Api, browser: Browser) -> None:
    await browser.sign_in(api.admin_key)
    page = await browser.get("/dashboard/no/such/page")
    assert page.status == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "There is no such page." in page.html
    # The API's own paths keep their JSON errors.
    status, body, _ = await api.call("GET", "/v1/no-such-thing")
    assert status == 404 and body["error"]["code"] == "not_found"
