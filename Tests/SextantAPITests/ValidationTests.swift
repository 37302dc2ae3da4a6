import Foundation
import SextantAPI
import SextantJSON
import Testing

@Suite struct ValidationTests {
    func rollout(_ strategy: RolloutStrategy) -> CanaryRollout {
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "vs"))
        routing.services = ServicePair(stable: "model-stable", canary: "model-canary")
        return CanaryRollout(
            metadata: .init(name: "r"),
            spec: CanaryRolloutSpec(modelName: "model", serving: ServingSpec(managed: ManagedServing()),
                                    routing: routing, strategy: strategy))
    }

    func paths(_ errors: [FieldError]) -> Set<String> { Set(errors.map(\.path)) }

    @Test func aValidRolloutHasNoErrors() {
        let r = rollout(RolloutStrategy(canary: CanaryStrategy(steps: [CanaryStep(setWeight: 10), CanaryStep(pause: PauseStep())])))
        #expect(r.validate().isEmpty)
    }

    @Test func stepErrorsNameTheStep() {
        let steps = [CanaryStep(setWeight: 10), CanaryStep(pause: PauseStep(duration: "5 minutes")),
                     CanaryStep(setWeight: 150), CanaryStep(setWeight: 20, pause: PauseStep())]
        let errors = rollout(RolloutStrategy(canary: CanaryStrategy(steps: steps))).validate()
        #expect(paths(errors) == ["spec.strategy.canary.steps[1].pause.duration", "spec.strategy.canary.steps[2].setWeight",
                                  "spec.strategy.canary.steps[3]"])
        let duration = errors.first { $0.path.hasSuffix("pause.duration") }
        #expect(duration?.message.contains("5 minutes") == true)
    }

    @Test func webhookSecretRefNamesASecret() {
        var r = rollout(RolloutStrategy(canary: CanaryStrategy(stepWeight: 10)))
        var good = RolloutWebhook(name: "approve", type: .confirmPromotion, url: "https://approvals.test/confirm")
        good.secretRef = SecretReference(name: "approvals-webhook")
        var bad = RolloutWebhook(name: "load", type: .rollout, url: "https://load.test/check")
        bad.secretRef = SecretReference(name: "Not_A_Name")
        r.spec.webhooks = [good, bad]
        let errors = r.validate()
        #expect(paths(errors) == ["spec.webhooks[1].secretRef.name"], "\(errors)")
        #expect(errors.first?.message.contains("Not_A_Name") == true)
    }

    @Test func maxWeightMustReachStepWeight() {
        let errors = rollout(RolloutStrategy(canary: CanaryStrategy(stepWeight: 30, maxWeight: 20))).validate()
        #expect(paths(errors) == ["spec.strategy.canary.maxWeight"])
        // The default maxWeight (50) is used when unset.
        #expect(rollout(RolloutStrategy(canary: CanaryStrategy(stepWeight: 60))).validate().map(\.path)
                == ["spec.strategy.canary.maxWeight"])
        #expect(rollout(RolloutStrategy(canary: CanaryStrategy(stepWeight: 10))).validate().isEmpty)
        #expect(CanaryRollout.derivedWeights(stepWeight: 10, maxWeight: 50) == [10, 20, 30, 40, 50])
        #expect(CanaryRollout.derivedWeights(stepWeight: 20, maxWeight: 50) == [20, 40, 50])
        #expect(CanaryRollout.derivedWeights(stepWeight: 60, maxWeight: 50) == [50])
    }

    @Test func exactlyOneStrategy() {
        let none = rollout(RolloutStrategy()).validate()
        #expect(none.map(\.path) == ["spec.strategy"])
        #expect(none.first?.kind == .required)
        let two = rollout(RolloutStrategy(blueGreen: BlueGreenStrategy(), shadow: ShadowStrategy())).validate()
        #expect(two.map(\.path) == ["spec.strategy"])
        #expect(two.first?.kind == .invalid)
    }

    @Test func exactlyOneRouterAndGatewayRoutesNeedServices() {
        var gateway = rollout(RolloutStrategy(blueGreen: BlueGreenStrategy()))
        gateway.spec.routing = RoutingSpec(httpRoute: GatewayRouteRef(name: "fraud", rules: ["primary"]),
                                           services: ServicePair(stable: "a", canary: "b"))
        #expect(gateway.validate().isEmpty)
        var two = gateway
        two.spec.routing.grpcRoute = GatewayRouteRef(name: "fraud")
        #expect(paths(two.validate()) == ["spec.routing"])
        #expect(two.validate().first?.message.contains("virtualService, httpRoute and grpcRoute") == true)
        var none = gateway
        none.spec.routing.httpRoute = nil
        #expect(none.validate().map(\.kind) == [.required])
        var subsets = gateway
        subsets.spec.routing.services = nil
        subsets.spec.routing.destinationRule = DestinationRuleRef(name: "dr", host: "h")
        #expect(paths(subsets.validate()) == ["spec.routing.services"])
        var duplicate = gateway
        duplicate.spec.routing.httpRoute?.rules = ["primary", "primary"]
        #expect(paths(duplicate.validate()) == ["spec.routing.httpRoute.rules[1]"])
    }

    @Test func comparisonsNeedOneQuerySourceAndSaneSettings() {
        var r = rollout(RolloutStrategy(blueGreen: BlueGreenStrategy()))
        var analysis = AnalysisSpec()
        var good = ComparisonMetric(name: "sr", template: .successRate)
        good.maxDegradation = 0.02
        var both = ComparisonMetric(name: "both", template: .successRate)
        both.successQuery = "a"
        both.totalQuery = "b"
        var half = ComparisonMetric(name: "half")
        half.successQuery = "a"
        var wild = ComparisonMetric(name: "wild", template: .modelAccuracy)
        wild.confidence = 1.5
        wild.minSamples = 0
        var sequential = ComparisonMetric(name: "seq", template: .successRate)
        sequential.test = .sequential
        var windowed = ComparisonMetric(name: "windowed", template: .successRate)
        windowed.test = .sequential
        windowed.interval = "1m"
        var accuracy = ComparisonMetric(name: "acc", template: .modelAccuracy)
        accuracy.test = .sequential
        analysis.comparisons = [good, both, half, wild, sequential, windowed, accuracy]
        analysis.metrics = [AnalysisMetric(name: "sr", template: .successRate, thresholdRange: ThresholdRange(min: 0.9))]
        r.spec.analysis = analysis
        #expect(paths(r.validate()) == ["spec.analysis.comparisons", "spec.analysis.comparisons[1]", "spec.analysis.comparisons[2]",
                                        "spec.analysis.comparisons[3].confidence", "spec.analysis.comparisons[3].minSamples",
                                        "spec.analysis.comparisons[5].interval", "spec.analysis.comparisons[6].template"])
    }

    @Test func routingAndServingNeedExactlyOneMode() {
        var r = rollout(RolloutStrategy(blueGreen: BlueGreenStrategy()))
        r.spec.routing.destinationRule = DestinationRuleRef(name: "dr", host: "model")
        r.spec.serving.external = ExternalServing(stableDeployment: "a", canaryDeployment: "a")
        #expect(paths(r.validate()) == ["spec.routing", "spec.serving", "spec.serving.external.canaryDeployment"])
    }

    @Test func abMatchesAndAnalysisMetrics() {
        var r = rollout(RolloutStrategy(abTest: ABTestStrategy(match: [
            ABMatch(header: HeaderMatch(name: "x-group", exact: "a", prefix: "b")),
            ABMatch(header: HeaderMatch(name: "x", regex: "(")),
            ABMatch(cookie: CookieMatch(name: "c", value: "v")),
        ])))
        var analysis = AnalysisSpec()
        analysis.interval = "1m"
        analysis.metrics = [
            AnalysisMetric(name: "ok", template: .successRate, thresholdRange: ThresholdRange(min: 0.99)),
            AnalysisMetric(name: "both", template: .latencyP99, query: "up", thresholdRange: ThresholdRange(max: 1)),
            AnalysisMetric(name: "nobounds", query: "up", thresholdRange: ThresholdRange()),
            AnalysisMetric(name: "ok", query: "up", thresholdRange: ThresholdRange(min: 2, max: 1)),
        ]
        r.spec.analysis = analysis
        #expect(paths(r.validate()) == [
            "spec.strategy.abTest.match[0].header", "spec.strategy.abTest.match[1].header.regex",
            "spec.analysis.metrics[3]", "spec.analysis.metrics[1]", "spec.analysis.metrics[2].thresholdRange",
            "spec.analysis.metrics[3].thresholdRange.min",
        ])
    }

    func job() -> TrainingJob {
        var data = DataSpec(source: DataSource(uri: "s3://bucket/data.csv"), target: "label")
        data.features = ["a", "b"]
        return TrainingJob(metadata: .init(name: "j"),
                           spec: TrainingJobSpec(modelName: "model", data: data, output: OutputSpec(uri: "s3://models/")))
    }

    @Test func aValidJobHasNoErrors() {
        #expect(job().validate().isEmpty)
    }

    @Test func trainingJobErrors() {
        var j = job()
        j.spec.data.source.uri = "ftp://x/y.csv"
        j.spec.data.source.sha256 = "ABC"
        j.spec.data.features = ["a", "label", "a"]
        j.spec.data.split = DataSplit(train: 0.8, validation: 0.2, test: 0.2)
        var h = Hyperparameters()
        h.folds = 1
        h.learningRate = 1.5
        j.spec.hyperparameters = h
        var schedule = TrainingSchedule(cron: "0 25 * * *")
        schedule.timeZone = "Mars/Olympus"
        j.spec.schedule = schedule
        var retrain = RetrainPolicy(conditions: [RetrainCondition(name: "drift", query: "x")])
        retrain.cooldown = "6 hours"
        j.spec.retrainOn = retrain
        var release = ReleasePolicy()
        release.stage = .production
        j.spec.release = release
        var gates = EvaluationGates()
        gates.fairness = FairnessGate()
        gates.performance = PerformanceGate(thresholds: [MetricThreshold(metric: .aucRoc)])
        j.spec.gates = gates
        let errors = j.validate()
        #expect(paths(errors) == [
            "spec.data.source.uri", "spec.data.source.sha256", "spec.data.features[2]", "spec.data.features",
            "spec.data.split", "spec.hyperparameters.folds", "spec.hyperparameters.learningRate",
            "spec.schedule.cron", "spec.schedule.timeZone", "spec.retrainOn.cooldown", "spec.retrainOn.conditions[0]",
            "spec.release.stage", "spec.gates.fairness.protectedAttributes", "spec.gates.performance.thresholds[0]",
        ])
        #expect(errors.first { $0.path == "spec.schedule.cron" }?.message.contains("hour 25") == true)
    }

    @Test func cronSyntax() {
        for ok in ["0 2 * * *", "*/15 * * * *", "0 9-17 * * MON-FRI", "0 0 1,15 * *", "@daily", "30 4 * JAN 0"] {
            #expect(CronSyntax.problem(ok) == nil, "\(ok)")
        }
        for bad in ["", "* * * *", "60 * * * *", "* * 0 * *", "*/0 * * * *", "a b c d e", "* * * * * *"] {
            #expect(CronSyntax.problem(bad) != nil, "\(bad)")
        }
    }

    @Test func modelVersionRules() {
        var mv = ModelVersion(metadata: .init(name: "m-v1"),
                              spec: ModelVersionSpec(modelName: "m", version: 0, artifact: ModelArtifact(uri: "gs://x")))
        mv.spec.stage = .production
        mv.spec.aliases = ["Champion", "x", "x"]
        mv.spec.gates = GateSummary(passed: true, results: [GateResult(gate: .fairness, passed: false)])
        #expect(paths(mv.validate()) == ["spec.version", "spec.artifact.uri", "spec.stage", "spec.aliases[0]",
                                         "spec.aliases[2]", "spec.gates.passed"])
        mv = ModelVersion(metadata: .init(name: "m-v1"),
                          spec: ModelVersionSpec(modelName: "m", version: 1, artifact: ModelArtifact(uri: "s3://b/m.json")))
        mv.spec.stage = .production
        mv.spec.approval = Approval(state: .approved, by: "me")
        #expect(mv.validate().isEmpty)
    }

    @Test func badEnumValuesAreDecodeErrorsNamingTheField() throws {
        let json: JSONValue = [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "ModelVersion", "metadata": ["name": "x"],
            "spec": ["modelName": "m", "version": 1, "artifact": ["uri": "s3://a/b"], "stage": "Prod"],
        ]
        do {
            _ = try json.decode(as: ModelVersion.self)
            Issue.record("decoded an unknown stage")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.codingPath.map(\.stringValue) == ["spec", "stage"])
        }
    }
}

@Suite struct DefaultsTests {
    @Test func schemaDefaultsFillAbsentFieldsOnly() throws {
        var analysis = AnalysisSpec()
        analysis.failureLimit = 2
        analysis.metrics = [AnalysisMetric(name: "sr", template: .successRate, thresholdRange: ThresholdRange(min: 0.99))]
        var routing = RoutingSpec(virtualService: VirtualServiceRef(name: "vs"))
        routing.destinationRule = DestinationRuleRef(name: "dr", host: "h")
        var spec = CanaryRolloutSpec(modelName: "m", serving: ServingSpec(managed: ManagedServing()), routing: routing,
                                     strategy: RolloutStrategy(canary: CanaryStrategy(stepWeight: 10)))
        spec.analysis = analysis
        let r = try CanaryRollout(metadata: .init(name: "r"), spec: spec).withSchemaDefaults()
        #expect(r.spec.analysis?.interval == "1m")
        #expect(r.spec.analysis?.failureLimit == 2)  // set by the user: kept
        #expect(r.spec.analysis?.consecutiveErrorLimit == 4)
        #expect(r.spec.analysis?.metrics?.first?.noDataPolicy == .fail)
        #expect(r.spec.strategy.canary?.maxWeight == 50)
        #expect(r.spec.serving.managed?.replicas == 2)
        #expect(r.spec.routing.destinationRule?.stableSubset == "stable")
        #expect(r.spec.routing.destinationRule?.canarySubset == "canary")
        #expect(r.spec.progressDeadlineSeconds == 600)
        #expect(r.spec.paused == false)
        // Absent optional objects are not invented.
        #expect(r.spec.strategy.blueGreen == nil)
        #expect(r.spec.webhooks == nil)
    }

    @Test func trainingJobDefaults() throws {
        let data = DataSpec(source: DataSource(uri: "file:///d.csv"), target: "y")
        var job = TrainingJob(metadata: .init(name: "j"),
                              spec: TrainingJobSpec(modelName: "m", data: data, output: OutputSpec(uri: "file:///m/")))
        job.spec.hyperparameters = Hyperparameters()
        job.spec.gates = EvaluationGates()
        job.spec.gates?.robustness = RobustnessGate()
        let defaulted = try job.withSchemaDefaults()
        #expect(defaulted.spec.algorithm == .gradientBoosting)
        #expect(defaulted.spec.data.split == DataSplit(train: 0.7, validation: 0.15, test: 0.15, stratify: true))
        #expect(defaulted.spec.hyperparameters?.nEstimators == 100)
        #expect(defaulted.spec.hyperparameters?.learningRate == 0.3)
        #expect(defaulted.spec.gates?.robustness?.noiseLevels == [0.001, 0.01, 0.1])
        #expect(defaulted.spec.data.source.format == .csv)
        #expect(defaulted.spec.schedule == nil)
        // A split the user wrote is not mixed with the default ratios (that could exceed 1).
        job.spec.data.split = DataSplit(train: 0.8, test: 0.2)
        let own = try job.withSchemaDefaults()
        #expect(own.spec.data.split == DataSplit(train: 0.8, test: 0.2, stratify: true))
        #expect(own.validate().isEmpty)
    }
}

@Suite struct DecodingErrorTests {
    @Test func decodingErrorsBecomeFieldErrorsWithPaths() throws {
        let base: JSONValue = [
            "apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout", "metadata": ["name": "x"],
            "spec": [
                "modelName": "m", "serving": ["managed": [:]],
                "routing": ["virtualService": ["name": "vs"], "services": ["stable": "a", "canary": "b"]],
                "strategy": ["canary": ["steps": [["setWeight": 10], ["setWeight": "half"]]]],
            ],
        ]
        func error(_ doc: JSONValue) -> FieldError? {
            do {
                _ = try doc.decode(as: CanaryRollout.self)
                return nil
            } catch {
                return FieldError.decoding(error)
            }
        }
        let wrongType = try #require(error(base))
        #expect(wrongType.path == "spec.strategy.canary.steps[1].setWeight")
        var missing = base
        missing["spec"]?["routing"] = ["virtualService": [:], "services": ["stable": "a", "canary": "b"]]
        let required = try #require(error(missing))
        #expect(required.path == "spec.routing.virtualService.name")
        #expect(required.kind == .required)
        var badEnum = base
        badEnum.set(path: ["spec", "strategy"], to: ["abTest": ["match": [["header": ["name": "x", "exact": "y"]]]]])
        badEnum.set(path: ["spec", "analysis"], to: ["metrics": [["name": "m", "template": "P95", "thresholdRange": ["max": 1]]]])
        let notSupported = try #require(error(badEnum))
        #expect(notSupported.path == "spec.analysis.metrics[0].template")
        #expect(notSupported.kind == .notSupported)
    }
}
