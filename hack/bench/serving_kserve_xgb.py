"""KServe's XGBoost server, for the side-by-side benchmark.

KServe's `xgbserver` package is not published on PyPI, so this file is the same model class on the
published `kserve` SDK: a `kserve.Model` whose load() opens the booster with
`xgb.Booster(params={"nthread": n}, model_file=...)` and whose predict() builds an
`xgb.DMatrix(instances, nthread=n)` from the V1/V2 payload and returns `booster.predict`, served by
`kserve.ModelServer` (FastAPI/uvicorn) exactly as xgbserver's __main__ does.

usage: serving_kserve_xgb.py --model_dir DIR --model_name NAME --http_port PORT [--grpc_port PORT] [--nthread N]
(gRPC, KServe's Open Inference Protocol service, only with --grpc_port)
"""
import argparse
import os
import sys

import kserve
import xgboost as xgb
from kserve.utils.utils import get_predict_input, get_predict_response

parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
parser.add_argument("--model_dir", required=True)
parser.add_argument("--nthread", type=int, default=1)
args, _ = parser.parse_known_args()


class XGBoostModel(kserve.Model):
    def __init__(self, name, model_dir, nthread):
        super().__init__(name)
        self.model_dir = model_dir
        self.nthread = nthread

    def load(self):
        files = [f for f in os.listdir(self.model_dir) if f.endswith((".json", ".ubj", ".bst"))]
        if len(files) != 1:
            raise RuntimeError(f"expected one model file in {self.model_dir}, found {files}")
        self._booster = xgb.Booster(params={"nthread": self.nthread},
                                    model_file=os.path.join(self.model_dir, files[0]))
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        dmatrix = xgb.DMatrix(instances, nthread=self.nthread)
        result = self._booster.predict(dmatrix)
        return get_predict_response(payload, result, self.name)


if __name__ == "__main__":
    model = XGBoostModel(args.model_name, args.model_dir, args.nthread)
    model.load()
    grpc_on = any(a.startswith("--grpc_port") for a in sys.argv)
    kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1,
                       enable_grpc=grpc_on).start([model])
