import Foundation
import Testing
@testable import SextantML

/// A DVC repository made at test time by the real `dvc` (PyPI): a tracked CSV in two versions
/// (the first version's pointer taken from git history), a pipeline stage with two outputs in
/// dvc.lock, everything pushed to a local remote. A missing dvc is a test failure naming it.
enum DVCFixtures {
    static let script = #"""
import sys, os, json, csv, random, subprocess
out = sys.argv[1]
repo, remote = out + "/repo", out + "/remote"
os.makedirs(repo + "/data"); os.makedirs(remote)
def run(*args):
    subprocess.run(args, cwd=repo, check=True, stdout=subprocess.DEVNULL)
def dvc(*args):
    run(sys.executable, "-m", "dvc", *args)
rng = random.Random(5)
def write(path, n):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["x0", "x1", "color", "label"])
        for _ in range(n):
            x0, x1 = rng.gauss(0, 1), rng.gauss(0, 1)
            color = rng.choice(["red", "green", "blue"])
            z = 1.2 * x0 - x1 + (0.8 if color == "red" else 0) + 0.4 * rng.gauss(0, 1)
            w.writerow([repr(x0), repr(x1), color, 1 if z > 0.5 else 0])
run("git", "init", "-q")
run("git", "config", "user.email", "t@example.com"); run("git", "config", "user.name", "t")
dvc("init", "-q")
dvc("config", "core.analytics", "false")
dvc("remote", "add", "-d", "store", "../remote")
write(repo + "/data/train.csv", 1500)
os.link(repo + "/data/train.csv", out + "/v1.csv") if False else open(out + "/v1.csv", "w").write(open(repo + "/data/train.csv").read())
dvc("add", "-q", "data/train.csv")
run("git", "add", "-A"); run("git", "commit", "-q", "-m", "v1")
dvc("push", "-q")
# A second version of the data: the v1 pointer stays in git history.
write(repo + "/data/train.csv", 1200)
open(out + "/v2.csv", "w").write(open(repo + "/data/train.csv").read())
dvc("add", "-q", "data/train.csv")
run("git", "add", "-A"); run("git", "commit", "-q", "-m", "v2")
dvc("push", "-q")
v1 = subprocess.run(["git", "show", "HEAD~1:data/train.csv.dvc"], cwd=repo, check=True, capture_output=True, text=True).stdout
open(out + "/train-v1.csv.dvc", "w").write(v1)
# A pipeline stage with two outputs: dvc.lock records both.
open(repo + "/split.py", "w").write("import shutil\nshutil.copy('data/train.csv', 'data/a.csv')\nopen('data/b.csv', 'w').write('x0,label\\n1,0\\n2,1\\n')\n")
dvc("stage", "add", "-q", "-n", "split", "-d", "data/train.csv", "-d", "split.py", "-o", "data/a.csv", "-o", "data/b.csv", sys.executable + " split.py")
dvc("repro", "-q")
dvc("push", "-q")
run("git", "add", "-A"); run("git", "commit", "-q", "-m", "stage")
"""#

    static let shared: Result<URL, PyarrowFixtures.FixtureError> = {
        do { return .success(try write()) } catch let e as PyarrowFixtures.FixtureError { return .failure(e) } catch {
            return .failure(PyarrowFixtures.FixtureError("\(error)"))
        }
    }()

    static func generate() throws -> URL { try shared.get() }

    static func write() throws -> URL {
        let dir = try makeTempDir("sextant-dvc")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path]
        var env = ProcessInfo.processInfo.environment
        env["DVC_NO_ANALYTICS"] = "1"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw PyarrowFixtures.FixtureError("the dvc fixture script failed (are dvc and git installed? pip install -r hack/requirements-test.txt): \(stderr)")
        }
        return dir
    }
}
