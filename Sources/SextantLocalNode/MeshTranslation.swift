import SextantDomain
import SextantJSON

// The local data plane's pure half: an Istio VirtualService, the DestinationRules and Services of
// its namespace and the Pods the node runs → what HAProxy must do for that host. No I/O: the
// process half (MeshProxy.swift) writes the configuration and sends the weight commands.
// docs/local-node.md ("Data plane") lists what is translated and what is not.

/// One ready Pod behind a destination.
public struct MeshServer: Sendable, Hashable {
    /// HAProxy server name: unique in its backend, stable while the Pod lives.
    public var name: String
    /// `127.0.0.1:PORT`, the Pod's `mlops.sextant.dev/local-endpoint`.
    public var address: String
    /// 0...256, HAProxy's range; the destination's share split over its Pods.
    public var weight: Int
    /// Which destination of the route (index) the server belongs to.
    public var destination: Int
}

/// One HTTP route: its match blocks (OR of ANDs; none = matches everything) and its servers.
public struct MeshRoute: Sendable, Hashable {
    /// `http[i]` or the route's name, for messages.
    public var label: String
    /// HAProxy backend name.
    public var backend: String
    /// Each block is a list of HAProxy ACL expressions that must all hold.
    public var matchBlocks: [[String]]
    public var servers: [MeshServer]
    /// The route's destinations as written (`host/subset`) with their weights, for messages.
    public var destinations: [(name: String, weight: Int, endpoints: Int)]
    /// A destination's `headers.response` (e.g. session affinity's `Set-Cookie` on the canary).
    public var responseHeaders: [MeshResponseHeader] = []

    public static func == (a: MeshRoute, b: MeshRoute) -> Bool {
        a.label == b.label && a.backend == b.backend && a.matchBlocks == b.matchBlocks && a.servers == b.servers
            && a.responseHeaders == b.responseHeaders
            && a.destinations.map(\.name) == b.destinations.map(\.name)
            && a.destinations.map(\.weight) == b.destinations.map(\.weight)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(backend)
        hasher.combine(servers)
    }
}

/// One of a destination's `headers.response` operations, applied to responses of its servers.
public struct MeshResponseHeader: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable { case add, set, remove }
    public var destination: Int
    public var action: Action
    public var name: String
    /// Empty for `remove`.
    public var value: String
}

/// What HAProxy does for one VirtualService.
public struct MeshPlan: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var routes: [MeshRoute]
    /// Fields of the VirtualService that the local data plane ignores (traffic is routed without
    /// them), e.g. `spec.http[1].mirror`: reported once as an Event.
    public var gaps: [String]

    /// Same frontends, backends and servers: only weights may differ, which the runtime API changes
    /// without a reload.
    public func sameShape(as other: MeshPlan) -> Bool {
        guard namespace == other.namespace, name == other.name, routes.count == other.routes.count else { return false }
        return zip(routes, other.routes).allSatisfy { a, b in
            a.backend == b.backend && a.matchBlocks == b.matchBlocks && a.responseHeaders == b.responseHeaders
                && a.servers.map { [$0.name, $0.address] } == b.servers.map { [$0.name, $0.address] }
        }
    }

    /// HAProxy runtime API commands that turn `old`'s weights into these (same shape).
    public func weightCommands(from old: MeshPlan) -> [String] {
        var commands: [String] = []
        for (route, before) in zip(routes, old.routes) {
            for (server, previous) in zip(route.servers, before.servers) where server.weight != previous.weight {
                commands.append("set weight \(route.backend)/\(server.name) \(server.weight)")
            }
        }
        return commands
    }
}

/// A VirtualService the local data plane cannot route as Istio would. The field is a JSON path
/// (`spec.http[0].rewrite`); traffic stays on the configuration applied before.
public struct MeshTranslationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}

public enum MeshTranslator {
    /// Route fields that change where or how a request is answered: not translated, so a
    /// VirtualService using them is refused rather than routed differently from Istio.
    static let refusedRouteFields = ["rewrite", "redirect", "directResponse", "delegate"]
    /// Route fields that do not change which destination answers: ignored, reported as gaps.
    /// HAProxy 2.6 has no request mirroring (only through an external SPOE agent).
    static let ignoredRouteFields = ["mirror", "mirrors", "mirrorPercentage", "mirrorPercent", "timeout", "retries",
                                     "fault", "headers", "corsPolicy"]
    static let knownRouteFields = Set(["name", "match", "route"] + refusedRouteFields + ignoredRouteFields)
    /// HTTPMatchRequest fields translated to ACLs; `name` and `statPrefix` only label.
    static let matchFields = Set(["uri", "headers", "method", "authority", "queryParams", "ignoreUriCase", "name",
                                  "statPrefix"])

    /// The HAProxy plan of one VirtualService.
    /// - Parameters:
    ///   - destinationRules, services, pods: objects of any namespace (filtered here).
    ///   - endpointAnnotation: where a Pod's local address is (`LocalNode.endpointAnnotation`).
    public static func plan(virtualService vs: JSONValue, destinationRules: [JSONValue], services: [JSONValue],
                            pods: [JSONValue], endpointAnnotation: String) throws(MeshTranslationError) -> MeshPlan {
        let namespace = vs[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let name = vs[path: ["metadata", "name"]]?.stringValue ?? ""
        var gaps: [String] = []
        for key in (vs["spec"]?.objectValue ?? [:]).keys.sorted() where key == "tcp" || key == "tls" {
            gaps.append("spec.\(key)")
        }
        guard let http = vs[path: ["spec", "http"]]?.arrayValue, !http.isEmpty else {
            throw MeshTranslationError(field: "spec.http", message: "no HTTP routes")
        }
        let readyPods = pods.filter(isServing).filter { $0[path: ["metadata", "annotations", endpointAnnotation]]?.stringValue != nil }
        var routes: [MeshRoute] = []
        for (i, route) in http.enumerated() {
            let field = "spec.http[\(i)]"
            guard let fields = route.objectValue else {
                throw MeshTranslationError(field: field, message: "expected an object, found \(route.typeName)")
            }
            for key in fields.keys.sorted() {
                if refusedRouteFields.contains(key) {
                    throw MeshTranslationError(field: "\(field).\(key)", message: "not supported by the local data plane")
                }
                if ignoredRouteFields.contains(key) { gaps.append("\(field).\(key)") }
                if !knownRouteFields.contains(key) {
                    throw MeshTranslationError(field: "\(field).\(key)", message: "unknown to the local data plane")
                }
            }
            let label = route["name"]?.stringValue.map { "\"\($0)\"" } ?? "http[\(i)]"
            let blocks = try matchBlocks(route["match"], field: "\(field).match")
            guard let destinations = route["route"]?.arrayValue, !destinations.isEmpty else {
                throw MeshTranslationError(field: "\(field).route", message: "no destinations")
            }
            var described: [(name: String, weight: Int, endpoints: Int)] = []
            var responseHeaders: [MeshResponseHeader] = []
            var perDestination: [(weight: Int, pods: [(name: String, address: String)])] = []
            for (j, destination) in destinations.enumerated() {
                let dfield = "\(field).route[\(j)]"
                guard let host = destination[path: ["destination", "host"]]?.stringValue, !host.isEmpty else {
                    throw MeshTranslationError(field: "\(dfield).destination.host", message: "missing")
                }
                let subset = destination[path: ["destination", "subset"]]?.stringValue
                responseHeaders += try destinationHeaders(destination["headers"], destination: j, field: "\(dfield).headers",
                                                          gaps: &gaps)
                let weight: Int
                if let w = destination["weight"] {
                    guard let value = w.intValue, (0...100).contains(value) else {
                        throw MeshTranslationError(field: "\(dfield).weight", message: "expected 0...100, found \(w)")
                    }
                    weight = Int(value)
                } else {
                    // Istio: a single destination takes everything; with several, absent is 0.
                    weight = destinations.count == 1 ? 100 : 0
                }
                let selector = try podSelector(host: host, subset: subset, namespace: namespace,
                                               destinationRules: destinationRules, services: services, field: dfield)
                let matching = readyPods.filter { pod in
                    pod[path: ["metadata", "namespace"]]?.stringValue == selector.namespace
                        && selector.labels.allSatisfy { pod[path: ["metadata", "labels", $0.key]]?.stringValue == $0.value }
                }.sorted { ($0[path: ["metadata", "name"]]?.stringValue ?? "") < ($1[path: ["metadata", "name"]]?.stringValue ?? "") }
                perDestination.append((weight, matching.map {
                    ($0[path: ["metadata", "name"]]?.stringValue ?? "",
                     $0[path: ["metadata", "annotations", endpointAnnotation]]?.stringValue ?? "")
                }))
                described.append((subset.map { "\(host)/\($0)" } ?? host, weight, matching.count))
            }
            let weights = serverWeights(perDestination.map { ($0.weight, $0.pods.count) })
            var servers: [MeshServer] = []
            for (j, destination) in perDestination.enumerated() {
                for pod in destination.pods {
                    servers.append(MeshServer(name: "d\(j)-\(pod.name)", address: pod.address, weight: weights[j],
                                              destination: j))
                }
            }
            routes.append(MeshRoute(label: label, backend: "vs:\(namespace):\(name):\(i)", matchBlocks: blocks,
                                    servers: servers, destinations: described, responseHeaders: responseHeaders))
        }
        return MeshPlan(namespace: namespace, name: name, routes: routes, gaps: gaps)
    }

    /// Running, Ready, not being deleted.
    static func isServing(_ pod: JSONValue) -> Bool {
        guard pod[path: ["metadata", "deletionTimestamp"]] == nil,
              pod[path: ["status", "phase"]]?.stringValue == "Running" else { return false }
        return (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains {
            $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True"
        }
    }

    /// Per-server HAProxy weight of each destination, so that the destinations' shares are their
    /// route weights: weight W over n Pods gives each W·L/n with L the least common multiple of the
    /// Pod counts, scaled into HAProxy's 1...256 when larger. A destination without Pods gets no
    /// traffic (Envoy would answer 503 for its share; here the other destinations take it).
    static func serverWeights(_ destinations: [(weight: Int, pods: Int)]) -> [Int] {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let counts = destinations.filter { $0.weight > 0 && $0.pods > 0 }.map(\.pods)
        let lcm = counts.reduce(1) { $0 / gcd($0, $1) * $1 }
        let exact = destinations.map { $0.weight > 0 && $0.pods > 0 ? Double($0.weight * lcm) / Double($0.pods) : 0 }
        let largest = exact.max() ?? 0
        guard largest > 256 else { return exact.map { Int($0) } }
        return exact.map { $0 == 0 ? 0 : max(1, Int(($0 * 256 / largest).rounded())) }
    }

    /// The labels a destination's Pods carry: the Service's selector (when the Service exists)
    /// and the subset's labels from the DestinationRule of that host.
    static func podSelector(host: String, subset: String?, namespace: String, destinationRules: [JSONValue],
                            services: [JSONValue], field: String) throws(MeshTranslationError)
        -> (namespace: String, labels: [String: String]) {
        let target = ServiceHost(host, defaultNamespace: namespace)
        guard case .service(let serviceName, let serviceNamespace?) = target.form else {
            throw MeshTranslationError(field: "\(field).destination.host",
                                       message: "\(host) is not a Kubernetes Service host (the local node has no external hosts)")
        }
        var labels: [String: String] = [:]
        let service = services.first {
            $0[path: ["metadata", "name"]]?.stringValue == serviceName
                && $0[path: ["metadata", "namespace"]]?.stringValue == serviceNamespace
        }
        if let service {
            for (k, v) in service[path: ["spec", "selector"]]?.objectValue ?? [:] { labels[k] = v.stringValue }
        }
        if let subset {
            let rule = destinationRules.first { rule in
                guard let ruleHost = rule[path: ["spec", "host"]]?.stringValue else { return false }
                let ruleNamespace = rule[path: ["metadata", "namespace"]]?.stringValue
                return ServiceHost(ruleHost, defaultNamespace: ruleNamespace).matches(target)
            }
            guard let rule else {
                throw MeshTranslationError(field: "\(field).destination.subset",
                                           message: "no DestinationRule for host \(host) defines subset \(subset)")
            }
            guard let definition = (rule[path: ["spec", "subsets"]]?.arrayValue ?? []).first(where: {
                $0["name"]?.stringValue == subset
            }) else {
                throw MeshTranslationError(field: "\(field).destination.subset",
                                           message: "DestinationRule \(rule[path: ["metadata", "name"]]?.stringValue ?? "") has no subset \(subset)")
            }
            for (k, v) in definition["labels"]?.objectValue ?? [:] { labels[k] = v.stringValue }
        } else if service == nil {
            throw MeshTranslationError(field: "\(field).destination.host",
                                       message: "Service \(serviceNamespace)/\(serviceName) not found (and no subset)")
        }
        guard !labels.isEmpty else {
            throw MeshTranslationError(field: "\(field).destination",
                                       message: "selects every Pod of the namespace (no Service selector, no subset labels)")
        }
        return (serviceNamespace, labels)
    }

    // MARK: Matches

    /// `match` → HAProxy ACL blocks. Absent or empty: one empty block (matches everything).
    static func matchBlocks(_ match: JSONValue?, field: String) throws(MeshTranslationError) -> [[String]] {
        guard let match, !match.isNull else { return [] }
        guard let blocks = match.arrayValue else {
            throw MeshTranslationError(field: field, message: "expected an array, found \(match.typeName)")
        }
        var result: [[String]] = []
        for (k, block) in blocks.enumerated() {
            let bfield = "\(field)[\(k)]"
            guard let fields = block.objectValue else {
                throw MeshTranslationError(field: bfield, message: "expected an object, found \(block.typeName)")
            }
            for key in fields.keys.sorted() where !matchFields.contains(key) {
                throw MeshTranslationError(field: "\(bfield).\(key)", message: "not supported by the local data plane")
            }
            let ignoreCase = fields["ignoreUriCase"]?.boolValue == true
            var acls: [String] = []
            if let uri = fields["uri"] {
                acls.append(try stringMatch(uri, fetch: "path", field: "\(bfield).uri", ignoreCase: ignoreCase))
            }
            if let method = fields["method"] {
                acls.append(try stringMatch(method, fetch: "method", field: "\(bfield).method", ignoreCase: false))
            }
            if let authority = fields["authority"] {
                acls.append(try stringMatch(authority, fetch: "req.fhdr(host)", field: "\(bfield).authority", ignoreCase: false))
            }
            for (kind, fetch) in [("headers", "req.fhdr"), ("queryParams", "url_param")] {
                guard let entries = fields[kind] else { continue }
                guard let object = entries.objectValue else {
                    throw MeshTranslationError(field: "\(bfield).\(kind)", message: "expected an object, found \(entries.typeName)")
                }
                for key in object.keys.sorted() {
                    guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                        throw MeshTranslationError(field: "\(bfield).\(kind).\(key)", message: "name not expressible in HAProxy")
                    }
                    // Istio: header names are lowercase; HAProxy compares names case-insensitively.
                    acls.append(try stringMatch(object[key] ?? .null, fetch: "\(fetch)(\(key))",
                                                field: "\(bfield).\(kind).\(key)", ignoreCase: false))
                }
            }
            result.append(acls)
        }
        return result
    }

    /// A destination's `headers`: `response.add/set/remove` become HAProxy `http-response`
    /// rules for that destination's servers (session affinity's `Set-Cookie` among them);
    /// `request` is a gap. A field that cannot be expressed names itself, never drops silently.
    static func destinationHeaders(_ headers: JSONValue?, destination: Int, field: String, gaps: inout [String])
        throws(MeshTranslationError) -> [MeshResponseHeader]
    {
        guard let headers, !headers.isNull else { return [] }
        guard let object = headers.objectValue else {
            throw MeshTranslationError(field: field, message: "expected an object, found \(headers.typeName)")
        }
        var result: [MeshResponseHeader] = []
        for key in object.keys.sorted() {
            switch key {
            case "request": gaps.append("\(field).request")
            case "response":
                guard let response = object[key]?.objectValue else {
                    throw MeshTranslationError(field: "\(field).response", message: "expected an object")
                }
                for op in response.keys.sorted() {
                    let ofield = "\(field).response.\(op)"
                    let names: [(String, String)]
                    switch (op, response[op]) {
                    case ("add", .object(let map)?), ("set", .object(let map)?):
                        var pairs: [(String, String)] = []
                        for name in map.keys.sorted() {
                            guard let value = map[name]?.stringValue else {
                                throw MeshTranslationError(field: "\(ofield).\(name)", message: "expected a string")
                            }
                            pairs.append((name, value))
                        }
                        names = pairs
                    case ("remove", .array(let list)?):
                        names = list.compactMap { $0.stringValue.map { ($0, "") } }
                    default:
                        throw MeshTranslationError(field: ofield, message: "not supported by the local data plane (add, set: maps; remove: a list)")
                    }
                    for (name, value) in names {
                        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }) else {
                            throw MeshTranslationError(field: "\(ofield).\(name)", message: "header name not expressible in HAProxy")
                        }
                        result.append(MeshResponseHeader(destination: destination, action: .init(rawValue: op) ?? .add,
                                                         name: name, value: value))
                    }
                }
            default:
                throw MeshTranslationError(field: "\(field).\(key)", message: "unknown to the local data plane")
            }
        }
        return result
    }

    /// Istio's StringMatch (`exact`, `prefix`, `regex`: RE2, whole value) as one anonymous ACL.
    static func stringMatch(_ value: JSONValue, fetch: String, field: String, ignoreCase: Bool) throws(MeshTranslationError) -> String {
        guard let object = value.objectValue, object.count == 1, let (kind, operand) = object.first,
              let text = operand.stringValue else {
            throw MeshTranslationError(field: field, message: "expected one of exact, prefix or regex with a string")
        }
        let flag = ignoreCase ? " -i" : ""
        switch kind {
        case "exact": return "{ \(fetch)\(flag) -m str \(quoted(text)) }"
        case "prefix": return "{ \(fetch)\(flag) -m beg \(quoted(text)) }"
        case "regex": return "{ \(fetch)\(flag) -m reg \(quoted("^(?:" + text + ")$")) }"
        default: throw MeshTranslationError(field: "\(field).\(kind)", message: "not supported (exact, prefix, regex)")
        }
    }

    /// HAProxy strong quoting: nothing inside '...' is interpreted; a quote is closed, escaped, reopened.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
