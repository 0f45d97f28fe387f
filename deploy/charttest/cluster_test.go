package charttest

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const fieldManager = "partita-charttest"

// restrictedNamespace is a Namespace enforcing (and warning on) the
// restricted Pod Security Standard at its latest version.
func restrictedNamespace(name string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/warn-version: latest
`, name)
}

// TestCluster runs the chart against a real control plane built from
// k8s.io/kubernetes (mk/kube.mk): kube-apiserver on etcd with KEDA's
// ScaledObject CRD and prometheus-operator's ServiceMonitor CRD installed,
// then (install) kube-controller-manager, kube-scheduler and kwok's fake
// nodes.
func TestCluster(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: no control plane")
	}
	smCRD := clusterTool(t, serviceMonitorCRDEnv, "tools", "crds", "prometheus-operator-"+prometheusOperatorVersion, "monitoring.coreos.com_servicemonitors.yaml")
	kedaCRD := kedaCRDFile(t)
	begin := time.Now()
	c := startAPIServer(t)
	t.Logf("etcd and kube-apiserver ready in %v", time.Since(begin).Round(time.Millisecond))

	for _, f := range []string{kedaCRD, smCRD} {
		c.mustKubectl(t, nil, "apply", "--server-side", "--field-manager="+fieldManager, "-f", f)
	}
	c.mustKubectl(t, nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/scaledobjects.keda.sh", "crd/servicemonitors.monitoring.coreos.com")
	// Discovery serves them once Established; kubectl and helm read it.
	poll(t, 30*time.Second, "the CRDs in discovery", c.procs, func() (bool, error) {
		out, _, err := c.kubectl(t, nil, "api-resources", "--api-group=keda.sh", "-o", "name")
		if err != nil || !strings.Contains(out, "scaledobjects") {
			return false, err
		}
		out, _, err = c.kubectl(t, nil, "api-resources", "--api-group=monitoring.coreos.com", "-o", "name")
		return err == nil && strings.Contains(out, "servicemonitors"), err
	})
	t.Logf("CRDs established and served in %v", time.Since(begin).Round(time.Millisecond))
	c.mustKubectl(t, restrictedNamespace(namespace), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	// The ServiceAccount admission plugin refuses a pod whose account does
	// not exist, and no controller makes the default ones yet.
	for _, ns := range []string{namespace, "default"} {
		c.mustKubectl(t, []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default}\n"),
			"apply", "--server-side", "--field-manager="+fieldManager, "--namespace="+ns, "-f", "-")
	}

	t.Run("dry-run", func(t *testing.T) { testDryRun(t, c) })
	t.Run("refused", func(t *testing.T) { testRefused(t, c) })
	if t.Failed() {
		return
	}
	t.Run("install", func(t *testing.T) { testInstall(t, c) })
}

// dryRun is `kubectl apply --server-side --dry-run=server --validate=strict`
// of docs in ns: the server decodes every field (an unknown one is an
// error), runs admission (PodSecurity) and the CRDs' schemas and CEL rules,
// and stores nothing. A warning (PodSecurity's warn mode on a workload, a
// deprecated field) is an error too.
func (c *cluster) dryRun(t testing.TB, ns string, docs []byte) error {
	t.Helper()
	_, stderr, err := c.kubectl(t, docs, "apply", "--server-side", "--dry-run=server", "--validate=strict",
		"--field-manager="+fieldManager, "--namespace="+ns, "-f", "-")
	if err != nil {
		return err
	}
	if strings.Contains(stderr, "Warning:") {
		return fmt.Errorf("the server warned:\n%s", stderr)
	}
	return nil
}

// applyServiceAccounts creates the release's ServiceAccounts in ns (for
// real: a dry-run pod's account must exist).
func (c *cluster) applyServiceAccounts(t testing.TB, ns string, rel *release) {
	t.Helper()
	for _, o := range rel.all("ServiceAccount") {
		c.mustKubectl(t, o.YAML, "apply", "--server-side", "--field-manager="+fieldManager, "--namespace="+ns, "-f", "-")
	}
}

// docs joins objects into one YAML stream.
func docs(objs ...[]byte) []byte {
	var b []byte
	for _, o := range objs {
		b = append(b, "---\n"...)
		b = append(b, o...)
		b = append(b, '\n')
	}
	return b
}

// podsOf are the Pods the release's workloads would create, as the
// controllers make them from the pod templates (a StatefulSet's claim
// templates become its pod's volumes): PodSecurity's enforce mode judges
// Pods, and only warns on workloads.
func podsOf(t testing.TB, rel *release) [][]byte {
	t.Helper()
	var out [][]byte
	for _, o := range rel.objs {
		var tmpl corev1.PodTemplateSpec
		var claims []corev1.PersistentVolumeClaim
		switch v := o.Value.(type) {
		case *appsv1.Deployment:
			tmpl = v.Spec.Template
		case *appsv1.StatefulSet:
			tmpl, claims = v.Spec.Template, v.Spec.VolumeClaimTemplates
		default:
			continue
		}
		pod := corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(o.Kind) + "-" + o.Name, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
			Spec:       tmpl.Spec,
		}
		for _, pvc := range claims {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: pvc.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name + "-" + o.Name + "-0"},
			}})
		}
		b, err := yaml.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// testDryRun: every object of every row of the template matrix, and the
// Pods its workloads make, accepted by the server under restricted Pod
// Security with strict field validation. The CRDs are installed, so any
// row's --api-versions names APIs the server serves.
func testDryRun(t *testing.T, c *cluster) {
	for _, s := range matrix(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			rel, err := template(t, s.args...)
			if err != nil {
				t.Fatal(err)
			}
			var all [][]byte
			for _, o := range rel.objs {
				all = append(all, o.YAML)
			}
			if err := c.dryRun(t, namespace, docs(all...)); err != nil {
				t.Errorf("%d objects: %v", len(all), err)
			}
			c.applyServiceAccounts(t, namespace, rel)
			if err := c.dryRun(t, namespace, docs(podsOf(t, rel)...)); err != nil {
				t.Errorf("the workloads' pods: %v", err)
			}
		})
	}
}

// edit decodes doc, applies f to it and encodes it again.
func edit(t testing.TB, doc []byte, f func(obj map[string]any)) []byte {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		t.Fatal(err)
	}
	f(obj)
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at walks obj by keys and list indexes.
func at(obj any, path ...any) map[string]any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			obj = obj.(map[string]any)[k]
		case int:
			obj = obj.([]any)[k]
		}
	}
	return obj.(map[string]any)
}

// testRefused proves the dry runs above could fail: the server refuses an
// unknown field in a Deployment, a privileged container in the restricted
// namespace (and accepts it in one without Pod Security labels, so it is
// PodSecurity refusing), and an unknown field or min above max in a
// ScaledObject (the CRD's schema and its CEL rule).
func testRefused(t *testing.T, c *cluster) {
	rel, err := template(t, "-f", microservices(t), "--api-versions", kedaAPI)
	if err != nil {
		t.Fatal(err)
	}
	gw, ok := rel.get("Deployment", "partita-gateway")
	if !ok {
		t.Fatal("no Deployment partita-gateway")
	}
	so, ok := rel.get("ScaledObject", "partita-scorer")
	if !ok {
		t.Fatal("no ScaledObject partita-scorer")
	}
	c.applyServiceAccounts(t, namespace, rel)
	c.applyServiceAccounts(t, "default", rel)
	var gwPod []byte
	for _, p := range podsOf(t, rel) {
		if strings.Contains(string(p), "name: deployment-partita-gateway") {
			gwPod = p
		}
	}
	privileged := edit(t, gwPod, func(obj map[string]any) {
		sc := at(obj, "spec", "containers", 0, "securityContext")
		sc["privileged"] = true
		delete(sc, "allowPrivilegeEscalation") // false with privileged is invalid before admission
	})
	privilegedDeployment := edit(t, gw.YAML, func(obj map[string]any) {
		at(obj, "spec", "template", "spec", "containers", 0, "securityContext")["runAsNonRoot"] = false
	})

	for _, tc := range []struct {
		name, ns string
		doc      []byte
		want     []string // in the error; none: accepted
	}{
		{"deployment-unknown-field", namespace, edit(t, gw.YAML, func(obj map[string]any) {
			at(obj, "spec", "template", "spec", "containers", 0)["resource"] = map[string]any{}
		}), []string{"resource", "field not declared in schema"}},
		{"privileged-pod-restricted-namespace", namespace, privileged, []string{"violates PodSecurity", `"restricted:latest"`, "privileged"}},
		{"privileged-pod-unlabelled-namespace", "default", privileged, nil},
		// On a workload PodSecurity only warns; dryRun makes that an error.
		{"root-deployment-restricted-namespace", namespace, privilegedDeployment, []string{"the server warned", `would violate PodSecurity "restricted:latest"`, "runAsNonRoot"}},
		{"scaledobject-unknown-field", namespace, edit(t, so.YAML, func(obj map[string]any) {
			at(obj, "spec")["pollingIntervall"] = 30
		}), []string{"pollingIntervall", "field not declared in schema"}},
		{"scaledobject-min-above-max", namespace, edit(t, so.YAML, func(obj map[string]any) {
			at(obj, "spec")["minReplicaCount"], at(obj, "spec")["maxReplicaCount"] = 5, 2
		}), []string{"minReplicaCount must be less than or equal to maxReplicaCount"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := c.dryRun(t, tc.ns, docs(tc.doc))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.doc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the refusal does not say %q: %v", w, err)
				}
			}
			t.Logf("refused: %s", lastLine(err.Error()))
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// fakeNodes are kwok's: one per zone, room for both releases.
func fakeNodes() []byte {
	var out [][]byte
	for i, zone := range []string{"zone-a", "zone-b", "zone-c"} {
		out = append(out, fmt.Appendf(nil, `apiVersion: v1
kind: Node
metadata:
  name: kwok-%[1]d
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-%[1]d
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/role: agent
    type: kwok
    topology.kubernetes.io/zone: %[2]s
    topology.kubernetes.io/region: charttest
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 100Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 100Gi}
`, i, zone))
	}
	return docs(out...)
}

// podList is what the install test reads of the pods.
type podList struct {
	Items []corev1.Pod `json:"items"`
}

func (c *cluster) pods(t testing.TB, ns string) []corev1.Pod {
	t.Helper()
	var l podList
	if err := json.Unmarshal([]byte(c.mustKubectl(t, nil, "get", "pods", "--namespace="+ns, "-o", "json")), &l); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func ready(p corev1.Pod) bool {
	return slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// testInstall: `helm install --wait` of both shapes on kwok's nodes, every
// Pod Running and Ready, the PodDisruptionBudgets there, and `helm
// uninstall` taking it all away.
func testInstall(t *testing.T, c *cluster) {
	begin := time.Now()
	c.startNodes(t)
	c.mustKubectl(t, fakeNodes(), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	poll(t, 60*time.Second, "3 Ready kwok nodes", c.procs, func() (bool, error) {
		var l struct {
			Items []corev1.Node `json:"items"`
		}
		out, _, err := c.kubectl(t, nil, "get", "nodes", "-o", "json")
		if err != nil {
			return false, err
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			return false, err
		}
		n := 0
		for _, node := range l.Items {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && len(node.Spec.Taints) == 0 {
					n++
				}
			}
		}
		return n == 3, fmt.Errorf("%d of 3 nodes Ready and untainted", n)
	})
	t.Logf("controllers, scheduler and 3 kwok nodes ready in %v", time.Since(begin).Round(time.Millisecond))

	for _, tc := range []struct {
		name, ns string
		args     []string
		pods     int
	}{
		{"microservices", "partita-micro", []string{"-f", microservices(t)}, 8}, // gateway 2, the others 1
		{"all-in-one", "partita-aio", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			installAndUninstall(t, c, tc.ns, tc.args, tc.pods)
		})
	}
}

func installAndUninstall(t *testing.T, c *cluster, ns string, args []string, wantPods int) {
	c.mustKubectl(t, restrictedNamespace(ns), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	// The ServiceAccount admission plugin refuses pods until the
	// controller made the namespace's default account.
	poll(t, 60*time.Second, "the default ServiceAccount of "+ns, c.procs, func() (bool, error) {
		_, _, err := c.kubectl(t, nil, "get", "serviceaccount", "default", "--namespace="+ns)
		return err == nil, err
	})
	// What the install will create, rendered with the cluster's APIs.
	rel, err := template(t, append(slices.Clone(args), "--api-versions", kedaAPI, "--api-versions", monitorAPI)...)
	if err != nil {
		t.Fatal(err)
	}
	var claims []corev1.PersistentVolumeClaim
	for _, o := range rel.all("StatefulSet") {
		for _, pvc := range o.Value.(*appsv1.StatefulSet).Spec.VolumeClaimTemplates {
			pvc.Name += "-" + o.Name + "-0"
			claims = append(claims, pvc)
		}
	}
	// No provisioner here: a PersistentVolume made by hand for each claim,
	// which the controller manager binds (no StorageClass: the chart asks
	// for none, and the cluster has no default one).
	for _, pvc := range claims {
		size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		c.mustKubectl(t, fmt.Appendf(nil, `apiVersion: v1
kind: PersistentVolume
metadata:
  name: %s-%s
spec:
  capacity: {storage: %s}
  accessModes: %s
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: %s, name: %s}
  hostPath: {path: /var/lib/partita-charttest, type: DirectoryOrCreate}
`, ns, pvc.Name, size.String(), jsonString(t, pvc.Spec.AccessModes), ns, pvc.Name), "apply", "--server-side", "--field-manager="+fieldManager, "-f", "-")
	}

	kubeconfig := c.kubeconfig
	begin := time.Now()
	out, err := helmAt(t, kubeconfig, append([]string{"install", releaseName, chartDir(t), "--namespace", ns, "--wait", "--timeout", "5m"}, args...)...)
	if err != nil {
		c.describe(t, ns)
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("helm install --wait: %v", time.Since(begin).Round(time.Millisecond))

	pods := c.pods(t, ns)
	if len(pods) != wantPods {
		t.Errorf("%d pods, want %d", len(pods), wantPods)
	}
	zones := map[string]map[string]bool{} // workload → zones of its pods
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || !ready(p) {
			t.Errorf("pod %s: phase %s, ready %t", p.Name, p.Status.Phase, ready(p))
		}
		if !strings.HasPrefix(p.Spec.NodeName, "kwok-") {
			t.Errorf("pod %s on node %q, not a kwok node", p.Name, p.Spec.NodeName)
		}
		if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
			t.Errorf("pod %s mounts a service account token", p.Name)
		}
		w := p.Labels["app.kubernetes.io/component"]
		if zones[w] == nil {
			zones[w] = map[string]bool{}
		}
		zones[w][p.Spec.NodeName] = true
	}
	for w, nodes := range zones {
		n := 0
		for _, p := range pods {
			if p.Labels["app.kubernetes.io/component"] == w {
				n++
			}
		}
		if n > 1 && len(nodes) < 2 {
			t.Errorf("the %d pods of %s all on one node: the zone spread did not spread them", n, w)
		}
	}
	for _, o := range rel.all("PodDisruptionBudget") {
		if _, _, err := c.kubectl(t, nil, "get", "pdb", o.Name, "--namespace="+ns); err != nil {
			t.Errorf("PodDisruptionBudget %s: %v", o.Name, err)
		}
	}
	for _, pvc := range claims {
		out := c.mustKubectl(t, nil, "get", "pvc", pvc.Name, "--namespace="+ns, "-o", "jsonpath={.status.phase}")
		if out != "Bound" {
			t.Errorf("PVC %s: %s", pvc.Name, out)
		}
	}

	kinds := "deployments,statefulsets,replicasets,pods,services,configmaps,secrets,serviceaccounts," +
		"poddisruptionbudgets,networkpolicies,horizontalpodautoscalers,scaledobjects.keda.sh,servicemonitors.monitoring.coreos.com"
	selector := "app.kubernetes.io/instance=" + releaseName
	before := c.mustKubectl(t, nil, "get", kinds, "--namespace="+ns, "-l", selector, "-o", "name")
	t.Logf("installed:\n%s", before)
	// helm install made what helm template renders with the same APIs.
	installed := strings.Fields(before)
	for _, o := range rel.objs {
		name := strings.ToLower(o.Kind)
		if group, _, ok := strings.Cut(o.APIVersion, "/"); ok {
			name += "." + group
		}
		if name += "/" + o.Name; !slices.Contains(installed, name) {
			t.Errorf("%s rendered, not installed", name)
		}
	}
	begin = time.Now()
	if out, err := helmAt(t, kubeconfig, "uninstall", releaseName, "--namespace", ns, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("helm uninstall --wait: %v", time.Since(begin).Round(time.Millisecond))
	poll(t, 2*time.Minute, "everything of the release gone", c.procs, func() (bool, error) {
		out, _, err := c.kubectl(t, nil, "get", kinds, "--namespace="+ns, "-l", selector, "-o", "name")
		if err != nil {
			return false, err
		}
		return strings.TrimSpace(out) == "", fmt.Errorf("left: %s", strings.Join(strings.Fields(out), " "))
	})
	t.Logf("uninstalled, nothing left: %v", time.Since(begin).Round(time.Millisecond))
	// helm's release Secrets go as well; a StatefulSet's claims stay (as
	// Kubernetes keeps them: the data outlives the release).
	if out := c.mustKubectl(t, nil, "get", "secrets", "--namespace="+ns, "-l", "owner=helm", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("helm's release records left: %s", out)
	}
	for _, pvc := range claims {
		c.mustKubectl(t, nil, "delete", "pvc", pvc.Name, "--namespace="+ns, "--wait=false")
	}
}

func jsonString(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// describe logs what the namespace holds and its events, when an install
// did not become ready.
func (c *cluster) describe(t testing.TB, ns string) {
	t.Helper()
	out, _, _ := c.kubectl(t, nil, "get", "all,pvc,pv,nodes", "--namespace="+ns, "-o", "wide")
	ev, _, _ := c.kubectl(t, nil, "get", "events", "--namespace="+ns, "--sort-by=.lastTimestamp")
	t.Logf("namespace %s:\n%s\nevents:\n%s", ns, out, ev)
}
