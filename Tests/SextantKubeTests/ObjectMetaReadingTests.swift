import Foundation
import SextantJSON
import SextantKubeTypes
import Testing

/// `ObjectMeta` is read member by member by the bytes decoder (`JSONObjectReader`); the result
/// and every error must be exactly what its keyed container gives through the tree decoder, and that
/// must be what a synthesized `init(from:)` gives.
@Suite struct ObjectMetaReadingTests {
    struct Wrapper: Codable, Equatable { var metadata: ObjectMeta }

    /// Both decoders' results, or their errors as text (kind, coding path and message).
    static func agree(_ text: String) -> (Bool, String) {
        let bytes = Data(text.utf8)
        let fast = Result { try JSONBytesDecoder().decode(Wrapper.self, from: bytes) }
        let tree = Result { try JSONValueDecoder().decode(Wrapper.self, from: bytes) }
        switch (fast, tree) {
        case (.success(let a), .success(let b)): return (a == b, "\(a)")
        case (.failure(let a), .failure(let b)): return ("\(a)" == "\(b)", "\(a)")
        default: return (false, "fast: \(fast), tree: \(tree)")
        }
    }

    @Test func everyFieldIsReadAsCodableReadsIt() throws {
        let text = #"""
        {"metadata": {"name": "a", "generateName": "a-", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
         "generation": 3, "creationTimestamp": "2026-11-23T10:00:00Z", "deletionTimestamp": "2026-11-23T11:00:00Z",
         "deletionGracePeriodSeconds": 30, "labels": {"app": "web", "tier": "db"}, "annotations": {"x/y": "z"},
         "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-2", "controller": true}],
         "finalizers": ["f1", "f2"], "managedFields": [{"manager": "m"}], "unknown": {"deep": [1]}}}
        """#
        let (same, description) = Self.agree(text)
        #expect(same, "\(description)")
        let meta = try JSONBytesDecoder().decode(Wrapper.self, from: Data(text.utf8)).metadata
        #expect(meta.name == "a" && meta.generateName == "a-" && meta.namespace == "ns" && meta.uid == "u-1")
        #expect(meta.resourceVersion == "7" && meta.generation == 3 && meta.deletionGracePeriodSeconds == 30)
        #expect(meta.creationTimestamp == "2026-11-23T10:00:00Z" && meta.deletionTimestamp == "2026-11-23T11:00:00Z")
        #expect(meta.labels == ["app": "web", "tier": "db"] && meta.annotations == ["x/y": "z"])
        #expect(meta.ownerReferences?.first?.kind == "Pod" && meta.finalizers == ["f1", "f2"])
    }

    @Test(arguments: [
        // Nulls, empty objects, a repeated key (the last wins), an escaped and a non-ASCII key.
        #"{"metadata": {"name": null, "labels": null, "generation": null}}"#,
        #"{"metadata": {}}"#,
        #"{"metadata": {"name": "first", "name": "second", "labels": {"a": "1"}, "labels": {"b": "2"}}}"#,
        #"{"metadata": {"n\u0061me": "escaped", "namespace": "ns"}}"#,
        #"{"metadata": {"ñame": "x", "name": "y"}}"#,
        // Numbers Codable converts: a whole number written as a fraction or with an exponent.
        #"{"metadata": {"generation": 5.0, "deletionGracePeriodSeconds": 3e1}}"#,
        // Errors: wrong types, a number that does not fit, a bad owner reference, not an object.
        #"{"metadata": {"name": 5}}"#,
        #"{"metadata": {"labels": {"a": 1}}}"#,
        #"{"metadata": {"labels": ["a"]}}"#,
        #"{"metadata": {"generation": 1.5}}"#,
        #"{"metadata": {"generation": 92233720368547758070}}"#,
        #"{"metadata": {"generation": "3"}}"#,
        #"{"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]}}"#,
        #"{"metadata": {"finalizers": [1]}}"#,
        #"{"metadata": []}"#,
        #"{"metadata": "x"}"#,
    ])
    func unusualInputGivesTheCodableValueOrError(_ text: String) {
        let (same, description) = Self.agree(text)
        #expect(same, "\(description)")
    }

    /// The same fields with a synthesized `Decodable`, to check `ObjectMeta`'s written-out one.
    struct SynthesizedMeta: Decodable {
        var name: String?
        var generateName: String?
        var namespace: String?
        var uid: String?
        var resourceVersion: String?
        var generation: Int64?
        var creationTimestamp: String?
        var deletionTimestamp: String?
        var deletionGracePeriodSeconds: Int64?
        var labels: [String: String]?
        var annotations: [String: String]?
        var ownerReferences: [OwnerReference]?
        var finalizers: [String]?
    }

    /// Value or error (path and message) of one decoding, comparable across the two types.
    static func summary(_ decode: () throws -> String) -> String {
        do { return try decode() } catch let error as DecodingError {
            switch error {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                return "\(c.codingPath.map(\.stringValue)) \(c.debugDescription)"
            case .keyNotFound(let key, let c):
                return "\(c.codingPath.map(\.stringValue)) missing \(key.stringValue)"
            @unknown default: return "\(error)"
            }
        } catch { return "\(error)" }
    }

    @Test(arguments: [
        #"{"name": "a", "generateName": "g", "namespace": "n", "uid": "u", "resourceVersion": "1", "generation": 2, "creationTimestamp": "t", "deletionTimestamp": "d", "deletionGracePeriodSeconds": 3, "labels": {"a": "b"}, "annotations": {"c": "d"}, "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "o", "uid": "x"}], "finalizers": ["f"]}"#,
        #"{"name": 1, "labels": 2}"#,
        #"{"labels": 2, "name": 1}"#,
        #"{"finalizers": [1], "generation": "x"}"#,
        #"{"ownerReferences": [{"kind": "K"}]}"#,
        #"{"deletionGracePeriodSeconds": 1.5}"#,
    ])
    func writtenOutDecodableMatchesASynthesizedOne(_ text: String) {
        let data = Data(text.utf8)
        let written = Self.summary {
            let m = try JSONValueDecoder().decode(ObjectMeta.self, from: data)
            return "\([m.name, m.generateName, m.namespace, m.uid, m.resourceVersion, m.creationTimestamp, m.deletionTimestamp]) \(String(describing: m.generation)) \(String(describing: m.deletionGracePeriodSeconds)) \(m.labels ?? [:]) \(m.annotations ?? [:]) \(m.ownerReferences?.map(\.name) ?? []) \(m.finalizers ?? [])"
        }
        let synthesized = Self.summary {
            let m = try JSONValueDecoder().decode(SynthesizedMeta.self, from: data)
            return "\([m.name, m.generateName, m.namespace, m.uid, m.resourceVersion, m.creationTimestamp, m.deletionTimestamp]) \(String(describing: m.generation)) \(String(describing: m.deletionGracePeriodSeconds)) \(m.labels ?? [:]) \(m.annotations ?? [:]) \(m.ownerReferences?.map(\.name) ?? []) \(m.finalizers ?? [])"
        }
        #expect(written == synthesized)
    }

    @Test func errorsKeepTheirCodingPath() {
        do {
            _ = try JSONBytesDecoder().decode(Wrapper.self, from: Data(#"{"metadata": {"labels": {"app": 1}}}"#.utf8))
            Issue.record("expected a type mismatch")
        } catch DecodingError.typeMismatch(_, let context) {
            #expect(context.codingPath.map(\.stringValue) == ["metadata", "labels", "app"])
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
