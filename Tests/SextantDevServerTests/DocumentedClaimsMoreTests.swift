import Foundation
@testable import SextantDevServer
import SextantJSON
import Testing

/// More claims of docs/dev-apiserver.md that no other test checked, each in the words of the doc.
struct DocumentedClaimsMoreTests {
    static let doc = packageRoot.appendingPathComponent("docs/dev-apiserver.md")

    /// "A watcher that falls more than 20,000 events behind is closed (its client re-watches)
    /// instead of buffering without bound." The number in the doc is the store's default; a
    /// watcher that falls behind is closed, and re-watching from the last resourceVersion it saw
    /// misses nothing.
    @Test func aWatcherThatFallsBehindIsClosedAndItsClientResumesWithoutLoss() async throws {
        let text = try String(contentsOf: Self.doc, encoding: .utf8)
        let limit = StoreConfiguration().watchBufferLimit
        let written = limit >= 1000 ? "\(limit / 1000),\(String(format: "%03d", limit % 1000))" : "\(limit)"
        #expect(text.contains("falls more than \(written) events behind"), "docs/dev-apiserver.md does not state the limit \(written)")

        let h = DevAPIHandler(store: ObjectStore(configuration: StoreConfiguration(watchBufferLimit: 16)))
        let watch = await call(h, "GET", cmPath + "?watch=true")
        let first = try #require(await call(h, "POST", cmPath, configMap("c0")).json)
        let seen = await events(watch, count: 1)
        #expect(summary(seen) == ["ADDED c0"])
        let lastSeen = try #require(first[path: ["metadata", "resourceVersion"]]?.stringValue)
        // Nobody reads the stream now: 40 events are more than the 16 a watcher may fall behind.
        var resumeFrom = lastSeen
        for i in 1...40 {
            let created = await call(h, "POST", cmPath, configMap("c\(i)"))
            #expect(created.status == 201)
            if i == 24 { resumeFrom = created.json?[path: ["metadata", "resourceVersion"]]?.stringValue ?? "" }
        }
        #expect(await h.store.watcherCount == 0, "the lagging watcher is still open")
        let clock = ContinuousClock()
        let start = clock.now
        // A stream that stays open runs into the 60 s timeout; a closed one ends at once (the
        // margin is for a loaded machine, not a speed bound).
        let rest = await events(watch, count: 100, timeout: .seconds(60))
        #expect(clock.now - start < .seconds(45), "the closed stream did not end")
        #expect(rest.count < 40, "a closed watcher delivered everything: \(rest.count)")
        // A re-watch replays every later event in order. (Its replay counts against the same
        // limit, so here it resumes 16 events back; by default the history, 10,000, is below it.)
        let resumed = await call(h, "GET", cmPath + "?watch=true&resourceVersion=\(resumeFrom)")
        let replay = await events(resumed, count: 16)
        #expect(summary(replay) == (25...40).map { "ADDED c\($0)" })
        #expect(StoreConfiguration().historyLimit < StoreConfiguration().watchBufferLimit)
    }

    /// "`dryRun=All` is honoured on create, update, patch and delete" (create and apply are in
    /// ConformanceTests): a dry-run update answers the new object and a dry-run delete the object,
    /// and nothing stored changes.
    @Test func dryRunUpdateAndDeleteStoreNothing() async throws {
        let h = newHandler()
        let created = try #require(await call(h, "POST", cmPath, configMap("d", data: ["k": "1"])).json)
        var changed = created
        changed["data"] = ["k": "2"]
        let dryUpdate = await call(h, "PUT", cmPath + "/d?dryRun=All", changed)
        #expect(dryUpdate.status == 200)
        #expect(dryUpdate.json?[path: ["data", "k"]] == "2")
        let dryDelete = await call(h, "DELETE", cmPath + "/d?dryRun=All")
        #expect(dryDelete.status == 200)
        let stored = try #require(await call(h, "GET", cmPath + "/d").json)
        #expect(stored == created, "a dry run changed the stored object: \(stored)")
    }

    /// "System metadata (`uid`, `creationTimestamp`, `deletionTimestamp`, `generation`, ...)
    /// cannot be changed" by an update.
    @Test func updatesCannotChangeSystemMetadata() async throws {
        let h = newHandler()
        let path = "/apis/apps/v1/namespaces/default/deployments"
        let created = try #require(await call(h, "POST", path, ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "w"],
                                                             "spec": ["replicas": 1]]).json)
        var forged = created
        forged.set(path: ["metadata", "uid"], to: "forged-uid")
        forged.set(path: ["metadata", "creationTimestamp"], to: "2001-01-01T00:00:00Z")
        forged.set(path: ["metadata", "generation"], to: 99)
        forged.set(path: ["metadata", "deletionTimestamp"], to: "2001-01-01T00:00:00Z")
        forged.set(path: ["spec", "replicas"], to: 2)
        let updated = try #require(await call(h, "PUT", path + "/w", forged).json)
        #expect(updated[path: ["spec", "replicas"]] == 2)
        for field in ["uid", "creationTimestamp"] {
            #expect(updated[path: ["metadata", field]] == created[path: ["metadata", field]], "\(field) changed")
        }
        #expect(updated[path: ["metadata", "generation"]] == 2, "generation follows the spec, not the body")
        #expect(updated[path: ["metadata", "deletionTimestamp"]] == nil)
    }

    /// "ServiceAccount tokens from the TokenRequest subresource (`expirationSeconds` 600 s to 48 h,
    /// default 1 h)".
    @Test func tokenRequestExpirationIsBounded() async throws {
        let h = newHandler()
        let path = "/api/v1/namespaces/default/serviceaccounts/default/token"
        func request(_ seconds: Int?) async -> APIResponse {
            var body: JSONValue = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": [:]]
            if let seconds { body.set(path: ["spec", "expirationSeconds"], to: .int(Int64(seconds))) }
            return await call(h, "POST", path, body)
        }
        let short = await request(599)
        #expect(short.status == 422, "\(short.json ?? .null)")
        #expect(await request(600).json?[path: ["spec", "expirationSeconds"]] == 600)
        #expect(await request(nil).json?[path: ["spec", "expirationSeconds"]] == 3600)
        #expect(await request(7 * 24 * 3600).json?[path: ["spec", "expirationSeconds"]] == .int(48 * 3600))
    }

    /// "`/healthz`, `/livez` and `/readyz` answer `ok` without a token."
    @Test func healthEndpointsNeedNoToken() async throws {
        let h = DevAPIHandler(store: ObjectStore(configuration: StoreConfiguration()), token: "secret")
        #expect(await call(h, "GET", "/api/v1/namespaces").status == 401)
        for path in ["/healthz", "/livez", "/readyz"] {
            let response = await call(h, "GET", path)
            #expect(response.status == 200, "\(path)")
            if case .bytes(let bytes) = response.body { #expect(String(decoding: bytes, as: UTF8.self) == "ok") }
        }
    }
}
