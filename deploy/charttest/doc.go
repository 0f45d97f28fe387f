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
package charttest
