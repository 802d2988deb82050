// The Prometheus Operator's CustomResourceDefinitions (PodMonitor, ServiceMonitor), for validating
// deploy/components/prometheus-operator on the local API server. Nothing is built from this
// module: tools/stack/control-plane-build.ts copies example/prometheus-operator-crd out of it.
module taskapp/controlplane/prometheusoperator

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
