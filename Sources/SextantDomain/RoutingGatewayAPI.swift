import SextantAPI
import SextantJSON

/// Reads and patches the owned rules of a user's Gateway API HTTPRoute or GRPCRoute (as a
/// dynamic object: a missing field or a wrong type gives a `RoutingError`, never a crash).
///
/// Sextant owns, on each owned rule, only the `weight` of the two backendRefs that name the
/// stable and canary Services, its own `RequestMirror` filter (shadow: one that mirrors to the
/// canary Service) and the whole A/B rule named `sextant-ab-<rollout>`. Everything else is left
/// byte-for-byte as it is. Both kinds share the rule shape this reads (`rules[].matches[].headers`,
/// `rules[].filters`, `rules[].backendRefs`), so one implementation serves both.
public enum GatewayRouteRouting {
    /// Gateway API's default backendRef weight: an absent weight is 1, not 0.
    public static let defaultWeight = 1

    public static func observe(_ route: JSONValue, api: RoutingAPI, routing: RoutingSpec, rollout: String)
        throws(RoutingError) -> ObservedRouting
    {
        let parsed = try Parsed(route, api: api, routing: routing, rollout: rollout)
        return ObservedRouting(
            resourceVersion: parsed.resourceVersion,
            routes: parsed.owned.map { rule in
                ObservedRoute(index: rule.index, name: rule.name, stableWeight: rule.stableWeight ?? defaultWeight,
                              canaryWeight: rule.canaryWeight ?? defaultWeight, mirrorPercent: rule.mirror.percent)
            },
            abTestRouteIndex: parsed.abIndex)
    }

    public static func isRouting(_ route: JSONValue, api: RoutingAPI, routing: RoutingSpec, rollout: String,
                                 split: TrafficSplit) throws(RoutingError) -> Bool {
        try patch(for: route, api: api, routing: routing, rollout: rollout, split: split).isEmpty
    }

    /// RFC 6902 operations that make the owned rules route per `split`, touching nothing else;
    /// empty when they already do. Guarded like the VirtualService patch: a `test` of the
    /// resourceVersion, and of each changed rule's name and its stable/canary backendRef names.
    /// Edits of existing rules come first at their original indices; removing and inserting the
    /// A/B rule comes last.
    public static func patch(for route: JSONValue, api: RoutingAPI, routing: RoutingSpec, rollout: String,
                             split: TrafficSplit) throws(RoutingError) -> [JSONValue] {
        try split.validate()
        let parsed = try Parsed(route, api: api, routing: routing, rollout: rollout)
        var ops: [JSONValue] = []
        for rule in parsed.owned {
            ops += try ruleOps(rule, split: split, parsed: parsed, rollout: rollout)
        }
        ops += try abTestOps(parsed, split: split, rollout: rollout)
        guard !ops.isEmpty else { return [] }
        if let rv = parsed.resourceVersion {
            ops.insert(PatchOp.test(["metadata", "resourceVersion"], .string(rv)), at: 0)
        }
        return ops
    }

    // MARK: Owned rules

    private static func ruleOps(_ rule: OwnedRule, split: TrafficSplit, parsed: Parsed, rollout: String) throws(RoutingError) -> [JSONValue] {
        let base = ["spec", "rules", String(rule.index)]
        var ops: [JSONValue] = []
        for (entry, current, desired) in [(rule.stableEntry, rule.stableWeight, split.stableWeight),
                                          (rule.canaryEntry, rule.canaryWeight, split.canaryWeight)] {
            let path = base + ["backendRefs", String(entry), "weight"]
            if current == nil {
                ops.append(PatchOp.add(path, .int(Int64(desired))))
            } else if current != desired {
                ops.append(PatchOp.replace(path, .int(Int64(desired))))
            }
        }
        ops += try affinityOps(rule, cookie: split.sessionAffinity, parsed: parsed, rollout: rollout)
        var mirrorGuard: [JSONValue] = []
        if let percent = split.mirrorPercent {
            switch rule.mirror {
            case .other(let target):
                throw RoutingError(.conflictingMirror,
                                   "\(parsed.label): rule \(rule.label) already mirrors to \(target); Sextant mirrors only to the canary Service \(parsed.canary) and never replaces a mirror it did not set")
            case .none:
                var mirror: [String: JSONValue] = ["name": .string(parsed.canary)]
                if let port = rule.entries[rule.canaryEntry]["port"] { mirror["port"] = port }
                let filter: JSONValue = ["type": "RequestMirror",
                                         "requestMirror": ["backendRef": .object(mirror), "percent": .int(Int64(percent))]]
                if rule.object["filters"]?.arrayValue != nil {
                    ops.append(PatchOp.add(base + ["filters", "-"], filter))
                } else {
                    ops.append(PatchOp.add(base + ["filters"], [filter]))
                }
            case .canary(let index, let current):
                if current != Double(percent) {
                    let path = base + ["filters", String(index), "requestMirror"]
                    mirrorGuard.append(PatchOp.test(path + ["backendRef", "name"], .string(parsed.canary)))
                    ops.append(PatchOp.add(path + ["percent"], .int(Int64(percent))))
                    if rule.filters[index]["requestMirror"]?["fraction"] != nil { ops.append(PatchOp.remove(path + ["fraction"])) }
                }
            }
        } else if case .canary(let index, _) = rule.mirror {
            // Shadow is over: remove the filter only because it mirrors to the canary (ours).
            let path = base + ["filters", String(index)]
            mirrorGuard.append(PatchOp.test(path + ["requestMirror", "backendRef", "name"], .string(parsed.canary)))
            // The only filter: the whole list goes, as it was absent before the shadow stage.
            ops.append(PatchOp.remove(rule.filters.count == 1 ? base + ["filters"] : path))
        }
        guard !ops.isEmpty else { return [] }
        var guards: [JSONValue] = []
        if let name = rule.name { guards.append(PatchOp.test(base + ["name"], .string(name))) }
        for entry in [rule.stableEntry, rule.canaryEntry] {
            if let name = rule.entries[entry]["name"] {
                guards.append(PatchOp.test(base + ["backendRefs", String(entry), "name"], name))
            }
        }
        return guards + mirrorGuard + ops
    }

    // MARK: Session affinity

    /// Sextant's `ResponseHeaderModifier` filter on the canary backendRef: one that only adds a
    /// `Set-Cookie` whose value is Sextant's for `rollout`.
    static func isAffinityFilter(_ filter: JSONValue, rollout: String) -> Bool {
        guard filter["type"]?.stringValue == "ResponseHeaderModifier",
              let modifier = filter["responseHeaderModifier"]?.objectValue, modifier.count == 1,
              let add = modifier["add"]?.arrayValue, add.count == 1,
              add[0]["name"]?.stringValue?.lowercased() == "set-cookie",
              let value = add[0]["value"]?.stringValue else { return false }
        return AffinityCookie.isOurs(value, rollout: rollout)
    }

    static func affinityFilter(_ cookie: AffinityCookie) -> JSONValue {
        ["type": "ResponseHeaderModifier",
         "responseHeaderModifier": ["add": [["name": "Set-Cookie", "value": .string(cookie.setCookie)]]]]
    }

    /// Adds, updates or removes Sextant's filter on the canary backendRef; a replace or remove is
    /// guarded by a `test` of the filter as read. Another ResponseHeaderModifier there is the
    /// user's: the API allows one per backendRef, so that is a conflict, never an overwrite.
    private static func affinityOps(_ rule: OwnedRule, cookie: AffinityCookie?, parsed: Parsed, rollout: String)
        throws(RoutingError) -> [JSONValue]
    {
        let entry = ["spec", "rules", String(rule.index), "backendRefs", String(rule.canaryEntry)]
        let filters: [JSONValue]
        switch rule.entries[rule.canaryEntry]["filters"] {
        case nil, .null?: filters = []
        case .array(let array)?: filters = array
        case let other?:
            throw RoutingError(.invalidGatewayRoute,
                               "\(parsed.label): rule \(rule.label) backendRefs[\(rule.canaryEntry)].filters is \(other.typeName), expected array")
        }
        let ours = filters.firstIndex { isAffinityFilter($0, rollout: rollout) }
        guard let cookie else {
            guard let ours else { return [] }
            let path = filters.count == 1 ? entry + ["filters"] : entry + ["filters", String(ours)]
            return [PatchOp.test(entry + ["filters", String(ours)], filters[ours]), PatchOp.remove(path)]
        }
        let desired = affinityFilter(cookie)
        if let ours {
            if filters[ours] == desired { return [] }
            let path = entry + ["filters", String(ours)]
            return [PatchOp.test(path, filters[ours]), PatchOp.replace(path, desired)]
        }
        if filters.contains(where: { $0["type"]?.stringValue == "ResponseHeaderModifier" }) {
            throw RoutingError(.conflictingHeader,
                               "\(parsed.label): rule \(rule.label): the canary backendRef already has a ResponseHeaderModifier filter; Sextant's session affinity (spec.analysis.sessionAffinity) needs the only one the API allows and never replaces a filter it did not set")
        }
        return filters.isEmpty ? [PatchOp.add(entry + ["filters"], [desired])] : [PatchOp.add(entry + ["filters", "-"], desired)]
    }

    // MARK: A/B rule

    private static func abTestOps(_ parsed: Parsed, split: TrafficSplit, rollout: String) throws(RoutingError) -> [JSONValue] {
        let name = VirtualServiceRouting.abTestRouteName(rollout: rollout)
        let nameValue = JSONValue.string(name)
        guard let matches = split.matchRoute else {
            guard let current = parsed.abIndex else { return [] }
            return [PatchOp.test(["spec", "rules", String(current), "name"], nameValue),
                    PatchOp.remove(["spec", "rules", String(current)])]
        }
        let desired = try abTestRule(name: name, parsed: parsed, matches: matches, rollout: rollout)
        guard let first = parsed.owned.first else { return [] }
        let firstGuard = first.name.map { PatchOp.test(["spec", "rules", String(first.index), "name"], .string($0)) }
        guard let current = parsed.abIndex else {
            return (firstGuard.map { [$0] } ?? []) + [PatchOp.add(["spec", "rules", String(first.index)], desired)]
        }
        let currentPath = ["spec", "rules", String(current)]
        // Gateway API orders rules by match precedence, not position (the A/B rule wins by its
        // extra header match), so a moved A/B rule is only rewritten when its content differs.
        if parsed.rules[current].numericallyEqual(to: desired) { return [] }
        return [PatchOp.test(currentPath + ["name"], nameValue), PatchOp.replace(currentPath, desired)]
    }

    /// The A/B rule: each owned rule's matches with the A/B header conditions added (so it never
    /// catches requests the owned rules would not), the first owned rule's filters (its mirror
    /// excepted) and timeouts, and one backendRef: the canary, as the first owned rule writes it.
    static func abTestRule(name: String, parsed: Parsed, matches: [ABMatch], rollout: String) throws(RoutingError) -> JSONValue {
        guard let first = parsed.owned.first else {
            throw RoutingError(.routeNotFound, "\(parsed.label) has no owned rule")
        }
        var conditions: [JSONValue] = []
        for (index, match) in matches.enumerated() {
            conditions.append(try headerMatch(match, field: "spec.strategy.abTest.match[\(index)]"))
        }
        var blocks: [JSONValue] = []
        for rule in parsed.owned {
            let baseBlocks: [JSONValue]
            switch rule.object["matches"] {
            case nil, .null?: baseBlocks = [[:]]
            case .array(let array)? where array.isEmpty: baseBlocks = [[:]]
            case .array(let array)?: baseBlocks = array
            case let other?:
                throw RoutingError(.invalidGatewayRoute, "\(parsed.label): rule \(rule.label) has matches of type \(other.typeName), expected array")
            }
            for (blockIndex, base) in baseBlocks.enumerated() {
                guard case .object(var block) = base else {
                    throw RoutingError(.invalidGatewayRoute, "\(parsed.label): rule \(rule.label) matches[\(blockIndex)] is \(base.typeName), expected object")
                }
                var headers: [JSONValue]
                switch block["headers"] {
                case nil, .null?: headers = []
                case .array(let array)?: headers = array
                case let other?:
                    throw RoutingError(.invalidGatewayRoute,
                                       "\(parsed.label): rule \(rule.label) matches[\(blockIndex)].headers is \(other.typeName), expected array")
                }
                for condition in conditions {
                    let header = condition["name"]?.stringValue?.lowercased() ?? ""
                    if headers.contains(where: { $0["name"]?.stringValue?.lowercased() == header }) {
                        throw RoutingError(.conflictingMatch,
                                           "\(parsed.label): rule \(rule.label) matches[\(blockIndex)] already matches header \"\(header)\", which the A/B match needs; use another header or cookie")
                    }
                    block["headers"] = .array(headers + [condition])
                    let candidate = JSONValue.object(block)
                    if !blocks.contains(candidate) { blocks.append(candidate) }
                }
            }
        }
        var object: [String: JSONValue] = ["name": .string(name), "matches": .array(blocks)]
        let filters = first.filters.enumerated().filter { index, _ in
            if case .canary(let mirror, _) = first.mirror { return index != mirror }
            return true
        }.map(\.1)
        if !filters.isEmpty { object["filters"] = .array(filters) }
        if let timeouts = first.object["timeouts"] { object["timeouts"] = timeouts }
        var backend = first.entries[first.canaryEntry].objectValue ?? [:]
        backend["weight"] = .int(Int64(defaultWeight))
        // Sextant's affinity filter stays on the owned rule only, so this rule reads the same
        // before and after the patch that adds or removes it.
        if let filters = backend["filters"]?.arrayValue {
            let kept = filters.filter { !isAffinityFilter($0, rollout: rollout) }
            backend["filters"] = kept.isEmpty ? nil : .array(kept)
        }
        object["backendRefs"] = [.object(backend)]
        return .object(object)
    }

    /// An A/B match as a Gateway API header match. The API has Exact and RegularExpression only:
    /// a prefix becomes an anchored regex of the escaped prefix, and a cookie a regex on the
    /// `cookie` header (the same one the VirtualService router writes).
    public static func headerMatch(_ match: ABMatch, field: String) throws(RoutingError) -> JSONValue {
        let (header, condition) = try VirtualServiceRouting.headerCondition(match, field: field)
        if let exact = condition["exact"]?.stringValue {
            return ["type": "Exact", "name": .string(header), "value": .string(exact)]
        }
        if let prefix = condition["prefix"]?.stringValue {
            return ["type": "RegularExpression", "name": .string(header),
                    "value": .string("^" + VirtualServiceRouting.regexEscaped(prefix) + ".*")]
        }
        return ["type": "RegularExpression", "name": .string(header), "value": condition["regex"] ?? ""]
    }

    // MARK: Parsing

    enum Mirror: Hashable {
        case none
        /// Filter `index` mirrors to the canary Service (Sextant's); its percent (100 when unset).
        case canary(index: Int, percent: Double)
        case other(String)

        var percent: Double? {
            if case .canary(_, let percent) = self { return percent }
            return nil
        }
    }

    struct OwnedRule {
        let index: Int
        let name: String?
        let object: [String: JSONValue]
        let entries: [JSONValue]
        let filters: [JSONValue]
        let stableEntry: Int
        let canaryEntry: Int
        let stableWeight: Int?
        let canaryWeight: Int?
        let mirror: Mirror

        var label: String { name.map { "\"\($0)\"" } ?? "rules[\(index)]" }
    }

    struct Parsed {
        let label: String
        let namespace: String?
        let resourceVersion: String?
        let rules: [JSONValue]
        let stable: String
        let canary: String
        /// Sorted by index, never empty.
        let owned: [OwnedRule]
        let abIndex: Int?

        init(_ route: JSONValue, api: RoutingAPI, routing: RoutingSpec, rollout: String) throws(RoutingError) {
            let field = api == .grpcRoute ? "grpcRoute" : "httpRoute"
            guard let ref = api == .grpcRoute ? routing.grpcRoute : routing.httpRoute else {
                throw RoutingError(.invalidSpec, "spec.routing.\(field) is not set")
            }
            guard let services = routing.services, routing.destinationRule == nil else {
                throw RoutingError(.invalidSpec, "spec.routing.\(field) needs spec.routing.services (the stable and canary Services its backendRefs name) and no destinationRule")
            }
            guard !services.stable.isEmpty, !services.canary.isEmpty, services.stable != services.canary else {
                throw RoutingError(.invalidSpec, "spec.routing.services: stable and canary must name two different Services")
            }
            stable = services.stable
            canary = services.canary
            label = objectLabel(api.rawValue, route, fallbackName: ref.name)
            guard route.objectValue != nil else {
                throw RoutingError(.invalidGatewayRoute, "\(api.rawValue) \(ref.name) is \(route.typeName), expected object")
            }
            namespace = route[path: ["metadata", "namespace"]]?.stringValue
            resourceVersion = route[path: ["metadata", "resourceVersion"]]?.stringValue
            let rules: [JSONValue]
            switch route[path: ["spec", "rules"]] {
            case nil, .null?: rules = []
            case .array(let array)?: rules = array
            case let other?: throw RoutingError(.invalidGatewayRoute, "\(label): spec.rules is \(other.typeName), expected array")
            }
            self.rules = rules
            let abName = VirtualServiceRouting.abTestRouteName(rollout: rollout)
            abIndex = rules.firstIndex { $0["name"]?.stringValue == abName }
            let label = self.label, abIndex = self.abIndex

            var indices: [Int] = []
            let wanted = (ref.rules ?? []).filter { !$0.isEmpty }
            if wanted.isEmpty {
                indices = rules.indices.filter {
                    !($0 == abIndex || (rules[$0]["name"]?.stringValue ?? "").hasPrefix(VirtualServiceRouting.abTestRoutePrefix))
                }
                guard !indices.isEmpty else {
                    throw RoutingError(.routeNotFound, "\(label) has no rules; Sextant needs at least one rule with a stable and a canary backendRef")
                }
            } else {
                for name in wanted {
                    let found = rules.indices.filter { rules[$0]["name"]?.stringValue == name }
                    guard !found.isEmpty else {
                        let existing = rules.indices.map { rules[$0]["name"]?.stringValue.map { "\"\($0)\"" } ?? "rules[\($0)] (unnamed)" }
                        throw RoutingError(.routeNotFound,
                                           "\(label) has no rule named \"\(name)\" (spec.routing.\(field).rules); its rules: \(existing.isEmpty ? "none" : existing.joined(separator: ", "))")
                    }
                    indices += found
                }
                indices = Array(Set(indices)).sorted()
            }
            var owned: [OwnedRule] = []
            for index in indices {
                owned.append(try Self.ownedRule(index: index, rules[index], label: label, stable: stable, canary: canary,
                                                namespace: namespace))
            }
            self.owned = owned
        }

        /// A backendRef names Service `name` when its group/kind are the core Service (or
        /// absent) and its namespace is the route's (or absent).
        static func names(_ ref: JSONValue, _ name: String, namespace: String?) -> Bool {
            guard ref["name"]?.stringValue == name else { return false }
            if let group = ref["group"]?.stringValue, !group.isEmpty { return false }
            if let kind = ref["kind"]?.stringValue, kind != "Service" { return false }
            if let ns = ref["namespace"]?.stringValue, let namespace, ns != namespace { return false }
            return true
        }

        static func ownedRule(index: Int, _ value: JSONValue, label: String, stable: String, canary: String,
                              namespace: String?) throws(RoutingError) -> OwnedRule {
            guard let object = value.objectValue else {
                throw RoutingError(.invalidGatewayRoute, "\(label): rules[\(index)] is \(value.typeName), expected object")
            }
            let name = object["name"]?.stringValue
            let ruleLabel = name.map { "\"\($0)\"" } ?? "rules[\(index)]"
            let expected = "one backendRef to the stable Service \(stable) and one to the canary Service \(canary)"
            guard let entries = object["backendRefs"]?.arrayValue, !entries.isEmpty else {
                throw RoutingError(.destinationNotFound, "\(label): rule \(ruleLabel) has no backendRefs; it needs \(expected)")
            }
            var stableFound: [Int] = [], canaryFound: [Int] = [], others: [(Int, String)] = []
            for (j, entry) in entries.enumerated() {
                guard let backend = entry["name"]?.stringValue else {
                    throw RoutingError(.invalidGatewayRoute, "\(label): rule \(ruleLabel) backendRefs[\(j)].name is missing or not a string")
                }
                if names(entry, stable, namespace: namespace) {
                    stableFound.append(j)
                } else if names(entry, canary, namespace: namespace) {
                    canaryFound.append(j)
                } else {
                    others.append((j, backend))
                }
            }
            for (role, found, service) in [("stable", stableFound, stable), ("canary", canaryFound, canary)] {
                if found.isEmpty {
                    throw RoutingError(.destinationNotFound,
                                       "\(label): rule \(ruleLabel) has no backendRef for the \(role) Service \(service); it needs \(expected)")
                }
                if found.count > 1 {
                    throw RoutingError(.unexpectedDestination,
                                       "\(label): rule \(ruleLabel) has \(found.count) backendRefs for the \(role) Service \(service) at backendRefs\(found); it needs exactly \(expected)")
                }
            }
            if let (j, text) = others.first {
                throw RoutingError(.unexpectedDestination,
                                   "\(label): rule \(ruleLabel) has a third backendRef, \(text) at backendRefs[\(j)]; Sextant owns the whole split of an owned rule, so it must have exactly \(expected)")
            }
            func weight(_ j: Int) throws(RoutingError) -> Int? {
                guard let value = entries[j]["weight"], !value.isNull else { return nil }
                guard let int = value.intValue, let weight = Int(exactly: int) else {
                    throw RoutingError(.invalidGatewayRoute, "\(label): rule \(ruleLabel) backendRefs[\(j)].weight is \(value.jsonString()), expected an integer")
                }
                return weight
            }
            let filters: [JSONValue]
            switch object["filters"] {
            case nil, .null?: filters = []
            case .array(let array)?: filters = array
            case let other?: throw RoutingError(.invalidGatewayRoute, "\(label): rule \(ruleLabel) filters is \(other.typeName), expected array")
            }
            var mirror = Mirror.none
            for (k, filter) in filters.enumerated() where filter["type"]?.stringValue == "RequestMirror" {
                let target = filter["requestMirror"]?["backendRef"] ?? .null
                if names(target, canary, namespace: namespace), case .none = mirror {
                    let share = filter["requestMirror"]
                    var percent = 100.0
                    if let value = share?["percent"]?.doubleValue {
                        percent = value
                    } else if let numerator = share?["fraction"]?["numerator"]?.doubleValue {
                        percent = 100 * numerator / (share?["fraction"]?["denominator"]?.doubleValue ?? 100)
                    }
                    mirror = .canary(index: k, percent: percent)
                } else {
                    mirror = .other("Service \(target["name"]?.stringValue ?? target.jsonString())")
                    break
                }
            }
            return OwnedRule(index: index, name: name, object: object, entries: entries, filters: filters,
                             stableEntry: stableFound[0], canaryEntry: canaryFound[0],
                             stableWeight: try weight(stableFound[0]), canaryWeight: try weight(canaryFound[0]), mirror: mirror)
        }
    }
}
