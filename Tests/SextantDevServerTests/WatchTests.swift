import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// Reads watch events from an in-process watch response until `count` arrived or the stream ended.
func events(_ response: APIResponse, count: Int, timeout: Duration = .seconds(5)) async -> [JSONValue] {
    guard case .stream(let stream, _, _) = response.body else { return [] }
    return await withTaskGroup(of: [JSONValue].self) { group in
        group.addTask {
            var collected: [JSONValue] = []
            for await chunk in stream {
                for line in chunk.split(separator: UInt8(ascii: "\n")) {
                    if let event = try? JSONValue.parse(line) { collected.append(event) }
                }
                if collected.count >= count { break }
            }
            return collected
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return []
        }
        var result: [JSONValue] = []
        for await value in group {
            result = value
            group.cancelAll()
            break
        }
        return result
    }
}

func summary(_ events: [JSONValue]) -> [String] {
    events.map { "\($0["type"]?.stringValue ?? "?") \($0[path: ["object", "metadata", "name"]]?.stringValue ?? "-")" }
}

@Suite struct WatchTests {
    @Test func watchWithoutResourceVersionStartsWithCurrentState() async throws {
        let h = newHandler()
        _ = await call(h, "POST", cmPath, configMap("a"))
        _ = await call(h, "POST", cmPath, configMap("b"))
        let watch = await call(h, "GET", cmPath + "?watch=true")
        #expect(watch.status == 200)
        _ = await call(h, "PATCH", cmPath + "/a", ["data": ["x": "1"]], contentType: "application/merge-patch+json")
        _ = await call(h, "DELETE", cmPath + "/b")
        let seen = await events(watch, count: 4)
        #expect(summary(seen) == ["ADDED a", "ADDED b", "MODIFIED a", "DELETED b"])
    }

    @Test func watchFromResourceVersionReplaysHistoryInOrder() async throws {
        let h = newHandler()
        let first = try #require(await call(h, "POST", cmPath, configMap("a")).json)
        let rv = try #require(first[path: ["metadata", "resourceVersion"]]?.stringValue)
        _ = await call(h, "POST", cmPath, configMap("b", labels: ["app": "x"]))
        _ = await call(h, "POST", "/api/v1/namespaces/default/secrets", ["metadata": ["name": "s"]])
        _ = await call(h, "PATCH", cmPath + "/a", ["data": ["x": "1"]], contentType: "application/merge-patch+json")
        let watch = await call(h, "GET", cmPath + "?watch=1&resourceVersion=\(rv)")
        let seen = await events(watch, count: 2)
        #expect(summary(seen) == ["ADDED b", "MODIFIED a"])
        var last: Int64 = Int64(rv) ?? 0
        for event in seen {
            let n = Int64(event[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "") ?? 0
            #expect(n > last)
            last = n
        }
        let filtered = await call(h, "GET", cmPath + "?watch=1&resourceVersion=\(rv)&labelSelector=app%3Dx")
        #expect(summary(await events(filtered, count: 1)) == ["ADDED b"])
    }

    @Test func tooOldResourceVersionIsGone() async throws {
        let h = newHandler(history: 3)
        let first = try #require(await call(h, "POST", cmPath, configMap("a")).json)
        let rv = try #require(first[path: ["metadata", "resourceVersion"]]?.stringValue)
        for i in 0..<5 { _ = await call(h, "POST", cmPath, configMap("n\(i)")) }
        let watch = await call(h, "GET", cmPath + "?watch=true&resourceVersion=\(rv)")
        let seen = await events(watch, count: 1)
        #expect(seen.first?["type"] == "ERROR")
        #expect(seen.first?[path: ["object", "code"]] == 410)
        #expect(seen.first?[path: ["object", "reason"]] == "Expired")
        // A recent resourceVersion still works.
        let recent = try #require(await call(h, "GET", cmPath).json?[path: ["metadata", "resourceVersion"]]?.stringValue)
        let ok = await call(h, "GET", cmPath + "?watch=true&resourceVersion=\(recent)")
        _ = await call(h, "POST", cmPath, configMap("late"))
        #expect(summary(await events(ok, count: 1)) == ["ADDED late"])
    }

    @Test func compactionEndpointExpiresOldResourceVersions() async throws {
        let h = newHandler()
        let first = try #require(await call(h, "POST", cmPath, configMap("a")).json)
        let rv = try #require(first[path: ["metadata", "resourceVersion"]]?.stringValue)
        _ = await call(h, "POST", cmPath, configMap("b"))
        #expect(await call(h, "POST", "/sextant-dev/compact").status == 200)
        let watch = await call(h, "GET", cmPath + "?watch=true&resourceVersion=\(rv)")
        #expect(await events(watch, count: 1).first?[path: ["object", "code"]] == 410)
    }

    @Test func bookmarksCarryTheCurrentResourceVersion() async throws {
        let h = newHandler()
        let watch = await call(h, "GET", cmPath + "?watch=true&allowWatchBookmarks=true")
        let created = try #require(await call(h, "POST", cmPath, configMap("a")).json)
        await h.store.sendBookmarks()
        let seen = await events(watch, count: 2)
        #expect(summary(seen) == ["ADDED a", "BOOKMARK -"])
        #expect(seen.last?[path: ["object", "metadata", "resourceVersion"]] == created[path: ["metadata", "resourceVersion"]])
        #expect(seen.last?[path: ["object", "kind"]] == "ConfigMap")
    }

    @Test func droppedWatchesEndTheirStreams() async throws {
        let h = newHandler()
        let watch = await call(h, "GET", cmPath + "?watch=true")
        #expect(await h.store.watcherCount == 1)
        let dropped = await call(h, "POST", "/sextant-dev/drop-watches")
        #expect(dropped.json?["dropped"] == 1)
        // The stream ends instead of waiting for the timeout.
        let clock = ContinuousClock()
        let start = clock.now
        // The margin is for a loaded machine (other suites share the 2 pool threads), not a speed bound.
        _ = await events(watch, count: 1, timeout: .seconds(60))
        #expect(clock.now - start < .seconds(45))
    }

    @Test func watchesOpenedDuringShutdownEndAtOnce() async throws {
        let h = newHandler()
        let before = await call(h, "GET", cmPath + "?watch=true")
        #expect(await h.store.closeWatchesForShutdown() == 1)
        // A client that re-watches at once must not keep the graceful shutdown waiting.
        let after = await call(h, "GET", cmPath + "?watch=true")
        #expect(await h.store.watcherCount == 0)
        let clock = ContinuousClock()
        let start = clock.now
        _ = await events(before, count: 1, timeout: .seconds(60))
        _ = await events(after, count: 1, timeout: .seconds(60))
        #expect(clock.now - start < .seconds(45))
    }

    @Test func tableWatchCarriesRows() async throws {
        let h = newHandler()
        let watch = await call(h, "GET", cmPath + "?watch=true", accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        _ = await call(h, "POST", cmPath, configMap("a"))
        let seen = await events(watch, count: 1)
        #expect(seen.first?[path: ["object", "kind"]] == "Table")
        #expect(seen.first?[path: ["object", "rows"]]?[0]?["cells"]?[0] == "a")
    }
}
