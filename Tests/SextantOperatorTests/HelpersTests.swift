import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import Testing

@Suite struct ConditionTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    let t1 = Date(timeIntervalSince1970: 1_700_000_600)

    @Test func transitionTimeMovesOnlyWhenStatusChanges() {
        var conditions: [Condition] = []
        #expect(Conditions.set(&conditions, type: "Ready", status: .false, reason: "Pending", message: "waiting",
                               observedGeneration: 1, now: t0))
        let first = conditions[0].lastTransitionTime
        // Same status, new reason and generation: updated in place, time kept.
        #expect(Conditions.set(&conditions, type: "Ready", status: .false, reason: "Training", message: "step 2",
                               observedGeneration: 2, now: t1))
        #expect(conditions.count == 1)
        #expect(conditions[0].lastTransitionTime == first)
        #expect(conditions[0].reason == "Training")
        #expect(conditions[0].observedGeneration == 2)
        // Status flips: time moves.
        #expect(Conditions.set(&conditions, type: "Ready", status: .true, reason: "Done", message: "",
                               observedGeneration: 2, now: t1))
        #expect(conditions[0].lastTransitionTime == KubeTime.format(t1))
        #expect(conditions[0].lastTransitionTime != first)
        #expect(Conditions.isTrue(conditions, type: "Ready"))
    }

    @Test func settingTheSameConditionAgainReportsNoChange() {
        var conditions: [Condition] = []
        Conditions.set(&conditions, type: "Ready", status: .true, reason: "OK", message: "m", observedGeneration: 3, now: t0)
        let before = conditions
        #expect(!Conditions.set(&conditions, type: "Ready", status: .true, reason: "OK", message: "m",
                                observedGeneration: 3, now: t1))
        #expect(conditions == before)
        #expect(Conditions.remove(&conditions, type: "Ready"))
        #expect(conditions.isEmpty)
    }
}

@Suite struct FinalizerPatchTests {
    func object(_ finalizers: [String]?) -> JSONValue {
        var meta: [String: JSONValue] = ["name": "a", "resourceVersion": "7"]
        if let finalizers { meta["finalizers"] = .array(finalizers.map(JSONValue.string)) }
        return ["metadata": .object(meta)]
    }

    func meta(_ finalizers: [String]?) -> ObjectMeta {
        var m = ObjectMeta(name: "a", finalizers: finalizers)
        m.resourceVersion = "7"
        return m
    }

    @Test func addAppendsAndKeepsOthers() throws {
        let ops = try #require(Finalizers.addPatch("mlops.sextant.dev/cleanup", to: meta(["other.io/x"])))
        let patched = try object(["other.io/x"]).applyingJSONPatch(.array(ops))
        #expect(patched[path: ["metadata", "finalizers"]] == ["other.io/x", "mlops.sextant.dev/cleanup"])
        #expect(Finalizers.addPatch("other.io/x", to: meta(["other.io/x"])) == nil)
    }

    @Test func addFailsIfTheListChangedSinceRead() throws {
        let ops = try #require(Finalizers.addPatch("mine", to: meta(["other.io/x"])))
        // Someone rewrote the list after we read it: the test op must reject our patch.
        #expect(throws: (any Error).self) { try object(["third"]).applyingJSONPatch(.array(ops)) }
        let fromEmpty = try #require(Finalizers.addPatch("mine", to: meta(nil)))
        var newer = object(["other.io/x"])
        newer.set(path: ["metadata", "resourceVersion"], to: "8")
        #expect(throws: (any Error).self) { try newer.applyingJSONPatch(.array(fromEmpty)) }
        let created = try object(nil).applyingJSONPatch(.array(fromEmpty))
        #expect(created[path: ["metadata", "finalizers"]] == ["mine"])
    }

    @Test func removeDropsOnlyOursAndFailsIfItMoved() throws {
        let ops = try #require(Finalizers.removePatch("mine", from: meta(["a.io/x", "mine", "b.io/y"])))
        let patched = try object(["a.io/x", "mine", "b.io/y"]).applyingJSONPatch(.array(ops))
        #expect(patched[path: ["metadata", "finalizers"]] == ["a.io/x", "b.io/y"])
        // Another controller removed its entry first: index 1 is now someone else's.
        #expect(throws: (any Error).self) { try object(["mine", "b.io/y"]).applyingJSONPatch(.array(ops)) }
        #expect(Finalizers.removePatch("mine", from: meta(["a.io/x"])) == nil)
    }
}

@Suite struct SmallPartsTests {
    @Test func bindAddresses() throws {
        #expect(try BindAddress.parse(":8080") == BindAddress(host: "0.0.0.0", port: 8080))
        #expect(try BindAddress.parse("127.0.0.1:0") == BindAddress(host: "127.0.0.1", port: 0))
        #expect(try BindAddress.parse("[::1]:9443") == BindAddress(host: "::1", port: 9443))
        #expect(try BindAddress.parse("0") == nil)
        #expect(throws: BindAddressError.self) { try BindAddress.parse("8080") }
        #expect(throws: BindAddressError.self) { try BindAddress.parse(":99999") }
    }

    @Test func backoffGrowsWithJitterWithinBounds() {
        let b = Backoff(initial: .milliseconds(100), maximum: .seconds(2), jitter: 0.5)
        for failures in 1...8 {
            let d = b.delay(afterFailures: failures)
            let base = min(0.1 * Double(1 << (failures - 1)), 2)
            #expect(d.seconds >= base * 0.5 - 1e-9 && d.seconds <= base + 1e-9, "failures \(failures): \(d)")
        }
    }

    @Test func leaderElectionSettingsAreChecked() {
        var config = LeaderElectionConfig(leaseName: "l", namespace: "default", identity: "me")
        config.renewDeadline = .seconds(20)
        #expect(throws: LeaderElectionError.self) { try config.validate() }
        config.renewDeadline = .seconds(2)
        config.retryPeriod = .seconds(2)
        #expect(throws: LeaderElectionError.self) { try config.validate() }
        config.retryPeriod = .milliseconds(500)
        #expect(throws: Never.self) { try config.validate() }
    }

    @Test func controllerReferences() throws {
        var owner = ConfigMap(metadata: ObjectMeta(name: "owner", namespace: "ns"))
        #expect(throws: (any Error).self) { try OwnerReference(controlledBy: owner) }
        owner.metadata.uid = "u-1"
        let ref = try OwnerReference(controlledBy: owner)
        #expect(ref.kind == "ConfigMap" && ref.apiVersion == "v1" && ref.uid == "u-1" && ref.controller == true)
        var child = ObjectMeta(name: "child")
        try child.setControllerReference(ref)
        try child.setControllerReference(ref)  // idempotent
        #expect(child.ownerReferences?.count == 1)
        let other = OwnerReference(apiVersion: "v1", kind: "ConfigMap", name: "x", uid: "u-2")
        #expect(throws: (any Error).self) { try child.setControllerReference(other) }
    }

    @Test func unchangedStatusSendsNothing() async throws {
        // The client points nowhere: any request would fail, so success proves nothing was sent.
        let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:1"))
        var widget = Widget(metadata: ObjectMeta(name: "w", namespace: "default"), status: .init(phase: "Ready"))
        widget.metadata.resourceVersion = "3"
        var same = widget
        same.metadata.labels = ["changed": "metadata only"]
        let result = try await client.updateStatusIfChanged(original: widget, modified: same)
        #expect(result == widget)
        var changed = widget
        changed.status?.phase = "Failed"
        await #expect(throws: (any Error).self) { try await client.updateStatusIfChanged(original: widget, modified: changed) }
    }

    @Test func jsonLogLinesCarryMessageLevelAndMetadata() throws {
        let lines = Box<[String]>([])
        var handler = JSONLogHandler(label: "test") { line in lines.update { $0.append(line) } }
        handler.metadata["controller"] = "trainingjob"
        handler.log(event: .init(level: .warning, message: "reconcile \"failed\"", metadata: ["key": "ns/a"],
                                 source: "t", file: "f.swift", function: "fn", line: 1))
        let line = try #require(lines.get().first)
        let json = try JSONValue.parse(Array(line.utf8))
        #expect(json["msg"] == "reconcile \"failed\"")
        #expect(json["level"] == "warning")
        #expect(json["controller"] == "trainingjob")
        #expect(json["key"] == "ns/a")
    }
}

/// A resource with a status, for status-write tests.
struct Widget: KubernetesResource, Equatable {
    static let group = "example.dev", version = "v1", kind = "Widget", plural = "widgets"
    static let namespaced = true
    var apiVersion: String? = "example.dev/v1"
    var kind: String? = "Widget"
    var metadata: ObjectMeta
    var status: Status?
    struct Status: Codable, Sendable, Equatable { var phase: String }
}
