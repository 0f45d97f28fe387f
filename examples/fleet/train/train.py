#!/usr/bin/env python3
"""Train and export the reference model of examples/fleet (model name dga-risk).

Reads two CSV files written by `fleetgen -format training` (a training fleet and
a held-out fleet), trains a small PyTorch network whose feature engineering
(log gases, IEC 60599 gas ratios, Duval triangle shares) is part of the graph,
and exports it to ONNX with one float32 input [N, 9] in the order of FEATURES
and one output [N, 1], the probability of a failure within the horizon. Also
fits a logistic regression on the standardised raw features as a baseline.

Writes into --out (default: ../model next to this script):
  dga-risk.onnx            the network
  dga-risk.logistic.json   the baseline: p = sigmoid(bias + sum w_i (x_i - mean_i) / scale_i)
  heldout.csv              the held-out rows' FEATURES and the label fault
  heldout_pred.csv         the network's probability for each held-out row, as PyTorch computes it

Needs Debian's python3 with python3-numpy, python3-sklearn and python3-torch
(torch 1.13 exports ONNX without the onnx package).
"""

import argparse
import csv
import json
import os
import sys
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

FEATURES = ["h2", "ch4", "c2h2", "c2h4", "c2h6", "co", "co2", "age_years", "load_pct"]
LABEL = "fault"
SEED = 0


def load(path):
    """Returns the FEATURES cells as read, as float32 [N, 9], and the labels."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FEATURES + [LABEL] if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: missing columns {missing}; write it with fleetgen -format training")
        cells, labels = [], []
        for row in reader:
            cells.append([row[c] for c in FEATURES])
            labels.append(int(row[LABEL]))
    # Parse as float64, then round to float32: what the Go scorer does too.
    x = np.array(cells, dtype=np.float64).astype(np.float32)
    return cells, x, np.array(labels, dtype=np.int64)


class DGARisk(torch.nn.Module):
    """Raw readings [N, 9] -> probability of failure [N, 1]."""

    def __init__(self, x_train):
        super().__init__()
        engineered = self.engineer(torch.from_numpy(x_train))
        self.register_buffer("mean", engineered.mean(0, keepdim=True))
        self.register_buffer("std", engineered.std(0, keepdim=True).clamp(min=1e-6))
        width = engineered.shape[1]
        self.net = torch.nn.Sequential(
            torch.nn.Linear(width, 32),
            torch.nn.ReLU(),
            torch.nn.Linear(32, 16),
            torch.nn.ReLU(),
            torch.nn.Linear(16, 1),
        )

    @staticmethod
    def engineer(x):
        col = {name: x[:, i : i + 1] for i, name in enumerate(FEATURES)}
        gases = {g: torch.clamp(col[g], min=0.0) for g in FEATURES[:7]}

        def log_ratio(a, b):  # log((a+1)/(b+1)), defined at zero readings
            return torch.log(gases[a] + 1.0) - torch.log(gases[b] + 1.0)

        duval_sum = gases["ch4"] + gases["c2h4"] + gases["c2h2"] + 1.0
        return torch.cat(
            [torch.log(gases[g] + 1.0) for g in FEATURES[:7]]
            + [
                log_ratio("c2h2", "c2h4"),  # IEC 60599 ratios
                log_ratio("ch4", "h2"),
                log_ratio("c2h4", "c2h6"),
                log_ratio("co2", "co"),  # paper involvement
                gases["ch4"] / duval_sum,  # Duval triangle shares
                gases["c2h4"] / duval_sum,
                gases["c2h2"] / duval_sum,
                col["age_years"],
                col["load_pct"],
            ],
            dim=1,
        )

    def logits(self, x):
        return self.net((self.engineer(x) - self.mean) / self.std)

    def forward(self, x):
        return torch.sigmoid(self.logits(x))


def train_network(x, y, epochs, batch):
    torch.manual_seed(SEED)
    model = DGARisk(x)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)).unsqueeze(1)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            opt.zero_grad()
            loss_fn(model.logits(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    model.eval()
    return model


def export_onnx(model, path):
    # torch 1.13 warns about shape inference of constants; the graph is fine.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
    torch.onnx.export(
        model,
        torch.zeros(2, len(FEATURES)),
        path,
        input_names=["features"],
        output_names=["risk"],
        dynamic_axes={"features": {0: "N"}, "risk": {0: "N"}},
        opset_version=13,
    )


def fit_logistic(x, y):
    x64 = x.astype(np.float64)
    scaler = StandardScaler().fit(x64)
    clf = LogisticRegression(max_iter=5000).fit(scaler.transform(x64), y)
    return {
        "kind": "logistic",
        "features": FEATURES,
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "weights": clf.coef_[0].tolist(),
        "bias": float(clf.intercept_[0]),
    }


def logistic_predict(spec, x):
    z = spec["bias"] + ((x.astype(np.float64) - spec["mean"]) / spec["scale"]) @ np.array(spec["weights"])
    return 1.0 / (1.0 + np.exp(-z))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="training CSV (fleetgen -format training)")
    ap.add_argument("--heldout", required=True, help="held-out CSV (fleetgen -format training, another seed)")
    ap.add_argument("--out", default=os.path.join(here, "..", "model"), help="output directory")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()

    torch.set_num_threads(1)  # reproducible float sums
    _, x_train, y_train = load(args.train)
    cells_heldout, x_heldout, y_heldout = load(args.heldout)
    os.makedirs(args.out, exist_ok=True)

    model = train_network(x_train, y_train, args.epochs, args.batch)
    with torch.no_grad():
        pred = model(torch.from_numpy(x_heldout)).numpy().ravel()
    export_onnx(model, os.path.join(args.out, "dga-risk.onnx"))

    logistic = fit_logistic(x_train, y_train)
    with open(os.path.join(args.out, "dga-risk.logistic.json"), "w") as f:
        json.dump(logistic, f, separators=(",", ":"))
        f.write("\n")

    with open(os.path.join(args.out, "heldout.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FEATURES + [LABEL])
        for cells, label in zip(cells_heldout, y_heldout):
            w.writerow(cells + [int(label)])
    with open(os.path.join(args.out, "heldout_pred.csv"), "w", newline="") as f:
        f.write("risk\n")
        for p in pred:
            f.write("%.9g\n" % p)  # 9 significant digits round-trip a float32

    print(f"train rows {len(y_train)} (fault rate {y_train.mean():.3f}), "
          f"held-out rows {len(y_heldout)} (fault rate {y_heldout.mean():.3f})")
    print(f"held-out ROC AUC  network (dga-risk.onnx): {roc_auc_score(y_heldout, pred):.4f}")
    print(f"held-out ROC AUC  logistic (dga-risk.logistic.json): "
          f"{roc_auc_score(y_heldout, logistic_predict(logistic, x_heldout)):.4f}")


if __name__ == "__main__":
    main()
