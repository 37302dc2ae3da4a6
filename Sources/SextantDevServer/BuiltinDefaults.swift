import Foundation
import SextantJSON

/// The defaults kube-apiserver fills into built-in kinds on every write (the generated
/// `SetDefaults_*` functions of core/v1, apps/v1 and batch/v1, applied when a body is decoded), and
/// the create-time parts of their registries' strategies that clients read back (a Job's generated
/// selector, a Pod's `qosClass`, the empty status of a new workload). A client that reads back
/// what it created sees what a real cluster would show. Fields already set are never changed.
enum BuiltinDefaults {
    /// `group/kind` → what to fill in; kinds not listed get no defaults.
    static func apply(group: String, kind: String, _ object: JSONValue, creating: Bool, uid: String?) -> JSONValue {
        var object = object
        switch (group, kind) {
        case ("", "Pod"):
            object.update("spec") { pod(&$0) }
            if creating { object["status"] = ["phase": "Pending", "qosClass": .string(qosClass(object["spec"] ?? [:]))] }
        case ("", "PodTemplate"):
            object.update("template") { template(&$0) }
        case ("", "ReplicationController"):
            object.update("spec") { spec in
                spec.setIfMissing("replicas", 1)
                spec.update("template") { template(&$0) }
                if spec["selector"] == nil, let labels = spec[path: ["template", "metadata", "labels"]] { spec["selector"] = labels }
            }
            if creating { object["status"] = ["replicas": 0] }
        case ("apps", "Deployment"):
            object.update("spec") { spec in
                spec.setIfMissing("replicas", 1)
                spec.update("strategy") { strategy in
                    strategy.setIfMissing("type", "RollingUpdate")
                    if strategy["type"]?.stringValue == "RollingUpdate" {
                        strategy.update("rollingUpdate") { rolling in
                            rolling.setIfMissing("maxUnavailable", "25%")
                            rolling.setIfMissing("maxSurge", "25%")
                        }
                    }
                }
                spec.setIfMissing("revisionHistoryLimit", 10)
                spec.setIfMissing("progressDeadlineSeconds", 600)
                spec.update("template") { template(&$0) }
            }
            if creating { object["status"] = [:] }
        case ("apps", "ReplicaSet"):
            object.update("spec") { spec in
                spec.setIfMissing("replicas", 1)
                spec.update("template") { template(&$0) }
            }
            if creating { object["status"] = ["replicas": 0] }
        case ("apps", "DaemonSet"):
            object.update("spec") { spec in
                spec.update("updateStrategy") { strategy in
                    strategy.setIfMissing("type", "RollingUpdate")
                    if strategy["type"]?.stringValue == "RollingUpdate" {
                        strategy.update("rollingUpdate") { rolling in
                            rolling.setIfMissing("maxUnavailable", 1)
                            rolling.setIfMissing("maxSurge", 0)
                        }
                    }
                }
                spec.setIfMissing("revisionHistoryLimit", 10)
                spec.update("template") { template(&$0) }
            }
            if creating {
                object["status"] = ["currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0]
            }
        case ("apps", "StatefulSet"):
            object.update("spec") { spec in
                spec.setIfMissing("replicas", 1)
                spec.setIfMissing("podManagementPolicy", "OrderedReady")
                spec.update("updateStrategy") { strategy in
                    strategy.setIfMissing("type", "RollingUpdate")
                    if strategy["type"]?.stringValue == "RollingUpdate" {
                        strategy.update("rollingUpdate") { $0.setIfMissing("partition", 0) }
                    }
                }
                spec.setIfMissing("revisionHistoryLimit", 10)
                spec.update("persistentVolumeClaimRetentionPolicy") { policy in
                    policy.setIfMissing("whenDeleted", "Retain")
                    policy.setIfMissing("whenScaled", "Retain")
                }
                spec.update("template") { template(&$0) }
            }
            if creating { object["status"] = ["replicas": 0, "availableReplicas": 0] }
        case ("batch", "Job"):
            let job = object
            object.update("spec") { spec in
                if spec["completions"] == nil && spec["parallelism"] == nil { spec["completions"] = 1 }
                spec.setIfMissing("parallelism", 1)
                spec.setIfMissing("backoffLimit", spec["backoffLimitPerIndex"] == nil ? 6 : .int(Int64(Int32.max)))
                spec.setIfMissing("completionMode", "NonIndexed")
                spec.setIfMissing("suspend", false)
                spec.setIfMissing("podReplacementPolicy", spec["podFailurePolicy"] == nil ? "TerminatingOrFailed" : "Failed")
                if creating, let uid, spec["manualSelector"]?.boolValue != true { generateSelector(&spec, uid: uid, job: job) }
                spec.update("template") { template(&$0) }
            }
            if creating { object["status"] = [:] }
        case ("batch", "CronJob"):
            object.update("spec") { spec in
                spec.setIfMissing("concurrencyPolicy", "Allow")
                spec.setIfMissing("suspend", false)
                spec.setIfMissing("successfulJobsHistoryLimit", 3)
                spec.setIfMissing("failedJobsHistoryLimit", 1)
                spec.update("jobTemplate") { $0.update("spec") { $0.update("template") { template(&$0) } } }
            }
            if creating { object["status"] = [:] }
        case ("rbac.authorization.k8s.io", "RoleBinding"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"):
            // SetDefaults_Subject: users and groups are RBAC subjects; a ServiceAccount has no group.
            object.updateEach("subjects") { subject in
                guard subject["apiGroup"] == nil else { return }
                switch subject["kind"]?.stringValue {
                case "User", "Group": subject["apiGroup"] = "rbac.authorization.k8s.io"
                case "ServiceAccount": subject["apiGroup"] = ""
                default: break
                }
            }
        case ("", "PersistentVolumeClaim"):
            object.update("spec") { $0.setIfMissing("volumeMode", "Filesystem") }
            if creating { object["status"] = ["phase": "Pending"] }
        default:
            break
        }
        return object
    }

    /// A Pod's spec: the PodSpec defaults plus what only Pods get (`enableServiceLinks`, requests
    /// taken from limits where a container sets limits only).
    static func pod(_ spec: inout JSONValue) {
        podSpec(&spec)
        spec.setIfMissing("enableServiceLinks", true)
        for list in ["containers", "initContainers"] {
            spec.updateEach(list) { container in
                guard let limits = container[path: ["resources", "limits"]]?.objectValue else { return }
                var requests = container[path: ["resources", "requests"]]?.objectValue ?? [:]
                for (resource, quantity) in limits where requests[resource] == nil { requests[resource] = quantity }
                container.set(path: ["resources", "requests"], to: .object(requests))
            }
        }
    }

    /// A PodTemplateSpec inside a workload: its PodSpec.
    static func template(_ template: inout JSONValue) {
        template.update("spec") { podSpec(&$0) }
    }

    /// SetDefaults_PodSpec and what it reaches: containers, ports, probes, volumes.
    static func podSpec(_ spec: inout JSONValue) {
        spec.setIfMissing("dnsPolicy", "ClusterFirst")
        spec.setIfMissing("restartPolicy", "Always")
        spec.setIfMissing("terminationGracePeriodSeconds", 30)
        spec.setIfMissing("securityContext", [:])
        spec.setIfMissing("schedulerName", "default-scheduler")
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            spec.updateEach(list) { container(&$0) }
        }
        spec.updateEach("volumes") { volume in
            let sources = (volume.objectValue ?? [:]).keys.filter { $0 != "name" }
            if sources.isEmpty { volume["emptyDir"] = [:] }
            for source in ["secret", "configMap", "downwardAPI", "projected"] {
                volume.update(source, ifPresent: true) { $0.setIfMissing("defaultMode", 420) }
            }
            volume.update("hostPath", ifPresent: true) { $0.setIfMissing("type", "") }
        }
    }

    /// SetDefaults_Container, SetDefaults_ContainerPort, SetDefaults_Probe and the field selectors of `env`.
    static func container(_ container: inout JSONValue) {
        container.setIfMissing("terminationMessagePath", "/dev/termination-log")
        container.setIfMissing("terminationMessagePolicy", "File")
        if let image = container["image"]?.stringValue {
            container.setIfMissing("imagePullPolicy", .string(pullPolicy(image: image)))
        }
        container.updateEach("ports") { $0.setIfMissing("protocol", "TCP") }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            container.update(probe, ifPresent: true) { probe in
                probe.setIfMissing("timeoutSeconds", 1)
                probe.setIfMissing("periodSeconds", 10)
                probe.setIfMissing("successThreshold", 1)
                probe.setIfMissing("failureThreshold", 3)
                probe.update("httpGet", ifPresent: true) { get in
                    get.setIfMissing("path", "/")
                    get.setIfMissing("scheme", "HTTP")
                }
            }
        }
        container.updateEach("env") { variable in
            variable.update("valueFrom", ifPresent: true) { $0.update("fieldRef", ifPresent: true) { $0.setIfMissing("apiVersion", "v1") } }
        }
    }

    /// `Always` for an image without a tag or tagged `latest` (and no digest), else `IfNotPresent`.
    static func pullPolicy(image: String) -> String {
        if image.contains("@") { return "IfNotPresent" }
        let lastComponent = image.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? image
        guard let colon = lastComponent.lastIndex(of: ":") else { return "Always" }
        let tag = lastComponent[lastComponent.index(after: colon)...]
        return tag.isEmpty || tag == "latest" ? "Always" : "IfNotPresent"
    }

    /// The Pod's QoS class from its containers' requests and limits (`GetPodQOS`): `BestEffort`
    /// with none at all, `Guaranteed` when every container limits CPU and memory and requests
    /// equal limits, else `Burstable`.
    static func qosClass(_ spec: JSONValue) -> String {
        let containers = (spec["containers"]?.arrayValue ?? []) + (spec["initContainers"]?.arrayValue ?? [])
        var anyResource = false, guaranteed = true
        for container in containers {
            let requests = container[path: ["resources", "requests"]]?.objectValue ?? [:]
            let limits = container[path: ["resources", "limits"]]?.objectValue ?? [:]
            let relevant = ["cpu", "memory"]
            if relevant.contains(where: { requests[$0] != nil || limits[$0] != nil }) { anyResource = true }
            for resource in relevant {
                guard let limit = limits[resource] else { guaranteed = false; continue }
                if let request = requests[resource], request != limit { guaranteed = false }
            }
        }
        if !anyResource { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }

    /// The Job registry's `generateSelector`: a selector on the Job's uid and the matching labels
    /// on its Pod template, unless the user manages the selector (`manualSelector: true`).
    static func generateSelector(_ spec: inout JSONValue, uid: String, job: JSONValue) {
        let name = job[path: ["metadata", "name"]]?.stringValue ?? ""
        if spec["selector"] == nil { spec["selector"] = ["matchLabels": ["batch.kubernetes.io/controller-uid": .string(uid)]] }
        var labels = spec[path: ["template", "metadata", "labels"]]?.objectValue ?? [:]
        for (key, value) in [("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", name),
                             ("controller-uid", uid), ("job-name", name)] where labels[key] == nil {
            labels[key] = .string(value)
        }
        spec.set(path: ["template", "metadata", "labels"], to: .object(labels))
    }
}

extension JSONValue {
    /// Sets `key` when it is absent (a JSON `null` counts as absent, as a nil pointer in Go).
    mutating func setIfMissing(_ key: String, _ value: JSONValue?) {
        guard let value, self[key] == nil || self[key] == .null else { return }
        self[key] = value
    }

    /// Changes the object under `key`, creating it (unless `ifPresent`) when absent.
    mutating func update(_ key: String, ifPresent: Bool = false, _ change: (inout JSONValue) -> Void) {
        guard case .object = self else { return }
        if ifPresent, self[key] == nil || self[key] == .null { return }
        var child = self[key] ?? [:]
        guard case .object = child else { return }
        change(&child)
        self[key] = child
    }

    /// Changes each object of the array under `key`; anything else is left alone.
    mutating func updateEach(_ key: String, _ change: (inout JSONValue) -> Void) {
        guard let items = self[key]?.arrayValue else { return }
        self[key] = .array(items.map { item in
            guard case .object = item else { return item }
            var item = item
            change(&item)
            return item
        })
    }
}
