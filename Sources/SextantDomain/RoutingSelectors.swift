import SextantAPI
import SextantJSON

/// Points the stable and canary destinations at model versions by setting one label,
/// `mlops.sextant.dev/model-version`, in Service selectors (host-level, every router) or in
/// Istio DestinationRule subsets (subset-level, in RoutingVirtualService.swift). Nothing else of
/// those objects is touched.
public enum VersionSelectors {
    /// The version the canary destination should select: the candidate while a rollout runs,
    /// else the stable version, so that any weight left on the canary still reaches a version
    /// that serves (what Argo Rollouts does once fully promoted).
    public static func canaryTarget(stableVersion: String, canaryVersion: String?) -> String {
        canaryVersion ?? stableVersion
    }

    /// Ops that point a Service's selector at `version`; empty when it already does. The
    /// Service must have a selector: adding one to a selector-less Service would take its
    /// endpoints away from whoever manages them.
    public static func servicePatch(_ service: JSONValue, version: String) throws(RoutingError) -> [JSONValue] {
        let label = objectLabel("Service", service, fallbackName: "?")
        guard !version.isEmpty else { throw RoutingError(.invalidSpec, "the version for \(label) is empty") }
        let key = SextantLabel.modelVersion
        let path = ["spec", "selector", key]
        switch service[path: ["spec", "selector"]] {
        case .object(let selector)? where !selector.isEmpty:
            switch selector[key] {
            case .string(version)?: return []
            case nil: return guarded([PatchOp.add(path, .string(version))], service)
            case _?: return guarded([PatchOp.replace(path, .string(version))], service)
            }
        case .object?, nil, .null?:
            throw RoutingError(.invalidService,
                               "\(label) has no spec.selector; Sextant adds \(key) to an existing selector (e.g. app: <name>) and never creates one")
        case let other?:
            throw RoutingError(.invalidService, "\(label): spec.selector is \(other.typeName), expected object")
        }
    }

    static func guarded(_ ops: [JSONValue], _ object: JSONValue) -> [JSONValue] {
        guard !ops.isEmpty else { return [] }
        guard let rv = object[path: ["metadata", "resourceVersion"]]?.stringValue else { return ops }
        return [PatchOp.test(["metadata", "resourceVersion"], .string(rv))] + ops
    }
}
