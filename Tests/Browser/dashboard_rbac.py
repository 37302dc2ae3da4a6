#!/usr/bin/env python3
"""Drives two `sextant dashboard` processes in real headless Chromium (Debian's chromium +
chromium-driver, through Selenium), each with a ServiceAccount token of a development API server
in RBAC mode, for Tests/SextantCLITests/DashboardRBACTests.swift:

- VIEWER_URL: a user who may read CanaryRollouts but neither ModelVersions nor
  `canaryrollouts/status` patches: the rollout page shows no buttons and says why, a request
  sent anyway is refused with the API's message, and the model pages show the API's 403.
- OPERATOR_URL: a user who may patch `canaryrollouts/status`: the buttons are shown and Promote
  is sent.

Usage: dashboard_rbac.py VIEWER_URL OPERATOR_URL EXPECTED_JSON
EXPECTED_JSON: {"namespace", "rollout", "version", "forbiddenVersion", "forbiddenVersions", "forbiddenPatch"}:
the API server's own 403 messages for the viewer (read by the test with the same token).
Prints one JSON line {"checks": N, "failures": [...]}; exit 1 on a failure.
"""
import json
import sys

from selenium.webdriver.common.by import By

from browser import check, chromium, report, wait_for

viewer, operator, expected = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ns, name = expected["namespace"], expected["rollout"]


def text(css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def buttons():
    return sorted(b.get_attribute("data-verb") for b in driver.find_elements(By.CSS_SELECTOR, "form.action button"))


driver = chromium(height=1200)
try:
    # The viewer reads the rollout, without buttons, and the page says which permission is missing.
    driver.get(f"{viewer}/rollouts/{ns}/{name}")
    check(wait_for(lambda: name in text("#rollout-name")) is not None, f"viewer: rollout page: {driver.page_source[:400]}")
    check(buttons() == [], f"viewer: buttons shown without the permission: {buttons()}")
    hidden = text("#actions-hidden")
    check(f"may not patch canaryrollouts/status in namespace {ns}" in hidden and "Promote, Abort, Retry" in hidden,
          f"viewer: note on the hidden buttons: {hidden!r}")

    # A request sent anyway (the page's own CSRF token, as its script would) gets the API's 403.
    answer = driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        var token = document.querySelector('meta[name=csrf-token]').content;
        fetch('/actions/promote/' + arguments[0] + '/' + arguments[1], {method: 'POST',
              headers: {'X-CSRF-Token': token, 'Content-Type': 'application/x-www-form-urlencoded'}, body: ''})
          .then(function (r) { return r.text().then(function (t) { done([r.status, t]); }); })
          .catch(function (e) { done([0, String(e)]); });
    """, ns, name)
    check(answer[0] == 403, f"viewer: promote sent anyway answered {answer}")
    check(f"Error from server (Forbidden): {expected['forbiddenPatch']}" in answer[1], f"viewer: promote's answer {answer[1]!r}")

    # A ModelVersion the viewer may not read: the API's message, with its status code.
    driver.get(f"{viewer}/models/{ns}/{expected['version']}")
    error = wait_for(lambda: text("#api-error"))
    check(error == f"Error from server (Forbidden): {expected['forbiddenVersion']}", f"viewer: version page error {error!r}")
    check("Error" in driver.title, f"viewer: title {driver.title!r}")

    # The Models link from the navigation: the list is refused the same way.
    driver.get(f"{viewer}/rollouts/{ns}/{name}")
    wait_for(lambda: driver.find_element(By.LINK_TEXT, "Models")).click()
    error = wait_for(lambda: text("#api-error"))
    check(error == f"Error from server (Forbidden): {expected['forbiddenVersions']}", f"viewer: models list error {error!r}")

    # The operator may patch the status: the buttons are there, and Promote is sent.
    driver.get(f"{operator}/rollouts/{ns}/{name}")
    check(wait_for(lambda: buttons() == ["abort", "promote", "retry"]) is not None, f"operator: buttons {buttons()}")
    check(text("#actions-hidden") == "", "operator: no note on hidden buttons")
    driver.find_element(By.ID, "action-promote").click()
    check(wait_for(lambda: "promote requested" in text("#flash")) is not None, f"operator: promote answer {text('#flash')!r}")
finally:
    driver.quit()

report()
