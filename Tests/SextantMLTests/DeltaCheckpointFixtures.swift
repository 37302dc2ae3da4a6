import Foundation
import Testing
@testable import SextantML

/// A Delta table whose early commits exist only in a Parquet checkpoint, written at test time by
/// delta-rs (`deltalake`): v0 partitioned create, v1 append, v2 delete, v3 append,
/// `create_checkpoint()` at v3, v4 append, v5 delete. Each version is exported as CSV by deltalake
/// before the cleanup; then commits 0-3 are deleted (`cleaned`), so only the checkpoint path can
/// read versions 3-5, and deltalake itself reads the cleaned table back (its rows per version are
/// recorded). Variants made with pyarrow from the checkpoint delta-rs wrote: the same checkpoint
/// split into two parts (multi-part, `_last_checkpoint.parts = 2`) and one with a deletion vector
/// on its first `add`.
enum DeltaCheckpointFixtures {
    static let script = #"""
import sys, os, json, csv, random, shutil, datetime
import pyarrow as pa, pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
out = sys.argv[1]
t = os.path.abspath(out + "/table")
rng = random.Random(5)
def rows(n):
    d = {"x0": [], "x1": [], "x2": [], "color": [], "region": [], "label": []}
    for _ in range(n):
        x0, x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
        color = rng.choice(["red", "green", "blue"])
        z = 1.1 * x0 - x1 + (0.7 if color == "red" else 0) + 0.4 * rng.gauss(0, 1)
        d["x0"].append(x0); d["x1"].append(x1); d["x2"].append(None if rng.random() < 0.03 else x2)
        d["color"].append(color); d["region"].append(rng.choice(["north", "south", "east"]))
        d["label"].append(1 if z > 0.4 else 0)
    return pa.table(d, schema=pa.schema([("x0", pa.float64()), ("x1", pa.float64()), ("x2", pa.float64()),
                                         ("color", pa.string()), ("region", pa.string()), ("label", pa.int64())]))
write_deltalake(t, rows(600), partition_by=["region"])
write_deltalake(t, rows(400), mode="append")
DeltaTable(t).delete("x0 > 1.0")
write_deltalake(t, rows(300), mode="append")
DeltaTable(t).create_checkpoint()
write_deltalake(t, rows(300), mode="append")
DeltaTable(t).delete("region = 'east' AND x1 < -1.0")
log = t + "/_delta_log"
base = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc).timestamp()
for v in range(6):
    os.utime(log + "/%020d.json" % v, (base + v * 86400, base + v * 86400))
def export(table_dir, v, path):
    dt = DeltaTable(table_dir, version=v)
    tab = dt.to_pyarrow_table()
    names = tab.column_names
    if path:
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(names)
            cols = [tab.column(n).to_pylist() for n in names]
            for r in range(tab.num_rows):
                w.writerow(["" if c[r] is None else (repr(c[r]) if isinstance(c[r], float) else c[r]) for c in cols])
    return {"rows": tab.num_rows, "files": [u[len(table_dir)+1:] if u.startswith(table_dir) else u for u in dt.file_uris()]}
info = {"versions": {}, "cleaned": {}, "multipart": {}}
for v in range(6):
    info["versions"][v] = export(t, v, out + "/v%d.csv" % v)
cp = log + "/00000000000000000003.checkpoint.parquet"
info["checkpointRows"] = pq.read_metadata(cp).num_rows
# Cleaned: the JSON commits up to the checkpoint are gone.
c = os.path.abspath(out + "/cleaned")
shutil.copytree(t, c)
for v in range(4):
    os.remove(c + "/_delta_log/%020d.json" % v)
for v in range(3, 6):
    try: info["cleaned"][v] = export(c, v, None)
    except Exception as e: info["cleaned"][v] = {"error": str(e)}
# Multi-part: the same actions in two Parquet files written by pyarrow.
m = os.path.abspath(out + "/multipart")
shutil.copytree(c, m)
tab = pq.read_table(cp)
half = tab.num_rows // 2
os.remove(m + "/_delta_log/00000000000000000003.checkpoint.parquet")
pq.write_table(tab.slice(0, half), m + "/_delta_log/00000000000000000003.checkpoint.0000000001.0000000002.parquet")
pq.write_table(tab.slice(half), m + "/_delta_log/00000000000000000003.checkpoint.0000000002.0000000002.parquet")
json.dump({"version": 3, "size": tab.num_rows, "parts": 2}, open(m + "/_delta_log/_last_checkpoint", "w"))
for v in range(3, 6):
    try: info["multipart"][v] = export(m, v, None)
    except Exception as e: info["multipart"][v] = {"error": str(e)}
# A deletion vector on the checkpoint's first add (the protocol's struct, as Spark writes it).
d = os.path.abspath(out + "/dv")
shutil.copytree(c, d)
rows_ = tab.to_pylist()
first = next(i for i, r in enumerate(rows_) if r["add"] is not None)
rows_[first]["add"]["deletionVector"] = {"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^", "offset": 4, "sizeInBytes": 40, "cardinality": 6}
info["dvPath"] = rows_[first]["add"]["path"]
pq.write_table(pa.Table.from_pylist(rows_, schema=tab.schema), d + "/_delta_log/00000000000000000003.checkpoint.parquet")
json.dump(info, open(out + "/info.json", "w"), indent=1)
"""#

    struct Files: Decodable, Sendable { var rows: Int?; var files: [String]?; var error: String? }
    struct Info: Decodable, Sendable {
        var versions: [String: Files]; var cleaned: [String: Files]; var multipart: [String: Files]
        var checkpointRows: Int; var dvPath: String
    }

    static let shared: Result<(URL, Info), PyarrowFixtures.FixtureError> = {
        do {
            let dir = try makeTempDir("sextant-delta-cp")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", script, dir.path]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                return .failure(PyarrowFixtures.FixtureError("the deltalake checkpoint fixture script failed (is deltalake installed? pip install -r hack/requirements-test.txt): \(stderr)"))
            }
            return .success((dir, try JSONDecoder().decode(Info.self, from: Data(contentsOf: dir.appendingPathComponent("info.json")))))
        } catch {
            return .failure(PyarrowFixtures.FixtureError("\(error)"))
        }
    }()

    static func generate() throws -> (URL, Info) { try shared.get() }

    /// A copy of one of the tables (`table`, `cleaned`, `multipart`, `dv`) to damage.
    static func copy(_ name: String) throws -> URL {
        let (dir, _) = try generate()
        let target = try makeTempDir("sextant-delta-cp-copy").appendingPathComponent(name)
        try FileManager.default.copyItem(at: dir.appendingPathComponent(name), to: target)
        return target
    }
}
