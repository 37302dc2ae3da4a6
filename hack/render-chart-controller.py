#!/usr/bin/env python3
"""Renders charts/sextant with Helm's own engine (helm-python-sdk, as hack/check-chart.py does) and
prints, as one JSON object, what a test needs to run sextant-controller exactly as the chart runs
it:

  {"namespace": release namespace, "serviceAccount": name,
   "rbac": [the ServiceAccount, Roles, ClusterRoles and bindings the chart makes for the controller
            (not the aggregated user roles, which bind nobody)],
   "rules": [{"kind", "name", "namespace", "rules"} of those roles],
   "args": the controller container's args of the rendered Deployment}

Usage: hack/render-chart-controller.py VALUES_JSON [RELEASE_NAMESPACE]
(LoopEnvironment in Tests/SextantControllersTests/LoopSupport.swift runs it for the whole loop.)
"""
import json
import os
import sys

import helm_python as helm
import yaml

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "charts", "sextant")
RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def main():
    values = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    namespace = sys.argv[2] if len(sys.argv) > 2 else "sextant-system"
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values, name="sextant", namespace=namespace, is_install=True)
    objects = [o for path, text in sorted(files.items()) if path.endswith(".yaml")
               for o in yaml.safe_load_all(text) if o]
    accounts = [o for o in objects if o["kind"] == "ServiceAccount"]
    if len(accounts) != 1:
        sys.exit(f"expected one ServiceAccount in the rendered chart, found {len(accounts)}")
    account = accounts[0]["metadata"]["name"]

    def binds_account(binding):
        return any(s.get("kind") == "ServiceAccount" and s.get("name") == account
                   and s.get("namespace", binding["metadata"].get("namespace")) == namespace
                   for s in binding.get("subjects") or [])

    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding") and binds_account(o)]
    # A ClusterRole is named cluster-wide; a Role lives in its binding's namespace.
    bound = {(b["roleRef"]["kind"], b["roleRef"]["name"],
              b["metadata"].get("namespace", "") if b["roleRef"]["kind"] == "Role" else "") for b in bindings}
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole")
             and (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", "")) in bound]
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    if len(deployments) != 1:
        sys.exit(f"expected one controller Deployment, found {len(deployments)}")
    pod = deployments[0]["spec"]["template"]["spec"]
    if pod.get("serviceAccountName") != account:
        sys.exit(f"the Deployment runs as {pod.get('serviceAccountName')!r}, not the chart's ServiceAccount {account!r}")
    container = next(c for c in pod["containers"] if c["name"] == "controller")
    print(json.dumps({
        "namespace": namespace,
        "serviceAccount": account,
        "rbac": accounts + roles + bindings,
        "rules": [{"kind": r["kind"], "name": r["metadata"]["name"], "namespace": r["metadata"].get("namespace", ""),
                   "rules": r.get("rules") or []} for r in roles],
        "args": container.get("args") or [],
    }))


if __name__ == "__main__":
    main()
