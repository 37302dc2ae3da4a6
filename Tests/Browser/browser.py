"""What the dashboard's browser tests share: headless Chromium through chromedriver (Debian's
chromium and chromium-driver, selenium from PyPI), counted checks and polling."""
import json
import shutil
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

failures = []
_checks = [0]


def check(ok, what):
    """Counts a check; a failed one is kept with `what` for the report."""
    _checks[0] += 1
    if not ok:
        failures.append(what)


def wait_for(condition, timeout=30.0):
    """Polls `condition` (a function) until it returns something truthy; returns it or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # the element may be replaced by a live update between find and read
            pass
        time.sleep(0.05)
    return None


def chromium(width=1400, height=1200):
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}"]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def report(**extra):
    """Prints {"checks": N, "failures": [...], ...extra} and exits 1 when a check failed."""
    print(json.dumps({"checks": _checks[0], "failures": failures, **extra}))
    sys.exit(1 if failures else 0)
