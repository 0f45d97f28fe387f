package charttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partita/partita/libs/safehttp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	releaseName = "partita"
	namespace   = "partita"
	kedaAPI     = "keda.sh/v1alpha1"
	monitorAPI  = "monitoring.coreos.com/v1"
)

// The services of the microservices shape and the work stages among them
// (the stage label of partita_stage_backlog).
var (
	services = []string{"ingest", "splitter", "scorer", "optimizer", "aggregator", "webhooks", "gateway"}
	stages   = map[string]string{"ingest": "ingest", "splitter": "split", "scorer": "score", "optimizer": "optimize", "aggregator": "aggregate"}
)

// release is what one `helm template` rendered.
type release struct {
	objs []object
}

func (r *release) all(kind string) []object {
	var out []object
	for _, o := range r.objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r *release) get(kind, name string) (object, bool) {
	for _, o := range r.objs {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

// workload is a Deployment or StatefulSet's pod template.
type workload struct {
	kind, name string
	replicas   *int32
	selector   *metav1.LabelSelector
	template   corev1.PodTemplateSpec
}

func (r *release) workloads() []workload {
	var out []workload
	for _, o := range r.objs {
		switch v := o.Value.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o.Kind, o.Name, v.Spec.Replicas, v.Spec.Selector, v.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, workload{o.Kind, o.Name, v.Spec.Replicas, v.Spec.Selector, v.Spec.Template})
		}
	}
	return out
}

// template runs `helm template` on the chart and decodes what it rendered.
func template(t testing.TB, args ...string) (*release, error) {
	t.Helper()
	out, err := helm(t, append([]string{"template", releaseName, chartDir(t), "--namespace", namespace}, args...)...)
	if err != nil {
		return nil, err
	}
	objs, err := decode(t, out)
	return &release{objs: objs}, err
}

// shape is one row of the matrix: the helm arguments and what they ask for.
type shape struct {
	name           string
	args           []string
	micro          bool // deploymentMode Microservices
	keda           bool // ScaledObjects expected
	serviceMonitor bool // a ServiceMonitor expected
	existingSecret string
	networkPolicy  bool
	dashboard      bool
	autoscaled     []string // services an HPA or ScaledObject scales
}

func microservices(t testing.TB) string {
	return filepath.Join(chartDir(t), "values-microservices.yaml")
}

func matrix(t testing.TB) []shape {
	micro := []string{"-f", microservices(t)}
	stageNames := slices.Sorted(maps.Keys(stages))
	return []shape{
		{name: "defaults", networkPolicy: true, dashboard: true},
		{name: "defaults/monitoring-api", args: []string{"--api-versions", monitorAPI, "--api-versions", kedaAPI},
			serviceMonitor: true, networkPolicy: true, dashboard: true},
		{name: "defaults/no-networkpolicy-no-dashboard", args: []string{"--set", "networkPolicy.enabled=false", "--set", "metrics.dashboard.enabled=false"}},
		{name: "defaults/existing-secret", args: []string{"--set", "secrets.existingSecret=mine"}, existingSecret: "mine", networkPolicy: true, dashboard: true},
		{name: "microservices/no-keda-no-monitoring", args: micro, micro: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/keda", args: append(slices.Clone(micro), "--api-versions", kedaAPI),
			micro: true, keda: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/keda-and-monitoring", args: append(slices.Clone(micro), "--api-versions", kedaAPI, "--api-versions", monitorAPI),
			micro: true, keda: true, serviceMonitor: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/monitoring-api-servicemonitor-off", args: append(slices.Clone(micro), "--api-versions", monitorAPI, "--set", "metrics.serviceMonitor.enabled=false"),
			micro: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/keda-api-keda-off", args: append(slices.Clone(micro), "--api-versions", kedaAPI, "--set", "autoscaling.keda.enabled=false"),
			micro: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/existing-secret-keda", args: append(slices.Clone(micro), "--api-versions", kedaAPI, "--set", "secrets.existingSecret=partita-secrets"),
			micro: true, keda: true, existingSecret: "partita-secrets", networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/no-networkpolicy", args: append(slices.Clone(micro), "--set", "networkPolicy.enabled=false"),
			micro: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/fixed-replicas", args: append(slices.Clone(micro), "--api-versions", kedaAPI,
			"--set", "ingest.autoscaling.enabled=false", "--set", "splitter.autoscaling.enabled=false", "--set", "scorer.autoscaling.enabled=false",
			"--set", "optimizer.autoscaling.enabled=false", "--set", "aggregator.autoscaling.enabled=false", "--set", "scorer.replicas=3"),
			micro: true, networkPolicy: true, dashboard: true},
		{name: "microservices/hpa-for-gateway-and-webhooks", args: append(slices.Clone(micro), "--api-versions", kedaAPI,
			"--set", "gateway.autoscaling.enabled=true", "--set", "webhooks.autoscaling.enabled=true"),
			micro: true, keda: true, networkPolicy: true, dashboard: true, autoscaled: services},
		{name: "microservices/api-from-ingress-namespace", args: append(slices.Clone(micro),
			"--set-json", `networkPolicy.apiFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress-nginx"}}}]`),
			micro: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
		{name: "microservices/tracing-digest-no-spread", args: append(slices.Clone(micro),
			"--set", "tracing.otlpEndpoint=http://otel-collector.observability.svc:4318",
			"--set-json", `networkPolicy.otlpTo=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"observability"}}}]`,
			"--set", "image.digest=sha256:"+strings.Repeat("ab", 32), "--set", "topologySpread.enabled=false",
			"--set", "serviceAccount.create=false", "--set", "podDisruptionBudget.enabled=false"),
			micro: true, networkPolicy: true, dashboard: true, autoscaled: stageNames},
	}
}

func TestLintStrict(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{"all-in-one": nil, "microservices": {"-f", microservices(t)}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := helm(t, append([]string{"lint", "--strict", chartDir(t)}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestTemplateMatrix renders every shape, decodes every document strictly
// into its API type and checks the release as a whole.
func TestTemplateMatrix(t *testing.T) {
	t.Parallel()
	for _, s := range matrix(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			rel, err := template(t, s.args...)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("rendered and decoded %d objects in %v", len(rel.objs), time.Since(start).Round(time.Millisecond))
			checkRelease(t, s, rel)
			checkConfig(t, s, rel)
		})
	}
}

func checkRelease(t *testing.T, s shape, rel *release) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range rel.objs {
		key := o.APIVersion + "/" + o.Kind + "/" + o.Name
		if seen[key] {
			t.Errorf("%s rendered twice", key)
		}
		seen[key] = true
		if len(o.Name) > 63 {
			t.Errorf("%s: name longer than 63", key)
		}
	}

	wls := rel.workloads()
	wantWorkloads := []string{"StatefulSet/partita"}
	if s.micro {
		wantWorkloads = nil
		for _, svc := range services {
			wantWorkloads = append(wantWorkloads, "Deployment/partita-"+svc)
		}
	}
	var got []string
	for _, w := range wls {
		got = append(got, w.kind+"/"+w.name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantWorkloads))) {
		t.Fatalf("workloads %v, want %v", got, wantWorkloads)
	}

	for _, w := range wls {
		checkPod(t, s, rel, w)
	}
	checkServices(t, rel, wls)
	checkPDBs(t, s, rel, wls)
	checkNetworkPolicies(t, s, rel, wls)
	checkAutoscaling(t, s, rel, wls)
	checkMonitoring(t, s, rel)
	checkSecrets(t, s, rel)
}

// checkPod holds every pod to restricted Pod Security and the chart's own
// hardening: read-only root, no token, probes, requests and limits.
func checkPod(t *testing.T, s shape, rel *release, w workload) {
	t.Helper()
	where := w.kind + " " + w.name
	spec := w.template.Spec
	if v := restrictedViolations(spec); len(v) > 0 {
		t.Errorf("%s breaks restricted Pod Security:\n  %s", where, strings.Join(v, "\n  "))
	}
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil || !sel.Matches(labels.Set(w.template.Labels)) {
		t.Errorf("%s: selector %v does not match its pods' labels %v", where, w.selector, w.template.Labels)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the pod mounts a service account token", where)
	}
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		o, ok := rel.get("ServiceAccount", sa)
		if !ok {
			t.Errorf("%s: service account %s not rendered", where, sa)
		} else if a := o.Value.(*corev1.ServiceAccount).AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("ServiceAccount %s: automountServiceAccountToken must be false", sa)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g <= 30 {
		t.Errorf("%s: terminationGracePeriodSeconds %v must exceed the 30 s stop timeout", where, g)
	}
	if len(spec.TopologySpreadConstraints) == 0 && !slices.Contains(s.args, "topologySpread.enabled=false") {
		t.Errorf("%s: no topologySpreadConstraints", where)
	}
	for _, tsc := range spec.TopologySpreadConstraints {
		ls, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil || !ls.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: topology spread on %s does not select its own pods", where, tsc.TopologyKey)
		}
	}
	writable := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.EmptyDir != nil {
			writable[v.Name] = true
			if v.EmptyDir.SizeLimit == nil {
				t.Errorf("%s: emptyDir %s without sizeLimit", where, v.Name)
			}
		}
		if v.ConfigMap != nil {
			if _, ok := rel.get("ConfigMap", v.ConfigMap.Name); !ok {
				t.Errorf("%s: volume %s names ConfigMap %s, not rendered", where, v.Name, v.ConfigMap.Name)
			}
		}
	}
	if w.kind == "StatefulSet" {
		writable["data"] = true
	}
	for _, c := range spec.Containers {
		cw := where + " container " + c.Name
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem not read-only", cw)
		}
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly && !writable[m.Name] {
				t.Errorf("%s: mount %s is writable but not an emptyDir or the data volume", cw, m.Name)
			}
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", cw, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("%s: no %s limit", cw, r)
			}
		}
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			want := "/healthz"
			if name == "readiness" {
				want = "/readyz"
			}
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want {
				t.Errorf("%s: %s probe must GET %s, got %+v", cw, name, want, p)
				continue
			}
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.HTTPGet.Port.String() }) {
				t.Errorf("%s: %s probe on port %s the container does not declare", cw, name, p.HTTPGet.Port.String())
			}
		}
		if strings.Contains(strings.Join(s.args, " "), "image.digest=") {
			if !strings.Contains(c.Image, "@sha256:") {
				t.Errorf("%s: image %s not pinned by digest", cw, c.Image)
			}
		} else if c.Image != "ghcr.io/partita/partita:0.1.0" {
			t.Errorf("%s: image %s, want ghcr.io/partita/partita:0.1.0 (the appVersion)", cw, c.Image)
		}
	}
}

// checkServices: every Service selects the pods of a workload, on a port
// they declare.
func checkServices(t *testing.T, rel *release, wls []workload) {
	t.Helper()
	for _, o := range rel.all("Service") {
		svc := o.Value.(*corev1.Service)
		var hit *workload
		for i, w := range wls {
			if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
				hit = &wls[i]
			}
		}
		if hit == nil {
			t.Errorf("Service %s selects no workload's pods", o.Name)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if !slices.ContainsFunc(hit.template.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
				t.Errorf("Service %s: target port %s is not a port of %s", o.Name, p.TargetPort.String(), hit.name)
			}
		}
	}
}

func checkPDBs(t *testing.T, s shape, rel *release, wls []workload) {
	t.Helper()
	pdbs := rel.all("PodDisruptionBudget")
	if slices.Contains(s.args, "podDisruptionBudget.enabled=false") {
		if len(pdbs) > 0 {
			t.Errorf("%d PodDisruptionBudgets with podDisruptionBudget.enabled=false", len(pdbs))
		}
		return
	}
	for _, w := range wls {
		n := 0
		for _, o := range pdbs {
			sel, err := metav1.LabelSelectorAsSelector(o.Value.(*policyv1.PodDisruptionBudget).Spec.Selector)
			if err == nil && sel.Matches(labels.Set(w.template.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s %s is covered by %d PodDisruptionBudgets, want 1", w.kind, w.name, n)
		}
	}
}

// outboundWorkloads are the workloads whose processes call addresses users
// give, through libs/safehttp: the gateway fetches input_url, the scorer
// calls remote models, webhooks delivers; the all-in-one pod runs all three.
var outboundWorkloads = []string{"StatefulSet/partita", "Deployment/partita-gateway", "Deployment/partita-scorer", "Deployment/partita-webhooks"}

// defaultOutboundTo is values.yaml's networkPolicy.outboundTo, which no
// row of the matrix changes: the peers of the outbound egress rule.
func defaultOutboundTo(t *testing.T) []networkingv1.NetworkPolicyPeer {
	t.Helper()
	b := chartFile(t, "values.yaml")
	var v struct {
		NetworkPolicy struct {
			OutboundTo []networkingv1.NetworkPolicyPeer `json:"outboundTo"`
		} `json:"networkPolicy"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.NetworkPolicy.OutboundTo) == 0 {
		t.Fatal("values.yaml: networkPolicy.outboundTo is empty")
	}
	return v.NetworkPolicy.OutboundTo
}

// checkNetworkPolicies: one per workload, ingress only to the API (and
// /metrics), egress only on the ports the workload needs, and the egress
// to user-given addresses (outboundTo) for exactly the workloads that
// make such calls.
func checkNetworkPolicies(t *testing.T, s shape, rel *release, wls []workload) {
	t.Helper()
	nps := rel.all("NetworkPolicy")
	if !s.networkPolicy {
		if len(nps) > 0 {
			t.Errorf("%d NetworkPolicies with networkPolicy.enabled=false", len(nps))
		}
		return
	}
	outboundTo := defaultOutboundTo(t)
	var outbound []string
	for _, w := range wls {
		var mine []*networkingv1.NetworkPolicy
		for _, o := range nps {
			np := o.Value.(*networkingv1.NetworkPolicy)
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err == nil && sel.Matches(labels.Set(w.template.Labels)) {
				mine = append(mine, np)
			}
		}
		if len(mine) != 1 {
			t.Errorf("%s %s is selected by %d NetworkPolicies, want 1", w.kind, w.name, len(mine))
			continue
		}
		np := mine[0]
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
			t.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress and Egress", np.Name, np.Spec.PolicyTypes)
		}
		api := w.kind == "StatefulSet" || strings.HasSuffix(w.name, "-gateway")
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				want := "admin"
				if api {
					want = "http"
				}
				if p.Port == nil || p.Port.String() != want {
					t.Errorf("NetworkPolicy %s: ingress on port %v, want only %s", np.Name, p.Port, want)
				}
			}
			if !api && len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s: the admin port is open to anyone", np.Name)
			}
		}
		var ports []string
		outboundRules := 0
		for _, rule := range np.Spec.Egress {
			if len(rule.To) == 0 {
				t.Errorf("NetworkPolicy %s: an egress rule open to anywhere", np.Name)
			}
			for _, p := range rule.Ports {
				ports = append(ports, p.Port.String())
			}
			if equality.Semantic.DeepEqual(rule.To, outboundTo) {
				outboundRules++
				if len(rule.Ports) > 0 {
					t.Errorf("NetworkPolicy %s: egress to outboundTo only on ports %v; the binary dials any port (outboundPorts: [])", np.Name, rule.Ports)
				}
			}
		}
		switch outboundRules {
		case 0:
		case 1:
			outbound = append(outbound, w.kind+"/"+w.name)
		default:
			t.Errorf("NetworkPolicy %s: %d egress rules to outboundTo, want at most 1", np.Name, outboundRules)
		}
		if !slices.Contains(ports, "53") {
			t.Errorf("NetworkPolicy %s: no DNS egress", np.Name)
		}
		if s.micro && !slices.Contains(ports, "4222") {
			t.Errorf("NetworkPolicy %s: no NATS egress", np.Name)
		}
		if !s.micro && slices.Contains(ports, "4222") {
			t.Errorf("NetworkPolicy %s: NATS egress from the all-in-one pod (its NATS is embedded)", np.Name)
		}
		if tracing := strings.Contains(strings.Join(s.args, " "), "tracing.otlpEndpoint="); tracing != slices.Contains(ports, "4318") {
			t.Errorf("NetworkPolicy %s: egress to the OTLP collector %t, tracing.otlpEndpoint set %t", np.Name, !tracing, tracing)
		}
	}
	var want []string
	for _, w := range wls {
		if slices.Contains(outboundWorkloads, w.kind+"/"+w.name) {
			want = append(want, w.kind+"/"+w.name)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(outbound)), slices.Sorted(slices.Values(want))) {
		t.Errorf("egress to outboundTo for %v, want exactly %v", outbound, want)
	}
}

// checkAutoscaling: ScaledObjects only when KEDA's API is served (and
// enabled), HPAs otherwise; no replicas on a Deployment something scales,
// replicas on every other; scale to zero only for scorer and optimizer,
// each with an activation threshold and a trigger that wakes it.
func checkAutoscaling(t *testing.T, s shape, rel *release, wls []workload) {
	t.Helper()
	scaled := map[string]string{} // Deployment → what scales it
	for _, o := range rel.all("ScaledObject") {
		so := o.Value.(*scaledObject)
		ref := so.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
			t.Errorf("ScaledObject %s scales %s %s", o.Name, ref.APIVersion, ref.Kind)
		}
		if prev, ok := scaled[ref.Name]; ok {
			t.Errorf("Deployment %s scaled by %s and ScaledObject %s", ref.Name, prev, o.Name)
		}
		scaled[ref.Name] = "ScaledObject " + o.Name
		svc := strings.TrimPrefix(ref.Name, "partita-")
		stage, ok := stages[svc]
		if !ok {
			t.Errorf("ScaledObject %s scales %s, not a work stage", o.Name, ref.Name)
			continue
		}
		minR := so.Spec.MinReplicaCount
		if minR == nil {
			t.Errorf("ScaledObject %s: no minReplicaCount", o.Name)
			continue
		}
		if maxR := so.Spec.MaxReplicaCount; maxR == nil || *maxR < *minR {
			t.Errorf("ScaledObject %s: maxReplicaCount %v below minReplicaCount %d (the CRD's CEL rule)", o.Name, maxR, *minR)
		}
		if *minR == 0 && svc != "scorer" && svc != "optimizer" {
			t.Errorf("ScaledObject %s scales %s to zero", o.Name, svc)
		}
		if len(so.Spec.Triggers) == 0 || so.Spec.Triggers[0].Type != "prometheus" {
			t.Fatalf("ScaledObject %s: first trigger must be the prometheus backlog, got %+v", o.Name, so.Spec.Triggers)
		}
		backlog := so.Spec.Triggers[0].Metadata
		if want := fmt.Sprintf(`max(partita_stage_backlog{namespace=%q,service=%q,stage=%q})`, namespace, ref.Name, stage); backlog["query"] != want {
			t.Errorf("ScaledObject %s: query %s, want %s", o.Name, backlog["query"], want)
		}
		if backlog["threshold"] == "" || backlog["activationThreshold"] == "" {
			t.Errorf("ScaledObject %s: backlog trigger needs threshold and activationThreshold: %v", o.Name, backlog)
		}
		// A series that should be there and is not (Prometheus does not
		// scrape Partita) must be an error, so that KEDA keeps the fallback
		// replicas, not a 0 that leaves a stage at zero for good: the
		// backlog of a stage that always runs, the gateway's partita_jobs.
		// Only the backlog of a stage at zero is legitimately absent.
		if fb := so.Spec.Fallback; fb == nil || fb.Replicas < 1 || fb.Replicas < *minR {
			t.Errorf("ScaledObject %s: fallback %+v, want at least one replica and minReplicaCount", o.Name, fb)
		}
		if want := strconv.FormatBool(*minR == 0); backlog["ignoreNullValues"] != want {
			t.Errorf("ScaledObject %s: backlog ignoreNullValues %q with minReplicaCount %d, want %q", o.Name, backlog["ignoreNullValues"], *minR, want)
		}
		if *minR == 0 {
			if len(so.Spec.Triggers) != 2 || !strings.Contains(so.Spec.Triggers[1].Metadata["query"], "partita_jobs{") {
				t.Errorf("ScaledObject %s scales to zero without the jobs-not-ended trigger that wakes it: %+v", o.Name, so.Spec.Triggers)
			} else if v := so.Spec.Triggers[1].Metadata["ignoreNullValues"]; v != "false" {
				t.Errorf("ScaledObject %s: jobs-not-ended ignoreNullValues %q, want \"false\" (the gateway always serves partita_jobs)", o.Name, v)
			}
		}
	}
	for _, o := range rel.all("HorizontalPodAutoscaler") {
		hpa := o.Value.(*autoscalingv2.HorizontalPodAutoscaler)
		ref := hpa.Spec.ScaleTargetRef
		if prev, ok := scaled[ref.Name]; ok {
			t.Errorf("Deployment %s scaled by %s and HPA %s", ref.Name, prev, o.Name)
		}
		scaled[ref.Name] = "HPA " + o.Name
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 {
			t.Errorf("HPA %s: minReplicas %v", o.Name, hpa.Spec.MinReplicas)
		}
		if s.keda {
			if _, stage := stages[strings.TrimPrefix(ref.Name, "partita-")]; stage {
				t.Errorf("HPA %s for a work stage while KEDA scales the stages", o.Name)
			}
		}
	}
	if got := len(rel.all("ScaledObject")); s.keda != (got > 0) || (s.keda && got != len(stageList(s))) {
		t.Errorf("%d ScaledObjects, KEDA expected %t", got, s.keda)
	}
	var gotScaled []string
	for _, w := range wls {
		by, isScaled := scaled[w.name]
		if isScaled {
			gotScaled = append(gotScaled, strings.TrimPrefix(w.name, "partita-"))
			if w.replicas != nil {
				t.Errorf("%s %s has replicas %d while %s scales it", w.kind, w.name, *w.replicas, by)
			}
		} else if w.replicas == nil {
			t.Errorf("%s %s has no replicas and nothing scales it", w.kind, w.name)
		}
	}
	for name := range scaled {
		if !slices.ContainsFunc(wls, func(w workload) bool { return w.kind == "Deployment" && w.name == name }) {
			t.Errorf("%s targets Deployment %s, not rendered", scaled[name], name)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(gotScaled)), slices.Sorted(slices.Values(s.autoscaled))) {
		t.Errorf("autoscaled %v, want %v", gotScaled, s.autoscaled)
	}
}

func stageList(s shape) []string {
	var out []string
	for _, a := range s.autoscaled {
		if _, ok := stages[a]; ok {
			out = append(out, a)
		}
	}
	return out
}

// checkMonitoring: a ServiceMonitor only when the API is served and asked
// for, scraping ports the Services have; the dashboard ConfigMap is the
// chart's file, as JSON.
func checkMonitoring(t *testing.T, s shape, rel *release) {
	t.Helper()
	sms := rel.all("ServiceMonitor")
	if s.serviceMonitor != (len(sms) == 1) {
		t.Errorf("%d ServiceMonitors, expected one: %t", len(sms), s.serviceMonitor)
	}
	for _, o := range sms {
		sm := o.Value.(*monitoringv1.ServiceMonitor)
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		scraped := 0
		for _, so := range rel.all("Service") {
			svc := so.Value.(*corev1.Service)
			if !sel.Matches(labels.Set(svc.Labels)) {
				continue
			}
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Errorf("ServiceMonitor selects the headless Service %s (each pod scraped twice)", so.Name)
			}
			for _, p := range svc.Spec.Ports {
				if slices.ContainsFunc(sm.Spec.Endpoints, func(e monitoringv1.Endpoint) bool { return e.Port == p.Name && e.Path == "/metrics" }) {
					scraped++
				}
			}
		}
		want := 1
		if s.micro {
			want = len(services)
		}
		if scraped != want {
			t.Errorf("ServiceMonitor scrapes %d Services' ports, want %d", scraped, want)
		}
	}
	dash, ok := rel.get("ConfigMap", "partita-dashboard")
	if ok != s.dashboard {
		t.Fatalf("dashboard ConfigMap rendered %t, want %t", ok, s.dashboard)
	}
	if ok {
		file := chartFile(t, "dashboards", "partita-dashboard.json")
		got := dash.Value.(*corev1.ConfigMap).Data["partita-dashboard.json"]
		if strings.TrimSpace(got) != strings.TrimSpace(string(file)) || !json.Valid([]byte(got)) {
			t.Errorf("the dashboard ConfigMap is not dashboards/partita-dashboard.json")
		}
	}
	for _, o := range sms {
		// The dashboard's release filter is this label on every series.
		if tl := o.Value.(*monitoringv1.ServiceMonitor).Spec.TargetLabels; !slices.Contains(tl, "app.kubernetes.io/instance") {
			t.Errorf("ServiceMonitor: targetLabels %v lack app.kubernetes.io/instance (the dashboard's $release)", tl)
		}
	}
}

// dashboardFilter is the selector every series the dashboard queries
// carries: one namespace, one release (the ServiceMonitor's target label
// app.kubernetes.io/instance), its scrape jobs.
var dashboardFilter = []string{`namespace=~"$namespace"`, `app_kubernetes_io_instance=~"$release"`, `job=~"$job"`}

// TestDashboardFiltersEveryQuery: the dashboard has namespace, release and
// job variables, each chained to the one before, and every vector selector
// of every panel's query carries all three, so that no panel merges the
// series of two releases (or other applications' process_* and go_*).
func TestDashboardFiltersEveryQuery(t *testing.T) {
	t.Parallel()
	b := chartFile(t, "dashboards", "partita-dashboard.json")
	var dash struct {
		Templating struct {
			List []struct {
				Name, Type, Query string
				Multi, IncludeAll bool
				Refresh           int
			}
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		vars[v.Name] = v.Query
		if v.Refresh == 0 {
			t.Errorf("variable %s is never refreshed (refresh: 0): a provisioned dashboard would have no options", v.Name)
		}
		if (v.Name == "namespace" || v.Name == "release") && (v.Multi || v.IncludeAll) {
			t.Errorf("variable %s takes several values: the panels would merge releases", v.Name)
		}
	}
	for name, want := range map[string]string{
		"namespace": `label_values(partita_build_info, namespace)`,
		"release":   `label_values(partita_build_info{namespace=~"$namespace"}, app_kubernetes_io_instance)`,
		"job":       `label_values(partita_build_info{namespace=~"$namespace", app_kubernetes_io_instance=~"$release"}, job)`,
	} {
		if vars[name] != want {
			t.Errorf("variable %s: query %q, want %q", name, vars[name], want)
		}
	}
	queries := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			sels := vectorSelectors(tg.Expr)
			if len(sels) == 0 {
				t.Errorf("panel %q: no series in %s", p.Title, tg.Expr)
			}
			for _, sel := range sels {
				for _, f := range dashboardFilter {
					if !strings.Contains(sel, f) {
						t.Errorf("panel %q: %s lacks %s", p.Title, sel, f)
					}
				}
			}
		}
	}
	t.Logf("%d queries checked", queries)
}

// vectorSelectors returns the vector selectors of a PromQL expression, each
// as the metric name and its braces ("name{...}" or a bare "name"):
// identifiers outside braces, brackets and strings that are not a call, an
// aggregation's by/without labels, a keyword or a number.
func vectorSelectors(expr string) []string {
	var out []string
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && expr[i] == ' ' {
			i++
		}
		return i
	}
	closing := func(i int, open, close byte) int { // i at open; returns the index after its close
		depth := 0
		for ; i < len(expr); i++ {
			switch expr[i] {
			case '"':
				for i++; i < len(expr) && expr[i] != '"'; i++ {
					if expr[i] == '\\' {
						i++
					}
				}
			case open:
				depth++
			case close:
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	// Label lists in parentheses follow these.
	labelLists := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	// Aggregations (then by/without or their parenthesis) and operators.
	keywords := map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true, "stddev": true,
		"stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true, "limitk": true, "limit_ratio": true,
		"and": true, "or": true, "unless": true, "offset": true, "bool": true, "atan2": true}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '{':
			i = closing(i, '{', '}')
		case c == '[':
			i = closing(i, '[', ']')
		case c == '"':
			i = closing(i, '"', '"')
		case c == '$': // a Grafana variable ($__rate_interval) outside brackets
			for i++; i < len(expr) && isIdent(expr[i], false); i++ {
			}
		case c >= '0' && c <= '9' || c == '.':
			for i++; i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.'); i++ {
			}
		case isIdent(c, true):
			start := i
			for i++; i < len(expr) && isIdent(expr[i], false); i++ {
			}
			name := expr[start:i]
			next := skipSpace(i)
			switch {
			case labelLists[name]:
				if next < len(expr) && expr[next] == '(' {
					i = closing(next, '(', ')')
				}
			case next < len(expr) && expr[next] == '(', keywords[name]:
				// a function or an aggregation, or a binary operator's keyword
			case next < len(expr) && expr[next] == '{':
				i = closing(next, '{', '}')
				out = append(out, expr[start:i])
			default:
				out = append(out, name)
			}
		default:
			i++
		}
	}
	return out
}

func TestVectorSelectors(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`max by (stage) (partita_stage_backlog)`:                                  {"partita_stage_backlog"},
		`sum by (le) (rate(a_bucket{job=~"$job", x="}"}[$__rate_interval])) * 60`: {`a_bucket{job=~"$job", x="}"}`},
		`histogram_quantile(0.95, sum without (pod) (rate(b[5m]))) / on (job) c`:  {"b", "c"},
		`go_goroutines{job=~"$job"}`:                                              {`go_goroutines{job=~"$job"}`},
	} {
		if got := vectorSelectors(expr); !slices.Equal(got, want) {
			t.Errorf("vectorSelectors(%s) = %q, want %q", expr, got, want)
		}
	}
}

// checkSecrets: every secretKeyRef names the release's Secret (or the
// existing one) and, for the chart's Secret, a key it has.
func checkSecrets(t *testing.T, s shape, rel *release) {
	t.Helper()
	secrets := rel.all("Secret")
	if s.existingSecret != "" && len(secrets) > 0 {
		t.Errorf("a Secret rendered with secrets.existingSecret")
	}
	for _, w := range rel.workloads() {
		for _, c := range w.template.Spec.Containers {
			for _, e := range c.Env {
				ref := e.ValueFrom
				if ref == nil || ref.SecretKeyRef == nil {
					continue
				}
				name := ref.SecretKeyRef.Name
				if s.existingSecret != "" {
					if name != s.existingSecret {
						t.Errorf("%s: env %s from Secret %s, want the existing %s", w.name, e.Name, name, s.existingSecret)
					}
					continue
				}
				o, ok := rel.get("Secret", name)
				if !ok {
					t.Errorf("%s: env %s from Secret %s, not rendered", w.name, e.Name, name)
					continue
				}
				if _, ok := o.Value.(*corev1.Secret).Data[ref.SecretKeyRef.Key]; !ok {
					t.Errorf("%s: env %s from key %s that Secret %s lacks", w.name, e.Name, ref.SecretKeyRef.Key, name)
				}
			}
		}
	}
}

// TestValuesTypoFails: the schema rejects a misspelt or mistyped value,
// so `helm install` stops before anything reaches the cluster.
func TestValuesTypoFails(t *testing.T) {
	t.Parallel()
	for _, set := range []string{
		"imag.tag=x",                         // unknown top-level key
		"image.tga=x",                        // unknown nested key
		"scorer.autoscaling.minReplica=0",    // a service's autoscaling
		"ingest.autoscaling.minReplicas=0",   // only scorer and optimizer may scale to zero
		"deploymentMode=Distributed",         // not a mode of this chart
		"networkPolicy.natsPort=nats",        // a number
		"config.scorr.workers=1",             // not a section of the binary's configuration
		"secrets.adminKey=short",             // the binary wants 16 characters or more
		"terminationGracePeriodSeconds=10",   // below the 30 s stop timeout
		"metrics.serviceMonitor.enable=true", // enable vs enabled
	} {
		t.Run(set, func(t *testing.T) {
			t.Parallel()
			_, err := helm(t, "template", releaseName, chartDir(t), "--set", set)
			if err == nil {
				t.Fatalf("helm template --set %s rendered", set)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Fatalf("helm template --set %s failed, but not on the schema: %v", set, err)
			}
		})
	}
}

// TestMinAboveMaxFails: the ScaledObject CRD's CEL rule (minReplicaCount
// <= maxReplicaCount), which an offline schema check does not run, is
// the chart's own check.
func TestMinAboveMaxFails(t *testing.T) {
	t.Parallel()
	_, err := helm(t, "template", releaseName, chartDir(t), "-f", microservices(t), "--api-versions", kedaAPI,
		"--set", "scorer.autoscaling.minReplicas=5", "--set", "scorer.autoscaling.maxReplicas=2")
	if err == nil || !strings.Contains(err.Error(), "above maxReplicas") {
		t.Errorf("minReplicas above maxReplicas: %v", err)
	}
}

// TestMicroservicesNeedNATSAndS3: without them the chart refuses to render.
func TestMicroservicesNeedNATSAndS3(t *testing.T) {
	t.Parallel()
	for _, set := range []string{"nats.url=", "s3.endpoint="} {
		_, err := helm(t, "template", releaseName, chartDir(t), "-f", microservices(t), "--set", set)
		if err == nil || !strings.Contains(err.Error(), "is required") {
			t.Errorf("--set %s: %v, want a required-value error", set, err)
		}
	}
}

// TestServiceMonitorLabels: metrics.serviceMonitor.labels reach the
// ServiceMonitor, so that the selector of kube-prometheus-stack's
// Prometheus (matchLabels release: <its release>, by default) picks it.
func TestServiceMonitorLabels(t *testing.T) {
	t.Parallel()
	rel, err := template(t, "-f", microservices(t), "--api-versions", monitorAPI,
		"--set", "metrics.serviceMonitor.labels.release=kube-prometheus-stack")
	if err != nil {
		t.Fatal(err)
	}
	sms := rel.all("ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(sms))
	}
	selector := labels.SelectorFromSet(labels.Set{"release": "kube-prometheus-stack"})
	if got := sms[0].Value.(*monitoringv1.ServiceMonitor).Labels; !selector.Matches(labels.Set(got)) {
		t.Errorf("the ServiceMonitor's labels %v do not match kube-prometheus-stack's selector %s", got, selector)
	}
}

// TestOTLPWithoutEgressFails: with tracing.otlpEndpoint set, the network
// policies need networkPolicy.otlpTo; without it every trace would be
// dropped, so the chart refuses to render and says what to set.
func TestOTLPWithoutEgressFails(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{"all-in-one": nil, "microservices": {"-f", microservices(t)}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append(slices.Clone(args), "--set", "tracing.otlpEndpoint=http://otel-collector.observability.svc:4318")
			_, err := helm(t, append([]string{"template", releaseName, chartDir(t)}, args...)...)
			if err == nil || !strings.Contains(err.Error(), "networkPolicy.otlpTo is empty") {
				t.Errorf("tracing without networkPolicy.otlpTo: %v, want the chart to refuse", err)
			}
			if _, err := helm(t, append([]string{"template", releaseName, chartDir(t), "--set", "networkPolicy.enabled=false"}, args...)...); err != nil {
				t.Errorf("tracing without NetworkPolicies: %v", err)
			}
		})
	}
}

// TestOutboundPortsNarrow: outboundPorts, empty by default (any port),
// narrows the egress to user-given addresses to the ports it lists.
func TestOutboundPortsNarrow(t *testing.T) {
	t.Parallel()
	rel, err := template(t, "--set-json", "networkPolicy.outboundPorts=[443,8443]")
	if err != nil {
		t.Fatal(err)
	}
	outboundTo := defaultOutboundTo(t)
	np, ok := rel.get("NetworkPolicy", "partita-single-binary")
	if !ok {
		t.Fatal("no NetworkPolicy partita-single-binary")
	}
	for _, rule := range np.Value.(*networkingv1.NetworkPolicy).Spec.Egress {
		if !equality.Semantic.DeepEqual(rule.To, outboundTo) {
			continue
		}
		var ports []string
		for _, p := range rule.Ports {
			ports = append(ports, p.Port.String())
		}
		if !slices.Equal(ports, []string{"443", "8443"}) {
			t.Errorf("egress to outboundTo on ports %v, want [443 8443]", ports)
		}
		return
	}
	t.Error("no egress rule to outboundTo")
}

// TestOutboundToAsTheBinary: the default outboundTo lets a pod reach what
// the binary's own outbound policy (libs/safehttp, without AllowPrivate)
// lets it call, and nothing private, shared or link-local it refuses — in
// IPv4, IPv6 and NAT64 (64:ff9b::/96, judged by the IPv4 address it holds).
func TestOutboundToAsTheBinary(t *testing.T) {
	t.Parallel()
	peers := defaultOutboundTo(t)
	allowed := func(a netip.Addr) bool {
		for _, p := range peers {
			if p.IPBlock == nil {
				continue
			}
			if !netip.MustParsePrefix(p.IPBlock.CIDR).Contains(a) {
				continue
			}
			if !slices.ContainsFunc(p.IPBlock.Except, func(e string) bool { return netip.MustParsePrefix(e).Contains(a) }) {
				return true
			}
		}
		return false
	}
	for _, s := range []string{
		"8.8.8.8", "1.1.1.1", "203.0.113.9", "100.63.255.255", "100.128.0.1", "172.32.0.1", // public
		"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254",
		"2001:4860:4860::8888", "2606:4700::1111", "2a00:1450:4001::200e", // public
		"fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "feff::1",
		"64:ff9b::808:808",                                                                                // NAT64 of 8.8.8.8
		"64:ff9b::a00:1", "64:ff9b::ac10:1", "64:ff9b::c0a8:101", "64:ff9b::a9fe:a9fe", "64:ff9b::6440:1", // NAT64 of private and shared
	} {
		a := netip.MustParseAddr(s)
		host := a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
		err := safehttp.CheckURL(t.Context(), "https://"+host+"/", safehttp.Options{})
		if err != nil && !errors.Is(err, safehttp.ErrForbiddenAddress) {
			t.Fatalf("%s: %v", s, err)
		}
		if binary, policy := err == nil, allowed(a); binary != policy {
			t.Errorf("%s: the binary allows it %t, outboundTo %t", s, binary, policy)
		}
	}
}

// natsChartVersion is the version of the official nats chart that
// deploy/helm/nats-values.yaml is written for, and that every documented
// `helm install nats` pins.
const natsChartVersion = "2.14.2"

// natsValues are the keys of the nats chart's values.yaml (nats-io/k8s,
// helm/charts/nats at nats-2.14.2; the layout of its 1.x line) that
// nats-values.yaml may set. Decoding is strict: a key the file sets that is
// not here — misspelt, moved, or of another chart version — fails.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool   `json:"enabled"`
				Dir     string `json:"dir"`
				PVC     struct {
					Enabled          bool   `json:"enabled"`
					Size             string `json:"size"`
					StorageClassName string `json:"storageClassName"`
				} `json:"pvc"`
				MaxSize string `json:"maxSize"`
			} `json:"fileStore"`
			MemoryStore struct {
				Enabled bool   `json:"enabled"`
				MaxSize string `json:"maxSize"`
			} `json:"memoryStore"`
		} `json:"jetstream"`
		Monitor struct {
			Enabled bool `json:"enabled"`
			Port    int  `json:"port"`
		} `json:"monitor"`
	} `json:"config"`
	Container struct {
		Image struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
		} `json:"image"`
	} `json:"container"`
	PodTemplate struct {
		// topologyKey → constraint (the chart adds the labelSelector).
		TopologySpreadConstraints map[string]struct {
			MaxSkew           int    `json:"maxSkew"`
			WhenUnsatisfiable string `json:"whenUnsatisfiable"`
		} `json:"topologySpreadConstraints"`
	} `json:"podTemplate"`
	PromExporter struct {
		Enabled    bool `json:"enabled"`
		PodMonitor struct {
			Enabled bool `json:"enabled"`
		} `json:"podMonitor"`
	} `json:"promExporter"`
	NatsBox struct {
		Enabled bool `json:"enabled"`
	} `json:"natsBox"`
}

// TestNATSValues: deploy/helm/nats-values.yaml asks the official nats chart
// (2.14.2, strictly its keys) for what the microservices shape needs
// (docs/operations.md, Kubernetes): a cluster of 3, JetStream on file
// storage with a PVC, monitoring on 8222, and the nats-server the tests
// run (go.mod); every documented install of it pins the chart's version.
func TestNATSValues(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v natsValues
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("nats-values.yaml sets a key nats chart %s does not have (or twice): %v", natsChartVersion, err)
	}
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 || !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled ||
		!c.JetStream.FileStore.PVC.Enabled || c.JetStream.MemoryStore.Enabled || !c.Monitor.Enabled || c.Monitor.Port != 8222 {
		t.Errorf("nats-values.yaml: %+v", c)
	}
	if len(v.PodTemplate.TopologySpreadConstraints) == 0 {
		t.Error("nats-values.yaml: the servers are not spread over nodes")
	}

	// The image: the nats-server the tests run, not the chart's default.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod requires no github.com/nats-io/nats-server/v2")
	}
	if want := string(m[1]) + "-alpine"; v.Container.Image.Repository != "nats" || v.Container.Image.Tag != want {
		t.Errorf("nats-values.yaml: image %s:%s, want nats:%s (go.mod's nats-server)", v.Container.Image.Repository, v.Container.Image.Tag, want)
	}

	// Every documented install pins the chart's version.
	install := regexp.MustCompile(`helm install nats nats/nats\b[^\n]*`)
	for _, f := range []string{"docs/operations.md", "deploy/helm/nats-values.yaml", "deploy/helm/partita/values-microservices.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		lines := install.FindAll(b, -1)
		if len(lines) == 0 {
			t.Errorf("%s: no `helm install nats nats/nats` line", f)
		}
		for _, l := range lines {
			if !strings.Contains(string(l), "--version "+natsChartVersion+" ") {
				t.Errorf("%s: %q does not pin --version %s", f, l, natsChartVersion)
			}
		}
	}
}
