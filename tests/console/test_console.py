"""The web console in a real browser (Playwright + Debian's chromium) against a real stack.

One gateway (auth on: an admin key, two user keys, a JWT secret; the emulator) and
one browser for the module; each test opens a fresh context (a new tab: its own
sessionStorage). Every wait is Playwright's auto-waiting ``expect``; each test ends
asserting the page logged no console errors.

The emulator fails every prompt that runs node ``77`` (``COMFYUI_EMULATOR_FAIL``): the
bundled workflows have no such node, a copy registered here has, so one stack gives
both succeeding and failing jobs.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.console.browser import Tab, launched_browser, new_tab, screenshot_path
from tests.stack import GatewayStack

ADMIN_KEY = "console-admin-key"
USER_KEY = "console-user-key"
OTHER_KEY = "console-other-key"
JWT_SECRET = "console-jwt-secret-0123456789abcdef"
FAILING_WORKFLOW = "icon_failing"
# A stack, a browser and renders: more than the suite's 60 s default on a loaded machine.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    env = {
        "API_KEYS": f"{ADMIN_KEY}:admin,{USER_KEY}:user,{OTHER_KEY}:user",
        "JWT_SECRET": JWT_SECRET,
        "COMFYUI_EMULATOR_STEP_MS": "40",
        "COMFYUI_EMULATOR_FAIL": "node_error@77",
        "MAX_CONCURRENCY": "2",
    }
    with GatewayStack(tmp_path_factory.mktemp("console"), env, emulator=True) as stack:
        stack.register_bundled_workflows()
        _register_failing_workflow(stack)
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_browser() as running:
        yield running


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    with new_tab(browser) as opened:
        yield opened
        opened.assert_no_console_errors()


def _register_failing_workflow(stack: GatewayStack) -> None:
    """icon_512 with its sampler renamed to node 77: the emulator fails it there."""
    admin = {"X-API-Key": ADMIN_KEY}
    source = requests.get(f"{stack.base_url}/workflows/icon_512", headers=admin, timeout=10)
    workflow = source.json()["workflow"]
    graph = {("77" if key == "3" else key): node for key, node in workflow["workflowJson"].items()}
    for node in graph.values():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and value and value[0] == "3":
                node["inputs"][name] = ["77", *value[1:]]
    body = {
        "id": FAILING_WORKFLOW,
        "name": "Icon (always fails)",
        "description": "Fails in the emulator at node 77.",
        "workflowJson": graph,
        "inputSchema": workflow["inputSchema"],
        "defaultParams": workflow["defaultParams"],
    }
    created = requests.post(f"{stack.base_url}/workflows", json=body, headers=admin, timeout=10)
    assert created.status_code == 201, created.text


def sign_in(page: Page, stack: GatewayStack, secret: str, kind: str = "apiKey") -> None:
    page.goto(f"{stack.base_url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Credential type").select_option(kind)
    page.get_by_label("Credential", exact=True).fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()


def open_form(page: Page, workflow_id: str, **inputs: Any) -> None:
    page.goto(page.url.split("#")[0] + f"#/workflows/{workflow_id}")
    for name, value in inputs.items():
        page.get_by_label(name, exact=True).fill(str(value))


def test_sign_in_with_an_api_key_for_this_tab_only(browser: Browser, gateway: GatewayStack) -> None:
    with new_tab(browser) as first:
        page = first.page
        page.goto(f"{gateway.base_url}/ui/")
        expect(page.get_by_label("Credential", exact=True)).to_be_focused()  # type at once
        page.keyboard.type("not-a-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert").filter(has_text="AUTH_FAILED")).to_be_visible()
        page.get_by_label("Credential", exact=True).fill(ADMIN_KEY)
        page.keyboard.press("Enter")
        expect(page.get_by_text(re.compile(r"Signed in as key:\w+ \(admin\)"))).to_be_visible()
        expect(page.get_by_role("link", name="Admin")).to_be_visible()
        stored = page.evaluate("() => Object.keys(sessionStorage).length")
        local = page.evaluate("() => Object.keys(localStorage).length")
        assert stored == 1 and local == 0
        expect(page.get_by_role("link", name="Open Icon 512", exact=False)).to_be_visible()
        first.expected_refusals.add(401)  # the wrong key
        first.assert_no_console_errors()
    with new_tab(browser) as second:  # a new tab starts signed out
        second.page.goto(f"{gateway.base_url}/ui/")
        expect(second.page.get_by_role("heading", name="Sign in")).to_be_visible()
        second.assert_no_console_errors()


def test_sign_in_with_a_jwt_as_a_user(tab: Tab, gateway: GatewayStack) -> None:
    token = jwt.encode(
        {"sub": "jwt-alice", "role": "user", "exp": int(time.time()) + 3600},
        JWT_SECRET,
        "HS256",
    )
    sign_in(tab.page, gateway, token, kind="jwt")
    expect(tab.page.get_by_text("Signed in as jwt-alice (user)")).to_be_visible()
    expect(tab.page.get_by_role("link", name="Admin")).to_be_hidden()
    tab.page.get_by_role("button", name="Sign out").click()
    expect(tab.page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_form_follows_the_schema(tab: Tab, gateway: GatewayStack) -> None:
    sign_in(tab.page, gateway, USER_KEY)
    open_form(tab.page, "icon_512")
    page = tab.page
    width = page.get_by_label("width", exact=True)
    expect(width).to_have_attribute("type", "number")
    expect(width).to_have_attribute("min", "64")
    expect(width).to_have_attribute("max", "4096")
    expect(page.get_by_label("prompt", exact=True)).to_have_attribute("aria-required", "true")
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    labels = page.locator("form label").all_inner_texts()
    assert {"prompt", "width", "height", "steps", "seed"} <= {text.strip() for text in labels}


def test_generate_and_watch_to_the_gallery(tab: Tab, gateway: GatewayStack) -> None:
    sign_in(tab.page, gateway, USER_KEY)
    page = tab.page
    open_form(page, "icon_512", prompt="a lighthouse", width=64, height=64, steps=25)
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("heading", name=re.compile("^Job "))).to_be_visible()
    expect(page.locator("#job-detail")).to_contain_text(re.compile(r"step \d+/25"))
    bar = page.get_by_role("progressbar", name="Progress")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#job-status")).to_have_text("succeeded")
    image = page.locator("#job-gallery img")
    expect(image).to_have_count(1)
    job_id = page.url.rsplit("/", 1)[-1]
    job = requests.get(
        f"{gateway.base_url}/jobs/{job_id}", headers={"X-API-Key": USER_KEY}, timeout=10
    ).json()
    expect(image).to_have_attribute("alt", job["outputs"][0]["filename"])
    expect(
        page.get_by_role("link", name=f"Download {job['outputs'][0]['filename']}")
    ).to_be_visible()
    expect(page.locator("#job-logs li").first).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()


def test_cancel_a_running_job(tab: Tab, gateway: GatewayStack) -> None:
    sign_in(tab.page, gateway, USER_KEY)
    page = tab.page
    open_form(page, "icon_512", prompt=f"slow {uuid.uuid4()}", width=64, height=64, steps=150)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-status")).to_have_text("running")
    expect(page.locator("#job-detail")).to_contain_text("step")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()


def test_a_failed_job_shows_its_error(tab: Tab, gateway: GatewayStack) -> None:
    sign_in(tab.page, gateway, USER_KEY)
    page = tab.page
    open_form(page, FAILING_WORKFLOW, prompt="doomed", width=64, height=64, steps=3)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#job-status")).to_have_text("failed")
    error = page.locator("#job-error-box")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("COMFYUI_NODE_ERROR")
    expect(error).to_contain_text("77")
    expect(page.locator("#job-gallery")).to_contain_text("No outputs")


def test_a_validation_error_shows_beside_the_field(tab: Tab, gateway: GatewayStack) -> None:
    tab.expected_refusals.add(400)
    sign_in(tab.page, gateway, USER_KEY)
    page = tab.page
    open_form(page, "icon_512", prompt="too wide", width=64, height=64, steps=3)
    page.get_by_label("width", exact=True).evaluate("input => { input.min = ''; input.max = ''; }")
    page.get_by_label("width", exact=True).fill("99999")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#input-width-error")).not_to_be_empty()
    expect(page.locator("#generate-error")).to_contain_text("VALIDATION_ERROR")


def test_admin_edits_a_workflow_and_sees_validation_errors(tab: Tab, gateway: GatewayStack) -> None:
    tab.expected_refusals.add(400)
    sign_in(tab.page, gateway, ADMIN_KEY)
    page = tab.page
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("#admin-audit")).to_contain_text("workflow.create")
    expect(page.locator("#admin-backends")).to_contain_text(gateway.comfyui_url)
    page.get_by_role("link", name=f"Edit {FAILING_WORKFLOW}").click()
    graph = page.get_by_label("workflowJson", exact=True)
    expect(graph).to_have_value(re.compile("77"))
    graph.fill("{ not json")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#wf-workflowJson-error")).to_contain_text("Not valid JSON")
    graph.fill('{"1": {"class_type": "NoSuchNode", "inputs": {}}}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#wf-workflowJson-error")).not_to_be_empty()
    expect(page.locator("#wf-error")).to_contain_text("VALIDATION_ERROR")
    page.get_by_label("description", exact=True).fill("Edited in the console")
    page.get_by_role("link", name="Back").click()
    saved = requests.get(
        f"{gateway.base_url}/workflows/{FAILING_WORKFLOW}",
        headers={"X-API-Key": ADMIN_KEY},
        timeout=10,
    ).json()["workflow"]
    assert "77" in saved["workflowJson"]  # the refused edit changed nothing


def test_admin_creates_and_deletes_a_workflow(tab: Tab, gateway: GatewayStack) -> None:
    admin = {"X-API-Key": ADMIN_KEY}
    source = requests.get(f"{gateway.base_url}/workflows/icon_512", headers=admin, timeout=10)
    workflow = source.json()["workflow"]
    new_id = f"console_{uuid.uuid4().hex[:8]}"
    sign_in(tab.page, gateway, ADMIN_KEY)
    page = tab.page
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="New workflow").click()
    page.get_by_label("id", exact=True).fill(new_id)
    page.get_by_label("name", exact=True).fill("Made in the console")
    page.get_by_label("workflowJson", exact=True).fill(json.dumps(workflow["workflowJson"]))
    page.get_by_label("inputSchema", exact=True).fill(json.dumps(workflow["inputSchema"]))
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#admin-workflows")).to_contain_text(new_id)
    expect(page.locator("#admin-audit")).to_contain_text("workflow.create")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete {new_id}").click()
    expect(page.locator("#admin-workflows")).not_to_contain_text(new_id)
    gone = requests.get(f"{gateway.base_url}/workflows/{new_id}", headers=admin, timeout=10)
    assert gone.status_code == 404


def test_a_user_does_not_see_another_users_job(tab: Tab, gateway: GatewayStack) -> None:
    small: dict[str, Any] = {"width": 64, "height": 64, "steps": 2}
    body = {"workflowId": "icon_512", "inputs": {"prompt": "someone else's", **small}}
    other = requests.post(
        f"{gateway.base_url}/jobs", json=body, headers={"X-API-Key": OTHER_KEY}, timeout=10
    ).json()["jobId"]
    sign_in(tab.page, gateway, USER_KEY)
    page = tab.page
    page.get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs-count")).to_have_text(re.compile(r"^(Jobs \d|No jobs)"))
    # Live status: a job created after the list opened shows up and finishes there.
    slow = {
        "workflowId": "icon_512",
        "inputs": {**small, "prompt": f"mine {uuid.uuid4()}", "steps": 40},
    }
    mine = requests.post(
        f"{gateway.base_url}/jobs", json=slow, headers={"X-API-Key": USER_KEY}, timeout=10
    ).json()["jobId"]
    row = page.locator(f'tr[data-job="{mine}"]')
    expect(row).to_contain_text("succeeded")
    expect(row.locator("time")).to_have_text(re.compile(r"now|ago"))
    expect(page.locator(f'tr[data-job="{other}"]')).to_have_count(0)
    page.get_by_label("Status").select_option("succeeded")
    expect(page.locator("#jobs-table tbody tr").first).to_contain_text("succeeded")
    page.goto(f"{gateway.base_url}/ui/#/jobs/{other}")
    expect(page.get_by_role("alert")).to_contain_text("JOB_NOT_FOUND")
    tab.expected_refusals.add(404)  # the refused read of the other user's job


def test_media_picker_previews_and_uploads_by_the_uploads_contract(
    tab: Tab, gateway: GatewayStack
) -> None:
    """An ``image`` schema field (media inputs) is a file picker with a preview that
    POSTs the file to /uploads and sends the answer's ``ref``; where /uploads is not
    served yet its refusal shows beside the field."""
    sign_in(tab.page, gateway, USER_KEY)
    page = tab.page
    page.evaluate(
        """async () => {
            const { buildForm } = await import("/ui/js/schema_form.js");
            const form = buildForm({ type: "object", fields: {
                init_image: { type: "image", required: true, description: "Start from" },
                strength: { type: "number", min: 0, max: 1, default: 0.5 },
                sampler: { type: "string", enum: ["euler", "dpmpp_2m"], default: "euler" } } });
            window.testForm = form;
            document.getElementById("view").replaceChildren(form.element);
        }"""
    )
    picker = page.get_by_label("init_image", exact=True)
    expect(picker).to_have_attribute("type", "file")
    expect(picker).to_have_attribute("accept", "image/*")
    expect(page.get_by_label("sampler", exact=True)).to_have_value('"euler"')
    png = Path(__file__).with_name("pixel.png")
    with page.expect_request(re.compile(r"/uploads$")) as sent:
        picker.set_input_files(str(png))
    expect(page.get_by_role("img", name="Preview of init_image")).to_be_visible()
    assert sent.value.method == "POST" and sent.value.headers["content-type"] == "image/png"
    assert sent.value.headers["x-api-key"] == USER_KEY
    answer = sent.value.response()
    assert answer is not None and answer.status == 201
    # The answer's ref becomes the input value (read from the form: the browser may
    # already have dropped the response body it handed to the page).
    expect(page.locator("#input-init_image-error")).to_be_empty()
    page.wait_for_function(
        "() => String(window.testForm.values().init_image || '').startsWith('upload://')"
    )
    ref = page.evaluate("() => window.testForm.values().init_image")
    assert re.fullmatch(r"upload://up_[0-9a-f]{32}", ref), ref


def test_phone_width_has_no_sideways_scrolling(browser: Browser, gateway: GatewayStack) -> None:
    with new_tab(browser, width=360, height=740) as phone:
        sign_in(phone.page, gateway, ADMIN_KEY)
        for route in ("#/workflows", "#/workflows/icon_512", "#/jobs", "#/admin"):
            phone.page.goto(f"{gateway.base_url}/ui/{route}")
            expect(phone.page.locator("main h1")).to_be_visible()
            overflow = phone.page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{route} scrolls sideways by {overflow}px"
            phone.page.screenshot(
                path=screenshot_path(f"phone-{route.strip('#/').replace('/', '-')}")
            )
        phone.assert_no_console_errors()


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    """No API_KEYS, no JWT_SECRET: auth off (no backend needed to open the console)."""
    env = {"API_KEYS": "", "JWT_SECRET": ""}
    with GatewayStack(tmp_path_factory.mktemp("console-open"), env) as stack:
        yield stack


def test_with_auth_off_it_opens_directly_and_says_so(tab: Tab, open_gateway: GatewayStack) -> None:
    page = tab.page
    page.goto(f"{open_gateway.base_url}/ui/")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Authentication is off")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_have_count(0)
    assert page.evaluate("() => Object.keys(sessionStorage).length") == 0
