// The build module scripts/k8s-binaries copies to a temporary folder and completes with
// `go mod edit`: a require of k8s.io/kubernetes at the wanted release, a replace of every staging
// module that release's go.mod points at ./staging, and etcd's server at the release's version.
module k8sgen.test/k8s-build

go 1.24
