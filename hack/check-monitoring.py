#!/usr/bin/env python3
"""The chart's alerts and Grafana dashboards against the metrics the code exports (docs/monitoring.md).

1. The exported metric families are derived from Sources/ (every swift-prometheus registration,
   `registry.make<Type>(descriptor: ...("name", ...))`, and every swift-metrics one, `Counter(label:
   "name"`, `Gauge(label:`, `Timer(label:`, ...), with their type, so a renamed metric fails here.
2. The PrometheusRule the chart renders (every alert on; default and namespaced mode) is parsed by
   Prometheus' own parser (`promtool check rules`, Debian's prometheus package) and unit-tested with
   `promtool test rules`: each alert fires on the series the code produces and stays quiet otherwise.
3. The dashboards (charts/sextant/dashboards/, regenerated with hack/grafana-dashboards.py --check):
   every query, annotation and variable query is loaded as a recording rule into
   `promtool check rules` (Grafana's $__rate_interval etc. replaced by durations), each one
   returns data on series shaped like the code's (`promtool test rules`), and their structure is
   checked (unique ids, variables defined, panels inside the 24-column grid).
4. Every metric name used by an alert or a dashboard is one the code exports (with _bucket/_sum/
   _count only on histograms), or one of the few external ones listed in EXTERNAL; every label
   in a matcher, a grouping list, a legend or a label_values variable is one the code gives the
   metric (read from the registration) or one the scrape adds.

Usage: hack/check-monitoring.py   (from the repository root; hack/validate-manifests.sh runs it)
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import helm_python as helm
import yaml

CHART = "charts/sextant"
errors = []


def err(msg):
    errors.append(msg)


if not shutil.which("promtool"):
    sys.exit("error: promtool is not installed (Debian package prometheus, hack/apt-packages.txt)")

# ---------------------------------------------------------------------------------------------
# 1. What the code exports.

SWIFT_PROMETHEUS = re.compile(
    r"make(Counter|FloatingPointCounter|Gauge|DurationHistogram|ValueHistogram|Summary)\(\s*"
    r"(?:descriptor:\s*\w+\(\s*(?:metricName:\s*)?|name:\s*)\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
SWIFT_METRICS = re.compile(
    r"\b(Counter|FloatingPointCounter|Gauge|Meter|Recorder|Timer)\(\s*label:\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"([^)]*)\)")
TYPE = {"Counter": "counter", "FloatingPointCounter": "counter", "Gauge": "gauge", "Meter": "gauge",
        "DurationHistogram": "histogram", "ValueHistogram": "histogram", "Timer": "histogram", "Summary": "summary"}


def call_span(text, open_paren):
    """The text of a call from its "(" to the matching ")", skipping string literals."""
    depth, i, in_str = 0, open_paren, False
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[open_paren:i + 1]
        i += 1
    return text[open_paren:]


LABEL = re.compile(r'(?<![\w)\]?!])\(\s*"([a-zA-Z_][a-zA-Z0-9_]*)"\s*,')  # a tuple, not a call


def label_names(span, text, pos):
    """Label names of one registration: the tuples' first strings in the call, and in the arrays
    the call refers to by name (`labels: mv + [...]`, `dimensions: dims`), defined before it in
    the same file. None when a referenced array cannot be found."""
    names = set(LABEL.findall(span))
    m = re.search(r"(?:labels|dimensions):\s*([^\n]*)", span)
    refs = re.findall(r"(?<![\w.\"])([a-z]\w*)\b(?!\s*[(:])", re.sub(r'"[^"]*"|\[.*', "", m.group(1))) if m else []
    for ref in refs:
        defs = [d for d in re.finditer(r"\blet %s(?:\s*:[^=]+)?\s*=\s*\[" % re.escape(ref), text) if d.start() < pos]
        if not defs:
            return None
        start = defs[-1].end() - 1
        depth, i = 0, start
        while i < len(text):
            depth += {"[": 1, "]": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        names |= set(LABEL.findall(text[start:i + 1]))
    return names


def exported_metrics():
    """{family: (type, labels)} of every metric registered in Sources/ (PrometheusMetricsFactory's
    mapping for swift-metrics: Timer -> histogram, Recorder -> histogram when aggregating, else
    gauge). labels is None where the code builds them in a way this reading cannot follow."""
    found = {}
    for path in sorted(glob.glob("Sources/**/*.swift", recursive=True)):
        text = open(path).read()
        for m in SWIFT_PROMETHEUS.finditer(text):
            span = call_span(text, m.start() + len("make" + m.group(1)))
            found.setdefault(m.group(2), []).append((TYPE[m.group(1)], path, label_names(span, text, m.start())))
        for m in SWIFT_METRICS.finditer(text):
            kind = m.group(1)
            typ = ("gauge" if "aggregate: false" in m.group(3) else "histogram") if kind == "Recorder" else TYPE[kind]
            span = call_span(text, m.start() + len(kind))
            found.setdefault(m.group(2), []).append((typ, path, label_names(span, text, m.start())))
    families = {}
    for name, defs in found.items():
        types = {t for t, _, _ in defs}
        if len(types) > 1:
            err(f"metric {name} is registered with different types: {sorted((t, p) for t, p, _ in defs)}")
        labels = None if any(l is None for _, _, l in defs) else set().union(*(l for _, _, l in defs))
        families[name] = (sorted(types)[0], labels)
    return families


FAMILIES_WITH_LABELS = exported_metrics()
FAMILIES = {name: typ for name, (typ, _) in FAMILIES_WITH_LABELS.items()}
LABELS_OF = {name: labels for name, (_, labels) in FAMILIES_WITH_LABELS.items()}
if len(FAMILIES) < 20 or "sextant_reconcile_total" not in FAMILIES or "sextant_requests_total" not in FAMILIES:
    sys.exit(f"error: could not read the metric registrations in Sources/ (found {sorted(FAMILIES)})")
SERIES, SERIES_LABELS = {}, {}
for name, typ in FAMILIES.items():
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}.get(typ, ("",))
    for suffix in suffixes:
        SERIES[name + suffix] = f"{name} ({typ})"
        labels = LABELS_OF[name]
        SERIES_LABELS[name + suffix] = None if labels is None else labels | ({"le"} if suffix == "_bucket" else set())
# Labels the scrape adds (prometheus-operator's ServiceMonitor/PodMonitor targets).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
unknown = sorted(n for n, l in LABELS_OF.items() if l is None)
if len(unknown) > len(LABELS_OF) // 4:
    sys.exit(f"error: could not read the labels of most metric registrations in Sources/ ({unknown})")
for name, want in (("sextant_requests_total", {"model", "version", "protocol", "code"}),
                   ("sextant_reconcile_total", {"controller", "result"}),
                   ("sextant_rollout_rollbacks_total", {"namespace", "rollout", "phase", "reason"})):
    if LABELS_OF.get(name) != want:
        sys.exit(f"error: read the labels of {name} as {LABELS_OF.get(name)}, expected {want} (the reader is broken)")

# Metrics of other programs, with the reason each is needed.
EXTERNAL = {
    "up": "Prometheus' own: whether a scrape of the controller succeeded (SextantControllerDown)",
    "kube_job_status_failed": "kube-state-metrics: failed training-run Jobs (SextantTrainingRunFailed)",
    "kube_job_owner": "kube-state-metrics: the TrainingJob that owns a Job (SextantTrainingRunFailed)",
}
print(f"  metrics exported by Sources/: {len(FAMILIES)} families "
      f"({sum(1 for t in FAMILIES.values() if t == 'histogram')} histograms), labels read for "
      f"{len(FAMILIES) - len(unknown)}{' (not: ' + ', '.join(unknown) + ')' if unknown else ''}; "
      f"external: {', '.join(sorted(EXTERNAL))}")

# ---------------------------------------------------------------------------------------------
# Metric names in a PromQL expression (after promtool parsed it).

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
            "unless", "inf", "nan", "atan2", "start", "end"}


def metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # string literals
    s = re.sub(r"\{[^{}]*\}", " ", s)                                           # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                                           # ranges, subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?[a-zA-Z]*|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        name, call = m.group(1), m.group(2)
        if name and not call and name.lower() not in KEYWORDS:
            names.add(name)
    return names


for expr, want in (('sum by (le) (rate(a_bucket{x="b{c}"}[5m] offset 1h)) / on (x) group_left (y) b', {"a_bucket", "b"}),
                   ("absent(up{job=\"j\"} == 1) or vector(0) > bool 1e-3", {"up"}),
                   ("histogram_quantile(0.99, sum without (pod) (rate(x:y_sum[1m:10s])))", {"x:y_sum"})):
    if metric_names(expr) != want:
        sys.exit(f"error: metric_names({expr!r}) = {metric_names(expr)}, expected {want} (the checker itself is broken)")


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def check_labels(expr, where, legend=""):
    """Label names in matchers, in by/without/on/ignoring/group_x lists and in the legend must be
    labels the metrics carry (or the scrape adds)."""
    s = strip_strings(expr)
    names = metric_names(expr)
    if any(n in EXTERNAL or n not in SERIES_LABELS or SERIES_LABELS[n] is None for n in names):
        return  # labels of other programs' metrics, or not read from the code
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}", s):
        for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(2)):
            if label not in SERIES_LABELS.get(m.group(1), set()) | TARGET_LABELS:
                err(f"{where}: {m.group(1)} has no label {label} (it has {sorted(SERIES_LABELS.get(m.group(1), []))})")
    available = set().union(*(SERIES_LABELS[n] for n in names)) | TARGET_LABELS if names else TARGET_LABELS
    for m in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", s):
        for label in re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", m.group(1)):
            if label not in available:
                err(f"{where}: grouping by {label}, which none of {sorted(names)} carries")
    for label in re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend):
        if label not in available:
            err(f"{where}: the legend names {label}, which none of {sorted(names)} carries")


def check_names(expr, where):
    for name in sorted(metric_names(expr)):
        if name in SERIES or name in EXTERNAL:
            continue
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if family in FAMILIES:
            err(f"{where}: {name}: {family} is a {FAMILIES[family]}, it has no series {name}")
        else:
            err(f"{where}: {name} is not a metric the code exports (Sources/) nor a known external one")


def promtool(args, where):
    r = subprocess.run(["promtool"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        err(f"promtool {' '.join(args[:2])} ({where}):\n{r.stdout}{r.stderr}")
    return r


tmp = tempfile.mkdtemp(prefix="sextant-monitoring-")

# ---------------------------------------------------------------------------------------------
# 2. Alerts.


def render(values, namespace="sextant-system"):
    with helm.Chart.load(CHART) as c:
        files = c.render(values, name="sextant", namespace=namespace, is_install=True)
    return [o for path, text in sorted(files.items()) if path.endswith(".yaml")
            for o in yaml.safe_load_all(text) if o is not None]


if any(o["kind"] == "PrometheusRule" for o in render({})):
    err("the PrometheusRule is rendered with default values (it must be off by default)")
# The alerts are named once, in the template; the schema (prometheusRule.disabled, where a typo must
# be refused) and docs/monitoring.md must list the same.
ALERTS = [r["alert"] for o in render({"prometheusRule": {"enabled": True}}) if o["kind"] == "PrometheusRule"
          for g in o["spec"]["groups"] for r in g["rules"] if "alert" in r]
schema_alerts = sorted(json.load(open(f"{CHART}/values.schema.json"))["properties"]["prometheusRule"]["properties"]
                       ["disabled"]["properties"])
if schema_alerts != sorted(ALERTS):
    err(f"values.schema.json prometheusRule.disabled lists {schema_alerts}, the template renders {sorted(ALERTS)}")
docs_alerts = sorted(re.findall(r"^\| `(Sextant\w+)` \|", open("docs/monitoring.md").read(), re.M))
if docs_alerts != sorted(ALERTS):
    err(f"docs/monitoring.md's alert table lists {docs_alerts}, the template renders {sorted(ALERTS)}")
if len(ALERTS) < 6:
    err(f"expected the six alerts of docs/monitoring.md, the template renders {ALERTS}")
rule_sets = {}
for mode, values in (("default", {}), ("namespaced", {"watchNamespace": "ml-team"})):
    rule = [o for o in render({"prometheusRule": {"enabled": True}, **values}) if o["kind"] == "PrometheusRule"]
    if len(rule) != 1:
        err(f"{mode}: prometheusRule.enabled renders {len(rule)} PrometheusRules")
        continue
    groups = rule[0]["spec"]["groups"]
    names = [r.get("alert") for g in groups for r in g["rules"]]
    if names != ALERTS:
        err(f"{mode}: the alerts are {names}, expected {ALERTS} (as in default mode)")
    path = os.path.join(tmp, f"rules-{mode}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"groups": groups}, f)
    promtool(["check", "rules", path], f"alerts, {mode}")
    for g in groups:
        for r in g["rules"]:
            check_names(r["expr"], f"alert {r.get('alert')} ({mode})")
            check_labels(r["expr"], f"alert {r.get('alert')} ({mode})")
    rule_sets[mode] = path

off = [o for o in render({"prometheusRule": {"enabled": True, "disabled": {"SextantTrainingRunFailed": True},
                                              "additionalAlertLabels": {"team": "ml"},
                                              "extraRules": [{"alert": "Mine", "expr": "vector(1)"}]}})
       if o["kind"] == "PrometheusRule"][0]["spec"]["groups"][0]["rules"]
if [r.get("alert") for r in off] != [a for a in ALERTS if a != "SextantTrainingRunFailed"] + ["Mine"] \
        or any(r["labels"].get("team") != "ml" for r in off if r["alert"] != "Mine"):
    err("prometheusRule.disabled / additionalAlertLabels / extraRules are not applied")

# Unit tests of the alerts with Prometheus' rule engine. The series carry the labels the code
# gives them (docs/canary.md, docs/operator-runtime.md) plus the scrape's target labels.
JOB = 'job="sextant-controller-metrics", namespace="sextant-system"'
ROLLBACK = 'sextant_rollout_rollbacks_total{job="sextant-controller-metrics", namespace="ml", pod="sextant-controller-1", rollout="fraud", phase="RolledBack", reason="AnalysisFailed"}'
ERRORS = 'sextant_rollout_measurements_total{job="sextant-controller-metrics", namespace="ml", pod="sextant-controller-1", rollout="fraud", metric="success-rate", outcome="%s"}'


def annotations(alert, labels):
    rule = next(r for r in yaml.safe_load(open(rule_sets["default"]))["groups"][0]["rules"] if r.get("alert") == alert)
    return {k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), v)
            for k, v in rule.get("annotations", {}).items()}


def fires(alert, labels, severity="warning"):
    full = {**labels, "severity": severity}
    return {"exp_labels": full, "exp_annotations": annotations(alert, full)}


tests = [
    {"name": "a rollback fires on the first increment of a new series, and resolves after 10 minutes",
     "interval": "1m",
     "input_series": [{"series": ROLLBACK, "values": "_x5 1x30"}],
     "alert_rule_test": [
         {"eval_time": "4m", "alertname": "SextantRollbackHappened", "exp_alerts": []},
         {"eval_time": "6m", "alertname": "SextantRollbackHappened", "exp_alerts": [
             fires("SextantRollbackHappened", {"namespace": "ml", "rollout": "fraud", "phase": "RolledBack", "reason": "AnalysisFailed"})]},
         {"eval_time": "25m", "alertname": "SextantRollbackHappened", "exp_alerts": []}]},
    {"name": "a rollback fires when an existing counter increases",
     "interval": "1m",
     "input_series": [{"series": ROLLBACK, "values": "1x30 2x20"}],
     "alert_rule_test": [
         {"eval_time": "25m", "alertname": "SextantRollbackHappened", "exp_alerts": []},
         {"eval_time": "33m", "alertname": "SextantRollbackHappened", "exp_alerts": [
             fires("SextantRollbackHappened", {"namespace": "ml", "rollout": "fraud", "phase": "RolledBack", "reason": "AnalysisFailed"})]}]},
    {"name": "analysis errors for 5 minutes fire; passing measurements do not",
     "interval": "1m",
     "input_series": [{"series": ERRORS % "Error", "values": "_x2 1+1x20"},
                      {"series": ERRORS % "Pass", "values": "1+1x30"}],
     "alert_rule_test": [
         {"eval_time": "4m", "alertname": "SextantAnalysisErrors", "exp_alerts": []},
         {"eval_time": "10m", "alertname": "SextantAnalysisErrors", "exp_alerts": [
             fires("SextantAnalysisErrors", {"namespace": "ml", "rollout": "fraud", "metric": "success-rate"})]}]},
    {"name": "the controller down: no target up for 5 minutes; one of two replicas up is not down",
     "interval": "1m",
     "input_series": [{"series": f'up{{{JOB}, pod="sextant-controller-1"}}', "values": "1x10 0x30"},
                      {"series": f'up{{{JOB}, pod="sextant-controller-2"}}', "values": "1x10 0x5 1x5 0x20"}],
     "alert_rule_test": [
         {"eval_time": "5m", "alertname": "SextantControllerDown", "exp_alerts": []},
         {"eval_time": "13m", "alertname": "SextantControllerDown", "exp_alerts": []},
         {"eval_time": "19m", "alertname": "SextantControllerDown", "exp_alerts": []},
         {"eval_time": "28m", "alertname": "SextantControllerDown", "exp_alerts": [
             fires("SextantControllerDown", {"job": "sextant-controller-metrics", "namespace": "sextant-system"}, "critical")]}]},
    {"name": "the controller down: never scraped at all",
     "interval": "1m",
     "input_series": [{"series": 'up{job="other", namespace="sextant-system"}', "values": "1x10"}],
     "alert_rule_test": [
         {"eval_time": "3m", "alertname": "SextantControllerDown", "exp_alerts": []},
         {"eval_time": "8m", "alertname": "SextantControllerDown", "exp_alerts": [
             fires("SextantControllerDown", {"job": "sextant-controller-metrics", "namespace": "sextant-system"}, "critical")]}]},
    {"name": "no replica holds the lease for 5 minutes",
     "interval": "1m",
     "input_series": [{"series": f'sextant_leader_election_master_status{{{JOB}, pod="sextant-controller-1"}}', "values": "1x10 0x20"},
                      {"series": f'sextant_leader_election_master_status{{{JOB}, pod="sextant-controller-2"}}', "values": "0x30"}],
     "alert_rule_test": [
         {"eval_time": "9m", "alertname": "SextantControllerNoLeader", "exp_alerts": []},
         {"eval_time": "17m", "alertname": "SextantControllerNoLeader", "exp_alerts": [
             fires("SextantControllerNoLeader", {}, "critical")]}]},
    {"name": "reconcile errors for 15 minutes",
     "interval": "1m",
     "input_series": [{"series": f'sextant_reconcile_errors_total{{{JOB}, pod="sextant-controller-1", controller="canaryrollout"}}', "values": "0+2x40"},
                      {"series": f'sextant_reconcile_errors_total{{{JOB}, pod="sextant-controller-1", controller="trainingjob"}}', "values": "0x40"}],
     "alert_rule_test": [
         {"eval_time": "10m", "alertname": "SextantReconcileErrors", "exp_alerts": []},
         {"eval_time": "25m", "alertname": "SextantReconcileErrors", "exp_alerts": [
             fires("SextantReconcileErrors", {"namespace": "sextant-system", "controller": "canaryrollout"})]}]},
    {"name": "a failed Job owned by a TrainingJob fires; one owned by a CronJob does not",
     "interval": "1m",
     "input_series": [
         {"series": 'kube_job_status_failed{job="kube-state-metrics", namespace="ml", job_name="fraud-run-1", reason="BackoffLimitExceeded"}', "values": "0x3 1x10"},
         {"series": 'kube_job_owner{job="kube-state-metrics", namespace="ml", job_name="fraud-run-1", owner_kind="TrainingJob", owner_name="fraud", owner_is_controller="true"}', "values": "1x13"},
         {"series": 'kube_job_status_failed{job="kube-state-metrics", namespace="ml", job_name="backup-1", reason="BackoffLimitExceeded"}', "values": "1x13"},
         {"series": 'kube_job_owner{job="kube-state-metrics", namespace="ml", job_name="backup-1", owner_kind="CronJob", owner_name="backup", owner_is_controller="true"}', "values": "1x13"}],
     "alert_rule_test": [
         {"eval_time": "2m", "alertname": "SextantTrainingRunFailed", "exp_alerts": []},
         {"eval_time": "6m", "alertname": "SextantTrainingRunFailed", "exp_alerts": [
             fires("SextantTrainingRunFailed", {"job": "kube-state-metrics", "namespace": "ml", "job_name": "fraud-run-1",
                                                "reason": "BackoffLimitExceeded", "owner_name": "fraud"})]}]},
]
if "default" in rule_sets:
    test_path = os.path.join(tmp, "alerts.test.yaml")
    with open(test_path, "w") as f:
        yaml.safe_dump({"rule_files": [os.path.basename(rule_sets["default"])], "evaluation_interval": "1m", "tests": tests}, f)
    tested = {t["alertname"] for test in tests for t in test["alert_rule_test"]}
    if tested != set(ALERTS):
        err(f"alerts without a unit test: {sorted(set(ALERTS) - tested)}")
    r = promtool(["test", "rules", test_path], "alert unit tests")
    if r.returncode == 0:
        print(f"  alerts: {len(ALERTS)} rules parse (promtool check rules, default and namespaced mode); "
              f"promtool test rules: {len(tests)} scenarios, {sum(len(t['alert_rule_test']) for t in tests)} evaluations pass")

# ---------------------------------------------------------------------------------------------
# 3. Dashboards.

gen = subprocess.run([sys.executable, "hack/grafana-dashboards.py", "--check"], capture_output=True, text=True)
if gen.returncode != 0:
    err(f"hack/grafana-dashboards.py --check:\n{gen.stdout}{gen.stderr}")

# Grafana's global variables, replaced the way Grafana does before sending a query.
MACROS = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "3h", "${__range}": "3h",
          "$__interval_ms": "30000", "$__range_s": "10800"}
dashboards = sorted(glob.glob(f"{CHART}/dashboards/*.json"))
want_uids = {"sextant-rollouts", "sextant-model-servers", "sextant-controller"}
uids, recording, used, evaluations = set(), [], set(), []
for path in dashboards:
    name = os.path.basename(path)
    try:
        d = json.load(open(path))
    except json.JSONDecodeError as e:
        err(f"{path}: not JSON: {e}")
        continue
    uids.add(d.get("uid"))
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource" or variables["datasource"].get("query") != "prometheus":
        err(f"{name}: no Prometheus data source variable named datasource")
    exprs = []  # (where, expr, legend)
    for v in variables.values():
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
            if not m:
                err(f"{name}: variable {v['name']}: only label_values(selector, label) queries are checked, got {q!r}")
                continue
            exprs.append((f"variable {v['name']}", m.group(1), "{{%s}}" % m.group(2)))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"annotation {a['name']}", a["expr"], a.get("titleFormat", "") + a.get("textFormat", "")))
    ids, panels = set(), []
    for p in d.get("panels", []):
        panels += [p] + p.get("panels", [])
    for p in panels:
        if p["id"] in ids:
            err(f"{name}: panel id {p['id']} twice")
        ids.add(p["id"])
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24 or g.get("w", 0) <= 0 or g.get("h", 0) <= 0:
            err(f"{name}: panel {p['title']!r} lies outside the 24-column grid: {g}")
        if p["type"] != "row":
            if p.get("datasource", {}).get("uid") != "${datasource}":
                err(f"{name}: panel {p['title']!r} does not use the datasource variable")
            if not p.get("targets"):
                err(f"{name}: panel {p['title']!r} has no query")
            for t in p.get("targets", []):
                exprs.append((f"panel {p['title']!r} {t['refId']}", t["expr"], t.get("legendFormat", "")))
    for where, expr, legend in exprs:
        for var in re.findall(r"\$\{?(\w+)", expr):
            if not var.startswith("__") and var not in variables:
                err(f"{name}: {where}: ${var} is not a variable of the dashboard")
        q = expr
        for k, v in sorted(MACROS.items(), key=lambda kv: -len(kv[0])):
            q = q.replace(k, v)
        q = re.sub(r"\$\{?(\w+)\}?", r"value_of_\1", q)  # dashboard variables (inside regex matchers)
        if "$" in q:
            err(f"{name}: {where}: an unreplaced Grafana variable in {expr!r}")
        recording.append({"record": f"dashboard:{re.sub(r'[^a-zA-Z0-9_]', '_', name[:-5])}:{len(recording)}", "expr": q})
        everything = expr  # the query with every variable on "All" (.*), as Grafana sends it
        for k, v in sorted(MACROS.items(), key=lambda kv: -len(kv[0])):
            everything = everything.replace(k, v)
        evaluations.append((f"{name}: {where}", re.sub(r"\$\{?(\w+)\}?", ".*", everything)))
        check_names(q, f"{name}: {where}")
        check_labels(q, f"{name}: {where}", legend)
        used |= metric_names(q)
if uids != want_uids:
    err(f"dashboards: uids {sorted(uids)}, expected {sorted(want_uids)}")
rec_path = os.path.join(tmp, "dashboards.rules.yaml")
with open(rec_path, "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboards", "rules": recording}]}, f)
if promtool(["check", "rules", rec_path], "dashboard queries as recording rules").returncode == 0:
    print(f"  dashboards: {len(dashboards)} files, {len(recording)} queries parse (promtool check rules)")

# Every query returns data on series shaped like the code's (the derived names and labels, the
# scrape's job/namespace/pod), evaluated by Prometheus' engine (promtool test rules): this catches
# a division or join whose sides never match, a histogram_quantile without le, a matcher on a
# label value the series never have. Label values: those the code writes (docs/canary.md,
# docs/operator-runtime.md, docs/model-server.md); any other label gets "x".
VALUES = {"outcome": ["Pass", "Fail", "NoData", "Error"], "code": ["200", "500"], "class": ["0", "1"],
          "result": ["success", "error", "matched"], "phase": ["RolledBack", "Failed"], "protocol": ["v1", "v2", "grpc"],
          "component": ["sextant-controller"], "namespace": ["ml"], "verb": ["GET", "PATCH"]}
series = []
for family, typ in sorted(FAMILIES.items()):
    labels = sorted(LABELS_OF[family] or set())
    combos = [{}]
    for label in labels:
        combos = [{**c, label: v} for c in combos for v in VALUES.get(label, ["x"])]
    for c in combos:
        base = {"job": "sextant", "namespace": "ml", "pod": "p1", **c}
        sel = lambda extra={}: "{" + ", ".join(f'{k}="{v}"' for k, v in sorted({**base, **extra}.items())) + "}"
        if typ == "histogram":
            for i, le in enumerate(["0.01", "0.1", "1", "+Inf"]):
                series.append({"series": f"{family}_bucket" + sel({"le": le}), "values": f"0+{i + 1}x300"})
            series.append({"series": f"{family}_sum" + sel(), "values": "0+1x300"})
            series.append({"series": f"{family}_count" + sel(), "values": "0+4x300"})
        else:
            series.append({"series": family + sel(), "values": "0+1x300" if typ == "counter" else "1x300"})
# A rollback counter that appears (at 1) inside the time range counts as one rollback: the
# "Rollbacks and failures" stat, with a counter born 2 hours before the end of a 3-hour range.
stat = [q for where, q in evaluations if "'Rollbacks and failures'" in where]
if len(stat) != 1:
    err(f"no single 'Rollbacks and failures' panel to test ({len(stat)})")
born = [{"series": 'sextant_rollout_rollbacks_total{job="sextant", namespace="ml", pod="p1", rollout="fraud", '
                   'phase="RolledBack", reason="Aborted"}', "values": "_x120 1x200"}]
eval_path = os.path.join(tmp, "dashboards.test.yaml")
with open(eval_path, "w") as f:
    yaml.safe_dump({"rule_files": [os.path.basename(rec_path)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "promql_expr_test": [{"expr": f"count({q}) > bool 0", "eval_time": "4h", "exp_samples": [{"labels": "{}", "value": 1}]}
                             for _, q in evaluations]}] + [{
        "interval": "1m", "input_series": born,
        "promql_expr_test": [{"expr": q, "eval_time": "4h", "exp_samples": [{"labels": "{}", "value": 1}]} for q in stat[:1]]}]}, f)
r = subprocess.run(["promtool", "test", "rules", eval_path], capture_output=True, text=True)
if r.returncode != 0:
    # Name the queries that returned nothing.
    for where, q in evaluations:
        if json.dumps(f"count({q}) > bool 0") in r.stdout + r.stderr:  # promtool prints the expression quoted
            err(f"{where}: returns no data on series shaped like the code's: {q}")
    if stat and json.dumps(stat[0]) in r.stdout + r.stderr:
        err(f"the 'Rollbacks and failures' stat does not count a rollback counter born inside the range:\n{r.stdout}")
    if not any("returns no data" in e or "born inside" in e for e in errors):
        err(f"promtool test rules (dashboard queries on synthetic series):\n{r.stdout}{r.stderr}")
else:
    print(f"  dashboards: every one of the {len(evaluations)} queries returns data on {len(series)} series shaped like "
          "the code's (promtool test rules)")

# The ConfigMaps: off by default; with the sidecar label; one per dashboard; the JSON unchanged.
if any(o["kind"] == "ConfigMap" for o in render({})):
    err("a ConfigMap is rendered with default values (the dashboards must be off by default)")
cms = [o for o in render({"grafana": {"dashboards": {"enabled": True, "namespace": "monitoring",
                                                     "annotations": {"grafana_folder": "Sextant"}}}}) if o["kind"] == "ConfigMap"]
if len(cms) != len(dashboards):
    err(f"grafana.dashboards.enabled renders {len(cms)} ConfigMaps for {len(dashboards)} dashboards")
for cm in cms:
    meta = cm["metadata"]
    if meta.get("labels", {}).get("grafana_dashboard") != "1" or meta.get("namespace") != "monitoring" \
            or meta.get("annotations", {}).get("grafana_folder") != "Sextant":
        err(f"ConfigMap {meta['name']}: sidecar label, namespace or annotations missing: {meta}")
    for key, text in cm["data"].items():
        if json.loads(text) != json.load(open(f"{CHART}/dashboards/{key}")):
            err(f"ConfigMap {meta['name']}: {key} differs from {CHART}/dashboards/{key}")
custom = [o for o in render({"grafana": {"dashboards": {"enabled": True, "labels": {"team-dashboards": "yes"}}}})
          if o["kind"] == "ConfigMap"]
if not custom or any(o["metadata"]["labels"].get("team-dashboards") != "yes" for o in custom):
    err("grafana.dashboards.labels does not set the sidecar label")

unused = sorted(f for f in FAMILIES if not any(n == f or n.startswith(f + "_") for n in used))
print(f"  exported metrics no dashboard shows: {', '.join(unused) or 'none'}")

shutil.rmtree(tmp, ignore_errors=True)
if errors:
    print("\n".join("error: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
