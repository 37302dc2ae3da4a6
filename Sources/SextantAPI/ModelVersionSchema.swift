import SextantJSON

/// The openAPIV3Schema of ModelVersion.
extension ModelVersion {
    public static var specSchema: Schema {
        .object("The registry record. `modelName`, `version`, `artifact`, `data`, `hyperparameters`, `metrics`, `gates` and `lineage` are facts about a trained model and never change; `approval`, `stage` and `aliases` are its governance.",
                required: ["modelName", "version", "artifact"],
                rules: [
                    .init("self.modelName == oldSelf.modelName", message: "modelName is immutable", fieldPath: ".modelName"),
                    .init("self.version == oldSelf.version", message: "version is immutable", fieldPath: ".version"),
                    .init("self.artifact == oldSelf.artifact", message: "artifact is immutable; register a new version",
                          fieldPath: ".artifact"),
                    .init("!has(self.stage) || self.stage != 'Production' || (has(self.approval) && self.approval.state == 'Approved')",
                          message: "only an approved version can be in stage Production", fieldPath: ".stage"),
                ], [
            "modelName": .string("Registry name of the model this is a version of.",
                                 pattern: #"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"#, maxLength: 50, sample: "fraud-detector"),
            "version": .integer("Version number, unique and increasing per model, from 1.", min: 1, format: "int64"),
            "description": .string("Free text shown by `sextant models`.", maxLength: 4096),
            "artifact": .object("The trained model file.", required: ["uri"], [
                "uri": .string("Location of the model file (`file://`, `http(s)://`, `s3://`).",
                               pattern: "^(file|https?|s3)://.+$", maxLength: 2048, sample: "s3://ml-models/fraud-detector/v3/model.json"),
                "format": .string("`SextantJSON` (written by `sextant-trainer`) or `XGBoostJSON` (an XGBoost `save_model` JSON file, for models trained elsewhere).",
                                  default: "SextantJSON", enum: ArtifactFormat.allCases.map(\.rawValue)),
                "sha256": .sha256("SHA-256 of the file; `sextant-server` refuses to load a file that differs."),
                "sizeBytes": .integer("Size of the file.", min: 0, format: "int64"),
            ]),
            "data": .object("The data the model was trained on.", [
                "uri": .string("Where the data was read from.", sample: "s3://ml-data/fraud/v2.1/train.csv"),
                "version": .string("Data version label.", maxLength: 128),
                "sha256": .sha256("SHA-256 of the exact bytes read."),
                "rows": .integer("Rows read.", min: 0, format: "int64"),
                "features": .array("Feature columns, in model input order.", of: .string("A column name."), maxItems: 4096),
                "target": .string("Label column."),
            ]),
            "algorithm": .string("Algorithm that produced the model (`GradientBoosting`, `LogisticRegression`, or any name for external models).",
                                 maxLength: 128),
            "hyperparameters": .freeform("Hyperparameters as used (numbers, strings, booleans), e.g. `{nEstimators: 500, maxDepth: 8}`.",
                                         docType: "map[string]any"),
            "metrics": .map("Test-set metrics by name (`aucRoc`, `precision`, `logLoss`, ...).",
                            of: .number("A metric value.")),
            "gates": .object("Evaluation gate results.", required: ["passed"], [
                "passed": .boolean("True when every gate that ran passed."),
                "results": .array("One entry per gate that ran.", of: .object(
                    "A gate's result.", required: ["gate", "passed"], [
                        "gate": .string("Gate.", enum: GateName.allCases.map(\.rawValue)),
                        "passed": .boolean("Whether the gate passed."),
                        "checks": .array("The numbers the gate compared.", of: .object(
                            "One comparison.", required: ["name", "passed"], [
                                "name": .string("What was measured (`aucRoc`, `gender aucRoc disparity`, `noise 0.1 aucRoc degradation`)."),
                                "value": .number("Measured value."),
                                "threshold": .number("Threshold it was compared with."),
                                "comparison": .string("How: `>=` or `<=`.", enum: [">=", "<=", ">", "<"]),
                                "passed": .boolean("Whether this comparison passed."),
                                "message": .string("Details (e.g. skipped groups)."),
                            ]), maxItems: 256),
                        "message": .string("Summary."),
                    ]), maxItems: 8, listType: "map", mapKeys: ["gate"]),
            ]),
            "lineage": .object("Where the model came from.", [
                "trainingJob": .string("TrainingJob that produced it (empty for external models)."),
                "run": .string("The run of that TrainingJob."),
                "jobName": .string("The batch/v1 Job of the run."),
                "trainerImage": .string("Trainer image, by digest when known."),
                "codeRevision": .string("Source revision of the training code (git SHA)."),
                "parentVersion": .string("ModelVersion this one was retrained from."),
                "createdBy": .string("Who registered it (controller or user)."),
            ]),
            "approval": .object("Approval decision. Set by hand or GitOps to approve declaratively; the TrainingJob controller sets it when its policy is `Automatic`. The effective decision is in `status.approval`.",
                                required: ["state"], [
                "state": .string("Decision.", default: "Pending", enum: ApprovalState.allCases.map(\.rawValue)),
                "by": .string("Who decided."),
                "time": .time("When."),
                "reason": .string("Why.", maxLength: 4096),
            ]),
            "stage": .string("MLflow-style stage, declared by you, GitOps or the TrainingJob's `release.stage`; one Production version per model. Controllers never change it: where the version actually serves (`Canary`, `Production`, `Archived`, `RolledBack`) is `status.phase`.",
                             default: "None", enum: ModelStage.allCases.map(\.rawValue)),
            "aliases": .array("Aliases (unique per model), e.g. `champion`, `challenger`.", of: .alias, maxItems: 8,
                              listType: "set"),
        ])
    }

    public static var statusSchema: Schema {
        .object("Observed state, written by the controller.", [
            "phase": .string("`PendingApproval`, `Approved`, `Rejected`, `Canary` (being rolled out), `Production`, `RolledBack`, `Archived`, `Invalid` (spec rejected).",
                             enum: ModelVersionPhase.allCases.map(\.rawValue)),
            "conditions": .conditions("`Ready` (spec valid, artifact reachable), `Approved`, `Serving`."),
            "observedGeneration": .integer("The .metadata.generation last acted on.", min: 0, format: "int64"),
            "approval": .object("The effective approval (from spec, automatic policy or a request), stamped when observed.",
                                required: ["state"], [
                "state": .string("Decision.", enum: ApprovalState.allCases.map(\.rawValue)),
                "by": .string("Who decided."),
                "time": .time("When."),
                "reason": .string("Why."),
            ]),
            "rolledBack": .object("Set when a CanaryRollout rolled this version back.", required: ["time"], [
                "time": .time("When."),
                "canaryRollout": .string("Which rollout."),
                "reason": .string("CamelCase reason (`AnalysisFailed`, `ProgressDeadlineExceeded`, `Aborted`)."),
                "message": .string("Which metric, value and threshold."),
            ]),
            "servedBy": .string("CanaryRollout currently serving this version."),
            "displayMetrics": .map("`spec.metrics` rounded to 4 decimal places, for the printer columns (`kubectl get mv -o wide`); the full values stay in `spec.metrics`.",
                                   of: .number("Rounded metric.")),
            "requests": .object("Manual requests through the status subresource, cleared once acted on.", [
                "approve": .manualRequest("Approve this version (`sextant approve`)."),
                "reject": .manualRequest("Reject this version (`sextant reject`); a rejected version is never rolled out."),
            ]),
            "message": .string("Human readable summary."),
        ])
    }
}
