#!/usr/bin/env python3
"""Drives `sextant dashboard` in real headless Chromium (Debian's chromium + chromium-driver,
through Selenium) against a development API server with a real rollout, for
Tests/SextantControllersTests/DashboardEndToEndTests.swift.

Usage: dashboard.py BASE_URL EXPECTED_JSON SCREENSHOT_DIR
EXPECTED_JSON: {"namespace", "rollout", "stable", "canary", "trainingJob", "run", "curvePoints", "lastRound",
"aucRoc", "dataVersion", "activeRun", "progress", "psiThreshold"}.
Prints one JSON line {"checks": N, "failures": [...], "rollbackSeconds": S}; exit 1 on a failure.
"""
import json
import sys
import time

from selenium.common.exceptions import (ElementClickInterceptedException, ElementNotInteractableException,
                                        NoSuchElementException, StaleElementReferenceException)
from selenium.webdriver.common.by import By

from browser import check, chromium, report, wait_for

base, expected, shots = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
ns, name = expected["namespace"], expected["rollout"]


def stable(action, timeout=30.0):
    """Runs `action` again when a live update replaced the element between finding and using it, or
    the next page is still loading (generous: a loaded CI machine)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException,
                ElementNotInteractableException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def text(css):
    return stable(lambda: driver.find_element(By.CSS_SELECTOR, css).text)


def click(by, value):
    stable(lambda: driver.find_element(by, value).click())


def states():
    return stable(lambda: [li.get_attribute("data-state") for li in driver.find_elements(By.CSS_SELECTOR, "#steps li")])


driver = chromium(height=1700)
rollback_seconds = None
try:
    # Rollouts: the list shows the rollout with its phase, step and versions.
    driver.get(f"{base}/rollouts?namespace={ns}")
    row = wait_for(lambda: next((r for r in driver.find_elements(By.CSS_SELECTOR, "#rollouts tbody tr") if name in r.text), None))
    check(row is not None, "rollout row in /rollouts")
    row_text = text("#rollouts tbody")
    check("Paused" in row_text and expected["stable"] in row_text and expected["canary"] in row_text, f"rows: {row_text}")
    driver.save_screenshot(f"{shots}/dashboard-rollouts.png")

    # One rollout: steps, weights, Deployments, analysis with a chart per metric.
    click(By.LINK_TEXT, name)
    check(wait_for(lambda: "Paused" in text("#phase")) is not None, f"rollout page phase: {driver.page_source[:400]}")
    check(states() == ["done", "current"], f"step states {states()}")
    check(expected["canary"] in text("#canary") and expected["stable"] in text("#stable"), "stable and canary versions")
    check(text("#weight") == "25%", f"weight {text('#weight')}")
    analysis = text("#analysis")
    check("success-rate" in analysis and "≥ 0.95" in analysis and "Pass" in analysis, f"analysis table: {analysis}")
    deployments = text("#deployments")
    check(f"{name}-{expected['canary']}" in deployments and "canary" in deployments, f"deployments: {deployments}")
    points = stable(lambda: [int(c.get_attribute("data-points")) for c in driver.find_elements(By.CSS_SELECTOR, "svg.metric-chart")])
    check(len(points) == 2, f"{len(points)} charts")
    check(all(p >= 2 for p in points), f"chart points from Prometheus: {points}")
    check(stable(lambda: len(driver.find_elements(By.CSS_SELECTOR, "svg.metric-chart line.threshold"))) == 2, "one threshold line per metric")
    check("RolloutStarted" in text("#events"), "RolloutStarted Event")
    driver.save_screenshot(f"{shots}/dashboard-rollout.png")

    # The stable version's page in a second tab: its Traffic section shows it as the baseline of
    # the running canary (75 %), and follows the rollout's abort below through its own stream.
    rollout_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    version_tab = driver.current_window_handle
    driver.get(f"{base}/models/{ns}/{expected['stable']}")
    live = wait_for(lambda: (lambda t: t if "75% now" in t and "Running" in t else None)(text("#traffic")))
    check(live is not None, "stable version's traffic while the canary runs at 25%: 75% now, baseline Running")
    driver.execute_script("window.__sameDocument = 'yes'")
    driver.switch_to.window(rollout_tab)

    # Abort with the button: the request goes out with the CSRF token, the controller rolls back,
    # and the page shows it through its event stream, without a reload.
    driver.execute_script("window.__sameDocument = 'yes'")
    clicked = time.monotonic()
    click(By.ID, "action-abort")
    shown = wait_for(lambda: "RolledBack" in text("#phase"), timeout=30)
    rollback_seconds = round(time.monotonic() - clicked, 3)
    check(shown is not None, f"RolledBack shown: {text('#phase')}")
    check(driver.execute_script("return window.__sameDocument") == "yes", "no page reload")
    check(wait_for(lambda: "abort requested" in text("#flash")) is not None, "action answer shown")
    check(wait_for(lambda: states() == ["done", "failed"]) is not None, "failed step after the abort")
    driver.save_screenshot(f"{shots}/dashboard-rollout-rolledback.png")
    # The version's tab followed the rollback through its stream (it watches the namespace's rollouts).
    driver.switch_to.window(version_tab)
    followed = wait_for(lambda: (lambda t: t if "RolledBack" in t and "100% now" in t else None)(text("#traffic")), timeout=30)
    check(followed is not None, "stable version's traffic after the abort: baseline RolledBack, 100% now")
    check(driver.execute_script("return window.__sameDocument") == "yes", "version page updated without a reload")
    driver.close()
    driver.switch_to.window(rollout_tab)

    # Models: the versions side by side, then one version.
    click(By.LINK_TEXT, "Models")
    rows = wait_for(lambda: text(f"h2[data-model='{ns}/fraud'] + table"))
    check(rows is not None, "model table")
    if rows is not None:
        check(expected["stable"] in rows and expected["canary"] in rows and "auc" in rows.lower(), f"model rows: {rows}")
        # The controller records the version as rolled back in the pass after the rollback: wait for it.
        phase = wait_for(lambda: "RolledBack" in text(f"h2[data-model='{ns}/fraud'] + table"))
        check(phase is not None, f"the rolled-back version's phase: {rows}")
    driver.save_screenshot(f"{shots}/dashboard-models.png")
    click(By.LINK_TEXT, expected["stable"])
    check(wait_for(lambda: "Production" in text("#phase")) is not None, "stable version is Production")
    check("Approved" in text("#approval"), "approval")
    check("0.91" in text("#metrics"), f"metrics: {text('#metrics')}")
    # Traffic: the first version was promoted and is the stable one now (the aborted canary's
    # weight back to 0, so 100 %); it was the baseline of the rolled-back candidate.
    traffic = wait_for(lambda: (lambda t: t if "100% now" in t and "RolledBack" in t else None)(text("#traffic")))
    check(traffic is not None, "stable version's traffic: the stable period now at 100% and the rolled-back candidate")
    if traffic is not None:
        check("Stable" in traffic and "Baseline" in traffic and f"stable while {expected['canary']} was canary" in traffic
              and "Promoted" in traffic, f"stable version's traffic periods: {traffic}")
    # With --prometheus-url: one canary-weight chart for the rollout it served in (the in-process
    # controller's gauge is not scraped here, so it says there are no samples; the query is tested
    # against Prometheus in DashboardModelTrafficTests).
    weight_charts = stable(lambda: [c.get_attribute("data-rollout") for c in driver.find_elements(By.CSS_SELECTOR, "#traffic-charts .chart")])
    check(weight_charts == [name], f"canary weight charts: {weight_charts}")
    check("no samples" in text("#traffic-charts"), f"weight chart without samples: {text('#traffic-charts')}")
    driver.save_screenshot(f"{shots}/dashboard-modelversion.png")

    # Training: the list (schedule, last run, progress of the active run), a job with its runs, a
    # run with its validation curve: one point per round the status records.
    job, run = expected["trainingJob"], expected["run"]
    click(By.LINK_TEXT, "Training")
    row = wait_for(lambda: next((r.text for r in driver.find_elements(By.CSS_SELECTOR, "#trainingjobs tbody tr") if job in r.text), None))
    check(row is not None, "training job listed")
    if row is not None:
        check("Running" in row and expected["activeRun"] in row and expected["progress"] in row, f"training row: {row}")
    driver.save_screenshot(f"{shots}/dashboard-training.png")
    click(By.LINK_TEXT, job)
    check(wait_for(lambda: text("#job-name").endswith(job)) is not None, "training job page")
    runs = text("#runs")
    check(run in runs and expected["activeRun"] in runs and "Succeeded" in runs, f"runs: {runs}")
    check(f"version {expected['dataVersion']}" in runs and "aucRoc %.4g" % expected["aucRoc"] in runs, f"run data and metrics: {runs}")
    check(expected["canary"] in runs, f"the run's ModelVersion: {runs}")
    driver.save_screenshot(f"{shots}/dashboard-trainingjob.png")
    click(By.LINK_TEXT, run)
    check(wait_for(lambda: text("#run-name") == run) is not None, "run page")
    points = stable(lambda: int(driver.find_element(By.CSS_SELECTOR, "#validation-curve svg.metric-chart").get_attribute("data-points")))
    check(points == expected["curvePoints"], f"curve points {points}, status has {expected['curvePoints']}")
    check(f"round {expected['lastRound']}" in text("#validation-curve"), f"x axis to the last round: {text('#validation-curve')}")
    check("%.4g" % expected["aucRoc"] in text("#metrics"), f"run metrics: {text('#metrics')}")
    check(expected["canary"] in text("#model-version"), "link to the registered version")
    driver.save_screenshot(f"{shots}/dashboard-run.png")
    click(By.LINK_TEXT, expected["canary"])
    check(wait_for(lambda: text("#version-name").endswith(expected["canary"])) is not None, "the run's version page")
    traffic = wait_for(lambda: (lambda t: t if "RolledBack" in t else None)(text("#traffic")))
    check(traffic is not None and "Canary" in traffic and f"against stable {expected['stable']}" in traffic and "now" not in traffic,
          f"the rolled-back version's traffic: one closed canary period: {traffic}")

    # Drift: the rollout's live versions, one chart per feature and statistic from Prometheus, the
    # PSI charts with the TrainingJob's retrain threshold.
    click(By.LINK_TEXT, "Drift")
    check(wait_for(lambda: name in text("#drift-rollouts")) is not None, "rollout in /drift")
    click(By.CSS_SELECTOR, f"#drift-rollouts a[href='/drift/{ns}/{name}']")
    live = wait_for(lambda: text("#live-versions"))
    check(live is not None and expected["stable"] in live and expected["canary"] not in live,
          f"live versions after the rollback: the stable only: {live}")
    charts = wait_for(lambda: stable(lambda: [(c.get_attribute("data-feature"), c.get_attribute("data-statistic"))
                                              for c in driver.find_elements(By.CSS_SELECTOR, "#drift-charts .chart")]) or None)
    check(charts is not None and sorted(charts) == [("amount", "KS"), ("amount", "PSI"), ("country", "PSI")], f"drift charts: {charts}")
    drift_points = stable(lambda: [int(c.get_attribute("data-points")) for c in driver.find_elements(By.CSS_SELECTOR, "#drift-charts svg.metric-chart")])
    check(len(drift_points) == 3 and all(p >= 1 for p in drift_points), f"drift points from Prometheus: {drift_points}")
    bounds = stable(lambda: [l.get_attribute("data-bound") for l in driver.find_elements(By.CSS_SELECTOR, "[data-statistic='PSI'] line.threshold")])
    check(bounds == ["max", "max"], f"PSI thresholds: {bounds}")
    check(f"{expected['psiThreshold']:g}" in text("[data-statistic='PSI']"), "threshold value on the chart")
    driver.save_screenshot(f"{shots}/dashboard-drift.png")

    # An object that does not exist: the API's message, not a crash.
    driver.get(f"{base}/rollouts/{ns}/does-not-exist")
    check("Error from server (NotFound)" in text("#api-error"), f"error page: {driver.page_source[:300]}")
finally:
    driver.quit()

report(rollbackSeconds=rollback_seconds)
