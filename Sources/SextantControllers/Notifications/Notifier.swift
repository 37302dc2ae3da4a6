import Foundation
import Logging
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantOperator
import SextantTransport

/// How notifications are delivered: retries with exponential backoff on 5xx, 429 and connection
/// errors (a 429's `Retry-After` is honoured up to `maxDelay`), and at most one POST per
/// `minInterval` to the same URL (Slack allows about one message per second per webhook).
public struct NotificationDeliveryPolicy: Sendable {
    public var attempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    public var minInterval: Duration
    public var timeout: Duration

    public init(attempts: Int = 5, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(30),
                minInterval: Duration = .seconds(1), timeout: Duration = .seconds(10)) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.minInterval = minInterval
        self.timeout = timeout
    }

    /// The wait before attempt `attempt + 1` (1-based): base · 2^(attempt−1), or the server's Retry-After; both capped.
    public func delay(after attempt: Int, retryAfter: String?) -> Duration {
        if let retryAfter, let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            return min(.milliseconds(Int64(seconds * 1000)), maxDelay)
        }
        return min(baseDelay * (1 << min(attempt - 1, 20)), maxDelay)
    }
}

/// Posts notifications in the background so that a slow or dead receiver never holds a
/// reconcile. Per object and target, notifications go out one at a time in the order submitted
/// (targets do not wait for each other); each
/// delivered (or given up) one is recorded in the object's `status.notifications` with a JSON
/// patch, which a restarted controller reads to post only what is missing. A notification is
/// posted at least once: a crash between the POST and the patch posts it again (receivers get
/// `X-Sextant-Notification-Id` to drop such a repeat).
public actor Notifier {
    struct Job: Sendable {
        var notification: NotificationMessage
        var target: NotificationTarget
        var resource: ResourceDescriptor
        var regarding: ObjectReference
        var key: String { "\(target.name)\u{0}\(notification.id)" }
    }

    let client: KubeClient
    let events: EventRecorder
    let policy: NotificationDeliveryPolicy
    /// `--webhook-ca-file`, for https targets whose Secret has no `ca.crt`.
    let caFile: String?
    let send: @Sendable (HTTPRequest) async throws -> HTTPResponse
    let logger = Logger(label: "sextant.notifications")
    var queues: [String: [Job]] = [:]
    /// Jobs queued, in flight or finished by this process (the cache may not show the record yet).
    var known: Set<String> = []
    var nextSlot: [String: ContinuousClock.Instant] = [:]

    public init(client: KubeClient, events: EventRecorder, policy: NotificationDeliveryPolicy = NotificationDeliveryPolicy(),
                caFile: String? = nil,
                send: @escaping @Sendable (HTTPRequest) async throws -> HTTPResponse = { try await HTTPClient.shared.send($0) }) {
        self.client = client
        self.events = events
        self.policy = policy
        self.caFile = caFile
        self.send = send
    }

    /// Queues what `NotificationPolicy.pending` found for one object; returns at once.
    public func submit(_ pending: [(NotificationMessage, NotificationTarget)], resource: ResourceDescriptor, regarding: ObjectReference) {
        guard !pending.isEmpty else { return }
        let object = "\(resource.plural)/\(regarding.namespace ?? "")/\(regarding.name ?? "")"
        var woken: Set<String> = []
        for (n, t) in pending {
            let job = Job(notification: n, target: t, resource: resource, regarding: regarding)
            guard known.insert("\(object)\u{0}\(job.key)").inserted else { continue }
            let queue = "\(object)\u{0}\(t.name)"
            if queues[queue] == nil { woken.insert(queue) }
            queues[queue, default: []].append(job)
        }
        if known.count > 50_000 { known.removeAll() }  // the status records remain the durable guard
        for queue in woken {
            Task { await self.drain(queue) }
        }
    }

    func drain(_ object: String) async {
        while let job = queues[object]?.first {
            await deliver(job)
            queues[object]?.removeFirst()
            if queues[object]?.isEmpty == true { queues[object] = nil }
        }
    }

    func deliver(_ job: Job) async {
        let namespace = job.regarding.namespace ?? ""
        let name = job.regarding.name ?? ""
        // Recorded by an earlier process: nothing to do.
        if let records = try? await records(job), records.contains(where: { $0.id == job.notification.id && $0.target == job.target.name }) {
            return
        }
        var record = NotificationRecord(id: job.notification.id, target: job.target.name, event: job.notification.event,
                                        time: "", result: .failed)
        do {
            let (url, tls) = try await resolveURL(job.target, namespace: namespace)
            let (attempts, failure) = await post(job, url: url, tls: tls)
            record.attempts = attempts
            if let failure {
                record.message = failure
            } else {
                record.result = .sent
            }
        } catch {
            record.attempts = 0
            record.message = "\(error)"
        }
        record.time = KubeTime.formatMicro(Date())
        if record.result == .failed {
            logger.warning("notification not delivered", metadata: [
                "object": "\(namespace)/\(name)", "target": "\(job.target.name)", "event": "\(job.notification.event.rawValue)",
                "error": "\(record.message ?? "")"])
            await events.record(regarding: job.regarding, type: .warning, reason: "NotificationFailed", action: "Notify",
                                note: "\(job.notification.event.rawValue) to \(job.target.name) (\(job.target.provider.rawValue)): \(record.message ?? "")")
        }
        await recordDelivery(record, job)
    }

    /// POSTs until a 2xx, a status not worth retrying, or the attempts run out. Returns the
    /// attempts made and, if it failed, why (never the URL: it may be a credential).
    func post(_ job: Job, url: String, tls: TLSOptions) async -> (Int, String?) {
        let body = Data(NotificationProviders.provider(job.target.provider).body(for: job.notification).serialized(sortedKeys: true))
        var lastError = ""
        for attempt in 1...max(1, policy.attempts) {
            await waitForSlot(url)
            var retryAfter: String?
            do {
                let response = try await send(HTTPRequest(
                    method: "POST", url: url,
                    headers: [HTTPHeader("Content-Type", "application/json"), HTTPHeader("User-Agent", "sextant-controller"),
                              HTTPHeader("X-Sextant-Notification-Id", job.notification.id),
                              HTTPHeader("X-Sextant-Event", job.notification.event.rawValue)],
                    body: body, tls: tls, timeouts: HTTPTimeouts(connect: policy.timeout, idle: nil, total: policy.timeout),
                    maxResponseBytes: 16 << 10))
                if (200..<300).contains(response.status) { return (attempt, nil) }
                let excerpt = String(decoding: response.body.prefix(200), as: UTF8.self)
                lastError = "HTTP \(response.status)\(excerpt.isEmpty ? "" : ": \(excerpt)")"
                guard response.status == 429 || response.status >= 500 else { return (attempt, lastError) }
                retryAfter = response.headers["Retry-After"]
            } catch let error as TransportError where error.kind == .tls {
                return (attempt, error.message)  // a certificate that does not verify will not a second later; never the URL
            } catch {
                // TransportError's description ends with the URL, which may be a credential.
                lastError = (error as? TransportError)?.message ?? "\(error)"
            }
            if attempt < policy.attempts {
                try? await Task.sleep(for: policy.delay(after: attempt, retryAfter: retryAfter))
            }
        }
        return (policy.attempts, "\(lastError) (after \(policy.attempts) attempts)")
    }

    /// The rate limit: reserves the next free slot of this URL and waits for it.
    func waitForSlot(_ url: String) async {
        let now = ContinuousClock.now
        let slot = max(now, nextSlot[url] ?? now)
        nextSlot[url] = slot + policy.minInterval
        if slot > now { try? await Task.sleep(until: slot, clock: .continuous) }
    }

    struct NotificationError: Error, CustomStringConvertible {
        var description: String
    }

    /// The target's URL and TLS: the Secret's `ca.crt`, else `--webhook-ca-file`. A CA that
    /// cannot be used is an error before anything is sent.
    func resolveURL(_ target: NotificationTarget, namespace: String) async throws -> (String, TLSOptions) {
        var tls = TLSOptions()
        if let caFile {
            if let problem = OutboundCA.fileProblem(caFile, flag: "--webhook-ca-file") {
                throw NotificationError(description: problem)
            }
            tls.caFile = caFile
        }
        if let url = target.url { return (url, tls) }
        guard let ref = target.secretRef else { throw NotificationError(description: "no url and no secretRef") }
        let key = ref.key ?? "url"
        let secret: Secret
        do {
            secret = try await client.get(Secret.self, name: ref.name, namespace: namespace)
        } catch {
            throw NotificationError(description: "secret \(namespace)/\(ref.name): \(error)")
        }
        guard let encoded = secret.data?[key], let data = Data(base64Encoded: encoded) else {
            throw NotificationError(description: "secret \(namespace)/\(ref.name) has no key \"\(key)\"")
        }
        let url = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard url.range(of: #"^https?://[^/?#\s]+([/?#][^\s]*)?$"#, options: .regularExpression) != nil else {
            throw NotificationError(description: "secret \(namespace)/\(ref.name) key \"\(key)\" is not an http(s) URL")
        }
        if let encoded = secret.data?["ca.crt"] {
            guard let ca = Data(base64Encoded: encoded), OutboundCA.isPEM(ca) else {
                throw NotificationError(description: "secret \(namespace)/\(ref.name) key \"ca.crt\" is not a PEM certificate")
            }
            tls.caData = ca
            tls.caFile = nil
        }
        return (url, tls)
    }

    func records(_ job: Job) async throws -> [NotificationRecord] {
        let object: DynamicObject = try await client.get(job.resource, name: job.regarding.name ?? "", namespace: job.regarding.namespace)
        guard let list = object.raw["status"]?["notifications"] else { return [] }
        return (try? list.decode(as: [NotificationRecord].self)) ?? []
    }

    /// Adds the record to `status.notifications` (read, then a JSON patch guarded by the
    /// resourceVersion read, retried on a conflict with the reconciler's own status writes).
    func recordDelivery(_ record: NotificationRecord, _ job: Job) async {
        for _ in 0..<12 {
            do {
                let object: DynamicObject = try await client.get(job.resource, name: job.regarding.name ?? "",
                                                                 namespace: job.regarding.namespace)
                guard object.metadata.uid == job.regarding.uid else { return }  // deleted and re-created
                let current = (try? object.raw["status"]?["notifications"]?.decode(as: [NotificationRecord].self)) ?? nil
                let list = NotificationPolicy.appending(record, to: current)
                var ops: [JSONValue] = [["op": "test", "path": "/metadata/resourceVersion",
                                         "value": .string(object.metadata.resourceVersion ?? "")]]
                if object.raw["status"] == nil { ops.append(["op": "add", "path": "/status", "value": [:]]) }
                ops.append(["op": "add", "path": "/status/notifications", "value": try JSONValue(encoding: list)])
                let _: DynamicObject = try await client.patch(job.resource, name: job.regarding.name ?? "", .json(ops),
                                                              namespace: job.regarding.namespace, subresource: "status")
                return
            } catch let error as KubeError where error.reason == .notFound {
                return
            } catch {
                // A conflict with another target's record or the reconciler's status write.
                try? await Task.sleep(for: .milliseconds(Int64.random(in: 20...200)))
            }
        }
        logger.notice("cannot record a notification in status; a restart may post it again",
                      metadata: ["object": "\(job.regarding.namespace ?? "")/\(job.regarding.name ?? "")", "id": "\(record.id)"])
    }
}
