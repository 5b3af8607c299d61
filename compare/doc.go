// Package compare says what differs between two images, or two layer
// ranges of images, from any source: file by file (Files) and in their
// configs (Configs).
//
// The data flows: two images opened by source → the layers they share,
// read once, and each one's own (source.SharedLayers) → the paths in
// which their merged file systems differ (flatten.Compare), or the
// differences of their configs (config.go).
//
// Layers that the two share (the same diff IDs in the same positions from
// the bottom of each range, so the same chain ID) are never flattened or
// compared as a whole: only the paths that the other layers touch are
// looked up in them.
//
// The package is a library: it imports neither cobra nor docker/cli.
package compare
