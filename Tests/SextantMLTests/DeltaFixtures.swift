import Foundation
import Testing
@testable import SextantML

/// Delta tables written at test time by the real delta-rs (`deltalake` from PyPI) and pyarrow:
/// a partitioned table with several commits (append, a delete, a schema change adding a column,
/// a checkpoint, an overwrite), each version exported as CSV by deltalake itself, and the
/// versions deltalake resolves for a few timestamps. A missing `deltalake` is a test failure
/// naming it.
enum DeltaFixtures {
    static let script = #"""
import sys, os, json, csv, random, shutil, datetime
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
out = sys.argv[1]
t = os.path.abspath(out + "/table")
rng = random.Random(11)
def rows(n, extra=False):
    d = {"x0": [], "x1": [], "x2": [], "color": [], "region": [], "label": []}
    if extra: d["x3"] = []
    for _ in range(n):
        x0, x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
        color = rng.choice(["red", "green", "blue"])
        region = rng.choice(["north", "south", "east", None] if extra else ["north", "south"])
        z = 1.2 * x0 - x1 + (0.8 if color == "red" else 0) + 0.4 * rng.gauss(0, 1)
        d["x0"].append(x0); d["x1"].append(x1); d["x2"].append(None if rng.random() < 0.03 else x2)
        d["color"].append(None if rng.random() < 0.02 else color); d["region"].append(region)
        d["label"].append(1 if z > 0.5 else 0)
        if extra: d["x3"].append(rng.randint(0, 9))
    return pa.table(d, schema=pa.schema([("x0", pa.float64()), ("x1", pa.float64()), ("x2", pa.float64()), ("color", pa.string()),
                                          ("region", pa.string()), ("label", pa.int64())] + ([("x3", pa.int64())] if extra else [])))
# v0 create (partitioned), v1 append, v2 delete, v3 append with a new column (schema evolution),
# checkpoint at v3, v4 overwrite.
write_deltalake(t, rows(700), partition_by=["region"])
write_deltalake(t, rows(500), mode="append")
DeltaTable(t).delete("x0 > 1.2")
write_deltalake(t, rows(400, extra=True), mode="append", schema_mode="merge")
DeltaTable(t).create_checkpoint()
write_deltalake(t, rows(900, extra=True), mode="overwrite")
# Commit times one day apart from 2026-01-01 (time travel by timestamp reads file times).
base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
for v in range(5):
    p = t + "/_delta_log/%020d.json" % v
    os.utime(p, (base + v * 86400, base + v * 86400))
info = {"versions": {}, "timestamps": {}}
for v in range(5):
    dt = DeltaTable(t, version=v)
    tab = dt.to_pyarrow_table()
    names = tab.column_names
    with open(out + "/v%d.csv" % v, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(names)
        cols = [tab.column(n).to_pylist() for n in names]
        for r in range(tab.num_rows):
            w.writerow(["" if c[r] is None else (repr(c[r]) if isinstance(c[r], float) else c[r]) for c in cols])
    info["versions"][v] = {"rows": tab.num_rows, "files": [u[len(t)+1:] if u.startswith(t) else u for u in dt.file_uris()], "columns": names}
for ts in ["2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z", "2026-01-03T00:00:00.000Z", "2026-01-04T23:59:59Z", "2027-06-01T00:00:00Z"]:
    dt = DeltaTable(t); dt.load_as_version(ts)
    info["timestamps"][ts] = dt.version()
try:
    dt = DeltaTable(t); dt.load_as_version("2025-12-31T00:00:00Z"); info["timestamps"]["2025-12-31T00:00:00Z"] = dt.version()
except Exception as e:
    info["beforeFirst"] = str(e)
json.dump(info, open(out + "/info.json", "w"), indent=1)
"""#

    struct VersionInfo: Decodable, Sendable { var rows: Int; var files: [String]; var columns: [String] }
    struct Info: Decodable, Sendable { var versions: [String: VersionInfo]; var timestamps: [String: Int] }

    /// Generated once per test process; tests that damage a table work on a copy.
    static let shared: Result<(URL, Info), PyarrowFixtures.FixtureError> = {
        do { return .success(try write()) } catch let e as PyarrowFixtures.FixtureError { return .failure(e) } catch {
            return .failure(PyarrowFixtures.FixtureError("\(error)"))
        }
    }()

    static func generate() throws -> (URL, Info) { try shared.get() }

    static func write() throws -> (URL, Info) {
        let dir = try makeTempDir("sextant-delta")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw PyarrowFixtures.FixtureError("the deltalake fixture script failed (is deltalake installed? pip install -r hack/requirements-test.txt): \(stderr)")
        }
        let info = try JSONDecoder().decode(Info.self, from: Data(contentsOf: dir.appendingPathComponent("info.json")))
        return (dir, info)
    }

    /// A copy of the table to damage.
    static func copy() throws -> URL {
        let (dir, _) = try generate()
        let target = try makeTempDir("sextant-delta-copy").appendingPathComponent("table")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("table"), to: target)
        return target
    }
}
