// Package squash rewrites an image so that a range of its layers becomes one
// layer, and hands the result to a daemon (ImageLoad) or to a writer as a
// `docker load` archive.
//
// It owns:
//   - reading an image's save stream once (any layout Docker writes: legacy,
//     OCI with uncompressed blobs, the containerd store's compressed blobs),
//     passing the blobs of the kept layers through to the output as they
//     arrive, byte for byte, without spooling them;
//   - spooling and verifying only the squashed range (through
//     [extract.FromSaveStream]) and merging it with
//     [flatten.Options.KeepWhiteouts], so that deletions reaching below the
//     range still apply;
//   - the new image config (every field kept, rootfs.diff_ids and history
//     rewritten: see [RewriteConfig]), the OCI manifest, index.json,
//     oci-layout and the docker manifest.json, as Docker 25+ writes them.
//
// A blob whose identity is known only once it has been read (a compressed
// blob of the containerd store that arrives before its manifest; a legacy
// <v1id>/layer.tar whose <v1id>/json does not give its layer) is passed
// through as it arrives; when it turns out to be one of the squashed layers
// it stays in the archive unreferenced (docker load ignores it, containerd
// garbage-collects it).
//
// The package is a library: it imports neither cobra nor docker/cli, and it
// calls the Engine API through the narrow [Client] interface.
package squash
