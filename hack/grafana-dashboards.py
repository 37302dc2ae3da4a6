#!/usr/bin/env python3
"""Writes the Grafana dashboards of the chart, charts/sextant/dashboards/*.json (docs/monitoring.md).

The dashboards are generated so that their panels stay uniform; the JSON files are committed and
shipped in the chart as ConfigMaps for the Grafana sidecar. hack/check-monitoring.py regenerates
them (--check here) and fails when the committed files differ, when an expression does not parse
(promtool) or names a metric the code does not export.

Usage: hack/grafana-dashboards.py [--check]
"""
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "charts", "sextant", "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def datasource_var():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "includeAll": False, "multi": False, "options": []}


def query_var(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2, "sort": 1, "includeAll": multi, "multi": multi, "allValue": ".*" if multi else None,
            "current": {}, "hide": 0, "options": []}


class Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self):
        self.x, self.y, self.row_h, self.next_id = 0, 0, 0, 1

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        self.place(panel, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0
        return panel


def targets(queries):
    return [{"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend, "range": True}
            for i, (expr, legend) in enumerate(queries)]


def timeseries(title, queries, unit="short", description="", stack=False, bars=False, minimum=None, maximum=None):
    custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 80 if bars else 10,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults = {"unit": unit, "custom": custom}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {"type": "timeseries", "title": title, "description": description, "datasource": DS,
            "targets": targets(queries), "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title, expr, unit="short", description="", thresholds=None):
    steps = thresholds or [{"color": "green", "value": None}]
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": [{"refId": "A", "datasource": DS, "expr": expr, "instant": True, "range": False}],
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "none", "textMode": "auto"}}


def table(title, expr, description=""):
    return {"type": "table", "title": title, "description": description, "datasource": DS,
            "targets": [{"refId": "A", "datasource": DS, "expr": expr, "instant": True, "range": False,
                         "format": "table"}],
            "fieldConfig": {"defaults": {}, "overrides": []},
            "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}}],
            "options": {"showHeader": True}}


def heatmap(title, expr, description=""):
    return {"type": "heatmap", "title": title, "description": description, "datasource": DS,
            "targets": [{"refId": "A", "datasource": DS, "expr": expr, "format": "heatmap", "legendFormat": "{{le}}",
                         "range": True}],
            "fieldConfig": {"defaults": {}, "overrides": []},
            "options": {"calculate": False, "yAxis": {"unit": "short"}, "cellGap": 1,
                        "color": {"mode": "scheme", "scheme": "Oranges"}}}


def dashboard(uid, title, description, variables, panels, annotations=()):
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
               "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return {"uid": uid, "title": title, "description": description, "tags": ["sextant"],
            "editable": True, "graphTooltip": 1, "refresh": "30s", "schemaVersion": 39, "version": 1,
            "time": {"from": "now-3h", "to": "now"}, "timepicker": {}, "timezone": "", "weekStart": "",
            "fiscalYearStartMonth": 0, "liveNow": False, "links": [
                {"type": "dashboards", "tags": ["sextant"], "title": "Sextant", "asDropdown": True, "includeVars": False,
                 "keepTime": True, "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}],
            "annotations": {"list": [builtin] + list(annotations)},
            "templating": {"list": [datasource_var()] + variables},
            "panels": panels}


# ---------------------------------------------------------------------------------------------
# Rollouts: the controller's sextant_rollout_* metrics, and the traffic the model servers count.

def in_range(metric, sel, by="", window="$__range"):
    """Increase over a window, counting a series created inside it from zero: Sextant's counters
    appear on their first increment, which increase() alone cannot see. The new-series term
    comes first because `or` drops the right side's series that match the left's."""
    s = f"{metric}{{{sel}}}"
    agg = f"sum by ({by}) " if by else "sum "
    return f"{agg}(({s} unless {s} offset {window}) or increase({s}[{window}]))"


def rollouts():
    sel = 'namespace=~"$namespace", rollout=~"$rollout"'
    lay = Layout()
    p = [lay.row("Rollouts")]
    p.append(lay.place(stat("Rollouts started", in_range("sextant_rollout_started_total", sel),
                            description="sextant_rollout_started_total over the time range."), 6, 4))
    p.append(lay.place(stat("Promotions", in_range("sextant_rollout_promotions_total", sel),
                            description="sextant_rollout_promotions_total over the time range."), 6, 4))
    p.append(lay.place(stat("Rollbacks and failures", in_range("sextant_rollout_rollbacks_total", sel),
                            description="sextant_rollout_rollbacks_total (phase RolledBack or Failed) over the time range.",
                            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]), 6, 4))
    p.append(lay.place(stat("Cancelled", in_range("sextant_rollout_cancelled_total", sel),
                            description="Rollouts replaced by a newer candidate or withdrawn."), 6, 4))
    p.append(lay.place(timeseries(
        "Canary weight", [(f"max by (namespace, rollout) (sextant_rollout_canary_weight{{{sel}}})", "{{namespace}}/{{rollout}}")],
        unit="percent", minimum=0, maximum=100,
        description="The canary weight the controller verified on the VirtualService after each write: the steps "
                    "of a rollout, 0 after a rollback, 100 before promotion."), 12, 9))
    p.append(lay.place(timeseries(
        "Served traffic by version (model servers)",
        [('sum by (namespace, model, version) (rate(sextant_requests_total{namespace=~"$namespace"}[%s]))' % RATE,
          "{{namespace}} {{model}} {{version}}")],
        unit="reqps", stack=True,
        description="Inference requests per second as the model servers count them, per version: the split the "
                    "weight above produces."), 12, 9))
    p.append(lay.row("Analysis"))
    p.append(lay.place(timeseries(
        "Analysis measurements by outcome",
        [(in_range("sextant_rollout_measurements_total", sel, "rollout, metric, outcome", RATE),
          "{{rollout}} {{metric}} {{outcome}}")], bars=True, stack=True,
        description="Each analysis measurement: Pass, Fail (counts toward failureLimit), NoData, Error (a query "
                    "error; holds the rollout, fails it at consecutiveErrorLimit)."), 12, 9))
    p.append(lay.place(timeseries(
        "Failed and erroring measurements",
        [(in_range("sextant_rollout_measurements_total", sel + ', outcome=~"Fail|Error"', "rollout, metric, outcome", RATE),
          "{{rollout}} {{metric}} {{outcome}}")], bars=True,
        description="Only the measurements that move a rollout toward rollback (Fail) or failure (Error)."), 12, 9))
    p.append(lay.row("Rollbacks"))
    p.append(lay.place(timeseries(
        "Rollbacks by reason",
        [(in_range("sextant_rollout_rollbacks_total", sel, "namespace, rollout, phase, reason", RATE),
          "{{namespace}}/{{rollout}} {{phase}} {{reason}}")], bars=True,
        description="Rollbacks (phase RolledBack: failureLimit reached, aborted, candidate rejected) and failures "
                    "(phase Failed: consecutiveErrorLimit, progress deadline)."), 12, 8))
    p.append(lay.place(table(
        "Rollbacks in the time range",
        in_range("sextant_rollout_rollbacks_total", sel, "namespace, rollout, phase, reason") + " > 0"), 12, 8))
    variables = [query_var("namespace", "Namespace", "label_values(sextant_rollout_canary_weight, namespace)"),
                 query_var("rollout", "Rollout", 'label_values(sextant_rollout_canary_weight{namespace=~"$namespace"}, rollout)')]
    annotations = [{"name": "Rollbacks", "datasource": DS, "enable": True, "hide": False, "iconColor": "red",
                    "expr": in_range("sextant_rollout_rollbacks_total", sel, "namespace, rollout, phase, reason", "2m") + " > 0",
                    "step": "1m", "titleFormat": "{{phase}}", "textFormat": "{{namespace}}/{{rollout}}: {{reason}}",
                    "tagKeys": "phase,reason", "useValueForTime": False},
                   {"name": "Promotions", "datasource": DS, "enable": True, "hide": False, "iconColor": "green",
                    "expr": in_range("sextant_rollout_promotions_total", sel, "namespace, rollout", "2m") + " > 0",
                    "step": "1m", "titleFormat": "Promoted", "textFormat": "{{namespace}}/{{rollout}}",
                    "tagKeys": "", "useValueForTime": False}]
    return dashboard("sextant-rollouts", "Sextant / Rollouts",
                     "CanaryRollouts: weights, analysis outcomes, rollbacks (sextant-controller's /metrics).",
                     variables, p, annotations)


# ---------------------------------------------------------------------------------------------
# Model servers: sextant-server's /metrics (docs/model-server.md).

def model_servers():
    sel = 'namespace=~"$namespace", model=~"$model", version=~"$version"'
    by = "namespace, model, version"
    legend = "{{model}} {{version}}"
    lay = Layout()
    p = [lay.row("Traffic")]
    p.append(lay.place(timeseries("Requests per second",
                                  [(f"sum by ({by}) (rate(sextant_requests_total{{{sel}}}[{RATE}]))", legend)],
                                  unit="reqps", description="sextant_requests_total, every protocol and status."), 8, 8))
    p.append(lay.place(timeseries(
        "Error ratio (5xx)",
        [(f'sum by ({by}) (rate(sextant_requests_total{{{sel}, code=~"5.."}}[{RATE}])) / '
          f"sum by ({by}) (rate(sextant_requests_total{{{sel}}}[{RATE}]))", legend)],
        unit="percentunit", minimum=0,
        description="Share of requests answered with a 5xx status (what the SuccessRate analysis template measures)."), 8, 8))
    p.append(lay.place(timeseries(
        "Requests by status code",
        [(f"sum by (version, protocol, code) (rate(sextant_requests_total{{{sel}}}[{RATE}]))", "{{version}} {{protocol}} {{code}}")],
        unit="reqps", stack=True), 8, 8))
    p.append(lay.row("Latency"))
    for q, name in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")):
        p.append(lay.place(timeseries(
            f"Latency {name}",
            [(f"histogram_quantile({q}, sum by ({by}, le) (rate(sextant_request_duration_seconds_bucket{{{sel}}}[{RATE}])))", legend)],
            unit="s", description="From sextant_request_duration_seconds: reading the body to writing the response."), 8, 8))
    p.append(lay.place(timeseries("Requests in flight", [(f"sum by ({by}) (sextant_requests_in_flight{{{sel}}})", legend)]), 8, 7))
    p.append(lay.place(timeseries("Model loaded", [(f"max by ({by}) (sextant_model_loaded{{{sel}}})", legend)],
                                  minimum=0, maximum=1, description="1 once the model is loaded and the server is ready."), 8, 7))
    p.append(lay.place(timeseries(
        "Average latency", [(f"sum by ({by}) (rate(sextant_request_duration_seconds_sum{{{sel}}}[{RATE}])) / "
                             f"sum by ({by}) (rate(sextant_request_duration_seconds_count{{{sel}}}[{RATE}]))", legend)],
        unit="s"), 8, 7))
    p.append(lay.row("Model quality"))
    p.append(lay.place(timeseries("Accuracy (labelled window)", [(f"max by ({by}) (sextant_model_accuracy{{{sel}}})", legend)],
                                  unit="percentunit", description="Accuracy over the most recent rows with feedback labels "
                                  "(what the ModelAccuracy analysis template measures)."), 8, 8))
    p.append(lay.place(timeseries("ROC AUC (labelled window)", [(f"max by ({by}) (sextant_model_auc{{{sel}}})", legend)],
                                  description="Absent until both classes were seen."), 8, 8))
    p.append(lay.place(timeseries(
        "Feedback labels", [(f"sum by ({by}, result) (rate(sextant_feedback_total{{{sel}}}[{RATE}]))", "{{version}} {{result}}"),
                            (f"max by ({by}) (sextant_feedback_window_rows{{{sel}}})", "{{version}} rows in window")],
        description="Labels received per second (matched to a prediction, or unknown id), and the rows behind accuracy and AUC."), 8, 8))
    p.append(lay.place(timeseries(
        "Positive rate",
        [(f'sum by ({by}) (rate(sextant_predictions_total{{{sel}, class="1"}}[{RATE}])) / '
          f"sum by ({by}) (rate(sextant_predictions_total{{{sel}}}[{RATE}]))", legend)],
        unit="percentunit", minimum=0, maximum=1, description="Share of rows predicted as class 1 at the decision threshold."), 12, 8))
    p.append(lay.place(heatmap(
        "Predicted probabilities",
        f"sum by (le) (increase(sextant_prediction_score_bucket{{{sel}}}[{RATE}]))",
        description="Distribution of predicted probabilities (sextant_prediction_score)."), 12, 8))
    p.append(lay.row("Drift"))
    p.append(lay.place(timeseries(
        "Feature drift (PSI)", [(f"max by ({by}, feature) (sextant_feature_psi{{{sel}}})", "{{version}} {{feature}}")],
        description="Population stability index of each feature over the live window against the training reference: "
                    "< 0.1 stable, 0.1–0.25 moderate, > 0.25 significant."), 12, 9))
    p.append(lay.place(timeseries(
        "Feature drift (KS)", [(f"max by ({by}, feature) (sextant_feature_ks{{{sel}}})", "{{version}} {{feature}}")],
        description="Kolmogorov–Smirnov statistic of each numeric feature against the reference."), 12, 9))
    p.append(lay.place(timeseries("Rows in the drift window", [(f"max by ({by}) (sextant_drift_window_rows{{{sel}}})", legend)]), 24, 6))
    variables = [query_var("namespace", "Namespace", "label_values(sextant_model_loaded, namespace)"),
                 query_var("model", "Model", 'label_values(sextant_model_loaded{namespace=~"$namespace"}, model)'),
                 query_var("version", "Version", 'label_values(sextant_model_loaded{namespace=~"$namespace", model=~"$model"}, version)')]
    return dashboard("sextant-model-servers", "Sextant / Model servers",
                     "sextant-server: QPS, latency quantiles, errors, accuracy, drift.", variables, p)


# ---------------------------------------------------------------------------------------------
# Controller: the operator runtime's metrics (docs/operator-runtime.md).

def controller():
    sel = 'job=~"$job"'
    lay = Layout()
    p = [lay.row("Controller")]
    p.append(lay.place(table("Replicas", f'max by (pod, version, commit) (sextant_build_info{{{sel}, component="sextant-controller"}})',
                             description="sextant_build_info of each replica."), 12, 5))
    p.append(lay.place(timeseries("Leader", [(f"max by (pod) (sextant_leader_election_master_status{{{sel}}})", "{{pod}}")],
                                  minimum=0, maximum=1, description="1 on the replica that holds the leader Lease."), 12, 5))
    p.append(lay.row("Reconciles"))
    p.append(lay.place(timeseries(
        "Reconciles per second", [(f"sum by (controller, result) (rate(sextant_reconcile_total{{{sel}}}[{RATE}]))",
                                   "{{controller}} {{result}}")], unit="ops", stack=True), 8, 8))
    p.append(lay.place(timeseries(
        "Reconcile errors", [(f"sum by (controller) (rate(sextant_reconcile_errors_total{{{sel}}}[{RATE}]))", "{{controller}}")],
        unit="ops"), 8, 8))
    p.append(lay.place(timeseries(
        "Reconcile duration p99",
        [(f"histogram_quantile(0.99, sum by (controller, le) (rate(sextant_reconcile_time_seconds_bucket{{{sel}}}[{RATE}])))",
          "{{controller}}"),
         (f"histogram_quantile(0.5, sum by (controller, le) (rate(sextant_reconcile_time_seconds_bucket{{{sel}}}[{RATE}])))",
          "{{controller}} p50")], unit="s"), 8, 8))
    p.append(lay.row("Work queues"))
    p.append(lay.place(timeseries("Queue depth", [(f"max by (name) (sextant_workqueue_depth{{{sel}}})", "{{name}}")]), 8, 8))
    p.append(lay.place(timeseries(
        "Adds and retries", [(f"sum by (name) (rate(sextant_workqueue_adds_total{{{sel}}}[{RATE}]))", "{{name}} adds"),
                             (f"sum by (name) (rate(sextant_workqueue_retries_total{{{sel}}}[{RATE}]))", "{{name}} retries")],
        unit="ops"), 8, 8))
    p.append(lay.place(timeseries(
        "Queue wait p99",
        [(f"histogram_quantile(0.99, sum by (name, le) (rate(sextant_workqueue_queue_duration_seconds_bucket{{{sel}}}[{RATE}])))",
          "{{name}}")], unit="s", description="From a key's add to a worker taking it."), 8, 8))
    p.append(lay.row("Kubernetes API"))
    p.append(lay.place(timeseries(
        "API requests", [(f"sum by (verb, code) (rate(sextant_kube_requests_total{{{sel}}}[{RATE}]))", "{{verb}} {{code}}")],
        unit="reqps", stack=True), 12, 8))
    p.append(lay.place(timeseries(
        "API latency p99",
        [(f"histogram_quantile(0.99, sum by (verb, le) (rate(sextant_kube_request_duration_seconds_bucket{{{sel}}}[{RATE}])))",
          "{{verb}}")], unit="s"), 12, 8))
    variables = [query_var("job", "Job", 'label_values(sextant_build_info{component="sextant-controller"}, job)')]
    return dashboard("sextant-controller", "Sextant / Controller",
                     "sextant-controller: reconciles, work queues, Kubernetes API requests, leader election.", variables, p)


DASHBOARDS = {"sextant-rollouts.json": rollouts, "sextant-model-servers.json": model_servers,
              "sextant-controller.json": controller}


def render():
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in render().items():
        path = os.path.join(OUT, name)
        current = open(path).read() if os.path.exists(path) else None
        if current == text:
            continue
        if check:
            stale.append(path)
        else:
            os.makedirs(OUT, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path)}")
    expected = set(DASHBOARDS)
    extra = [n for n in (os.listdir(OUT) if os.path.isdir(OUT) else []) if n.endswith(".json") and n not in expected]
    if check and (stale or extra):
        for path in stale:
            print(f"error: {os.path.relpath(path)} differs from what hack/grafana-dashboards.py generates "
                  "(run it to refresh)", file=sys.stderr)
        for n in extra:
            print(f"error: {os.path.join(os.path.relpath(OUT), n)} is not generated by hack/grafana-dashboards.py", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
