import Foundation
import SextantAPI
import SextantJSON
import Testing

/// The CRDs' CEL rules, evaluated by a real CEL implementation (cel-python, through
/// hack/cel-check.py): they compile, accept every example, and each rejects a manifest that
/// breaks it. The same manifests must also fail the Swift `validate()`, which mirrors the rules.
@Suite struct CELRulesTests {
    static let base = """
        apiVersion: mlops.sextant.dev/v1alpha1
        kind: CanaryRollout
        metadata: {name: r}
        spec:
          modelName: m
          serving: {managed: {}}
          routing: {virtualService: {name: vs}, services: {stable: a, canary: b}}

        """

    static let job = """
        apiVersion: mlops.sextant.dev/v1alpha1
        kind: TrainingJob
        metadata: {name: j}
        spec:
          modelName: m
          output: {uri: "s3://models/"}

        """

    /// (name, manifest, expected CEL message fragment)
    static let invalid: [(String, String, String)] = [
        ("two-strategies", base + "  strategy: {blueGreen: {}, shadow: {}}\n", "set exactly one strategy"),
        ("no-strategy", base + "  strategy: {}\n", "set exactly one strategy"),
        ("max-below-step", base + "  strategy: {canary: {stepWeight: 30, maxWeight: 20}}\n", "maxWeight must be >= stepWeight"),
        ("default-max-below-step", base + "  strategy: {canary: {stepWeight: 60}}\n", "maxWeight must be >= stepWeight"),
        ("steps-and-stepweight", base + "  strategy: {canary: {stepWeight: 10, steps: [{setWeight: 10}]}}\n",
         "set either steps or stepWeight"),
        ("step-with-both", base + "  strategy: {canary: {steps: [{setWeight: 10, pause: {}}]}}\n",
         "set exactly one of setWeight and pause"),
        ("two-header-matchers", base + "  strategy: {abTest: {match: [{header: {name: x, exact: a, regex: b}}]}}\n",
         "set exactly one of exact, prefix and regex"),
        ("header-and-cookie", base + "  strategy: {abTest: {match: [{header: {name: x, exact: a}, cookie: {name: c, value: v}}]}}\n",
         "set exactly one of header and cookie"),
        ("template-and-query", base + """
              strategy: {blueGreen: {}}
              analysis: {metrics: [{name: x, template: SuccessRate, query: up, thresholdRange: {min: 1}}]}

            """, "set exactly one of template and query"),
        ("empty-threshold-range", base + """
              strategy: {blueGreen: {}}
              analysis: {metrics: [{name: x, query: up, thresholdRange: {}}]}

            """, "set min, max or both"),
        ("serving-both", base.replacingOccurrences(
            of: "serving: {managed: {}}", with: "serving: {managed: {}, external: {stableDeployment: a, canaryDeployment: b}}")
            + "  strategy: {blueGreen: {}}\n", "set exactly one of managed and external"),
        ("routing-neither", base.replacingOccurrences(of: ", services: {stable: a, canary: b}", with: "")
            + "  strategy: {blueGreen: {}}\n", "set exactly one of services and destinationRule"),
        ("routing-no-router", base.replacingOccurrences(of: "virtualService: {name: vs}, ", with: "")
            + "  strategy: {blueGreen: {}}\n", "set exactly one of virtualService, httpRoute and grpcRoute"),
        ("routing-two-routers", base.replacingOccurrences(of: "virtualService: {name: vs}, ", with: "virtualService: {name: vs}, httpRoute: {name: r}, ")
            + "  strategy: {blueGreen: {}}\n", "set exactly one of virtualService, httpRoute and grpcRoute"),
        ("httproute-without-services", base.replacingOccurrences(
            of: "virtualService: {name: vs}, services: {stable: a, canary: b}", with: "httpRoute: {name: r}, destinationRule: {name: dr, host: h}")
            + "  strategy: {blueGreen: {}}\n", "httpRoute and grpcRoute need services"),
        ("same-services", base.replacingOccurrences(of: "canary: b", with: "canary: a")
            + "  strategy: {blueGreen: {}}\n", "stable and canary must differ"),
        ("same-subsets", base.replacingOccurrences(
            of: "services: {stable: a, canary: b}", with: "destinationRule: {name: dr, host: h, stableSubset: v1, canarySubset: v1}")
            + "  strategy: {blueGreen: {}}\n", "stableSubset and canarySubset must differ"),
        ("comparison-template-and-queries", base + """
              strategy: {blueGreen: {}}
              analysis: {comparisons: [{name: x, template: SuccessRate, successQuery: a, totalQuery: b}]}

            """, "set either template or both successQuery and totalQuery"),
        ("comparison-half-query", base + """
              strategy: {blueGreen: {}}
              analysis: {comparisons: [{name: x, successQuery: a}]}

            """, "successQuery and totalQuery go together"),
        ("comparison-sequential-with-interval", base + """
              strategy: {blueGreen: {}}
              analysis: {comparisons: [{name: x, template: SuccessRate, test: Sequential, interval: 1m}]}

            """, "interval is not used with test Sequential"),
        ("comparison-sequential-accuracy", base + """
              strategy: {blueGreen: {}}
              analysis: {comparisons: [{name: x, template: ModelAccuracy, test: Sequential}]}

            """, "ModelAccuracy measures a window of labels"),
        ("threshold-range-inverted", base + """
              strategy: {blueGreen: {}}
              analysis: {metrics: [{name: x, query: up, thresholdRange: {min: 2, max: 1}}]}

            """, "min must not exceed max"),
        ("performance-threshold-inverted", job + """
              data: {source: {uri: "s3://d/x.csv"}, target: y}
              gates: {performance: {thresholds: [{metric: aucRoc, min: 0.9, max: 0.8}]}}

            """, "min must not exceed max"),
        ("split-over-one", job + "  data: {source: {uri: \"s3://d/x.csv\"}, target: y, split: {train: 0.8, validation: 0.2, test: 0.2}}\n",
         "split ratios must sum to 1"),
        ("split-under-one", job + "  data: {source: {uri: \"s3://d/x.csv\"}, target: y, split: {train: 0.8, test: 0.1}}\n",
         "split ratios must sum to 1"),
        ("split-no-train", job + "  data: {source: {uri: \"s3://d/x.csv\"}, target: y, split: {validation: 0.2, test: 0.8}}\n",
         "split train ratio must be greater than 0"),
        ("one-fold", job + "  data: {source: {uri: \"s3://d/x.csv\"}, target: y}\n  hyperparameters: {folds: 1}\n",
         "folds must be 0"),
        ("retrain-without-bound", job + """
              data: {source: {uri: "s3://d/x.csv"}, target: y}
              retrainOn: {conditions: [{name: drift, query: up}]}

            """, "set above, below or both"),
        ("class-balance-inverted", job + """
              data: {source: {uri: "s3://d/x.csv"}, target: y}
              gates: {dataQuality: {classBalance: {min: 0.6, max: 0.4}}}

            """, "min must not exceed max"),
        ("notification-url-and-secret", base + """
              strategy: {blueGreen: {}}
              notifications: [{name: team, provider: Slack, url: "http://hooks.test/x", secretRef: {name: slack}}]

            """, "set exactly one of url and secretRef"),
        ("training-notification-neither", job + """
              data: {source: {uri: "s3://d/x.csv"}, target: y}
              notifications: [{name: team, provider: MSTeams}]

            """, "set exactly one of url and secretRef"),
        ("production-unapproved", """
            apiVersion: mlops.sextant.dev/v1alpha1
            kind: ModelVersion
            metadata: {name: m-v1}
            spec: {modelName: m, version: 1, artifact: {uri: "s3://a/b"}, stage: Production}

            """, "only an approved version"),
    ]

    func runCELCheck(_ files: [String]) throws -> [(file: String, errors: [String], rules: [String])]? {
        guard findExecutable("python3") != nil,
              let probe = try runTool("python3", ["-c", "import celpy, yaml"]), probe.status == 0 else {
            toolMissing("cel-python", hint: "pip install cel-python")
            return nil
        }
        let result = try #require(try runTool("python3", ["hack/cel-check.py", "crds"] + files))
        #expect(result.status != 2, "a CEL rule does not compile: \(result.output)")
        return try result.output.split(separator: "\n").map { line in
            let json = try JSONValue.decode(Data(line.utf8))
            let messages = json["errors"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
            let rules = json["errors"]?.arrayValue?.compactMap { $0["rule"]?.stringValue } ?? []
            return (json["file"]?.stringValue ?? "", messages, rules)
        }
    }

    @Test func examplesSatisfyEveryRule() throws {
        let files = try exampleFiles().map(\.url.path)
        guard let results = try runCELCheck(files) else { return }
        #expect(results.count == files.count)
        for r in results { #expect(r.errors.isEmpty, "\(r.file): \(r.errors)") }
    }

    @Test func eachRuleRejectsAManifestThatBreaksIt() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-cel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        var files: [String] = []
        for (name, text, _) in Self.invalid {
            let url = tmp.appendingPathComponent("\(name).yaml")
            try Data(text.utf8).write(to: url)
            files.append(url.path)
        }
        // The Swift mirror of the rules rejects them too (this part needs no Python).
        for (name, text, _) in Self.invalid {
            let json = try JSONValue.parseYAML(text)
            let errors = try validationErrors(json, kind: json["kind"]?.stringValue ?? "")
            #expect(!errors.isEmpty, "validate() accepted \(name)")
        }
        guard let results = try runCELCheck(files) else { return }
        for ((name, _, expected), result) in zip(Self.invalid, results) {
            #expect(result.file.hasSuffix("\(name).yaml"))
            #expect(result.errors.contains { $0.contains(expected) }, "\(name): expected \"\(expected)\", got \(result.errors)")
        }
        // Every rule is shown to reject something (transition rules: by the update test below).
        var allRules: Set<String> = []
        func collect(_ s: Schema) {
            for r in s.rules { allRules.insert(r.rule) }
            s.properties.forEach { collect($0.schema) }
            if let items = s.items { collect(items) }
        }
        SextantCRDs.all.forEach { collect($0.objectSchema) }
        let exercised = Set(results.flatMap(\.rules)).union(try immutabilityViolations(in: tmp).flatMap(\.rules))
        #expect(allRules.subtracting(exercised).isEmpty, "rules without a failing case: \(allRules.subtracting(exercised).sorted())")
    }

    /// Updates a registered ModelVersion: changing what it records is rejected, governance is not.
    func immutabilityViolations(in dir: URL) throws -> [(file: String, errors: [String], rules: [String])] {
        let oldURL = repoRoot.appendingPathComponent("manifests/examples/modelversion-registered.yaml")
        let text = try String(contentsOf: oldURL, encoding: .utf8)
        let changed = text.replacingOccurrences(of: "  version: 3\n", with: "  version: 4\n")
            .replacingOccurrences(of: "v3/model.json", with: "v4/model.json")
            .replacingOccurrences(of: "  modelName: fraud-detector\n", with: "  modelName: fraud-detector-2\n")
        let governance = text.replacingOccurrences(of: "    state: Pending\n", with: "    state: Approved\n    by: jane\n")
            .replacingOccurrences(of: "  stage: None\n", with: "  stage: Production\n")
        #expect(changed != text && governance != text)
        let changedURL = dir.appendingPathComponent("mv-changed.yaml")
        let governanceURL = dir.appendingPathComponent("mv-governance.yaml")
        try Data(changed.utf8).write(to: changedURL)
        try Data(governance.utf8).write(to: governanceURL)
        guard let results = try runCELCheck(["--update", oldURL.path, changedURL.path,
                                             "--update", oldURL.path, governanceURL.path]) else { return [] }
        #expect(results.count == 2)
        #expect(Set(results.first?.errors ?? []) == ["modelName is immutable", "version is immutable",
                                                     "artifact is immutable; register a new version"])
        #expect(results.last?.errors == [])

        // The Swift mirror agrees.
        let old = try JSONValue.parseYAML(text).decode(as: ModelVersion.self)
        let new = try JSONValue.parseYAML(changed).decode(as: ModelVersion.self)
        #expect(Set(new.validateUpdate(from: old).map(\.path)) == ["spec.modelName", "spec.version", "spec.artifact"])
        let approved = try JSONValue.parseYAML(governance).decode(as: ModelVersion.self)
        #expect(approved.validateUpdate(from: old).isEmpty)
        return results
    }
}
