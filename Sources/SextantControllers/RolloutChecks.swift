import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKubeTypes
import SextantPrometheus
import SextantTransport

/// Runs a rollout's analysis: every metric's PromQL against Prometheus, and every `Rollout`
/// webhook as a check. Never throws: each failure becomes a measurement with outcome `Error`.
public struct RolloutAnalysis: Sendable {
    public typealias Query = @Sendable (_ target: PrometheusTarget, _ promql: String) async -> MetricAnswer

    /// A query answering one series per histogram bucket: `le` → value.
    public typealias BucketQuery = @Sendable (_ target: PrometheusTarget, _ promql: String) async
        -> Result<[Double: Double], AnalysisQueryError>

    let settings: ControllerSettings
    let query: Query
    let buckets: BucketQuery
    let webhooks: RolloutWebhooks
    let targets: PrometheusTargets

    /// `readSecret` reads the Secrets `spec.analysis.prometheus.secretRef` and the webhooks'
    /// `secretRef`s name (the controller's client; tests without such Secrets keep the default,
    /// which finds none).
    public init(settings: ControllerSettings, query: @escaping Query = RolloutAnalysis.prometheus,
                buckets: @escaping BucketQuery = RolloutAnalysis.prometheusBuckets, webhooks: RolloutWebhooks? = nil,
                readSecret: @escaping PrometheusTargets.SecretReader = { _, _ in nil }) {
        self.settings = settings
        self.query = query
        self.buckets = buckets
        self.webhooks = webhooks ?? RolloutWebhooks(caFile: settings.webhookCAFile, readSecret: readSecret)
        self.targets = PrometheusTargets(settings: settings, readSecret: readSecret)
    }

    /// An instant query through `SextantPrometheus` whose series are told apart by `le`.
    public static let prometheusBuckets: BucketQuery = { target, promql in
        do {
            switch try await target.client().query(promql) {
            case .vector(let samples):
                var out: [Double: Double] = [:]
                for sample in samples {
                    guard let text = sample.labels["le"], let le = text == "+Inf" ? Double.infinity : Double(text) else {
                        return .failure(AnalysisQueryError("a series without a numeric le label: \(sample.labels)"))
                    }
                    out[le] = sample.value.isNaN ? 0 : sample.value
                }
                return .success(out)
            case let other:
                return .failure(AnalysisQueryError("expected a vector by le, got a \(other.resultType)"))
            }
        } catch {
            return .failure(AnalysisQueryError("\(error)"))
        }
    }

    /// An instant query through `SextantPrometheus`.
    public static let prometheus: Query = { target, promql in
        do {
            switch try await target.client().singleValue(promql) {
            case .value(let v): return .value(v)
            case .noData: return .noData
            }
        } catch {
            return .error("\(error)")
        }
    }

    public func run(_ rollout: CanaryRollout, stable: String, canary: String, now: Date) async -> [SextantAPI.Measurement] {
        let spec = rollout.spec
        let time = KubeTime.formatMicro(now)
        let variables = AnalysisVariables(
            namespace: rollout.metadata.namespace ?? "", name: rollout.metadata.name ?? "", model: spec.modelName,
            stable: stable, canary: canary, interval: spec.analysis?.interval ?? "1m")
        let target = await targets.resolve(spec.analysis?.prometheus, namespace: rollout.metadata.namespace ?? "",
                                           field: "spec.analysis.prometheus")
        let metrics = spec.analysis?.metrics ?? []

        var results = await withTaskGroup(of: (Int, SextantAPI.Measurement).self) { group in
            for (index, metric) in metrics.enumerated() {
                group.addTask {
                    let promql: String
                    do {
                        promql = try AnalysisQueries.resolve(metric, variables)
                    } catch {
                        return (index, AnalysisEvaluation.measure(metric, query: metric.query, answer: .error("bad query template: \(error)"), time: time))
                    }
                    guard case .success(let target) = target else {
                        return (index, AnalysisEvaluation.measure(metric, query: promql, answer: .error(target.problem), time: time))
                    }
                    let answer = await query(target, promql)
                    return (index, AnalysisEvaluation.measure(metric, query: promql, answer: answer, time: time))
                }
            }
            var out: [(Int, SextantAPI.Measurement)] = []
            for await item in group { out.append(item) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        for (index, comparison) in (spec.analysis?.comparisons ?? []).enumerated() {
            var scope = variables
            if comparison.test == .sequential {
                // The counts since the rollout started: the sequential test looks at all of them each time.
                let minimum = (try? GoDuration.parse(variables.interval)).map { Double($0.components.seconds) } ?? 1
                scope.interval = SequentialComparison.window(since: rollout.status?.rolloutStartTime.flatMap(KubeTime.parse),
                                                             now: now, minimum: minimum)
            }
            results.append(await compare(comparison, field: "spec.analysis.comparisons[\(index)]", variables: scope, target: target,
                                         time: time))
        }
        if let shift = spec.analysis?.predictionShift {
            results.append(await predictionShift(shift, variables: variables, target: target, time: time))
        }
        let checks = (spec.webhooks ?? []).filter { $0.type == .rollout }
        if !checks.isEmpty {
            for result in await webhooks.call(checks, rollout: rollout, stable: stable, canary: canary, now: now) {
                var m = SextantAPI.Measurement(metric: "webhook/\(result.name)", outcome: result.succeeded ? .pass : .fail, time: time)
                m.message = result.message ?? result.statusCode.map { "HTTP \($0)" }
                results.append(m)
            }
        }
        return results
    }
}

extension RolloutAnalysis {
    /// One comparison: its success and total queries for the stable version and the candidate
    /// (four instant queries, concurrently), judged by `CanaryComparison`.
    func compare(_ metric: ComparisonMetric, field: String, variables: AnalysisVariables,
                 target: Result<PrometheusTarget, PrometheusTargetError>, time: String) async -> SextantAPI.Measurement {
        let stableQueries: (successes: String, total: String)
        let canaryQueries: (successes: String, total: String)
        do {
            stableQueries = try AnalysisQueries.resolve(metric, version: variables.stable, variables)
            canaryQueries = try AnalysisQueries.resolve(metric, version: variables.canary, variables)
        } catch {
            let failed = MetricAnswer.error("bad query template: \(error)")
            return AnalysisEvaluation.measure(metric, query: metric.successQuery ?? "", stable: (failed, failed),
                                              canary: (failed, failed), time: time)
        }
        let shown = "\(canaryQueries.successes) / \(canaryQueries.total) vs stable"
        guard case .success(let target) = target else {
            let missing = MetricAnswer.error(target.problem)
            return AnalysisEvaluation.measure(metric, query: shown, stable: (missing, missing), canary: (missing, missing), time: time)
        }
        let queries = [stableQueries.successes, stableQueries.total, canaryQueries.successes, canaryQueries.total]
        let answers = await withTaskGroup(of: (Int, MetricAnswer).self) { group in
            for (index, promql) in queries.enumerated() {
                group.addTask { (index, await query(target, promql)) }
            }
            var out = [MetricAnswer](repeating: .noData, count: queries.count)
            for await (index, answer) in group { out[index] = answer }
            return out
        }
        return AnalysisEvaluation.measure(metric, query: shown, stable: (answers[0], answers[1]),
                                          canary: (answers[2], answers[3]), time: time, field: field)
    }
}

extension RolloutAnalysis {
    /// The shadow stage's prediction comparison: both versions' score histograms, judged by PSI.
    func predictionShift(_ check: PredictionShiftCheck, variables: AnalysisVariables,
                         target: Result<PrometheusTarget, PrometheusTargetError>, time: String) async -> SextantAPI.Measurement {
        let stableQuery: String, canaryQuery: String
        do {
            stableQuery = try PredictionShift.query(version: variables.stable, interval: check.interval, variables)
            canaryQuery = try PredictionShift.query(version: variables.canary, interval: check.interval, variables)
        } catch {
            let failed = Result<[Double: Double], AnalysisQueryError>.failure(AnalysisQueryError("bad query template: \(error)"))
            return PredictionShift.measure(check, query: PredictionShift.queryTemplate, stable: failed, canary: failed, time: time)
        }
        guard case .success(let target) = target else {
            let missing = Result<[Double: Double], AnalysisQueryError>.failure(AnalysisQueryError(target.problem))
            return PredictionShift.measure(check, query: canaryQuery, stable: missing, canary: missing, time: time)
        }
        async let stable = buckets(target, stableQuery)
        async let canary = buckets(target, canaryQuery)
        return PredictionShift.measure(check, query: canaryQuery, stable: await stable, canary: await canary, time: time)
    }
}

/// Calls rollout webhooks: a JSON POST (Flagger's payload shape), 2xx within the timeout is
/// success, failures retried `retries` times one second apart. An https URL is always verified,
/// with the hook's Secret's `ca.crt` or else the controller's `--webhook-ca-file`; a Secret or
/// CA file that cannot be used fails the call before anything is sent.
public struct RolloutWebhooks: Sendable {
    let caFile: String?
    let readSecret: PrometheusTargets.SecretReader

    /// `caFile`: the controller's `--webhook-ca-file`; `readSecret` reads the hooks' `secretRef`s.
    public init(caFile: String? = nil, readSecret: @escaping PrometheusTargets.SecretReader = { _, _ in nil }) {
        self.caFile = caFile
        self.readSecret = readSecret
    }

    /// Headers and TLS for one hook, from its `secretRef` (`field` names it in errors).
    func access(_ hook: RolloutWebhook, namespace: String, field: String) async -> Result<([HTTPHeader], TLSOptions), PrometheusTargetError> {
        var headers: [HTTPHeader] = []
        var tls = TLSOptions()
        if let ref = hook.secretRef {
            let secret: Secret?
            do {
                secret = try await readSecret(namespace, ref.name)
            } catch {
                return .failure(.init("\(field).secretRef: reading Secret \(namespace)/\(ref.name): \(error)"))
            }
            guard let secret else { return .failure(.init("\(field).secretRef: Secret \(namespace)/\(ref.name) not found")) }
            switch PrometheusTargets.credentials(secret, ref: "\(field).secretRef (Secret \(namespace)/\(ref.name))") {
            case .failure(let error): return .failure(error)
            case .success(let credentials):
                if let token = credentials.token { headers.append(HTTPHeader("Authorization", "Bearer " + token)) }
                if let basic = credentials.basic { headers.append(HTTPHeader("Authorization", "Basic " + basic)) }
                tls.caData = credentials.ca
            }
        }
        if tls.caData == nil, let caFile {
            if let problem = OutboundCA.fileProblem(caFile, flag: "--webhook-ca-file") {
                return .failure(.init(problem))
            }
            tls.caFile = caFile
        }
        return .success((headers, tls))
    }

    public func call(_ hooks: [RolloutWebhook], rollout: CanaryRollout, stable: String?, canary: String?,
                     now: Date) async -> [WebhookResult] {
        await withTaskGroup(of: (Int, WebhookResult).self) { group in
            for (index, hook) in hooks.enumerated() {
                group.addTask { (index, await callOne(hook, rollout: rollout, stable: stable, canary: canary, now: now)) }
            }
            var out: [(Int, WebhookResult)] = []
            for await item in group { out.append(item) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func callOne(_ hook: RolloutWebhook, rollout: CanaryRollout, stable: String?, canary: String?, now: Date) async -> WebhookResult {
        var payload: [String: JSONValue] = [
            "name": .string(rollout.metadata.name ?? ""),
            "namespace": .string(rollout.metadata.namespace ?? ""),
            "phase": .string(rollout.status?.phase?.rawValue ?? ""),
            "type": .string(hook.type.rawValue),
            "model": .string(rollout.spec.modelName),
        ]
        payload["stableVersion"] = stable.map(JSONValue.string)
        payload["canaryVersion"] = canary.map(JSONValue.string)
        payload["metadata"] = hook.metadata.map { .object($0.mapValues(JSONValue.string)) }
        let body = Data(JSONValue.object(payload).serialized(sortedKeys: true))
        let timeout = hook.timeout.flatMap { try? GoDuration.parse($0) } ?? .seconds(10)
        let attempts = 1 + max(0, hook.retries ?? 2)
        var result = WebhookResult(name: hook.name, type: hook.type, time: KubeTime.formatMicro(now), succeeded: false)
        let index = rollout.spec.webhooks?.firstIndex { $0.name == hook.name } ?? 0
        let headers: [HTTPHeader], tls: TLSOptions
        switch await access(hook, namespace: rollout.metadata.namespace ?? "", field: "spec.webhooks[\(index)]") {
        case .success(let access): (headers, tls) = access
        case .failure(let error):
            result.message = error.description  // nothing was sent
            return result
        }
        var made = 0
        for attempt in 1...attempts {
            if attempt > 1 { try? await Task.sleep(for: .seconds(1)) }
            if Task.isCancelled { break }
            made = attempt
            do {
                let response = try await HTTPClient.shared.send(HTTPRequest(
                    method: "POST", url: hook.url,
                    headers: [HTTPHeader("Content-Type", "application/json"), HTTPHeader("Accept", "application/json")] + headers,
                    body: body, tls: tls, timeouts: HTTPTimeouts(connect: timeout, idle: nil, total: timeout), maxResponseBytes: 64 << 10))
                result.statusCode = response.status
                let excerpt = String(decoding: response.body.prefix(256), as: UTF8.self)
                if (200..<300).contains(response.status) {
                    result.succeeded = true
                    result.message = excerpt.isEmpty ? nil : excerpt
                    return result
                }
                result.message = "HTTP \(response.status) from \(hook.url): \(excerpt)"
            } catch let error as TransportError where error.kind == .tls {
                result.message = "\(hook.url): \(error.message)"
                break  // a certificate that does not verify will not verify a second later
            } catch {
                result.message = "\(hook.url): \(error)"
            }
        }
        if made > 1 { result.message = "\(result.message ?? "failed") (after \(made) attempts)" }
        return result
    }
}
