import SextantAPI
import SextantJSON

/// Points the stable and canary destinations at model versions by setting one label,
/// `mlops.sextant.dev/model-version`, in DestinationRule subsets (subset-level) or in Service
/// selectors (host-level). Nothing else of those objects is touched.
public enum VersionSelectors {
    /// The version the canary destination should select: the candidate while a rollout runs,
    /// else the stable version, so that any weight left on the canary still reaches a version
    /// that serves (what Argo Rollouts does once fully promoted).
    public static func canaryTarget(stableVersion: String, canaryVersion: String?) -> String {
        canaryVersion ?? stableVersion
    }

    /// Ops that point the stable subset at `stableVersion` and the canary subset at
    /// `canaryVersion` (or at `stableVersion` when nil); empty when they already do. Guarded by a
    /// `test` of the resourceVersion and of each changed subset's name. Subsets must exist:
    /// Sextant does not create them.
    public static func destinationRulePatch(_ destinationRule: JSONValue, ref: DestinationRuleRef, stableVersion: String,
                                            canaryVersion: String?) throws(RoutingError) -> [JSONValue] {
        let names = try SubsetNames(ref)
        let label = objectLabel("DestinationRule", destinationRule, fallbackName: ref.name)
        let subsets = try subsetList(destinationRule, label: label)
        let namespace = destinationRule[path: ["metadata", "namespace"]]?.stringValue
        if let host = destinationRule[path: ["spec", "host"]]?.stringValue,
           !ServiceHost(host, defaultNamespace: namespace).matches(ServiceHost(ref.host, defaultNamespace: namespace)) {
            throw RoutingError(.invalidDestinationRule,
                               "\(label) is for host \(host), but spec.routing.destinationRule.host is \(ref.host)")
        }
        let key = SextantLabel.modelVersion
        var ops: [JSONValue] = []
        for (subset, version) in [(names.stable, stableVersion),
                                  (names.canary, canaryTarget(stableVersion: stableVersion, canaryVersion: canaryVersion))] {
            guard !version.isEmpty else { throw RoutingError(.invalidSpec, "the version for subset \(subset) is empty") }
            let found = subsets.indices.filter { subsets[$0]["name"]?.stringValue == subset }
            guard let index = found.first else {
                let existing = subsets.compactMap { $0["name"]?.stringValue }
                throw RoutingError(.subsetNotFound,
                                   "\(label) has no subset \"\(subset)\" (its subsets: \(existing.isEmpty ? "none" : existing.joined(separator: ", "))); add subsets \"\(names.stable)\" and \"\(names.canary)\" to it")
            }
            guard found.count == 1 else {
                throw RoutingError(.invalidDestinationRule, "\(label) has \(found.count) subsets named \"\(subset)\"")
            }
            let base = ["spec", "subsets", String(index)]
            let change: JSONValue
            switch subsets[index]["labels"] {
            case nil, .null?:
                change = PatchOp.add(base + ["labels"], [key: .string(version)])
            case .object(let labels)?:
                switch labels[key] {
                case .string(version)?: continue
                case nil: change = PatchOp.add(base + ["labels", key], .string(version))
                case _?: change = PatchOp.replace(base + ["labels", key], .string(version))
                }
            case let other?:
                throw RoutingError(.invalidDestinationRule,
                                   "\(label): subset \"\(subset)\" labels is \(other.typeName), expected object")
            }
            ops += [PatchOp.test(base + ["name"], .string(subset)), change]
        }
        return guarded(ops, destinationRule)
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

    private static func subsetList(_ rule: JSONValue, label: String) throws(RoutingError) -> [JSONValue] {
        guard rule.objectValue != nil, let spec = rule["spec"], spec.objectValue != nil else {
            throw RoutingError(.invalidDestinationRule, "\(label) has no spec")
        }
        switch spec["subsets"] {
        case nil, .null?: return []
        case .array(let array)?: return array
        case let other?: throw RoutingError(.invalidDestinationRule, "\(label): spec.subsets is \(other.typeName), expected array")
        }
    }

    private static func guarded(_ ops: [JSONValue], _ object: JSONValue) -> [JSONValue] {
        guard !ops.isEmpty else { return [] }
        guard let rv = object[path: ["metadata", "resourceVersion"]]?.stringValue else { return ops }
        return [PatchOp.test(["metadata", "resourceVersion"], .string(rv))] + ops
    }
}
