// Package deploy holds the tests of Consentry's deployment files: the Helm
// chart under helm/consentry, rendered for each mode, and the plain
// manifests under kubernetes/, strictly decoded into the Kubernetes API
// types. It is a module of its own so that the product's go.mod does not
// carry Helm and the Kubernetes API.
package deploy
