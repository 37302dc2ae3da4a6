import Foundation
import SextantJSON
import SextantKubeTypes

// Watches: the event history, fan-out to watchers in the store's serial order, bookmarks, compaction.
extension ObjectStore {
    /// Starts a watch. Without a resourceVersion (or with "0") the stream begins with a synthetic
    /// ADDED for every matching object; from a resourceVersion it replays the kept history, or
    /// sends a 410 Expired ERROR event when that part of history was compacted away.
    public func watch(_ type: ResourceType, namespace: String?, name: String?, options: ListOptions,
                      resourceVersion: String?, bookmarks: Bool, formatKey: String, encoder: @escaping WatchEncoder,
                      initialEvents: Bool? = nil)
        throws(APIError) -> (id: UInt64, stream: WatchChannel)
    {
        let channel = WatchChannel(limit: configuration.watchBufferLimit)
        nextWatcherID += 1
        let id = nextWatcherID
        if refusingWatches {
            channel.finish()
            return (id, channel)
        }
        let watcher = Watcher(storageKey: type.storageKey, namespace: namespace, name: name, labels: options.labels,
                              fields: options.fields, bookmarks: bookmarks, formatKey: formatKey, encoder: encoder,
                              channel: channel)
        let from: Int64?
        if let rv = resourceVersion, !rv.isEmpty, rv != "0" {
            guard let parsed = Int64(rv) else {
                throw APIError.badRequest("invalid resourceVersion \"\(rv)\": must be an integer")
            }
            from = parsed
        } else {
            from = nil
        }
        if initialEvents == true {
            // Watch-list (`sendInitialEvents=true`): the current state, whatever resourceVersion
            // was asked for (it is a lower bound, NotOlderThan), then a bookmark marking its end.
            sendCurrentState(watcher, type: type)
            let end: JSONValue = ["kind": .string(type.kind), "apiVersion": .string(type.groupVersion),
                                  "metadata": ["resourceVersion": .string(String(revision)),
                                               "annotations": ["k8s.io/initial-events-end": "true"]]]
            channel.send(encoder("BOOKMARK", end))
        } else if let from {
            if from < compactedRevision {
                let status = APIError.gone("too old resource version: \(from) (\(compactedRevision + 1))")
                channel.send(encoder("ERROR", status.statusJSON))
                channel.finish()
                return (id, channel)
            }
            for event in historyEvents() where event.revision > from && event.storageKey == type.storageKey {
                if matches(watcher, event.object) { channel.send(encoder(event.type, event.object)) }
            }
        } else if initialEvents == nil {
            sendCurrentState(watcher, type: type)
        }
        watchers[id] = watcher
        return (id, channel)
    }

    /// A synthetic ADDED event for every object the watcher selects.
    private func sendCurrentState(_ watcher: Watcher, type: ResourceType) {
        for key in (objects[type.storageKey] ?? [:]).keys.sorted() {
            if let object = objects[type.storageKey]?[key], matches(watcher, object) {
                watcher.channel.send(watcher.encoder("ADDED", object))
            }
        }
    }

    public func stopWatch(_ id: UInt64) {
        watchers.removeValue(forKey: id)?.channel.finish()
    }

    /// Shutdown: ends every watch, and every watch opened from now on at once. Clients re-watch
    /// as soon as a stream ends; a watch opened after the first drop would otherwise keep the HTTP
    /// server's graceful shutdown waiting for ever.
    public func closeWatchesForShutdown() -> Int {
        refusingWatches = true
        return dropAllWatches()
    }

    /// Ends every open watch stream (fault injection, shutdown).
    public func dropAllWatches() -> Int {
        let count = watchers.count
        for watcher in watchers.values { watcher.channel.finish() }
        watchers.removeAll()
        return count
    }

    public var watcherCount: Int { watchers.count }

    /// Sends a BOOKMARK with the current resourceVersion to every watcher that asked for them.
    public func sendBookmarks() {
        for (id, watcher) in watchers where watcher.bookmarks {
            let type = anyType(storageKey: watcher.storageKey)
            let object: JSONValue = ["kind": .string(type?.kind ?? ""), "apiVersion": .string(type?.groupVersion ?? ""),
                                     "metadata": ["resourceVersion": .string(String(revision))]]
            if !watcher.channel.send(watcher.encoder("BOOKMARK", object)) { stopWatch(id) }
        }
    }

    /// Forgets the event history: watches from any older resourceVersion get 410 Expired.
    public func compactHistory() {
        history.removeAll()
        historyStart = 0
        compactedRevision = revision
    }

    private func matches(_ watcher: Watcher, _ object: JSONValue) -> Bool {
        if let ns = watcher.namespace, object[path: ["metadata", "namespace"]]?.stringValue != ns { return false }
        if let name = watcher.name, object[path: ["metadata", "name"]]?.stringValue != name { return false }
        return watcher.labels.matches(object: object) && watcher.fields.matches(object: object)
    }

    private func historyEvents() -> [StoredEvent] {
        Array(history[historyStart...]) + Array(history[..<historyStart])
    }

    /// Appends to the history ring and fans the event out, encoding it once per output format.
    func record(_ storageKey: String, _ type: String, _ object: JSONValue) {
        let event = StoredEvent(revision: revision, storageKey: storageKey, type: type, object: object)
        if history.count < configuration.historyLimit {
            history.append(event)
        } else {
            compactedRevision = history[historyStart].revision
            history[historyStart] = event
            historyStart = (historyStart + 1) % history.count
        }
        var encoded: [String: [UInt8]] = [:]
        var overflowed: [UInt64] = []
        for (id, watcher) in watchers where watcher.storageKey == storageKey && matches(watcher, object) {
            let bytes: [UInt8]
            if let cached = encoded[watcher.formatKey] {
                bytes = cached
            } else {
                bytes = watcher.encoder(type, object)
                encoded[watcher.formatKey] = bytes
            }
            if !watcher.channel.send(bytes) { overflowed.append(id) }
        }
        for id in overflowed { stopWatch(id) }
    }
}
