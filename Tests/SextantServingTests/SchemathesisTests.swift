import Foundation
import SextantTestSupport
import Testing
@testable import SextantServing

/// Runs schemathesis over KServe's V2 OpenAPI document (Tests/Fixtures/kserve) with the model
/// name and version fixed, so the generated requests reach the real handlers. The document writes
/// its path parameters as `${MODEL_NAME}` (a leftover of its templating): the `$` is dropped
/// before the run, nothing else changes.
let schemathesisScript = #"""
import subprocess, sys, pathlib
spec, base, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
text = pathlib.Path(spec).read_text().replace("${MODEL_NAME}", "{MODEL_NAME}").replace("${MODEL_VERSION}", "{MODEL_VERSION}")
(work / "openapi.yaml").write_text(text)
(work / "schemathesis.toml").write_text("""
[parameters]
"path.MODEL_NAME" = "fraud"
"path.MODEL_VERSION" = "3"
""")
run = subprocess.run([sys.executable, "-m", "schemathesis.cli", "--config-file", str(work / "schemathesis.toml"), "run",
                      str(work / "openapi.yaml"), "--url", base,
                      "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
                      "--max-examples", sys.argv[4], "--phases", "examples,coverage,fuzzing",
                      "--workers", "2", "--seed", "22", "--request-timeout", "10", "--suppress-health-check", "all"],
                     capture_output=True, text=True, cwd=work)
print(run.stdout[-6000:])
print(run.stderr[-3000:])
sys.exit(run.returncode)
"""#

@Suite(.serialized) struct SchemathesisTests {
    @Test func kserveV2OpenAPIFuzzingFindsNoServerError() async throws {
        guard try Tooling.available("python3 with schemathesis (hack/requirements-test.txt)", Tooling.pythonHas(["schemathesis"])) else {
            return
        }
        let dir = try TemporaryDirectory()
        try Data(schemathesisScript.utf8).write(to: URL(fileURLWithPath: dir.file("fuzz.py")))
        let spec = Repo.root + "/Tests/Fixtures/kserve/rest_predict_v2.yaml"
        try await withServer(loadedState(try artifactModel())) { base in
            let run = try await runClient("python3", [dir.file("fuzz.py"), spec, base, dir.path, "60"],
                                     environment: ["no_proxy": "*", "NO_PROXY": "*"])
            #expect(run.code == 0, "\(run.output)")
            // The run really sent requests to every operation of the document, and none failed.
            #expect(run.output.contains("Tested: 6"), "\(run.output)")
            let cases = run.output.split(separator: "\n").first { $0.contains(" generated, ") } ?? ""
            #expect(cases.contains("passed") && !cases.contains("failed"), "\(cases)")
            print(run.output.split(separator: "\n").suffix(12).joined(separator: "\n"))
        }
    }
}
