package onnxrt

import (
	"errors"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// ModelInfo describes a model's inputs and outputs, in the model's order.
type ModelInfo struct {
	Inputs  []TensorInfo `json:"inputs"`
	Outputs []TensorInfo `json:"outputs"`
}

// TensorInfo describes one input or output.
type TensorInfo struct {
	Name string `json:"name"`
	// Kind is "tensor", or e.g. "sequence" or "map" for the non-tensor values
	// some converters emit (such values have no ElementType or Shape).
	Kind string `json:"kind"`
	// ElementType is e.g. "float32", "float64", "int64", "string".
	ElementType string `json:"element_type,omitempty"`
	// Shape has -1 for a dynamic dimension, e.g. [-1 9] for a batch of rows.
	Shape []int64 `json:"shape,omitempty"`
}

func (t TensorInfo) String() string {
	if t.Kind != "tensor" {
		return fmt.Sprintf("%s (%s)", t.Name, t.Kind)
	}
	return fmt.Sprintf("%s %s%v", t.Name, t.ElementType, t.Shape)
}

// Inspect loads model (the bytes of an .onnx file) and reports its inputs and
// outputs. Bytes that are not a complete, valid ONNX model are an error.
func Inspect(model []byte) (ModelInfo, error) {
	if !initialized() {
		return ModelInfo{}, ErrNotInitialized
	}
	if len(model) == 0 {
		return ModelInfo{}, errors.New("onnxrt: inspect: empty model")
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("onnxrt: inspect: not a valid ONNX model (%d bytes): %w", len(model), err)
	}
	return ModelInfo{Inputs: tensorInfos(ins), Outputs: tensorInfos(outs)}, nil
}

func tensorInfos(infos []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(infos))
	for i, info := range infos {
		t := TensorInfo{Name: info.Name, Kind: kindName(info.OrtValueType)}
		if info.OrtValueType == ort.ONNXTypeTensor {
			t.ElementType = elementTypeName(info.DataType)
			t.Shape = append([]int64{}, info.Dimensions...)
		}
		out[i] = t
	}
	return out
}

func kindName(t ort.ONNXType) string {
	switch t {
	case ort.ONNXTypeTensor:
		return "tensor"
	case ort.ONNXTypeSparseTensor:
		return "sparse_tensor"
	case ort.ONNXTypeSequence:
		return "sequence"
	case ort.ONNXTypeMap:
		return "map"
	case ort.ONNXTypeOptional:
		return "optional"
	default:
		return t.String()
	}
}

func elementTypeName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeInt16:
		return "int16"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeString:
		return "string"
	case ort.TensorElementDataTypeBool:
		return "bool"
	default:
		return t.String()
	}
}
