import SextantJSON

extension Schema {
    /// Fills the `default` of every absent property, recursively, as the API server does on
    /// create/update. The defaults come from the schema itself, so Swift and CRD cannot disagree.
    public func applyingDefaults(to value: JSONValue) -> JSONValue {
        switch value {
        case .object(var object):
            for p in properties {
                if object[p.name] == nil, let d = p.schema.defaultValue { object[p.name] = d }
                if let child = object[p.name] { object[p.name] = p.schema.applyingDefaults(to: child) }
            }
            if let values = additionalProperties {
                let declared = Set(properties.map(\.name))
                for (key, child) in object where !declared.contains(key) {
                    object[key] = values.applyingDefaults(to: child)
                }
            }
            return .object(object)
        case .array(let items):
            guard let itemSchema = items.isEmpty ? nil : self.items else { return value }
            return .array(items.map { itemSchema.applyingDefaults(to: $0) })
        default:
            return value
        }
    }
}

/// The kinds whose schema Sextant describes.
public protocol SchemaDescribed: Codable, Sendable {
    static var crd: CRDDescription { get }
}

extension SchemaDescribed {
    /// This object with every schema default filled in. Controllers read objects through this,
    /// because the development API server (and objects built in code) may not carry defaults.
    public func withSchemaDefaults() throws -> Self {
        let json = try JSONValue(encoding: self)
        return try Self.crd.objectSchema.applyingDefaults(to: json).decode(as: Self.self)
    }
}

extension TrainingJob: SchemaDescribed {
    public static var crd: CRDDescription { SextantCRDs.trainingJob }
}

extension ModelVersion: SchemaDescribed {
    public static var crd: CRDDescription { SextantCRDs.modelVersion }
}

extension CanaryRollout: SchemaDescribed {
    public static var crd: CRDDescription { SextantCRDs.canaryRollout }
}

extension AnalysisSpec {
    /// `failureLimit` when a spec carries none (built in code, or read without `withSchemaDefaults`):
    /// the schema's default, so the CRD and the rollout logic cannot disagree.
    public static let defaultFailureLimit = schemaDefault("failureLimit")
    /// `consecutiveErrorLimit` when a spec carries none, from the schema likewise.
    public static let defaultConsecutiveErrorLimit = schemaDefault("consecutiveErrorLimit")

    /// The effective limits of this analysis.
    public var effectiveFailureLimit: Int { failureLimit ?? Self.defaultFailureLimit }
    public var effectiveConsecutiveErrorLimit: Int { consecutiveErrorLimit ?? Self.defaultConsecutiveErrorLimit }

    static func schemaDefault(_ field: String) -> Int {
        let schema = SextantCRDs.canaryRollout.objectSchema.property("spec")?.property("analysis")?.property(field)
        // Both fields have a schema default; AnalysisDefaultsTests fails if one loses it.
        return Int(schema?.defaultValue?.intValue ?? 0)
    }
}
