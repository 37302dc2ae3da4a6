import SextantJSON
import SextantTrainingContract

/// The openAPIV3Schema of TrainingJob. Keep it next to the Swift types: the tests fail when the
/// two disagree on any key.
extension TrainingJob {
    static let metricNames = TrainingContract.metrics.map(\.name)

    /// CEL form of ``DataSplit/fractionProblem`` (same tolerance), in two rules for two messages.
    static let splitRatiosApply = "!has(self.column) && (has(self.train) || has(self.validation) || has(self.test))"
    static var splitSumRule: String {
        let sum = "(has(self.train) ? self.train : 0.0) + (has(self.validation) ? self.validation : 0.0) + (has(self.test) ? self.test : 0.0)"
        let t = DataSplit.fractionTolerance
        return "!(\(splitRatiosApply)) || (\(sum) >= \(1 - t) && \(sum) <= \(1 + t))"
    }
    static var splitTrainRule: String { "!(\(splitRatiosApply)) || (has(self.train) && self.train > 0.0)" }

    public static var specSchema: Schema {
        .object("Desired state: what to train, on which data, how to judge it and when to run.",
                required: ["modelName", "data", "output"],
                [
            "modelName": .string("Registry name of the model. Versions are registered as ModelVersions named `<modelName>-v<N>`.",
                                 pattern: #"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"#, maxLength: 50, sample: "fraud-detector"),
            "trainer": .object("The trainer container.", [
                "image": .string("Trainer image. Default: the controller's `--trainer-image` (the `sextant-trainer` image of the same release).",
                                 sample: "ghcr.io/sextant/sextant-trainer:0.1.0"),
                "imagePullPolicy": .string("corev1.PullPolicy of the trainer container.",
                                           enum: PullPolicy.allCases.map(\.rawValue)),
                "args": .array("Extra arguments appended to the trainer command line.", of: .string("An argument."),
                               maxItems: 64),
            ]),
            "data": .object("The training data and the role of its columns.", required: ["source", "target"], [
                "source": .object("Where the data is and which version of it.", required: ["uri"], [
                    "uri": .string("Location of the data: `file://`, `http://`, `https://`, `s3://bucket/key`, or `lakefs://repository/ref/path` (the ref is resolved to its commit through lakeFS's API at `endpoint`, the object read through its S3 gateway). With `format: Delta` the table's root; with `dvc` the pointer file.",
                                   pattern: "^(file|https?|s3|lakefs)://.+$", sample: "s3://ml-data/fraud/v2.1/train.csv"),
                    "version": .string("Data version label recorded in the ModelVersion's lineage (a DVC or LakeFS commit, a date, `v2.1`). With `format: Delta`: the table version to read (versionAsOf, an integer); absent: the latest, whose number the lineage records.",
                                       maxLength: 128),
                    "timestamp": .string("Delta time travel (timestampAsOf, `format: Delta` only): the last table version committed at or before this RFC 3339 time.",
                                         maxLength: 64, sample: "2026-01-31T12:00:00Z"),
                    "dvc": .object("Set when `uri` is a DVC pointer (a `.dvc` file or `dvc.lock`): the data is the object it names by MD5, fetched from the DVC remote and checked against that MD5.", [
                        "remote": .string("The DVC remote's URL (`s3://bucket/prefix`, `http(s)://`, `file://`). Default: the default remote in `.dvc/config` above a local pointer.",
                                          maxLength: 2048, sample: "s3://ml-data/dvcstore"),
                        "path": .string("Which output of the pointer, as written in it (needed when it has several, as a dvc.lock usually does).",
                                        maxLength: 1024, sample: "data/train.csv"),
                    ]),
                    "sha256": .sha256("Pinned SHA-256 of the data bytes. When set, the run fails with `InvalidInput` if the data read hashes differently."),
                    "format": .string("Data format. `Delta`: `uri` is a Delta Lake table root (the directory holding `_delta_log`).", default: "CSV", enum: DataFormat.allCases.map(\.rawValue)),
                    "secretRef": .secretReference.withDescription(
                        "Secret with credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN` and `AWS_REGION` for `s3://`; `token` (bearer) for `http(s)://`."),
                    "endpoint": .string("S3-compatible endpoint URL (MinIO, ...; for `lakefs://`, lakeFS's address). Default: AWS for the bucket's region.",
                                        pattern: "^https?://.+$", sample: "http://minio.storage:9000"),
                ]),
                "features": .array("Feature columns. Empty: every column except the target and the protected attributes.",
                                   of: .string("A column name."), maxItems: 4096, listType: "set"),
                "categoricalFeatures": .array("Columns (among the features) treated as categorical.",
                                              of: .string("A column name."), maxItems: 4096, listType: "set"),
                "target": .string("Label column: " + TrainingContract.objectives.map { "\($0.label) for `\($0.name)`" }.joined(separator: ", ") + ".",
                              minLength: 1),
                "weightColumn": .string("Column of sample weights (finite, >= 0): they scale each row's gradient and hessian and weight the regression and multiclass test metrics. Not a feature.",
                                        minLength: 1),
                "protectedAttributes": .array("Columns used only to measure fairness, never as features (`age_group`, `gender`).",
                                              of: .string("A column name."), maxItems: 64, listType: "set"),
                "split": .object("Train/validation/test parts. Validation drives early stopping; test feeds the gates. Either ratios that add up to 1 (unset ratios count as 0) or a `column` naming each row's part. The default applies when `split` is absent.",
                                 rules: [.init(splitSumRule, message: "split ratios must sum to 1 (or set column)"),
                                         .init(splitTrainRule, message: "split train ratio must be greater than 0")], [
                    "train": .number("Fraction of rows used for training.", min: 0, max: 1),
                    "validation": .number("Fraction of rows used for early stopping.", min: 0, max: 1),
                    "test": .number("Fraction of rows held out for evaluation and the gates.", min: 0, max: 1),
                    "stratify": .boolean("Keep the class ratio equal across the splits.", default: true),
                    "seed": .integer("Seed of the shuffle behind the ratios (trainer default \(SplitContract.defaultSeed)); equal seeds and data give equal parts.",
                                     min: 0, format: "int64"),
                    "column": .string("A column holding `train`, `validation` or `test` for every row; overrides the ratios, so that other tools can score exactly the same rows. Not a feature.",
                                      minLength: 1),
                ]).withDefault(["train": .double(SplitContract.trainingJobDefault.train),
                                "validation": .double(SplitContract.trainingJobDefault.validation),
                                "test": .double(SplitContract.trainingJobDefault.test), "stratify": true]),
            ]),
            "algorithm": .string("Learning algorithm: histogram gradient-boosted trees, or logistic regression as a baseline.",
                                 default: TrainingContract.defaultAlgorithm, enum: TrainingContract.algorithms.map(\.name)),
            "objective": .string("The loss to fit (XGBoost's names): binary classification, squared-error, absolute-error or quantile regression, Poisson counts, Tweedie (non-negative values with a mass at 0), or K-class softmax (K trees per round). The reported metrics and the gate metrics follow from it.",
                                 default: TrainingContract.defaultObjective, enum: TrainingContract.objectives.map(\.name)),
            "hyperparameters": TrainingContract.hyperparametersSchema,
            "gates": .object("Evaluation gates. A run whose model fails a gate registers no approvable version (result `GateFailed`). Omitted gates are not run.", [
                "performance": .object("Minimum (or maximum) values of test-set metrics.", required: ["thresholds"], [
                    "thresholds": .array("One entry per metric.", of: .object(
                        "Bounds for one metric.", required: ["metric"],
                        rules: [.init("has(self.min) || has(self.max)", message: "set min, max or both"),
                                .init("!has(self.min) || !has(self.max) || self.min <= self.max",
                                      message: "min must not exceed max")], [
                            "metric": .string(TrainingContract.metricDescription, enum: metricNames),
                            "min": .number("Fail when the metric is below this."),
                            "max": .number(TrainingContract.maxDescription),
                        ]), minItems: 1, maxItems: 16, listType: "map", mapKeys: ["metric"]),
                ]),
                "fairness": .object("AUC-ROC disparity across the groups of each protected attribute.", [
                    "protectedAttributes": .array("Attributes to check. Default: `data.protectedAttributes`.",
                                                  of: .string("A column name."), maxItems: 64, listType: "set"),
                    "maxDisparity": TrainingContract.gateSetting("fairness", "maxDisparity",
                                                                 "Largest allowed difference of AUC-ROC between any two groups."),
                    "minGroupSize": TrainingContract.gateSetting("fairness", "minGroupSize",
                                                                 "Groups with fewer test rows are skipped (and reported).", integer: true),
                ]),
                "robustness": .object("AUC-ROC degradation under Gaussian noise added to the numeric features.", [
                    "noiseLevels": .array("Standard deviations of the noise, relative to each feature's standard deviation.",
                                          of: .number("A noise level.", min: 0), maxItems: 16)
                        .withDefault(.array(TrainingContract.robustnessNoiseLevels.map(JSONValue.double))),
                    "maxDegradation": TrainingContract.gateSetting("robustness", "maxDegradation",
                                                                   "Largest allowed drop of AUC-ROC at any noise level."),
                ]),
                "dataQuality": .object("Checks of the training data before training.", [
                    "maxNullRatio": TrainingContract.gateSetting("dataQuality", "maxNullRatio",
                                                                 "Largest allowed fraction of missing values in any feature."),
                    "minFeatureVariance": TrainingContract.gateSetting("dataQuality", "minFeatureVariance",
                                                                       "Numeric features with a smaller variance fail the gate (constant columns)."),
                    "classBalance": .object("Allowed range of the positive-class fraction. Unset: not checked.",
                                            required: ["min", "max"],
                                            rules: [.init("self.min <= self.max", message: "min must not exceed max")], [
                        "min": .number("Smallest allowed positive fraction.", min: 0, max: 1),
                        "max": .number("Largest allowed positive fraction.", min: 0, max: 1),
                    ]),
                ]),
            ]),
            "output": .object("Where model artifacts go.", required: ["uri"], [
                "uri": .string("Base location (`file://` or `s3://`); each run writes `<uri>/<modelName>/v<N>/model.json` and `metrics.json`.",
                               pattern: "^(file|s3)://.+$", sample: "s3://ml-models/"),
                "secretRef": .secretReference.withDescription("Secret with S3 credentials (same keys as `data.source.secretRef`)."),
                "endpoint": .string("S3-compatible endpoint URL.", pattern: "^https?://.+$", sample: "http://minio.storage:9000"),
            ]),
            "pod": .podPlacement("Pod settings of the training Job: resources, service account, node selection."),
            "workers": .integer("Ranks of a data-parallel run (`sextant-trainer` under `mpirun`, one rank per Pod). More than 1: each run is a Kubeflow MPIJob (`kubeflow.org/v2beta1`; the MPI Operator must be installed and the controller started with `--mpi-jobs`) instead of a `batch/v1` Job; the model is byte-identical to one worker's.",
                                default: 1, min: 1, max: 256),
            "runPolicy": .object("How each run's Job behaves and how much history is kept.", [
                "backoffLimit": .integer("Pod retries of a run's Job (`batch/v1` backoffLimit). Training failures are usually deterministic, hence 0.",
                                         default: 0, min: 0, max: 10),
                "activeDeadlineSeconds": .integer("A run is failed (`DeadlineExceeded`) after this long.", min: 1, format: "int64"),
                "ttlSecondsAfterFinished": .integer("Finished Jobs are deleted after this long.", default: 86400, min: 0),
                "suspend": .boolean("No new runs start while true; a running Job is suspended.", default: false),
                "successfulJobsHistoryLimit": .integer("Succeeded Jobs kept.", default: 3, min: 0, max: 100),
                "failedJobsHistoryLimit": .integer("Failed Jobs kept.", default: 1, min: 0, max: 100),
                "runHistoryLimit": .integer("Entries kept in `status.runs`.", default: 10, min: 1, max: 50),
            ]),
            "schedule": .object("Continuous training on a clock, like a CronJob. Unset: the job runs once when created (and again when its spec changes).",
                                required: ["cron"], [
                "cron": .string("Standard 5-field cron expression (`0 2 * * *`) or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.",
                                minLength: 1, maxLength: 128, sample: "0 2 * * *"),
                "timeZone": .string("IANA time zone of the cron expression.", default: "UTC", maxLength: 64, sample: "Europe/Paris"),
                "concurrencyPolicy": .string("What to do when a run is due while one is running.", default: "Forbid",
                                             enum: ConcurrencyPolicy.allCases.map(\.rawValue)),
                "startingDeadlineSeconds": .integer("A run missed (e.g. controller down) by more than this is skipped. Unset: the latest missed run starts.",
                                                    min: 0, format: "int64"),
            ]),
            "retrainOn": .object("Continuous training on evidence: a run starts when any condition holds, at most once per cooldown.",
                                 required: ["conditions"], [
                "prometheus": .prometheusEndpoint,
                "interval": .duration("How often the conditions are evaluated.", default: "5m"),
                "cooldown": .duration("Minimum time between two runs started by conditions.", default: "6h"),
                "conditions": .array("Conditions; any one firing starts a run.", of: .object(
                    "A PromQL query and the range that triggers retraining.", required: ["name", "query"],
                    rules: [.init("has(self.above) || has(self.below)", message: "set above, below or both")], [
                        "name": .string("Condition name, recorded as the run's trigger.", pattern: "^[a-zA-Z][-_a-zA-Z0-9]*$",
                                        maxLength: 63, sample: "feature-drift"),
                        "query": .string("PromQL returning one sample. Templated: `{{ model }}`, `{{ namespace }}`, `{{ name }}`.",
                                         minLength: 1, maxLength: 4096, sample: "max(sextant_feature_psi{model=\"{{ model }}\"})"),
                        "above": .number("Fire when the value is greater than this (drift score, error rate)."),
                        "below": .number("Fire when the value is less than this (accuracy)."),
                        "for": .duration("The condition must hold continuously this long before it fires.", default: "0s"),
                    ]), minItems: 1, maxItems: 16, listType: "map", mapKeys: ["name"]),
            ]),
            "release": .object("What happens to each version this job registers.", [
                "approval": .string("`Automatic`: a version whose gates all passed is approved at once. `Manual`: it waits in `Pending` for `sextant approve`.",
                                    default: "Manual", enum: ApprovalPolicy.allCases.map(\.rawValue)),
                "stage": .string("Stage given to a new version.", default: "None",
                                 enum: [ModelStage.none.rawValue, ModelStage.staging.rawValue]),
                "aliases": .array("Aliases moved to each new version (e.g. `challenger`).", of: .alias,
                                  maxItems: 8, listType: "set"),
                "canaryRollout": .objectName("A CanaryRollout in this namespace whose `spec.modelVersion` is set to each approved version: drift, retrain, gate, register, canary, with no human in the loop."),
            ]),
            "notifications": .notifications(NotificationEvent.training),
        ])
    }

    public static var statusSchema: Schema {
        .object("Observed state, written by the controller. All progress lives here, so a restarted controller resumes where it was.", [
            "phase": .string("Summary: `Pending` (no Job yet), `Running`, `Succeeded`/`Failed` (one-shot job finished), `Waiting` (scheduled or triggered job idle until the next run), `Suspended`, `Invalid` (spec rejected; see the `Ready` condition).",
                             enum: TrainingJobPhase.allCases.map(\.rawValue)),
            "conditions": .conditions("`Ready`, `Running`, `Succeeded`, `Degraded` (last run failed) with reason and message."),
            "observedGeneration": .integer("The .metadata.generation last acted on.", min: 0, format: "int64"),
            "activeRun": .string("The run in progress, if any (an entry of `runs`)."),
            "runs": .array("Run history, newest first, at most `runPolicy.runHistoryLimit` entries.", of: .object(
                "One run: one Job.", required: ["name", "trigger", "result"], [
                    "name": .string("Run name, `<metadata.name>-<n>`."),
                    "jobName": .string("The batch/v1 Job of this run, or its MPIJob when `workers` > 1."),
                    "workers": .integer("Ranks of this run (`spec.workers` when it started); more than 1: `jobName` is an MPIJob.", min: 1),
                    "trigger": .object("What started the run.", required: ["type"], [
                        "type": .string("Trigger kind.", enum: TriggerType.allCases.map(\.rawValue)),
                        "condition": .string("`RetrainCondition`: the condition that fired."),
                        "value": .number("`RetrainCondition`: the value that fired it."),
                        "scheduledTime": .time("`Schedule`: the scheduled time this run stands for."),
                        "requestedBy": .string("`Manual`: who asked."),
                    ]),
                    "startTime": .time("When the Job was created."),
                    "completionTime": .time("When the run finished."),
                    "result": .string("Outcome.", enum: RunResult.allCases.map(\.rawValue)),
                    "modelVersion": .string("The ModelVersion this run registered."),
                    "dataSha256": .sha256("SHA-256 of the data the run read."),
                    "dataVersion": .string("The data version the run read (`data.source.version`), from the trainer's result summary."),
                    "reason": .string("CamelCase reason of a failure (`GateFailed`, `DeadlineExceeded`, `OOMKilled`, `DataHashMismatch`, ...)."),
                    "message": .string("Details: which gate failed with which value, which column was bad, ..."),
                    "mlflowRunId": .string("The MLflow run this run was reported as, once reported (controller flag `--mlflow-tracking-uri`)."),
                    "progress": .object("The trainer's last progress report while it ran (read from its log every few seconds; gradient boosting only).",
                                        required: ["roundsDone", "time"], [
                        "roundsDone": .integer("Boosting rounds done.", min: 0),
                        "rounds": .integer("Rounds planned (`nEstimators`; early stopping may end sooner).", min: 0),
                        "metric": .string("The validation metric reported (`valid-logloss`, `valid-rmse`, ...); absent without a validation split."),
                        "value": .number("Its value after the last round done."),
                        "etaSeconds": .number("Estimated seconds to the last round, from the mean round time so far."),
                        "time": .time("When the controller read it."),
                    ]),
                    "metrics": .map("Test-set metrics of a finished run, from the trainer's result summary (`aucRoc`, `rmse`, ...).",
                                    of: .number("Metric value.")),
                    "validationCurve": .object("The validation loss per boosting round of a finished run, from the trainer's result summary: at most \(ValidationCurveContract.maxPoints) rounds, evenly spaced (the first and last kept); absent without a validation split or rounds.",
                                               required: ["rounds", "values"], [
                        "metric": .string("The loss (`valid-logloss`, `valid-rmse`, ...)."),
                        "rounds": .array("1-based rounds, ascending.", of: .integer("A round.", min: 1), maxItems: ValidationCurveContract.maxPoints),
                        "values": .array("The loss after each of `rounds`.", of: .number("A loss."), maxItems: ValidationCurveContract.maxPoints),
                    ]),
                ]), maxItems: 50),
            "runCount": .integer("Runs started so far; the next run is `<metadata.name>-<runCount+1>`.", min: 0, format: "int64"),
            "lastScheduleTime": .time("Last time a scheduled run was started."),
            "nextScheduleTime": .time("Next time a scheduled run is due."),
            "lastRetrainTime": .time("Last time a retrain condition started a run (cooldown reference)."),
            "retrainChecks": .array("Latest evaluation of each retrain condition.", of: .object(
                "One condition's latest evaluation.", required: ["name", "outcome", "time"], [
                    "name": .string("Condition name."),
                    "value": .number("Measured value."),
                    "query": .string("The query as sent, templates resolved."),
                    "outcome": .string("`Fired`, `Holding` (true, waiting for `for`), `OK`, `NoData`, `Error`, `CoolingDown`.",
                                       enum: RetrainOutcome.allCases.map(\.rawValue)),
                    "time": .time("When it was evaluated."),
                    "since": .time("Since when the condition has held."),
                    "message": .string("Error or details."),
                ]), maxItems: 16),
            "latestModelVersion": .string("The ModelVersion registered by the latest successful run."),
            "progress": .string("The active run's progress in one line (`120/300 valid-logloss=0.4123 ETA 45s`), the `Progress` column of `kubectl get tj`; absent when no run is active."),
            "requests": .object("Manual requests, written through the status subresource (`sextant retrain`) and cleared by the controller once acted on.", [
                "run": .manualRequest("Start a run now (trigger `Manual`), subject to `concurrencyPolicy`."),
            ]),
            "message": .string("Human readable summary of the current state."),
            "notifications": .notificationRecords,
        ])
    }
}

extension Schema {
    static let alias: Schema = .string("An alias (`champion`, `challenger`).", pattern: #"^[a-z][-a-z0-9]*$"#,
                                       maxLength: 63, sample: "champion")

    static let prometheusEndpoint: Schema = .object("Prometheus to query.", [
        "address": .string("Base URL of the Prometheus HTTP API. Default: the controller's `--prometheus-url`.",
                           pattern: "^https?://.+$", sample: "http://prometheus.monitoring:9090"),
        "timeout": .duration("Timeout of one query.", default: "10s"),
        "secretRef": .secretReference.withDescription(
            "A Secret in this namespace with `token` (bearer) or `username` and `password` (basic auth), and optionally `ca.crt` (PEM CA bundle that verifies the server)."),
        "insecureSkipVerify": .boolean("Skip verifying the server's TLS certificate (never implied; prefer `ca.crt` in the Secret or the controller's `--prometheus-ca-file`)."),
    ])

    public func withDescription(_ text: String) -> Schema {
        var s = self
        s.description = text
        return s
    }

    public func withDefault(_ value: JSONValue) -> Schema {
        var s = self
        s.defaultValue = value
        return s
    }
}
