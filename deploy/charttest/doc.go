// Package charttest tests the Helm chart at deploy/helm/partita without a
// cluster: `helm lint --strict` of both shapes, and `helm template` over a
// matrix of values, every rendered document decoded strictly (an unknown
// field fails) into the Kubernetes API types — the ScaledObjects against
// the openAPIV3Schema of KEDA's CRD, the ServiceMonitor into
// prometheus-operator's types — then checked for restricted Pod Security,
// probes, resources, autoscaling and network policy, and the rendered
// configuration file loaded by the binary's own strict config loader.
//
// The helm binary comes from $PARTITA_HELM, else <repo>/tools/bin/helm;
// the CRD from $PARTITA_KEDA_CRD, else <repo>/tools/crds/…; `make tools`
// builds and fetches both (mk/helm.mk). Either missing fails the tests.
//
// TestCluster (cluster_test.go) then runs the chart against a real control
// plane started by the test: etcd and kube-apiserver with KEDA's and
// prometheus-operator's CRDs, where every object of the matrix is applied
// server-side with --dry-run=server --validate=strict in a namespace
// enforcing restricted Pod Security, and kube-controller-manager,
// kube-scheduler and kwok's fake nodes, where `helm install --wait` of both
// shapes reaches Running pods and `helm uninstall` takes them away. Its
// binaries come from $PARTITA_KUBE_APISERVER and the other PARTITA_* of
// mk/kube.mk, else <repo>/tools/…; `make kube-tools` builds them. A missing
// one fails TestCluster under CI=true and skips it elsewhere.
package charttest
