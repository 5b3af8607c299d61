// Package analyze answers where an image's bytes are, from its layers:
//   - the merged file system, each path with the layer that last wrote it
//     (files.go: List);
//   - bytes and counts by directory, rolled up to a depth, and the largest
//     files (usage.go: DiskUsage, LayerDiskUsage);
//   - the history of one path: what each layer did to it (files.go:
//     History).
//
// It reads layers through flatten (Walk, Changes) and holds what flatten
// holds: List and Usage walk the merged tree in bounded memory, whatever
// the number of files. It imports neither cobra nor docker/cli.
package analyze
