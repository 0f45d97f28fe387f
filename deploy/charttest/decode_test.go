package charttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is one rendered document: its kind and name, its YAML, and the
// value it decoded into (a typed API object, or for a ScaledObject the
// unstructured map validated against KEDA's CRD).
type object struct {
	APIVersion, Kind, Name string
	YAML                   []byte
	Value                  any
}

// scaledObject is what the tests read of a ScaledObject (after it passed
// the CRD's schema).
type scaledObject struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Fallback        *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback"`
		Triggers []struct {
			Type     string            `json:"type"`
			Name     string            `json:"name"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// typed are the API types of every kind the chart may render, but the
// ScaledObject (a CRD without usable Go types here: decoded by its schema).
var typed = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// decode splits helm's output into documents and decodes each strictly.
func decode(t testing.TB, out []byte) ([]object, error) {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	var objs []object
	var errs []error
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var head struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		if head.Kind == "" { // a document of comments only
			continue
		}
		o := object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, YAML: doc}
		gvk := head.APIVersion + "/" + head.Kind
		switch {
		case gvk == "keda.sh/v1alpha1/ScaledObject":
			so, err := kedaSchema(t).validate(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", head.Kind, o.Name, err))
			}
			o.Value = so
		case typed[gvk] != nil:
			v := typed[gvk]()
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", head.Kind, o.Name, err))
			}
			o.Value = v
		default:
			errs = append(errs, fmt.Errorf("%s %s: a kind the tests do not know", gvk, o.Name))
		}
		objs = append(objs, o)
	}
	return objs, errors.Join(errs...)
}

// crdSchema validates custom resources as the API server does: unknown
// fields are those pruning would drop (strict field validation), then the
// openAPIV3Schema's types, enums and required fields.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
}

var (
	kedaOnce sync.Once
	kedaCRD  *crdSchema
	kedaErr  error
)

func kedaSchema(t testing.TB) *crdSchema {
	t.Helper()
	path := kedaCRDFile(t)
	kedaOnce.Do(func() { kedaCRD, kedaErr = loadCRD(path, "v1alpha1") })
	if kedaErr != nil {
		t.Fatalf("KEDA CRD %s: %v", path, kedaErr)
	}
	return kedaCRD
}

func loadCRD(path, version string) (*crdSchema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		return nil, err
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != version || v.Schema == nil {
			continue
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return nil, err
		}
		s, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return nil, err
		}
		val, _, err := validation.NewSchemaValidator(&internal)
		if err != nil {
			return nil, err
		}
		return &crdSchema{structural: s, validator: val}, nil
	}
	return nil, fmt.Errorf("no schema of version %s", version)
}

func (c *crdSchema) validate(doc []byte) (*scaledObject, error) {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(j, &obj); err != nil { // integers as int64, as the API server reads them
		return nil, err
	}
	var errs []error
	meta, _ := json.Marshal(obj["metadata"])
	dec := json.NewDecoder(bytes.NewReader(meta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&metav1.ObjectMeta{}); err != nil {
		errs = append(errs, fmt.Errorf("metadata: %w", err))
	}
	if unknown := pruning.PruneWithOptions(obj, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("unknown fields: %s", strings.Join(unknown, ", ")))
	}
	for _, e := range validation.ValidateCustomResource(nil, obj, c.validator) {
		errs = append(errs, e)
	}
	var so scaledObject
	if err := json.Unmarshal(j, &so); err != nil {
		errs = append(errs, err)
	}
	return &so, errors.Join(errs...)
}
