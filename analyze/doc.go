// Package analyze answers where an image's bytes are, from its layers:
//   - the merged file system, each path with the layer that last wrote it
//     (files.go: List);
//   - the history of one path: what each layer did to it (files.go:
//     History);
//   - bytes and counts by directory, rolled up to a depth, and the largest
//     files (usage.go: DiskUsage, LayerDiskUsage);
//   - efficiency (efficiency.go, efficiency_rules.go): how much of what the
//     layers store the final image shows, which stored files it hides
//     (wasted bytes), which files are stored more than once (duplicates),
//     and dive's CI rules over those figures.
//
// Its analyses read layers through flatten (Walk, Changes), which owns the
// OCI layer rules (whiteouts, opaque directories, hardlinks): they never
// interpret a tar entry themselves. List and DiskUsage walk the merged
// tree in bounded memory, whatever the number of files; Efficiency holds
// what flatten.Changes holds. Like flatten, it imports neither cobra nor
// docker/cli.
package analyze
