import SextantAPI
import SextantJSON

/// Reads and patches the owned HTTP routes of a user's VirtualService (as a dynamic object:
/// any field may be missing or of the wrong type, which gives a `RoutingError`, never a crash).
///
/// Sextant owns, on each owned route, only the `weight` of the stable and canary destinations,
/// `mirror`/`mirrorPercentage` while they point at the canary, and the whole A/B route named
/// `sextant-ab-<rollout>`. Everything else is left byte-for-byte as it is.
public enum VirtualServiceRouting {
    /// The name of the A/B route Sextant inserts for `rollout`.
    public static func abTestRouteName(rollout: String) -> String { abTestRoutePrefix + rollout }

    /// Routes with this prefix are Sextant's A/B routes and never owned routes.
    public static let abTestRoutePrefix = "sextant-ab-"

    /// What the owned routes route now.
    public static func observe(_ virtualService: JSONValue, routing: RoutingSpec, rollout: String)
        throws(RoutingError) -> ObservedRouting
    {
        let parsed = try Parsed(virtualService, routing: routing, rollout: rollout)
        return ObservedRouting(
            resourceVersion: parsed.resourceVersion,
            routes: parsed.owned.map { route in
                var mirror: Double?
                if case .canary(let percent) = route.mirror { mirror = percent ?? 100 }
                return ObservedRoute(index: route.index, name: route.name, stableWeight: route.stableWeight ?? 0,
                                     canaryWeight: route.canaryWeight ?? 0, mirrorPercent: mirror)
            },
            abTestRouteIndex: parsed.abIndex)
    }

    /// True when the VirtualService already routes per `split` (the patch would be empty).
    public static func isRouting(_ virtualService: JSONValue, routing: RoutingSpec, rollout: String,
                                 split: TrafficSplit) throws(RoutingError) -> Bool {
        try patch(for: virtualService, routing: routing, rollout: rollout, split: split).isEmpty
    }

    /// RFC 6902 operations that make the owned routes route per `split`, touching nothing else;
    /// empty when they already do.
    ///
    /// The first operation tests `/metadata/resourceVersion` (when the object has one), and every
    /// changed route is guarded by tests of its name and of its stable and canary destinations, so
    /// a concurrent edit makes the server refuse the patch (422) instead of landing it on the
    /// wrong route. Edits of existing routes come first, at their original indices; removing and
    /// inserting the A/B route comes last, so no index is used after a shift.
    public static func patch(for virtualService: JSONValue, routing: RoutingSpec, rollout: String,
                             split: TrafficSplit) throws(RoutingError) -> [JSONValue] {
        try split.validate()
        let parsed = try Parsed(virtualService, routing: routing, rollout: rollout)
        var ops: [JSONValue] = []
        for route in parsed.owned {
            ops += try routeOps(route, split: split, parsed: parsed, rollout: rollout)
        }
        ops += try abTestOps(parsed, split: split, rollout: rollout)
        guard !ops.isEmpty else { return [] }
        if let rv = parsed.resourceVersion {
            ops.insert(PatchOp.test(["metadata", "resourceVersion"], .string(rv)), at: 0)
        }
        return ops
    }

    // MARK: Owned routes

    private static func routeOps(_ route: OwnedRoute, split: TrafficSplit, parsed: Parsed, rollout: String)
        throws(RoutingError) -> [JSONValue]
    {
        let base = ["spec", "http", String(route.index)]
        var ops: [JSONValue] = []
        for (entry, current, desired) in [(route.stableEntry, route.stableWeight, split.stableWeight),
                                          (route.canaryEntry, route.canaryWeight, split.canaryWeight)] {
            let path = base + ["route", String(entry), "weight"]
            if current == nil {
                // An absent weight is 0 for Istio; written explicitly so the split reads unambiguously.
                ops.append(PatchOp.add(path, .int(Int64(desired))))
            } else if current != desired {
                ops.append(PatchOp.replace(path, .int(Int64(desired))))
            }
        }
        ops += try affinityOps(route, cookie: split.sessionAffinity, parsed: parsed, rollout: rollout)
        var mirrorGuard: JSONValue?
        if let percent = split.mirrorPercent {
            switch route.mirror {
            case .other(let target):
                throw RoutingError(.conflictingMirror,
                                   "\(parsed.label): route \(route.label) already mirrors to \(target); Sextant mirrors only to the canary (\(parsed.targets.canary.text)) and never replaces a mirror it did not set")
            case .none:
                ops.append(PatchOp.add(base + ["mirror"], route.canaryDestination))
                ops.append(PatchOp.add(base + ["mirrorPercentage"], ["value": .int(Int64(percent))]))
            case .canary(let current):
                if current != Double(percent) {
                    ops.append(PatchOp.add(base + ["mirrorPercentage"], ["value": .int(Int64(percent))]))
                }
            }
        } else if case .canary = route.mirror {
            // Shadow is over: remove the mirror only because it points at the canary (ours).
            mirrorGuard = route.object["mirror"]?["host"]
            ops.append(PatchOp.remove(base + ["mirror"]))
            if route.object["mirrorPercentage"] != nil { ops.append(PatchOp.remove(base + ["mirrorPercentage"])) }
        }
        guard !ops.isEmpty else { return [] }
        var guards: [JSONValue] = []
        if let name = route.name { guards.append(PatchOp.test(base + ["name"], .string(name))) }
        for entry in [route.stableEntry, route.canaryEntry] {
            let destination = route.entries[entry]["destination"]
            let path = base + ["route", String(entry), "destination"]
            if let host = destination?["host"] { guards.append(PatchOp.test(path + ["host"], host)) }
            if let subset = destination?["subset"] { guards.append(PatchOp.test(path + ["subset"], subset)) }
        }
        if let mirrorGuard { guards.append(PatchOp.test(base + ["mirror", "host"], mirrorGuard)) }
        return guards + ops
    }

    // MARK: Session affinity

    /// The canary destination's `headers.response.add["Set-Cookie"]`: added while `cookie` is
    /// set, removed (with the maps that only held it) once it is not, and only when its value is
    /// Sextant's for this rollout; a `test` of the current value guards a replace or remove.
    private static func affinityOps(_ route: OwnedRoute, cookie: AffinityCookie?, parsed: Parsed, rollout: String)
        throws(RoutingError) -> [JSONValue]
    {
        let entry = ["spec", "http", String(route.index), "route", String(route.canaryEntry)]
        func map(_ value: JSONValue?, _ field: String) throws(RoutingError) -> [String: JSONValue]? {
            switch value {
            case nil, .null?: return nil
            case .object(let object)?: return object
            case let other?:
                throw RoutingError(.invalidVirtualService,
                                   "\(parsed.label): route \(route.label) route[\(route.canaryEntry)].\(field) is \(other.typeName), expected object")
            }
        }
        let headers = try map(route.entries[route.canaryEntry]["headers"], "headers")
        let response = try map(headers?["response"], "headers.response")
        let add = try map(response?["add"], "headers.response.add")
        let current = add?["Set-Cookie"]
        let ours = current?.stringValue.map { AffinityCookie.isOurs($0, rollout: rollout) } ?? false
        let cookiePath = entry + ["headers", "response", "add", "Set-Cookie"]
        guard let cookie else {
            guard ours, let current else { return [] }
            let path: [String]
            if add?.count == 1 {
                path = response?.count == 1 ? (headers?.count == 1 ? entry + ["headers"] : entry + ["headers", "response"])
                    : entry + ["headers", "response", "add"]
            } else {
                path = cookiePath
            }
            return [PatchOp.test(cookiePath, current), PatchOp.remove(path)]
        }
        let desired = JSONValue.string(cookie.setCookie)
        if let current {
            if current == desired { return [] }
            guard ours else {
                throw RoutingError(.conflictingHeader,
                                   "\(parsed.label): route \(route.label): the canary destination already adds a Set-Cookie response header (\(current.stringValue ?? current.jsonString())); Sextant's session affinity (spec.analysis.sessionAffinity) needs it and never replaces a header it did not set")
            }
            return [PatchOp.test(cookiePath, current), PatchOp.replace(cookiePath, desired)]
        }
        if add != nil { return [PatchOp.add(cookiePath, desired)] }
        if response != nil { return [PatchOp.add(entry + ["headers", "response", "add"], ["Set-Cookie": desired])] }
        if headers != nil { return [PatchOp.add(entry + ["headers", "response"], ["add": ["Set-Cookie": desired]])] }
        return [PatchOp.add(entry + ["headers"], ["response": ["add": ["Set-Cookie": desired]]])]
    }

    // MARK: A/B route

    private static func abTestOps(_ parsed: Parsed, split: TrafficSplit, rollout: String)
        throws(RoutingError) -> [JSONValue]
    {
        let name = abTestRouteName(rollout: rollout)
        let nameValue = JSONValue.string(name)
        guard let matches = split.matchRoute else {
            guard let current = parsed.abIndex else { return [] }
            return [PatchOp.test(["spec", "http", String(current), "name"], nameValue),
                    PatchOp.remove(["spec", "http", String(current)])]
        }
        let desired = try abTestRoute(name: name, parsed: parsed, matches: matches)
        // `owned` is never empty (Parsed throws first) and sorted by index.
        guard let first = parsed.owned.first else { return [] }
        let firstGuard = first.name.map { PatchOp.test(["spec", "http", String(first.index), "name"], .string($0)) }
        guard let current = parsed.abIndex else {
            return (firstGuard.map { [$0] } ?? []) + [PatchOp.add(["spec", "http", String(first.index)], desired)]
        }
        let currentPath = ["spec", "http", String(current)]
        if current == first.index - 1 {
            guard let existing = parsed.http[current].objectValue, JSONValue.object(existing).numericallyEqual(to: desired) else {
                return [PatchOp.test(currentPath + ["name"], nameValue), PatchOp.replace(currentPath, desired)]
            }
            return []
        }
        // Misplaced (someone moved it, or routes were reordered): move it right before the first owned route.
        let target = current < first.index ? first.index - 1 : first.index
        var ops = [PatchOp.test(currentPath + ["name"], nameValue), PatchOp.remove(currentPath)]
        if let name = first.name { ops.append(PatchOp.test(["spec", "http", String(target), "name"], .string(name))) }
        ops.append(PatchOp.add(["spec", "http", String(target)], desired))
        return ops
    }

    /// The A/B route: the first owned route's settings (timeout, retries, rewrite, headers, ...)
    /// so candidate requests are handled alike, each of the owned routes' match blocks combined
    /// with each A/B match (so it never catches requests the owned routes would not), and one
    /// destination: the canary, as the first owned route writes it (port included).
    static func abTestRoute(name: String, parsed: Parsed, matches: [ABMatch]) throws(RoutingError) -> JSONValue {
        guard let first = parsed.owned.first else {
            throw RoutingError(.routeNotFound, "\(parsed.label) has no owned http route")
        }
        var conditions: [(header: String, condition: JSONValue)] = []
        for (index, match) in matches.enumerated() {
            conditions.append(try headerCondition(match, field: "spec.strategy.abTest.match[\(index)]"))
        }
        var blocks: [JSONValue] = []
        for route in parsed.owned {
            let baseBlocks: [JSONValue]
            switch route.object["match"] {
            case nil, .null?: baseBlocks = [[:]]
            case .array(let array)? where array.isEmpty: baseBlocks = [[:]]
            case .array(let array)?: baseBlocks = array
            case let other?:
                throw RoutingError(.invalidVirtualService,
                                   "\(parsed.label): route \(route.label) has match of type \(other.typeName), expected array")
            }
            for (blockIndex, base) in baseBlocks.enumerated() {
                guard case .object(var block) = base else {
                    throw RoutingError(.invalidVirtualService,
                                       "\(parsed.label): route \(route.label) match[\(blockIndex)] is \(base.typeName), expected object")
                }
                var headers: [String: JSONValue]
                switch block["headers"] {
                case nil, .null?: headers = [:]
                case .object(let object)?: headers = object
                case let other?:
                    throw RoutingError(.invalidVirtualService,
                                       "\(parsed.label): route \(route.label) match[\(blockIndex)].headers is \(other.typeName), expected object")
                }
                for (header, condition) in conditions {
                    var combined = headers
                    if combined[header] != nil {
                        throw RoutingError(.conflictingMatch,
                                           "\(parsed.label): route \(route.label) match[\(blockIndex)] already matches header \"\(header)\", which the A/B match needs; use another header or cookie")
                    }
                    combined[header] = condition
                    block["headers"] = .object(combined)
                    let candidate = JSONValue.object(block)
                    if !blocks.contains(candidate) { blocks.append(candidate) }
                }
            }
        }
        var object = first.object
        for key in ["name", "match", "route", "mirror", "mirrorPercentage", "mirrorPercent", "mirror_percent", "mirrors"] {
            object.removeValue(forKey: key)
        }
        object["name"] = .string(name)
        object["match"] = .array(blocks)
        object["route"] = [["destination": first.canaryDestination, "weight": 100]]
        return .object(object)
    }

    /// An A/B match as an Istio header condition. Header names are lowercased (Istio requires
    /// lowercase header keys); a cookie becomes a regex on the `cookie` header, Flagger's form
    /// with `\s*` for the space browsers put after `;`.
    public static func headerCondition(_ match: ABMatch, field: String) throws(RoutingError) -> (header: String, condition: JSONValue) {
        switch (match.header, match.cookie) {
        case (let header?, nil):
            let name = header.name.lowercased()
            guard !name.isEmpty else { throw RoutingError(.invalidSpec, "\(field).header.name must not be empty") }
            let set = [("exact", header.exact), ("prefix", header.prefix), ("regex", header.regex)]
                .compactMap { key, value in value.map { (key, $0) } }
            guard set.count == 1, let (kind, value) = set.first else {
                throw RoutingError(.invalidSpec, "\(field).header: set exactly one of exact, prefix and regex (found \(set.count))")
            }
            return (name, [kind: .string(value)])
        case (nil, let cookie?):
            guard !cookie.name.isEmpty else { throw RoutingError(.invalidSpec, "\(field).cookie.name must not be empty") }
            let pair = regexEscaped(cookie.name) + "=" + regexEscaped(cookie.value)
            return ("cookie", ["regex": .string("^(.*?;\\s*)?(\(pair))(;.*)?$")])
        default:
            throw RoutingError(.invalidSpec, "\(field): set exactly one of header and cookie")
        }
    }

    /// Escapes RE2 metacharacters so a cookie name or value matches literally.
    static func regexEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\.+*?()|[]{}^$".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    // MARK: Parsing

    enum Mirror: Hashable {
        case none
        /// Points at the canary: Sextant's; the `mirrorPercentage.value`, nil when unset.
        case canary(Double?)
        /// Anything else, described for the error.
        case other(String)
    }

    struct OwnedRoute {
        let index: Int
        let name: String?
        let object: [String: JSONValue]
        let entries: [JSONValue]
        let stableEntry: Int
        let canaryEntry: Int
        let stableWeight: Int?
        let canaryWeight: Int?
        let mirror: Mirror

        var label: String { name.map { "\"\($0)\"" } ?? "http[\(index)]" }
        var canaryDestination: JSONValue { entries[canaryEntry]["destination"] ?? .null }
    }

    struct Parsed {
        let label: String
        let namespace: String?
        let resourceVersion: String?
        let http: [JSONValue]
        let targets: RoutingTargets
        /// Sorted by index, never empty.
        let owned: [OwnedRoute]
        let abIndex: Int?

        init(_ vs: JSONValue, routing: RoutingSpec, rollout: String) throws(RoutingError) {
            guard let ref = routing.virtualService else {
                throw RoutingError(.invalidSpec, "spec.routing.virtualService is not set")
            }
            let fallback = ref.name
            label = objectLabel("VirtualService", vs, fallbackName: fallback)
            guard vs.objectValue != nil else {
                throw RoutingError(.invalidVirtualService, "VirtualService \(fallback) is \(vs.typeName), expected object")
            }
            namespace = vs[path: ["metadata", "namespace"]]?.stringValue
            resourceVersion = vs[path: ["metadata", "resourceVersion"]]?.stringValue
            targets = try RoutingTargets(routing, namespace: namespace)
            guard let spec = vs["spec"], spec.objectValue != nil else {
                throw RoutingError(.invalidVirtualService, "\(label) has no spec")
            }
            let http: [JSONValue]
            switch spec["http"] {
            case nil, .null?: http = []
            case .array(let array)?: http = array
            case let other?:
                throw RoutingError(.invalidVirtualService, "\(label): spec.http is \(other.typeName), expected array")
            }
            self.http = http
            let abName = VirtualServiceRouting.abTestRouteName(rollout: rollout)
            let abIndex = http.firstIndex { $0["name"]?.stringValue == abName }
            self.abIndex = abIndex
            let label = self.label, targets = self.targets, namespace = self.namespace

            var indices: [Int] = []
            let wanted = (ref.routes ?? []).filter { !$0.isEmpty }
            if wanted.isEmpty {
                indices = http.indices.filter {
                    !($0 == abIndex || (http[$0]["name"]?.stringValue ?? "").hasPrefix(VirtualServiceRouting.abTestRoutePrefix))
                }
                guard !indices.isEmpty else {
                    throw RoutingError(.routeNotFound, "\(label) has no http routes; Sextant needs at least one route with a stable and a canary destination")
                }
            } else {
                for name in wanted {
                    let found = http.indices.filter { http[$0]["name"]?.stringValue == name }
                    guard !found.isEmpty else {
                        let existing = http.indices.map { http[$0]["name"]?.stringValue.map { "\"\($0)\"" } ?? "http[\($0)] (unnamed)" }
                        throw RoutingError(.routeNotFound,
                                           "\(label) has no http route named \"\(name)\" (spec.routing.virtualService.routes); its routes: \(existing.isEmpty ? "none" : existing.joined(separator: ", "))")
                    }
                    indices += found
                }
                indices = Array(Set(indices)).sorted()
            }
            var owned: [OwnedRoute] = []
            for index in indices {
                owned.append(try Parsed.ownedRoute(index: index, http[index], label: label, targets: targets, namespace: namespace))
            }
            self.owned = owned
        }

        static func ownedRoute(index: Int, _ value: JSONValue, label: String, targets: RoutingTargets,
                               namespace: String?) throws(RoutingError) -> OwnedRoute {
            guard let object = value.objectValue else {
                throw RoutingError(.invalidVirtualService, "\(label): http[\(index)] is \(value.typeName), expected object")
            }
            let name = object["name"]?.stringValue
            let routeLabel = name.map { "\"\($0)\"" } ?? "http[\(index)]"
            let expected = "one destination to the stable (\(targets.stable.text)) and one to the canary (\(targets.canary.text))"
            guard let entries = object["route"]?.arrayValue, !entries.isEmpty else {
                throw RoutingError(.destinationNotFound,
                                   "\(label): route \(routeLabel) has no route destinations; it needs \(expected)")
            }
            var stable: [Int] = [], canary: [Int] = [], others: [(Int, String)] = []
            for (j, entry) in entries.enumerated() {
                guard let destination = entry["destination"], let host = destination["host"]?.stringValue else {
                    throw RoutingError(.invalidVirtualService,
                                       "\(label): route \(routeLabel) route[\(j)].destination.host is missing or not a string")
                }
                if let subset = destination["subset"], subset.stringValue == nil {
                    throw RoutingError(.invalidVirtualService,
                                       "\(label): route \(routeLabel) route[\(j)].destination.subset is \(subset.typeName), expected string")
                }
                if targets.stable.matches(destination, namespace: namespace) {
                    stable.append(j)
                } else if targets.canary.matches(destination, namespace: namespace) {
                    canary.append(j)
                } else {
                    others.append((j, destination["subset"]?.stringValue.map { "host \(host) subset \($0)" } ?? "host \(host)"))
                }
            }
            for (role, found, target) in [("stable", stable, targets.stable), ("canary", canary, targets.canary)] {
                if found.isEmpty {
                    throw RoutingError(.destinationNotFound,
                                       "\(label): route \(routeLabel) has no destination for the \(role) (\(target.text)); it needs \(expected)")
                }
                if found.count > 1 {
                    throw RoutingError(.unexpectedDestination,
                                       "\(label): route \(routeLabel) has \(found.count) destinations for the \(role) (\(target.text)) at route\(found); it needs exactly \(expected)")
                }
            }
            if let (j, text) = others.first {
                throw RoutingError(.unexpectedDestination,
                                   "\(label): route \(routeLabel) has a third destination, \(text) at route[\(j)]; Sextant owns the whole split of an owned route, so it must have exactly \(expected)")
            }
            let stableEntry = stable[0], canaryEntry = canary[0]
            func weight(_ j: Int) throws(RoutingError) -> Int? {
                guard let value = entries[j]["weight"], !value.isNull else { return nil }
                guard let int = value.intValue, let weight = Int(exactly: int) else {
                    throw RoutingError(.invalidVirtualService,
                                       "\(label): route \(routeLabel) route[\(j)].weight is \(value.jsonString()), expected an integer")
                }
                return weight
            }
            let mirror: Mirror
            if let value = object["mirror"], !value.isNull {
                if targets.canary.matches(value, namespace: namespace) {
                    var percent: Double?
                    if let share = object["mirrorPercentage"], !share.isNull {
                        guard let number = share["value"]?.doubleValue else {
                            throw RoutingError(.invalidVirtualService,
                                               "\(label): route \(routeLabel) mirrorPercentage.value is missing or not a number")
                        }
                        percent = number
                    }
                    mirror = .canary(percent)
                } else {
                    let host = value["host"]?.stringValue ?? value.jsonString()
                    mirror = .other(value["subset"]?.stringValue.map { "host \(host) subset \($0)" } ?? "host \(host)")
                }
            } else if let mirrors = object["mirrors"]?.arrayValue, !mirrors.isEmpty {
                let hosts = mirrors.map { $0["destination"]?["host"]?.stringValue ?? "?" }
                mirror = .other("\(hosts.joined(separator: ", ")) (mirrors)")
            } else {
                mirror = .none
            }
            return OwnedRoute(index: index, name: name, object: object, entries: entries,
                              stableEntry: stableEntry, canaryEntry: canaryEntry,
                              stableWeight: try weight(stableEntry), canaryWeight: try weight(canaryEntry),
                              mirror: mirror)
        }
    }
}

// MARK: Istio destinations

/// The stable and canary destinations of a RoutingSpec, and how to recognise them.
struct RoutingTargets: Sendable {
    struct Target: Sendable {
        let host: String
        let subset: String?
        let serviceHost: ServiceHost

        func matches(_ destination: JSONValue?, namespace: String?) -> Bool {
            guard let host = destination?["host"]?.stringValue else { return false }
            guard ServiceHost(host, defaultNamespace: namespace).matches(serviceHost) else { return false }
            return destination?["subset"]?.stringValue == subset
        }

        var text: String { subset.map { "host \(host) subset \($0)" } ?? "host \(host)" }
    }

    let stable: Target
    let canary: Target

    init(_ routing: RoutingSpec, namespace: String?) throws(RoutingError) {
        switch (routing.services, routing.destinationRule) {
        case (let services?, nil):
            guard !services.stable.isEmpty, !services.canary.isEmpty else {
                throw RoutingError(.invalidSpec, "spec.routing.services: stable and canary must name Services")
            }
            let stableHost = ServiceHost(services.stable, defaultNamespace: namespace)
            let canaryHost = ServiceHost(services.canary, defaultNamespace: namespace)
            guard !stableHost.matches(canaryHost) else {
                throw RoutingError(.invalidSpec, "spec.routing.services: stable and canary are the same Service \(services.stable)")
            }
            stable = Target(host: services.stable, subset: nil, serviceHost: stableHost)
            canary = Target(host: services.canary, subset: nil, serviceHost: canaryHost)
        case (nil, let rule?):
            let names = try SubsetNames(rule)
            let host = ServiceHost(rule.host, defaultNamespace: namespace)
            stable = Target(host: rule.host, subset: names.stable, serviceHost: host)
            canary = Target(host: rule.host, subset: names.canary, serviceHost: host)
        case (nil, nil):
            throw RoutingError(.invalidSpec, "spec.routing: set either services (host-level split) or destinationRule (subset-level split)")
        case (.some, .some):
            throw RoutingError(.invalidSpec, "spec.routing: services and destinationRule are exclusive; set only one")
        }
    }
}

/// The DestinationRule subset names with their defaults.
struct SubsetNames: Sendable {
    let stable: String
    let canary: String

    init(_ ref: DestinationRuleRef) throws(RoutingError) {
        stable = ref.stableSubset ?? "stable"
        canary = ref.canarySubset ?? "canary"
        guard !ref.host.isEmpty else {
            throw RoutingError(.invalidSpec, "spec.routing.destinationRule.host must not be empty")
        }
        guard !stable.isEmpty, !canary.isEmpty, stable != canary else {
            throw RoutingError(.invalidSpec,
                               "spec.routing.destinationRule: stableSubset and canarySubset must be two different non-empty names (got \"\(stable)\" and \"\(canary)\")")
        }
    }
}

// MARK: DestinationRule subsets

extension VersionSelectors {
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
}
