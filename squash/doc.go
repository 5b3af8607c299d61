// Package squash rewrites an image so that a range of its layers becomes
// one layer, and hands the result to a daemon (ImageLoad), to a writer as
// a `docker load` archive, or to a registry ([Push], over the registry
// package: only the blobs the target repository has not got, and cannot
// mount, are uploaded).
//
// It works on an image as its source stores it ([extract.Archive] and
// [extract.Image]: a docker save archive, an OCI archive or layout, or a
// daemon's save stream read into the spool by the source package), so it
// needs no daemon to read from. It owns:
//   - squashing the range: its layers, verified against their diff IDs,
//     are merged with [flatten.Options.KeepWhiteouts], so that deletions
//     reaching below the range still apply; of their whiteouts and opaque
//     markers only those that hide something in the layers below the
//     range, read for their headers ([flatten.Indexer.FlattenOnto]),
//     unless [Options.AllWhiteouts];
//   - copying the kept layers into the output byte for byte as they are
//     stored (compressed or not), each checked against its digest;
//   - the new image config (every field kept, rootfs.diff_ids and history
//     rewritten: see [RewriteConfig]), the OCI manifest, index.json,
//     oci-layout and the docker manifest.json, as Docker 25+ writes them;
//   - with [Options.SourceDateEpoch], the same image from the same squash:
//     the new times come from it, and the squashed layer's are clamped.
//
// The package is a library: it imports neither cobra nor docker/cli, and it
// calls the Engine API through the narrow [Client] interface.
package squash
