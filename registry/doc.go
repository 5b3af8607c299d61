// Package registry owns talking to registries, with go-containerregistry
// (ggcr) doing the protocol: the HTTP transport of a registry (the CAs and
// client certificates of its certs.d directories, the User-Agent),
// credentials from a keychain, errors made one line, and pushing an image
// whose blobs are uploaded only when the target repository has not got
// them and cannot mount them from the repository they come from.
//
// Reading images from a registry is the source package's (source/registry.go),
// over this package's transport. No ggcr type crosses into the commands:
// they name registries with strings and give credentials as an
// authn.Keychain.
//
// The package is a library: it imports neither cobra nor docker/cli.
package registry
