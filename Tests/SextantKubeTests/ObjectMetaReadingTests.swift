import Foundation
import SextantJSON
import SextantKubeTypes
import Testing

/// `ObjectMeta` is read member by member by the bytes decoder (`JSONObjectReadable`); the result
/// and every error must be exactly what the synthesized `init(from:)` gives through the tree decoder.
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
