import Foundation
import Logging
import SextantJSON
import SextantKube
import SextantKubeTypes

/// Records `events.k8s.io/v1` Events about objects. A repeat of the same event (same object,
/// type, reason, action and note) within `seriesWindow` is not a new Event but bumps the first
/// one's `series` (count and lastObservedTime), as the Kubernetes event library does; so a
/// reconcile loop that fails every few seconds leaves one Event with a count, not thousands.
public actor EventRecorder {
    public enum EventType: String, Sendable { case normal = "Normal", warning = "Warning" }

    struct SeriesKey: Hashable {
        var uid: String
        var kind: String
        var namespace: String
        var name: String
        var type: String
        var reason: String
        var action: String
        var note: String
    }

    struct Recorded {
        var eventName: String
        var namespace: String
        var count: Int
        var firstSeen: Date
        var lastSeen: Date
    }

    let client: KubeClient
    let controllerName: String
    let instance: String
    let seriesWindow: TimeInterval
    let maxTracked: Int
    let logger: Logger
    private var recorded: [SeriesKey: Recorded] = [:]
    /// Names of `recordOnce` Events known to exist.
    private var written: Set<String> = []

    /// - Parameters:
    ///   - controllerName: `reportingController`, e.g. `mlops.sextant.dev/sextant-controller`.
    ///   - instance: `reportingInstance`, e.g. the Pod name.
    public init(client: KubeClient, controllerName: String, instance: String, seriesWindow: TimeInterval = 360,
                maxTracked: Int = 4096, logger: Logger = Logger(label: "sextant.operator.events")) {
        self.client = client
        self.controllerName = controllerName
        self.instance = instance
        self.seriesWindow = seriesWindow
        self.maxTracked = maxTracked
        self.logger = logger
    }

    /// Records an event about `object`. Failures are logged, never thrown: an Event is a
    /// courtesy to humans and must not fail a reconcile.
    public func record<T: KubernetesResource>(_ object: T, type: EventType, reason: String, action: String,
                                              note: String, now: Date = Date()) async {
        let meta = object.metadata
        let regarding = ObjectReference(apiVersion: T.apiVersion, kind: T.kind, name: meta.name,
                                        namespace: meta.namespace, uid: meta.uid)
        await record(regarding: regarding, type: type, reason: reason, action: action, note: note, now: now)
    }

    public func record(regarding: ObjectReference, type: EventType, reason: String, action: String, note: String,
                       now: Date = Date()) async {
        // The API rejects notes over 1 KiB.
        let note = note.count > 1024 ? String(note.prefix(1021)) + "..." : note
        let namespace = regarding.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let key = SeriesKey(uid: regarding.uid ?? "", kind: regarding.kind ?? "", namespace: namespace,
                            name: regarding.name ?? "", type: type.rawValue, reason: reason, action: action, note: note)
        if var seen = recorded[key], now.timeIntervalSince(seen.lastSeen) < seriesWindow {
            seen.count += 1
            seen.lastSeen = now
            recorded[key] = seen
            let patch: JSONValue = ["series": ["count": .int(Int64(seen.count)),
                                               "lastObservedTime": .string(KubeTime.formatMicro(now))]]
            do {
                let _: Event = try await client.patch(ResourceDescriptor(Event.self), name: seen.eventName,
                                                      .merge(patch), namespace: seen.namespace, as: Event.self)
                return
            } catch where error.isKube(.notFound) {
                // Expired or deleted by someone: start a new one below.
                recorded[key] = nil
            } catch {
                logger.warning("cannot update event", metadata: ["event": "\(seen.eventName)", "error": "\(error)"])
                return
            }
        }
        var event = Event(metadata: ObjectMeta(namespace: namespace))
        // Unique and sortable like client-go's names: <object>.<hex nanoseconds>.
        let stamp = String(UInt64(now.timeIntervalSince1970 * 1e9), radix: 16)
        let base = String((regarding.name ?? "object").prefix(200))
        event.metadata.name = "\(base).\(stamp)\(String(UInt32.random(in: 0...0xfff), radix: 16))"
        event.eventTime = KubeTime.formatMicro(now)
        event.reportingController = controllerName
        event.reportingInstance = instance
        event.action = action
        event.reason = reason
        event.regarding = regarding
        event.note = note
        event.type = type.rawValue
        do {
            let created = try await client.create(event)
            if recorded.count >= maxTracked { evictOldest() }
            recorded[key] = Recorded(eventName: created.metadata.name ?? event.metadata.name ?? "", namespace: namespace,
                                     count: 1, firstSeen: now, lastSeen: now)
        } catch {
            logger.warning("cannot create event", metadata: ["reason": "\(reason)", "error": "\(error)"])
        }
    }

    /// Records an Event at least once under a name the caller derives from what happened: a
    /// second call with the same name (this process, or a restarted one after a crash) finds it
    /// (409 AlreadyExists) and adds nothing. Names known to exist are remembered, so steady
    /// state costs no request. Returns whether the Event exists now (false: retry later).
    @discardableResult
    public func recordOnce(regarding: ObjectReference, name: String, type: EventType, reason: String, action: String,
                           note: String, eventTime: Date) async -> Bool {
        if written.contains(name) { return true }
        let namespace = regarding.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        var event = Event(metadata: ObjectMeta(name: name, namespace: namespace))
        event.eventTime = KubeTime.formatMicro(eventTime)
        event.reportingController = controllerName
        event.reportingInstance = instance
        event.action = action
        event.reason = reason
        event.regarding = regarding
        event.note = note.count > 1024 ? String(note.prefix(1021)) + "..." : note
        event.type = type.rawValue
        do {
            _ = try await client.create(event)
        } catch where error.isKube(.alreadyExists) {
            // Written before (by this process or one that died after writing it).
        } catch {
            logger.warning("cannot create event", metadata: ["event": "\(name)", "error": "\(error)"])
            return false
        }
        if written.count >= maxTracked * 4 { written.removeAll() }  // forgetting costs one 409 each
        written.insert(name)
        return true
    }

    private func evictOldest() {
        let oldest = recorded.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(max(1, maxTracked / 4))
        for (key, _) in oldest { recorded[key] = nil }
    }
}
