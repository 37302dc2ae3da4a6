import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

let widgetCRD: JSONValue = [
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": ["name": "widgets.example.dev"],
    "spec": [
        "group": "example.dev", "scope": "Namespaced",
        "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"], "categories": ["sextant"]],
        "versions": [[
            "name": "v1", "served": true, "storage": true,
            "subresources": ["status": [:]],
            "additionalPrinterColumns": [["name": "Size", "type": "integer", "jsonPath": ".spec.size"],
                                         ["name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"]],
            "schema": ["openAPIV3Schema": [
                "type": "object",
                "properties": [
                    "spec": [
                        "type": "object", "required": ["size"],
                        "properties": [
                            "size": ["type": "integer", "minimum": 1, "maximum": 10],
                            "color": ["type": "string", "enum": ["red", "blue"], "default": "red"],
                            "name": ["type": "string", "maxLength": 5, "pattern": "^[a-z]+$"],
                            "tags": ["type": "array", "maxItems": 2, "items": ["type": "string"]],
                            "port": ["x-kubernetes-int-or-string": true],
                            "note": ["type": "string", "nullable": true],
                            "extra": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                            "limits": ["type": "object", "additionalProperties": ["type": "number"]],
                        ],
                    ],
                    "status": ["type": "object", "properties": [
                        "conditions": ["type": "array", "items": ["type": "object", "properties": [
                            "type": ["type": "string"], "status": ["type": "string"]]]],
                    ]],
                ],
            ]],
        ]],
    ],
]

let widgets = "/apis/example.dev/v1/namespaces/default/widgets"

func widget(_ name: String, spec: JSONValue) -> JSONValue {
    ["apiVersion": "example.dev/v1", "kind": "Widget", "metadata": ["name": .string(name)], "spec": spec]
}

@Suite struct CRDTests {
    func handlerWithCRD() async throws -> DevAPIHandler {
        let h = newHandler()
        let created = await call(h, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widgetCRD)
        #expect(created.status == 201)
        #expect(created.json?[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"] == "Established" && $0["status"] == "True" } == true)
        return h
    }

    @Test func creatingACRDServesItsResourceAndDiscovery() async throws {
        let h = try await handlerWithCRD()
        let groups = try #require(await call(h, "GET", "/apis").json)
        #expect(groups["groups"]?.arrayValue?.contains { $0["name"] == "example.dev" } == true)
        let resources = try #require(await call(h, "GET", "/apis/example.dev/v1").json)
        let entry = resources["resources"]?.arrayValue?.first { $0["name"] == "widgets" }
        #expect(entry?["shortNames"] == ["wd"])
        #expect(entry?["categories"] == ["sextant"])
        #expect(entry?["namespaced"] == true)
        #expect(resources["resources"]?.arrayValue?.contains { $0["name"] == "widgets/status" } == true)
        #expect(await call(h, "POST", widgets, widget("w", spec: ["size": 3])).status == 201)
        // Deleting the CRD stops serving the resource and removes its objects.
        #expect(await call(h, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev").status == 200)
        #expect(await call(h, "GET", widgets).status == 404)
        #expect(await call(h, "GET", "/apis/example.dev/v1").status == 404)
    }

    @Test func defaultsArePrunedAndApplied() async throws {
        let h = try await handlerWithCRD()
        let created = try #require(await call(h, "POST", widgets,
                                              widget("w", spec: ["size": 3, "unknown": 1, "extra": ["free": ["form": true]], "port": "http"])).json)
        #expect(created[path: ["spec", "color"]] == "red")
        #expect(created[path: ["spec", "unknown"]] == nil)
        #expect(created[path: ["spec", "extra", "free", "form"]] == true)
        #expect(created[path: ["spec", "port"]] == "http")
    }

    @Test(arguments: [
        (["size": "three"] as JSONValue, "spec.size", "must be of type integer"),
        ([:] as JSONValue, "spec.size", "Required value"),
        (["size": 11] as JSONValue, "spec.size", "less than or equal to 10"),
        (["size": 0] as JSONValue, "spec.size", "greater than or equal to 1"),
        (["size": 1, "color": "green"] as JSONValue, "spec.color", "Unsupported value"),
        (["size": 1, "name": "abcdefg"] as JSONValue, "spec.name", "Too long"),
        (["size": 1, "name": "ABC"] as JSONValue, "spec.name", "should match"),
        (["size": 1, "tags": ["a", "b", "c"]] as JSONValue, "spec.tags", "at most 2 items"),
        (["size": 1, "tags": [1]] as JSONValue, "spec.tags[0]", "must be of type string"),
        (["size": 1, "port": 1.5] as JSONValue, "spec.port", "integer or string"),
        (["size": 1, "limits": ["cpu": "x"]] as JSONValue, "spec.limits.cpu", "must be of type number"),
        (["size": 1, "color": nil] as JSONValue, "spec.color", "must be of type string"),
    ])
    func invalidObjectsAreRejectedWithTheFieldPath(spec: JSONValue, field: String, message: String) async throws {
        let h = try await handlerWithCRD()
        let response = await call(h, "POST", widgets, widget("w", spec: spec))
        #expect(response.status == 422)
        #expect(response.json?["reason"] == "Invalid")
        let causes = response.json?[path: ["details", "causes"]]?.arrayValue ?? []
        #expect(causes.contains { $0["field"]?.stringValue == field && ($0["message"]?.stringValue?.contains(message) ?? false) },
                "causes: \(causes.map { $0.jsonString() })")
        #expect(response.json?["message"]?.stringValue?.hasPrefix("Widget.example.dev \"w\" is invalid") == true)
    }

    @Test func nullableAcceptsNull() async throws {
        let h = try await handlerWithCRD()
        #expect(await call(h, "POST", widgets, widget("w", spec: ["size": 1, "note": nil])).status == 201)
    }

    @Test func updatesOfCustomResourcesNeedAResourceVersion() async throws {
        let h = try await handlerWithCRD()
        var object = try #require(await call(h, "POST", widgets, widget("w", spec: ["size": 1])).json)
        object.set(path: ["metadata", "resourceVersion"], to: nil)
        let response = await call(h, "PUT", widgets + "/w", object)
        #expect(response.status == 422)
        #expect(response.json?[path: ["details", "causes"]]?[0]?["field"] == "metadata.resourceVersion")
    }

    @Test func statusSubresourceAndPrinterColumns() async throws {
        let h = try await handlerWithCRD()
        _ = await call(h, "POST", widgets, widget("w", spec: ["size": 4]))
        let status = await call(h, "PATCH", widgets + "/w/status", ["status": ["conditions": [["type": "Ready", "status": "True"]]]],
                                contentType: "application/merge-patch+json")
        #expect(status.status == 200)
        #expect(status.json?[path: ["metadata", "generation"]] == 1)
        let invalidStatus = await call(h, "PATCH", widgets + "/w/status", ["status": ["conditions": "nope"]],
                                       contentType: "application/merge-patch+json")
        #expect(invalidStatus.status == 422)
        let table = try #require(await call(h, "GET", widgets, accept: "application/json;as=Table;v=v1;g=meta.k8s.io, application/json").json)
        #expect(table["kind"] == "Table")
        let columns = table["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(columns == ["Name", "Size", "Ready"])
        #expect(table["rows"]?[0]?["cells"] == ["w", 4, "True"])
        #expect(table["rows"]?[0]?[path: ["object", "kind"]] == "PartialObjectMetadata")
    }

    @Test func invalidCRDIsRejected() async throws {
        let h = newHandler()
        var crd = widgetCRD
        crd.set(path: ["metadata", "name"], to: "wrong.example.dev")
        crd.set(path: ["spec", "scope"], to: "Galaxy")
        let response = await call(h, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        #expect(response.status == 422)
        let fields = response.json?[path: ["details", "causes"]]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        #expect(fields.contains("spec.scope") && fields.contains("metadata.name"))
    }

    @Test func istioVirtualServiceSchema() async throws {
        let h = newHandler()
        let yaml = try String(contentsOf: localCRDs.appendingPathComponent("virtualservices.networking.istio.io.yaml"), encoding: .utf8)
        let created = await call(h, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", text: yaml, contentType: "application/yaml")
        #expect(created.status == 201)
        let vs: JSONValue = [
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": ["name": "reviews"],
            "spec": ["hosts": ["reviews"], "http": [["route": [
                ["destination": ["host": "reviews", "subset": "v1"], "weight": 90],
                ["destination": ["host": "reviews", "subset": "v2"], "weight": 10],
            ]]]],
        ]
        let path = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"
        #expect(await call(h, "POST", path, vs).status == 201)
        // Every served version shares one storage.
        #expect(await call(h, "GET", "/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/reviews").json?["apiVersion"]
                == "networking.istio.io/v1beta1")
        let bad = await call(h, "PATCH", path + "/reviews", [["op": "replace", "path": "/spec/http/0/route/0/weight", "value": "abc"]],
                             contentType: "application/json-patch+json")
        #expect(bad.status == 422)
        #expect(bad.json?[path: ["details", "causes"]]?.arrayValue?.contains { $0["field"] == "spec.http[0].route[0].weight" } == true)
    }
}

@Suite struct TableTests {
    static let ages: [(Double, String)] = [
        (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (7200, "120m"), (3 * 3600 + 60, "3h1m"),
        (10 * 3600, "10h"), (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"),
    ]

    @Test(arguments: ages)
    func agesRoundLikeKubectl(seconds: Double, expected: String) {
        #expect(TableConverter.humanDuration(seconds) == expected)
    }

    @Test func timestampsParse() throws {
        let date = try #require(TableConverter.parseTimestamp("2026-01-02T03:04:05Z"))
        #expect(date.timeIntervalSince1970 == 1_767_323_045)
        #expect(TableConverter.parseTimestamp("2026-01-02T05:04:05+02:00")?.timeIntervalSince1970 == 1_767_323_045)
        #expect(TableConverter.parseTimestamp("yesterday") == nil)
    }
}
