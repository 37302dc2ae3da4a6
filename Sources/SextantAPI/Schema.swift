import SextantJSON

/// A description of an OpenAPI v3 (structural) schema, written once in Swift and rendered into
/// the CRD YAML, the reference docs and the tests. It is the single source of truth for the shape
/// of the three kinds: nothing in `crds/` or `docs/resources/` is edited by hand.
public struct Schema: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case object, array, string, integer, number, boolean
    }

    /// A `x-kubernetes-validations` entry: a CEL rule evaluated by the API server.
    public struct Rule: Sendable, Hashable {
        public var rule: String
        public var message: String
        /// A JSON path relative to the schema node, so the error points at the field (`.maxWeight`).
        public var fieldPath: String?

        public init(_ rule: String, message: String, fieldPath: String? = nil) {
            self.rule = rule
            self.message = message
            self.fieldPath = fieldPath
        }
    }

    public struct Property: Sendable, Hashable {
        public var name: String
        public var schema: Schema
    }

    public var kind: Kind?
    public var description: String
    public var format: String?
    public var defaultValue: JSONValue?
    public var enumValues: [String]?
    public var minimum: JSONValue?
    public var maximum: JSONValue?
    public var pattern: String?
    public var minLength: Int?
    public var maxLength: Int?
    public var minItems: Int?
    public var maxItems: Int?
    public var properties: [Property] = []
    public var required: [String] = []
    /// Array storage gives the recursion the indirection a struct needs.
    private var itemStorage: [Schema] = []
    private var additionalStorage: [Schema] = []
    public var preserveUnknownFields = false
    public var intOrString = false
    public var embeddedResource = false
    public var listType: String?
    public var listMapKeys: [String]?
    public var rules: [Rule] = []
    /// A human name for the type in the docs when the JSON type alone says too little
    /// (`duration`, `quantity`, `PodTemplateSpec`).
    public var docType: String?
    /// A valid sample value used to build fully populated test objects for constrained strings.
    public var sample: JSONValue?

    public var items: Schema? {
        get { itemStorage.first }
        set { itemStorage = newValue.map { [$0] } ?? [] }
    }

    public var additionalProperties: Schema? {
        get { additionalStorage.first }
        set { additionalStorage = newValue.map { [$0] } ?? [] }
    }

    public init(kind: Kind?, description: String) {
        self.kind = kind
        self.description = description
    }

    /// The schema of a property, or nil.
    public func property(_ name: String) -> Schema? {
        properties.first { $0.name == name }?.schema
    }
}

// MARK: Builders

extension Schema {
    public static func string(
        _ description: String, default value: String? = nil, enum values: [String]? = nil,
        pattern: String? = nil, format: String? = nil, minLength: Int? = nil, maxLength: Int? = nil,
        sample: String? = nil
    ) -> Schema {
        var s = Schema(kind: .string, description: description)
        s.defaultValue = value.map(JSONValue.string)
        s.enumValues = values
        s.pattern = pattern
        s.format = format
        s.minLength = minLength
        s.maxLength = maxLength
        s.sample = sample.map(JSONValue.string)
        return s
    }

    public static func integer(
        _ description: String, default value: Int64? = nil, min: Int64? = nil, max: Int64? = nil,
        format: String = "int32"
    ) -> Schema {
        var s = Schema(kind: .integer, description: description)
        s.format = format
        s.defaultValue = value.map(JSONValue.int)
        s.minimum = min.map(JSONValue.int)
        s.maximum = max.map(JSONValue.int)
        return s
    }

    public static func number(
        _ description: String, default value: Double? = nil, min: Double? = nil, max: Double? = nil
    ) -> Schema {
        var s = Schema(kind: .number, description: description)
        s.defaultValue = value.map(JSONValue.double)
        s.minimum = min.map(JSONValue.double)
        s.maximum = max.map(JSONValue.double)
        return s
    }

    public static func boolean(_ description: String, default value: Bool? = nil) -> Schema {
        var s = Schema(kind: .boolean, description: description)
        s.defaultValue = value.map(JSONValue.bool)
        return s
    }

    public static func object(
        _ description: String, required: [String] = [], rules: [Rule] = [],
        _ properties: KeyValuePairs<String, Schema>
    ) -> Schema {
        var s = Schema(kind: .object, description: description)
        s.properties = properties.map { Property(name: $0.key, schema: $0.value) }
        s.required = required
        s.rules = rules
        return s
    }

    public static func array(
        _ description: String, of items: Schema, minItems: Int? = nil, maxItems: Int? = nil,
        listType: String? = nil, mapKeys: [String]? = nil, rules: [Rule] = []
    ) -> Schema {
        var s = Schema(kind: .array, description: description)
        s.items = items
        s.minItems = minItems
        s.maxItems = maxItems
        s.listType = listType
        s.listMapKeys = mapKeys
        s.rules = rules
        return s
    }

    /// A map with string keys (`additionalProperties`).
    public static func map(_ description: String, of values: Schema) -> Schema {
        var s = Schema(kind: .object, description: description)
        s.additionalProperties = values
        return s
    }

    /// An object whose content is not described here (a pod template, affinity, ...): kept as is.
    public static func freeform(_ description: String, docType: String) -> Schema {
        var s = Schema(kind: .object, description: description)
        s.preserveUnknownFields = true
        s.docType = docType
        return s
    }

    /// A Go duration string (`"30s"`, `"1m30s"`, `"2h"`), parsed by ``GoDuration``.
    public static func duration(_ description: String, default value: String? = nil) -> Schema {
        var s = Schema.string(description, default: value, pattern: GoDuration.pattern, sample: "90s")
        s.docType = "duration"
        return s
    }

    /// An RFC 3339 time written by the controller.
    public static func time(_ description: String) -> Schema {
        var s = Schema.string(description, format: "date-time", sample: "2026-01-02T03:04:05Z")
        s.docType = "time"
        return s
    }

    /// A Kubernetes resource quantity (`500m`, `2Gi`, `1`).
    public static func quantity(_ description: String) -> Schema {
        var s = Schema(kind: nil, description: description)
        s.intOrString = true
        s.pattern = #"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"#
        s.docType = "quantity"
        s.sample = "500m"
        return s
    }

    /// A DNS-1123 subdomain name of another object.
    public static func objectName(_ description: String) -> Schema {
        .string(description, pattern: #"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"#, maxLength: 253, sample: "fraud-detector")
    }

    /// A sha256 digest in lower-case hex.
    public static func sha256(_ description: String) -> Schema {
        .string(description, pattern: "^[a-f0-9]{64}$",
                sample: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    }

    /// `metav1.Condition` list, keyed by `type`.
    public static func conditions(_ description: String) -> Schema {
        .array(description, of: .object(
            "A metav1.Condition.", required: ["type", "status", "lastTransitionTime", "reason", "message"],
            [
                "type": .string("Condition type in CamelCase (`Ready`, ...).", maxLength: 316, sample: "Ready"),
                "status": .string("Status of the condition.", enum: ["True", "False", "Unknown"]),
                "observedGeneration": .integer("The .metadata.generation the condition was set from.", min: 0,
                                               format: "int64"),
                "lastTransitionTime": .time("When the status last changed."),
                "reason": .string("One-word CamelCase reason.", maxLength: 1024, sample: "Reconciled"),
                "message": .string("Human readable details.", maxLength: 32768),
            ]), maxItems: 32, listType: "map", mapKeys: ["type"])
    }

    // MARK: Modifiers

    public func withRules(_ rules: Rule...) -> Schema {
        var s = self
        s.rules += rules
        return s
    }

    public func withDocType(_ name: String) -> Schema {
        var s = self
        s.docType = name
        return s
    }
}

// MARK: Rendering

/// A JSON document whose object keys keep their order, so the generated YAML reads top-down in
/// the order the fields are declared.
public indirect enum OrderedJSON: Sendable, Hashable {
    case scalar(JSONValue)
    case array([OrderedJSON])
    case object([Pair])

    public struct Pair: Sendable, Hashable {
        public var key: String
        public var value: OrderedJSON
        public init(_ key: String, _ value: OrderedJSON) {
            self.key = key
            self.value = value
        }
    }

    /// The unordered form, for validation and comparison.
    public var jsonValue: JSONValue {
        switch self {
        case .scalar(let v): return v
        case .array(let a): return .array(a.map(\.jsonValue))
        case .object(let pairs):
            var o: [String: JSONValue] = [:]
            for p in pairs { o[p.key] = p.value.jsonValue }
            return .object(o)
        }
    }

    public static func string(_ s: String) -> OrderedJSON { .scalar(.string(s)) }

    public init(_ value: JSONValue) {
        switch value {
        case .array(let a): self = .array(a.map(OrderedJSON.init))
        case .object(let o): self = .object(o.keys.sorted().map { Pair($0, OrderedJSON(o[$0] ?? .null)) })
        default: self = .scalar(value)
        }
    }
}

extension Schema {
    /// The `openAPIV3Schema` node.
    public var openAPI: OrderedJSON {
        var out: [OrderedJSON.Pair] = []
        func put(_ key: String, _ value: OrderedJSON?) {
            if let value { out.append(.init(key, value)) }
        }
        if let kind { put("type", .string(kind.rawValue)) }
        if !description.isEmpty { put("description", .string(description)) }
        if let format { put("format", .string(format)) }
        if let defaultValue { put("default", OrderedJSON(defaultValue)) }
        if let enumValues { put("enum", .array(enumValues.map(OrderedJSON.string))) }
        if let minimum { put("minimum", .scalar(minimum)) }
        if let maximum { put("maximum", .scalar(maximum)) }
        if let pattern { put("pattern", .string(pattern)) }
        if let minLength { put("minLength", .scalar(.int(Int64(minLength)))) }
        if let maxLength { put("maxLength", .scalar(.int(Int64(maxLength)))) }
        if let minItems { put("minItems", .scalar(.int(Int64(minItems)))) }
        if let maxItems { put("maxItems", .scalar(.int(Int64(maxItems)))) }
        if intOrString {
            put("anyOf", .array([.object([.init("type", .string("integer"))]),
                                 .object([.init("type", .string("string"))])]))
            put("x-kubernetes-int-or-string", .scalar(true))
        }
        if !required.isEmpty { put("required", .array(required.map(OrderedJSON.string))) }
        if !properties.isEmpty {
            put("properties", .object(properties.map { .init($0.name, $0.schema.openAPI) }))
        }
        if let items { put("items", items.openAPI) }
        if let additionalProperties { put("additionalProperties", additionalProperties.openAPI) }
        if preserveUnknownFields { put("x-kubernetes-preserve-unknown-fields", .scalar(true)) }
        if embeddedResource { put("x-kubernetes-embedded-resource", .scalar(true)) }
        if let listType { put("x-kubernetes-list-type", .string(listType)) }
        if let listMapKeys { put("x-kubernetes-list-map-keys", .array(listMapKeys.map(OrderedJSON.string))) }
        if !rules.isEmpty {
            put("x-kubernetes-validations", .array(rules.map { r in
                var pairs: [OrderedJSON.Pair] = [.init("rule", .string(r.rule)), .init("message", .string(r.message))]
                if let fieldPath = r.fieldPath { pairs.append(.init("fieldPath", .string(fieldPath))) }
                return .object(pairs)
            }))
        }
        return .object(out)
    }
}
