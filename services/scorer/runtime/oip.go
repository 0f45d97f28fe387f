package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The Open Inference Protocol v2 REST messages the remote runtime uses.

type oipOutput struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type oipInput struct {
	Name     string    `json:"name"`
	Shape    []int64   `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float32 `json:"data"`
}

type oipInferRequest struct {
	Inputs []oipInput `json:"inputs"`
}

type oipInferResponse struct {
	Outputs []oipOutput `json:"outputs"`
}

// encodeInferRequest is one FP32 [rows, width] input, row-major.
func encodeInferRequest(input string, x []float32, rows, width int) ([]byte, error) {
	body, err := json.Marshal(oipInferRequest{Inputs: []oipInput{{
		Name: input, Shape: []int64{int64(rows), int64(width)}, Datatype: "FP32", Data: x,
	}}})
	if err != nil {
		return nil, fmt.Errorf("encode %d rows: %w", rows, err)
	}
	return body, nil
}

// maxResponseBytes bounds the answer read for rows rows: room for two
// long numbers per row and the envelope.
func maxResponseBytes(rows int) int64 { return 1<<20 + int64(rows)*256 }

// decodeInferResponse returns one score per row from the first output:
// its values for shape [rows] or [rows, 1], column 1 for [rows, 2]. The
// data may be flat (row-major) or nested like the shape.
func decodeInferResponse(body []byte, rows int) ([]float32, error) {
	var resp oipInferResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decode inference response: %w", err)
	}
	if len(resp.Outputs) == 0 {
		return nil, errors.New("inference response has no outputs")
	}
	out := resp.Outputs[0]
	data, err := flatten(out.Data, nil)
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", out.Name, err)
	}
	n := int64(rows)
	switch s := out.Shape; {
	case len(s) == 1 && s[0] == n, len(s) == 2 && s[0] == n && s[1] == 1:
		if len(data) == rows {
			return data, nil
		}
	case len(s) == 2 && s[0] == n && s[1] == 2:
		if len(data) == 2*rows {
			y := make([]float32, rows)
			for i := range y {
				y[i] = data[2*i+1]
			}
			return y, nil
		}
	default:
		return nil, fmt.Errorf("output %q has shape %v for %d rows, want [%d], [%d 1] or [%d 2]", out.Name, s, rows, rows, rows, rows)
	}
	return nil, fmt.Errorf("output %q of shape %v has %d values", out.Name, out.Shape, len(data))
}

// flatten appends the numbers of a flat or nested JSON array to dst.
func flatten(raw json.RawMessage, dst []float32) ([]float32, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("[")) {
		return nil, errors.New("data is not an array")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(trimmed[1:], " \t\r\n"), []byte("[")) {
		var flat []float32
		if err := json.Unmarshal(raw, &flat); err != nil {
			return nil, fmt.Errorf("data is not an array of numbers: %w", err)
		}
		return append(dst, flat...), nil
	}
	var nested []json.RawMessage
	if err := json.Unmarshal(raw, &nested); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	for _, r := range nested {
		var err error
		if dst, err = flatten(r, dst); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// StatusError is a non-200 answer of a model server, with the message of
// its {"error": "..."} body (or the start of whatever it sent).
type StatusError struct {
	Method, URL string
	Code        int
	Message     string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether the server may answer differently later:
// 429 and 5xx.
func (e *StatusError) Temporary() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// readStatusError reads the start of an error response.
func readStatusError(resp *http.Response) *StatusError {
	e := &StatusError{Method: resp.Request.Method, URL: resp.Request.URL.String(), Code: resp.StatusCode}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var msg struct {
		Error string `json:"error"`
	}
	switch {
	case err != nil:
		e.Message = fmt.Sprintf("(reading the body: %v)", err)
	case json.Unmarshal(body, &msg) == nil && msg.Error != "":
		e.Message = msg.Error
	default:
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 512 {
			e.Message = e.Message[:512] + "…"
		}
	}
	return e
}
