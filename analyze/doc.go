// Package analyze holds the analyses of where an image's bytes are:
// efficiency (efficiency.go), how much of what the layers store the final
// image shows, which stored files it hides (wasted bytes) and which files
// are stored more than once (duplicates).
//
// Its analyses read layers through flatten, which owns the OCI layer rules
// (whiteouts, opaque directories, hardlinks): they never interpret a tar
// entry themselves. Like flatten, it imports neither cobra nor docker/cli.
package analyze
