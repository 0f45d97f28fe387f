#!/usr/bin/env python3
"""Writes the small ONNX models the onnxrt tests use (Debian python3 + python3-torch):

  two_class.onnx  x float32 [N,3] -> label int64 [N], probabilities float32 [N,2] = softmax(x0, x1)
  flat.onnx       x float32 [N,3] -> score float32 [N] = sigmoid(x0 + x1 + x2)
  int_input.onnx  x int64 [N,3]   -> score float32 [N] (an input the scorer cannot feed)

Run from this directory: /usr/bin/python3 make_models.py
"""

import torch


class TwoClass(torch.nn.Module):
    def forward(self, x):
        logits = x[:, 0:2]
        return torch.argmax(logits, dim=1), torch.softmax(logits, dim=1)


class Flat(torch.nn.Module):
    def forward(self, x):
        return torch.sigmoid(x.sum(dim=1))


class IntInput(torch.nn.Module):
    def forward(self, x):
        return torch.sigmoid(x.float().sum(dim=1))


def export(model, example, path, outputs):
    torch.onnx.export(
        model,
        example,
        path,
        input_names=["x"],
        output_names=outputs,
        dynamic_axes={name: {0: "N"} for name in ["x"] + outputs},
        opset_version=13,
    )


export(TwoClass(), torch.zeros(2, 3), "two_class.onnx", ["label", "probabilities"])
export(Flat(), torch.zeros(2, 3), "flat.onnx", ["score"])
export(IntInput(), torch.zeros(2, 3, dtype=torch.int64), "int_input.onnx", ["score"])
