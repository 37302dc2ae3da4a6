import SextantJSON

/// Core `v1` Events and `events.k8s.io/v1` Events are one resource, stored once, as in
/// kube-apiserver: an Event written through either API is listed, watched and selected through
/// both. Objects are stored in the core form; `events.k8s.io/v1` bodies are converted on the way
/// in and out with the field mapping of Kubernetes' conversion
/// (`pkg/apis/events/v1/conversion.go`: `regarding`↔`involvedObject`, `note`↔`message`,
/// `deprecatedSource`↔`source`, `deprecated{Count,FirstTimestamp,LastTimestamp}`↔
/// `{count,firstTimestamp,lastTimestamp}`; `reportingController` is the internal field that core
/// `v1` serializes as `reportingComponent`; the other fields keep their names).
enum EventConversion {
    static let group = "events.k8s.io"

    /// `events.k8s.io/v1` name → core `v1` name, for the fields whose names differ.
    static let renamed: [(eventsV1: String, core: String)] = [
        ("regarding", "involvedObject"), ("note", "message"), ("deprecatedSource", "source"),
        ("deprecatedCount", "count"), ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"), ("reportingController", "reportingComponent"),
    ]
    /// Fields with the same name and shape in both versions.
    static let shared = ["metadata", "eventTime", "series", "action", "reason", "related", "type", "reportingInstance"]

    static func isEventsV1(_ type: ResourceType) -> Bool { type.group == group && type.plural == "events" }

    /// An `events.k8s.io/v1` Event in the core `v1` form. Fields neither version knows are
    /// dropped, as the real server's decoder drops them.
    static func toCore(_ event: JSONValue) -> JSONValue {
        convert(event, renames: renamed.map { ($0.eventsV1, $0.core) }, apiVersion: "v1")
    }

    /// A stored (core `v1`) Event in the `events.k8s.io/v1` form.
    static func toEventsV1(_ core: JSONValue) -> JSONValue {
        convert(core, renames: renamed.map { ($0.core, $0.eventsV1) }, apiVersion: "\(group)/v1")
    }

    private static func convert(_ object: JSONValue, renames: [(String, String)], apiVersion: String) -> JSONValue {
        guard let fields = object.objectValue else { return object }
        var out: [String: JSONValue] = ["apiVersion": .string(apiVersion), "kind": "Event"]
        for name in shared { if let value = fields[name] { out[name] = value } }
        for (from, to) in renames { if let value = fields[from] { out[to] = value } }
        return .object(out)
    }

    /// The core field label of each `events.k8s.io/v1` field label that differs (the selectable
    /// fields of `k8s.io/api/events/v1`: `regarding.*`, `reportingController`).
    static func coreFieldLabel(_ label: String) -> String {
        if label.hasPrefix("regarding.") { return "involvedObject." + label.dropFirst("regarding.".count) }
        if label == "reportingController" { return "reportingComponent" }
        return label
    }

    /// A field selector written for `events.k8s.io/v1`, in terms of the stored core form.
    static func coreFieldSelector(_ selector: String) -> String {
        selector.split(separator: ",", omittingEmptySubsequences: false).map { term -> String in
            let text = String(term)
            guard let op = text.firstIndex(where: { $0 == "=" || $0 == "!" }) else { return text }
            let label = String(text[..<op]).trimmingSpaces
            return coreFieldLabel(label) + text[op...]
        }.joined(separator: ",")
    }

    /// A request to the `events.k8s.io` group with its field selector translated.
    static func request(_ request: APIRequest, group: String) -> APIRequest {
        guard group == Self.group, let selector = request.query["fieldSelector"], !selector.isEmpty else { return request }
        var translated = request
        translated.query["fieldSelector"] = coreFieldSelector(selector)
        return translated
    }
}

extension DevAPIHandler {
    /// The object as served at `type`'s version (all versions share storage; only Events are
    /// converted, custom resources only get the requested `apiVersion`).
    static func servedForm(_ object: JSONValue, _ type: ResourceType) -> JSONValue {
        if EventConversion.isEventsV1(type) { return EventConversion.toEventsV1(object) }
        var object = object
        object["apiVersion"] = .string(type.groupVersion)
        return object
    }

    /// A body sent to `type`, in the form the store keeps.
    static func storedForm(_ body: JSONValue, _ type: ResourceType) -> JSONValue {
        EventConversion.isEventsV1(type) ? EventConversion.toCore(body) : body
    }

    /// What a patch sent to `type` applies to: the stored object as that version serves it.
    static func patchBase(_ stored: JSONValue, _ type: ResourceType) -> JSONValue {
        EventConversion.isEventsV1(type) ? EventConversion.toEventsV1(stored) : stored
    }
}
