import Foundation
import SextantJSON
import SextantKubeTypes
import Synchronization

/// Structural-schema handling of custom resources, as the real server does it on every write:
/// prune unknown fields, apply defaults, then validate (OpenAPI v3 subset used by CRDs).
///
/// CEL rules (`x-kubernetes-validations`) and string formats are not evaluated.
public struct SchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) { self.schema = schema }

    /// Prunes, defaults and validates a whole object; returns the object to store or the causes.
    public func admit(_ object: JSONValue) -> (JSONValue, [StatusCause]) {
        var value = Self.prune(object, schema: schema, isRoot: true)
        value = Self.applyDefaults(value, schema: schema)
        var causes: [StatusCause] = []
        Self.validate(value, schema: schema, path: "", isRoot: true, causes: &causes)
        return (value, causes)
    }

    // MARK: Pruning

    static func preservesUnknown(_ schema: JSONValue) -> Bool {
        schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
    }

    /// Removes fields the schema does not declare (unless it preserves unknown fields).
    static func prune(_ value: JSONValue, schema: JSONValue, isRoot: Bool = false) -> JSONValue {
        switch value {
        case .object(let object):
            let properties = schema["properties"]?.objectValue
            let additional = schema["additionalProperties"]
            let embedded = schema["x-kubernetes-embedded-resource"]?.boolValue == true
            var result: [String: JSONValue] = [:]
            for (key, child) in object {
                // apiVersion, kind and metadata of the root and of embedded resources are kept. An
                // embedded resource's metadata is ObjectMeta (kube-apiserver keeps its fields), so
                // `metadata: {type: object}` without properties prunes nothing from it.
                if (isRoot || embedded) && (key == "apiVersion" || key == "kind" || key == "metadata") {
                    var declared: JSONValue?
                    if let declaredSchema = properties?[key], declaredSchema["properties"]?.objectValue != nil { declared = declaredSchema }
                    result[key] = (isRoot && key == "metadata") ? child : (declared.map { prune(child, schema: $0) } ?? child)
                    continue
                }
                if let propertySchema = properties?[key] {
                    result[key] = prune(child, schema: propertySchema)
                } else if let additional, additional.objectValue != nil {
                    result[key] = prune(child, schema: additional)
                } else if preservesUnknown(schema) || additional?.boolValue == true {
                    result[key] = child
                }
            }
            return .object(result)
        case .array(let items):
            guard let itemSchema = schema["items"] else { return value }
            return .array(items.map { prune($0, schema: itemSchema) })
        default:
            return value
        }
    }

    // MARK: Defaulting

    static func applyDefaults(_ value: JSONValue, schema: JSONValue) -> JSONValue {
        switch value {
        case .object(var object):
            if let properties = schema["properties"]?.objectValue {
                for (key, propertySchema) in properties {
                    if object[key] == nil, let defaultValue = propertySchema["default"] {
                        object[key] = defaultValue
                    }
                    if let child = object[key] { object[key] = applyDefaults(child, schema: propertySchema) }
                }
            }
            if let additional = schema["additionalProperties"], additional.objectValue != nil {
                for (key, child) in object where schema["properties"]?[key] == nil {
                    object[key] = applyDefaults(child, schema: additional)
                }
            }
            return .object(object)
        case .array(let items):
            guard let itemSchema = schema["items"] else { return value }
            return .array(items.map { applyDefaults($0, schema: itemSchema) })
        default:
            return value
        }
    }

    // MARK: Validation

    static func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func quoted(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return "\"\(s)\""
        case .object: return "\"object\""
        case .array: return "\"array\""
        default: return value.jsonString()
        }
    }

    static func invalid(_ causes: inout [StatusCause], _ path: String, _ value: JSONValue, _ detail: String) {
        causes.append(StatusCause(reason: "FieldValueInvalid",
                                  message: "Invalid value: \(quoted(value)): \(detail)", field: path))
    }

    static func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .bool), ("integer", .int), ("object", .object), ("array", .array):
            return true
        // kube-openapi's rule (swag.IsFloat64AJSONInteger): a whole number within ±(2^53 − 1), so
        // 1e308 is not an integer though it has no fraction.
        case ("integer", .double(let d)): return d.rounded() == d && abs(d) <= 9_007_199_254_740_991
        case ("number", .int), ("number", .double): return true
        default: return false
        }
    }

    /// Validates `value` against `schema`, appending one cause per problem with its field path.
    static func validate(_ value: JSONValue, schema: JSONValue, path: String, isRoot: Bool = false,
                         causes: inout [StatusCause]) {
        let fieldPath = path.isEmpty ? "<root>" : path
        if value.isNull {
            if schema["nullable"]?.boolValue == true || schema["type"] == nil { return }
            causes.append(StatusCause(reason: "FieldValueTypeInvalid",
                                      message: "Invalid value: \"null\": \(fieldPath) in body must be of type \(schema["type"]?.stringValue ?? "object"): \"null\"",
                                      field: fieldPath))
            return
        }
        let intOrString = schema["x-kubernetes-int-or-string"]?.boolValue == true
        if intOrString {
            guard typeMatches(value, "integer") || typeMatches(value, "string") else {
                causes.append(StatusCause(reason: "FieldValueTypeInvalid",
                                          message: "Invalid value: \(quoted(value)): \(fieldPath) in body must be of type integer or string: \(quoted(value))",
                                          field: fieldPath))
                return
            }
        } else if let type = schema["type"]?.stringValue, !typeMatches(value, type) {
            causes.append(StatusCause(reason: "FieldValueTypeInvalid",
                                      message: "Invalid value: \"\(value.typeName)\": \(fieldPath) in body must be of type \(type): \(quoted(value))",
                                      field: fieldPath))
            return
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(where: { $0.numericallyEqual(to: value) }) {
            let list = allowed.map(quoted).joined(separator: ", ")
            causes.append(StatusCause(reason: "FieldValueNotSupported",
                                      message: "Unsupported value: \(quoted(value)): supported values: \(list)", field: fieldPath))
        }
        switch value {
        case .int, .double:
            guard let number = value.doubleValue else { break }
            if let minimum = schema["minimum"]?.doubleValue {
                let exclusive = schema["exclusiveMinimum"]?.boolValue == true
                if exclusive ? number <= minimum : number < minimum {
                    invalid(&causes, fieldPath, value, "\(fieldPath) in body should be greater than \(exclusive ? "" : "or equal to ")\(format(minimum))")
                }
            }
            if let maximum = schema["maximum"]?.doubleValue {
                let exclusive = schema["exclusiveMaximum"]?.boolValue == true
                if exclusive ? number >= maximum : number > maximum {
                    invalid(&causes, fieldPath, value, "\(fieldPath) in body should be less than \(exclusive ? "" : "or equal to ")\(format(maximum))")
                }
            }
            if schema["format"]?.stringValue == "int32", case .int(let i) = value, i < Int64(Int32.min) || i > Int64(Int32.max) {
                invalid(&causes, fieldPath, value, "\(fieldPath) in body must be of format int32")
            }
        case .string(let s):
            if intOrString { break }
            let length = s.count
            if let maxLength = schema["maxLength"]?.intValue, length > maxLength {
                causes.append(StatusCause(reason: "FieldValueTooLong",
                                          message: "Too long: may not be more than \(maxLength) bytes", field: fieldPath))
            }
            if let minLength = schema["minLength"]?.intValue, length < minLength {
                invalid(&causes, fieldPath, value, "\(fieldPath) in body should be at least \(minLength) chars long")
            }
            if let pattern = schema["pattern"]?.stringValue {
                if let regex = PatternCache.shared.regex(pattern) {
                    let range = NSRange(s.startIndex..., in: s)
                    if regex.firstMatch(in: s, range: range) == nil {
                        invalid(&causes, fieldPath, value, "\(fieldPath) in body should match '\(pattern)'")
                    }
                }
            }
        case .array(let items):
            if let maxItems = schema["maxItems"]?.intValue, items.count > maxItems {
                causes.append(StatusCause(reason: "FieldValueTooMany",
                                          message: "Too many: \(items.count): must have at most \(maxItems) items", field: fieldPath))
            }
            if let minItems = schema["minItems"]?.intValue, items.count < minItems {
                invalid(&causes, fieldPath, value, "\(fieldPath) in body should have at least \(minItems) items")
            }
            if schema["uniqueItems"]?.boolValue == true, Set(items).count != items.count {
                causes.append(StatusCause(reason: "FieldValueDuplicate", message: "Duplicate value", field: fieldPath))
            }
            if let itemSchema = schema["items"], itemSchema.objectValue != nil {
                for (i, item) in items.enumerated() {
                    validate(item, schema: itemSchema, path: "\(path)[\(i)]", causes: &causes)
                }
            }
        case .object(let object):
            for key in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[key] == nil {
                causes.append(StatusCause(reason: "FieldValueRequired", message: "Required value",
                                          field: child(path, key)))
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            if let maxProperties = schema["maxProperties"]?.intValue, object.count > maxProperties {
                causes.append(StatusCause(reason: "FieldValueTooMany",
                                          message: "Too many: \(object.count): must have at most \(maxProperties) items", field: fieldPath))
            }
            for key in object.keys.sorted() {
                guard let childValue = object[key] else { continue }
                if isRoot && key == "metadata" { continue }
                if let propertySchema = properties[key] {
                    validate(childValue, schema: propertySchema, path: child(path, key), causes: &causes)
                } else if let additional = schema["additionalProperties"], additional.objectValue != nil {
                    validate(childValue, schema: additional, path: child(path, key), causes: &causes)
                }
            }
        default:
            break
        }
        // Logical combinators: used by Istio's CRDs for "exactly one of these fields" rules.
        if let branches = schema["allOf"]?.arrayValue {
            for branch in branches { validate(value, schema: branch, path: path, causes: &causes) }
        }
        if let branches = schema["anyOf"]?.arrayValue, !branches.isEmpty,
           !branches.contains(where: { matches(value, $0, path: path) }) {
            invalid(&causes, fieldPath, value, "\(fieldPath) in body must match at least one schema in anyOf")
        }
        if let branches = schema["oneOf"]?.arrayValue, !branches.isEmpty {
            let matching = branches.filter { matches(value, $0, path: path) }.count
            if matching != 1 {
                invalid(&causes, fieldPath, value, "\(fieldPath) in body must match exactly one schema in oneOf (matched \(matching))")
            }
        }
        if let notSchema = schema["not"], matches(value, notSchema, path: path) {
            invalid(&causes, fieldPath, value, "\(fieldPath) in body must not match the schema in not")
        }
    }

    static func matches(_ value: JSONValue, _ schema: JSONValue, path: String) -> Bool {
        var causes: [StatusCause] = []
        validate(value, schema: schema, path: path, causes: &causes)
        return causes.isEmpty
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}

/// Compiled `pattern`s, shared because CRD schemas repeat the same few patterns on every write.
final class PatternCache: Sendable {
    static let shared = PatternCache()
    private let cache = Mutex<[String: NSRegularExpression?]>([:])

    func regex(_ pattern: String) -> NSRegularExpression? {
        cache.withLock { cache in
            if let cached = cache[pattern] { return cached }
            let compiled = try? NSRegularExpression(pattern: pattern)
            cache[pattern] = compiled
            return compiled
        }
    }
}
