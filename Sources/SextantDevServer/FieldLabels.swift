import SextantJSON

/// The field labels a field selector may name, per resource, as kube-apiserver has them: every
/// resource selects on `metadata.name` and `metadata.namespace` (its default field label
/// conversion), a few core and workload kinds on more (their `AddFieldLabelConversionFunc` in
/// `pkg/apis/*/v1/conversion.go` and the `GetAttrs` of their registry strategy), custom resources
/// on their CRD version's `selectableFields`. Any other label is a 400, so `status.phase` selects
/// Pods and Namespaces but is refused for ConfigMaps.
enum FieldLabels {
    static let metadata: Set<String> = ["metadata.name", "metadata.namespace"]

    /// Kind-specific labels, keyed by storage key (`events.k8s.io` Events share the core set: their
    /// selectors are translated to core labels first).
    static let byStorageKey: [String: Set<String>] = [
        "/pods": metadata.union(["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                                 "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
                                 "status.nominatedNodeName"]),
        "/nodes": ["metadata.name", "spec.unschedulable"],
        "/namespaces": ["metadata.name", "status.phase"],
        "/replicationcontrollers": metadata.union(["status.replicas"]),
        "/events": metadata.union(["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                                   "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                                   "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"]),
        "/secrets": metadata.union(["type"]),
        "/services": metadata.union(["spec.clusterIP", "spec.type"]),
        "apps/replicasets": metadata.union(["status.replicas"]),
        "batch/jobs": metadata.union(["status.successful"]),
    ]

    /// The labels `type` selects on.
    static func supported(_ type: ResourceType) -> Set<String> {
        if type.isCustom { return metadata.union(type.selectableFields) }
        return byStorageKey[type.storageKey] ?? metadata
    }

    /// The value an object has for a label, as the registry's `GetAttrs` writes it: unset strings
    /// are "", booleans and counters are written out with their zero default.
    static func value(_ label: String, of object: JSONValue) -> String {
        switch label {
        case "source": return object[path: ["source", "component"]]?.stringValue ?? ""
        case "spec.hostNetwork", "spec.unschedulable":
            return object[path: label.split(separator: ".").map(String.init)]?.boolValue == true ? "true" : "false"
        case "status.replicas", "status.successful":
            return String(object[path: label.split(separator: ".").map(String.init)]?.intValue ?? 0)
        case "status.podIP":
            return object[path: ["status", "podIPs"]]?[0]?["ip"]?.stringValue ?? object[path: ["status", "podIP"]]?.stringValue ?? ""
        case "status.podIPs":
            return ""  // accepted by the conversion, but kube-apiserver's GetAttrs has no value for it
        default:
            let found = object[path: label.split(separator: ".").map(String.init)]
            switch found {
            case .string(let text)?: return text
            case .bool(let flag)?: return flag ? "true" : "false"
            case .int(let number)?: return String(number)
            default: return ""
            }
        }
    }
}
