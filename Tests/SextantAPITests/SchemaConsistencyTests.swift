import Foundation
import SextantAPI
import SextantJSON
import Testing

/// The Swift types and the schema description must name the same fields: every schema property
/// survives a decode/encode through the type, and the type has no field the schema lacks.
@Suite struct SchemaConsistencyTests {
    func decodeAndEncode(_ document: JSONValue, kind: String) throws -> (Any, JSONValue) {
        switch kind {
        case "TrainingJob":
            let v = try document.decode(as: TrainingJob.self)
            return (v, try JSONValue(encoding: v))
        case "ModelVersion":
            let v = try document.decode(as: ModelVersion.self)
            return (v, try JSONValue(encoding: v))
        default:
            let v = try document.decode(as: CanaryRollout.self)
            return (v, try JSONValue(encoding: v))
        }
    }

    @Test(arguments: ["TrainingJob", "ModelVersion", "CanaryRollout"])
    func everySchemaFieldRoundTripsThroughTheSwiftType(kind: String) throws {
        let crd = try #require(SextantCRDs.named(kind))
        var document = fullyPopulated(crd.objectSchema)
        document["apiVersion"] = "mlops.sextant.dev/v1alpha1"
        document["kind"] = .string(kind)
        document["metadata"] = ["name": "sample"]
        let (value, encoded) = try decodeAndEncode(document, kind: kind)
        var differences: [String] = []
        sameJSON(document, encoded, differences: &differences)
        #expect(differences.isEmpty, "schema fields lost or changed by the Swift type: \(differences)")

        var missing: [String] = []
        nilOptionals(value, into: &missing)
        // ObjectMeta is Kubernetes' own type, not described by this schema.
        missing.removeAll { $0.hasPrefix("metadata.") }
        #expect(missing.isEmpty, "Swift fields the schema does not declare: \(missing)")
    }

    @Test func theConsistencyCheckCatchesAnUndeclaredField() throws {
        // Guard against a vacuous test: a schema missing `spec.paused` must be detected.
        var crd = SextantCRDs.canaryRollout
        crd.spec.properties.removeAll { $0.name == "paused" }
        var document = fullyPopulated(crd.objectSchema)
        document["metadata"] = ["name": "sample"]
        let value = try document.decode(as: CanaryRollout.self)
        var missing: [String] = []
        nilOptionals(value, into: &missing)
        #expect(missing.contains("spec.paused"))
    }

    @Test func requiredPropertiesExistAndDefaultsSatisfyTheirOwnConstraints() {
        func check(_ s: Schema, _ path: String) {
            for r in s.required {
                #expect(s.property(r) != nil, "\(path): required \(r) is not a property")
            }
            if let d = s.defaultValue {
                if let e = s.enumValues { #expect(d.stringValue.map(e.contains) == true, "\(path): default not in enum") }
                if let lo = s.minimum?.doubleValue, let v = d.doubleValue { #expect(v >= lo, "\(path): default below minimum") }
                if let hi = s.maximum?.doubleValue, let v = d.doubleValue { #expect(v <= hi, "\(path): default above maximum") }
                if let p = s.pattern, let v = d.stringValue {
                    #expect(v.range(of: p, options: .regularExpression) != nil, "\(path): default \(v) does not match \(p)")
                }
            }
            for p in s.properties { check(p.schema, "\(path).\(p.name)") }
            if let items = s.items { check(items, "\(path)[]") }
            if let values = s.additionalProperties { check(values, "\(path){}") }
        }
        for crd in SextantCRDs.all { check(crd.objectSchema, crd.kind) }
    }

    @Test func everyFieldIsDescribed() {
        func check(_ s: Schema, _ path: String) {
            for p in s.properties {
                #expect(!p.schema.description.isEmpty || p.name == "metadata", "\(path).\(p.name) has no description")
                check(p.schema, "\(path).\(p.name)")
            }
            if let items = s.items { check(items, "\(path)[]") }
        }
        for crd in SextantCRDs.all { check(crd.objectSchema, crd.kind) }
    }

    @Test func crdNamesAndColumns() throws {
        let expected = [("TrainingJob", "tj"), ("ModelVersion", "mv"), ("CanaryRollout", "cro")]
        for (kind, short) in expected {
            let crd = try #require(SextantCRDs.named(kind))
            let doc = crd.document.jsonValue
            #expect(doc[path: ["spec", "names", "shortNames"]] == [.string(short)])
            #expect(doc[path: ["spec", "names", "categories"]] == ["sextant"])
            #expect(doc[path: ["spec", "group"]] == "mlops.sextant.dev")
            let version = try #require(doc[path: ["spec", "versions"]]?[0])
            #expect(version[path: ["subresources", "status"]] == .object([:]))
            #expect(version[path: ["schema", "openAPIV3Schema", "properties", "spec", "type"]] == "object")
        }
        let columns = SextantCRDs.canaryRollout.columns.map(\.name)
        #expect(Array(columns.prefix(6)) == ["Phase", "Reason", "Stable", "Canary", "Weight", "Failed"])
        #expect(columns.last == "Age")
        // Every printer column points at a field the schema has.
        for crd in SextantCRDs.all {
            for column in crd.columns where !column.jsonPath.hasPrefix(".metadata") {
                var node: Schema? = crd.objectSchema
                for part in column.jsonPath.split(separator: ".") {
                    node = node?.property(String(part)) ?? node?.additionalProperties
                }
                #expect(node != nil, "\(crd.kind) column \(column.name): \(column.jsonPath) is not in the schema")
            }
        }
    }
}
