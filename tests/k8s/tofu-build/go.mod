// The build module scripts/terraform-binary copies to a temporary folder and completes with
// `go mod edit`: a require of OpenTofu at the pinned release and that release's own replaces.
module k8sgen.test/tofu-build

go 1.24
