import SextantJSON
import Testing

@Suite struct MergePatchTests {
    // The examples of RFC 7386, appendix A.
    @Test(arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func rfc7386Examples(original: String, patch: String, expected: String) throws {
        let result = try JSONValue.parse(string: original).applyingMergePatch(try JSONValue.parse(string: patch))
        #expect(result == (try JSONValue.parse(string: expected)))
    }
}

@Suite struct JSONPatchTests {
    func apply(_ doc: String, _ patch: String) throws -> JSONValue {
        try JSONValue.parse(string: doc).applyingJSONPatch(try JSONValue.parse(string: patch))
    }

    @Test func addReplaceRemoveMoveCopy() throws {
        let result = try apply(
            #"{"spec":{"http":[{"route":[{"weight":90},{"weight":10}]}]},"a":{"b":1}}"#,
            #"""
            [
              {"op":"replace","path":"/spec/http/0/route/0/weight","value":80},
              {"op":"replace","path":"/spec/http/0/route/1/weight","value":20},
              {"op":"add","path":"/spec/http/0/route/-","value":{"weight":0}},
              {"op":"add","path":"/spec/http/0/route/0","value":{"weight":-1}},
              {"op":"remove","path":"/spec/http/0/route/0"},
              {"op":"copy","from":"/a","path":"/c"},
              {"op":"move","from":"/a/b","path":"/d"}
            ]
            """#)
        #expect(result == (try JSONValue.parse(string:
            #"{"spec":{"http":[{"route":[{"weight":80},{"weight":20},{"weight":0}]}]},"a":{},"c":{"b":1},"d":1}"#)))
    }

    @Test func escapedPointerTokens() throws {
        let result = try apply(#"{"metadata":{"labels":{"mlops.sextant.dev/stage":"a","x~y":"b"}}}"#,
                               #"[{"op":"replace","path":"/metadata/labels/mlops.sextant.dev~1stage","value":"prod"},{"op":"remove","path":"/metadata/labels/x~0y"}]"#)
        #expect(result[path: ["metadata", "labels"]] == ["mlops.sextant.dev/stage": "prod"])
    }

    @Test func testOperationGuardsTheWholePatch() throws {
        let doc = #"{"weight":90}"#
        #expect(try apply(doc, #"[{"op":"test","path":"/weight","value":90.0},{"op":"replace","path":"/weight","value":50}]"#)
                == ["weight": 50])
        do {
            _ = try apply(doc, #"[{"op":"replace","path":"/weight","value":50},{"op":"test","path":"/weight","value":90}]"#)
            Issue.record("expected the test to fail")
        } catch let error as JSONPatchError {
            #expect(error.kind == .testFailed)
            #expect(error.message.contains("/weight"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [
        (#"[{"op":"remove","path":"/missing"}]"#, JSONPatchError.Kind.pathNotFound),
        (#"[{"op":"replace","path":"/a/5","value":1}]"#, .pathNotFound),
        (#"[{"op":"add","path":"/a/7","value":1}]"#, .invalidPatch),
        (#"[{"op":"frobnicate","path":"/a"}]"#, .invalidPatch),
        (#"[{"op":"add","path":"/b"}]"#, .invalidPatch),
        (#"[{"op":"add","path":"b","value":1}]"#, .invalidPatch),
        (#"{"op":"add"}"#, .invalidPatch),
        (#"[{"op":"move","from":"/a","path":"/a/0"}]"#, .invalidPatch),
    ])
    func badPatchesAreErrors(patch: String, kind: JSONPatchError.Kind) {
        do {
            _ = try apply(#"{"a":[1,2]}"#, patch)
            Issue.record("expected an error for \(patch)")
        } catch let error as JSONPatchError {
            #expect(error.kind == kind, "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
