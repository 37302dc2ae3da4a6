import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes

/// The Pod status the node writes from its view of the containers (Kubelet.swift).
extension LocalNode {
    // MARK: Status

    /// Writes the pod's status (and endpoint annotation) when they differ from the API's copy.
    func publish(_ runtime: RunningPod, pod: JSONValue) async {
        var pod = pod
        if let failure = runtime.failure, failure.reason == "Unschedulable" {
            // Found only while reading the pod's inputs: it cannot run here.
            await writeUnschedulable(pod, message: failure.message)
            return
        }
        if let port = runtime.containers.first(where: { $0.plan.isServer && $0.port != nil })?.port {
            let endpoint = "127.0.0.1:\(port)"
            if pod.annotations[LocalNode.endpointAnnotation] != endpoint {
                guard let answer = await mergePatch(.pod, pod, ["metadata": ["annotations": [LocalNode.endpointAnnotation: .string(endpoint)]]]) else { return }
                pod = answer
            }
        }
        let status = podStatus(runtime, old: pod["status"])
        if status != pod["status"] { await writeStatus(.pod, pod, status) }
    }

    func phase(of runtime: RunningPod) -> String {
        if runtime.failure != nil && !runtime.hasProcesses && runtime.failure?.reason != "Unschedulable" { return "Failed" }
        if runtime.containers.contains(where: { !$0.started }) {
            return runtime.terminating && !runtime.hasProcesses ? "Failed" : "Pending"
        }
        if runtime.containers.allSatisfy(\.isTerminated) {
            let allZero = runtime.containers.allSatisfy {
                if case .terminated(let t) = $0.state { return t.exitCode == 0 }
                return false
            }
            return allZero ? "Succeeded" : "Failed"
        }
        return "Running"
    }

    func podStatus(_ runtime: RunningPod, old: JSONValue?) -> JSONValue {
        let phase = phase(of: runtime)
        let now = LocalNode.now()
        let ready = phase == "Running" && runtime.containers.allSatisfy(\.ready)
        let unready = runtime.containers.filter { !$0.ready }.map(\.plan.name)
        let unreadyMessage = "containers with unready status: [\(unready.joined(separator: " "))]"
        let finished = phase == "Succeeded" || phase == "Failed"
        var conditions: [JSONValue] = [
            condition("PodScheduled", true, now: now, extra: ["lastProbeTime": .null]),
            condition("Initialized", true, now: now, extra: ["lastProbeTime": .null]),
        ]
        if ready {
            conditions += [condition("ContainersReady", true, now: now, extra: ["lastProbeTime": .null]),
                           condition("Ready", true, now: now, extra: ["lastProbeTime": .null])]
        } else {
            let reason = finished ? "PodCompleted" : "ContainersNotReady"
            let message: String? = finished ? nil : unreadyMessage
            conditions += [condition("ContainersReady", false, reason: reason, message: message, now: now,
                                     extra: ["lastProbeTime": .null]),
                           condition("Ready", false, reason: reason, message: message, now: now,
                                     extra: ["lastProbeTime": .null])]
        }
        var status: [String: JSONValue] = [
            "phase": .string(phase),
            "conditions": mergeConditions(old: old?["conditions"], new: conditions),
            "hostIP": "127.0.0.1", "hostIPs": [["ip": "127.0.0.1"]],
            "podIP": "127.0.0.1", "podIPs": [["ip": "127.0.0.1"]],
            "startTime": .string(KubeTime.format(runtime.startTime)),
            "qosClass": "BestEffort",
            "containerStatuses": .array(runtime.containers.map(containerStatus)),
        ]
        if let failure = runtime.failure, failure.reason != "Unschedulable" {
            status["reason"] = .string(failure.reason)
            status["message"] = .string(failure.message)
        }
        return .object(status)
    }

    func containerStatus(_ c: RunningContainer) -> JSONValue {
        var status: [String: JSONValue] = [
            "name": .string(c.plan.name), "image": .string(c.plan.image), "imageID": .string("sextant-local://\(c.plan.executable)"),
            "ready": .bool(c.ready), "restartCount": .int(Int64(c.restartCount)),
            "started": .bool({ if case .running = c.state { return true } else { return false } }()),
            "state": LocalNode.stateJSON(c.state), "lastState": .object([:]),
        ]
        if let process = c.process { status["containerID"] = .string("sextant-local://\(process.pid)") }
        if case .terminated(let t) = c.state, !t.containerID.isEmpty { status["containerID"] = .string(t.containerID) }
        if let last = c.lastTermination { status["lastState"] = LocalNode.stateJSON(.terminated(last)) }
        return .object(status)
    }

    static func stateJSON(_ state: ContainerState) -> JSONValue {
        switch state {
        case .waiting(let reason, let message):
            var w: [String: JSONValue] = ["reason": .string(reason)]
            if let message { w["message"] = .string(message) }
            return ["waiting": .object(w)]
        case .running(let startedAt):
            return ["running": ["startedAt": .string(KubeTime.format(startedAt))]]
        case .terminated(let t):
            var s: [String: JSONValue] = [
                "exitCode": .int(Int64(t.exitCode)), "reason": .string(t.reason),
                "startedAt": .string(KubeTime.format(t.startedAt)), "finishedAt": .string(KubeTime.format(t.finishedAt)),
            ]
            if let message = t.message { s["message"] = .string(message) }
            if !t.containerID.isEmpty { s["containerID"] = .string(t.containerID) }
            return ["terminated": .object(s)]
        }
    }

    /// Leaves the pod Pending with `PodScheduled=False/Unschedulable` and the reason.
    func writeUnschedulable(_ pod: JSONValue, message: String) async {
        let old = pod["status"]
        let conditions = mergeConditions(old: old?["conditions"], new: [
            condition("PodScheduled", false, reason: "Unschedulable", message: message,
                      extra: ["lastProbeTime": .null]),
        ])
        let status: JSONValue = ["phase": "Pending", "conditions": conditions]
        if status != old { await writeStatus(.pod, pod, status) }
    }
}
